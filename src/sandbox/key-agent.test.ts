import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePrivateKeys, serveAgent } from './key-agent.ts';

const run = promisify(execFile);

// The host's OpenSSH is the client: `ssh-add -l` lists, `ssh-add -T` signs through our agent and verifies.
describe('key agent against OpenSSH ssh-add', () => {
  let dir = '';
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'key-agent-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const cases: readonly (readonly [string, readonly string[]])[] = [
    ['ed25519', ['-t', 'ed25519']],
    ['rsa', ['-t', 'rsa', '-b', '2048']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']],
    ['ecdsa-pem', ['-t', 'ecdsa', '-b', '256', '-m', 'PEM']],
    ['ed25519-pkcs8', ['-t', 'ed25519', '-m', 'PKCS8']],
  ];
  for (const [name, args] of cases) {
    it(`${name}: listed with its fingerprint and signs`, async () => {
      const key = join(dir, name);
      execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', `c-${name}`, '-f', key]);
      const keys = parsePrivateKeys(await readFile(key, 'utf8'), key);
      assert.equal(keys.length, 1);
      const sock = join(dir, `${name}.sock`);
      const server = net.createServer((c) => serveAgent(c, keys));
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      try {
        const env = { SSH_AUTH_SOCK: sock, PATH: process.env['PATH'] ?? '' };
        const { stdout: listed } = await run('ssh-add', ['-l'], { env });
        const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).trim().split(' ')[1];
        assert.ok(fingerprint !== undefined && listed.includes(fingerprint), listed);
        await run('ssh-add', ['-T', `${key}.pub`], { env });
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }

  it('refuses passphrase-protected and non-key files with one clear reason', async () => {
    const key = join(dir, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pw-1234', '-f', key]);
    assert.throws(() => parsePrivateKeys(execFileSync('cat', [key], { encoding: 'utf8' }), key), /passphrase-protected/);
    assert.throws(() => parsePrivateKeys('hello\n', 'x'), /not a private key/);
  });
});
