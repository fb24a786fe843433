// Pushing through basic (htpasswd) and bearer (token) auth, and what a wrong password looks like:
// one line naming the registry, exit 1, nothing pushed, and the password in no log line at any verbosity.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoInspect } from '../support/run-image.ts';

const user = 'builder';
const password = 'S3cret-p@ss:word!';

async function dockerConfig(dir: string, host: string, pass: string): Promise<string> {
  const configDir = join(dir, `docker-${pass.length}-${Math.random().toString(16).slice(2)}`);
  await mkdir(configDir, { recursive: true });
  const auth = Buffer.from(`${user}:${pass}`).toString('base64');
  await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return configDir;
}

for (const mode of ['htpasswd', 'token'] as const) {
  describe(`push with ${mode} auth`, () => {
    let registry: TestRegistry;
    let work: string;
    before(async () => {
      registry = await startRegistry({ auth: mode, users: [{ user, pass: password }] });
      work = await mkdtemp(join(tmpdir(), `e2e-auth-${mode}-`));
      await writeFile(join(work, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
      await writeFile(join(work, 'hello.txt'), 'hi\n');
    });
    after(async () => {
      await registry?.stop();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    const build = async (configDir: string, tag: string, extra: string[] = []) => runExecutor([
      `--context=dir://${work}`, `--destination=${registry.host}/auth/app:${tag}`, `--root-dir=${join(work, 'root-' + tag)}`,
      '--insecure', '--insecure-pull', '--log-format=json', ...extra,
    ], { env: { DOCKER_CONFIG: configDir } });

    test('the right credentials push', async () => {
      const run = await build(await dockerConfig(work, registry.host, password), 'ok');
      assert.equal(run.code, 0, run.stderr);
      const info = await skopeoInspect(`docker://${registry.host}/auth/app:ok`, ['--tls-verify=false', `--creds=${user}:${password}`]);
      assert.equal((info['Layers'] as string[]).length, 1);
    });

    test('a wrong password fails with one line naming the registry, and pushes nothing', async () => {
      for (const verbosity of ['info', 'trace']) {
        const run = await build(await dockerConfig(work, registry.host, 'wrong-' + password), `bad-${verbosity}`, [`--verbosity=${verbosity}`]);
        assert.equal(run.code, 1, run.stderr);
        // --log-format=json: the final error is one JSON line too (issue 16).
        const errors = run.stderr.split('\n').filter((l) => l.startsWith('{"level":"error"'));
        assert.equal(errors.length, 1, run.stderr);
        assert.match(errors[0] ?? '', new RegExp(registry.host.replace(/\./g, '\\.')));
        for (const secret of [password, 'wrong-' + password, Buffer.from(`${user}:wrong-${password}`).toString('base64')]) {
          assert.ok(!run.stderr.includes(secret) && !run.stdout.includes(secret), `a credential leaked at --verbosity=${verbosity}`);
        }
        await assert.rejects(skopeoInspect(`docker://${registry.host}/auth/app:bad-${verbosity}`, ['--tls-verify=false', `--creds=${user}:${password}`]));
      }
    });

    test('the password appears in no log line of a successful build at trace level', async () => {
      const run = await build(await dockerConfig(work, registry.host, password), 'trace', ['--verbosity=trace']);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!run.stderr.includes(password));
      assert.ok(!run.stderr.includes(Buffer.from(`${user}:${password}`).toString('base64')));
      assert.doesNotMatch(run.stderr, /Bearer [A-Za-z0-9._-]{20,}/, 'no bearer token in the log');
    });
  });
}
