import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { createMatcher } from '../context/dockerignore.ts';
import type { AddInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { ConfigFile } from '../oci/types.ts';
import { isGitSource, parseGitAddSource, parseGitChecksum } from './add-git.ts';
import { addCommand } from './add.ts';
import type { AddOptions } from './add.ts';
import type { StepContext, StepResult } from './command.ts';

const log = pino({ level: 'silent' });
const oldTime = new Date('2001-02-03T04:05:06Z');
const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';

type Entry = Partial<Header> & { name: string; body?: string };

/** A small tar built in memory (test data only). */
async function makeTar(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ mtime: oldTime, uid: 0, gid: 0, ...header }, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function hasTool(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function compressWith(tool: string, data: Buffer): Buffer {
  return execFileSync(tool, ['-c'], { input: data });
}

function image(workdir?: string): ConfigFile {
  return {
    architecture: 'amd64',
    os: 'linux',
    config: workdir === undefined ? {} : { WorkingDir: workdir },
    rootfs: { type: 'layers', diff_ids: [] },
  };
}

const sampleEntries: Entry[] = [
  { name: 'pkg/', type: 'directory', mode: 0o750, uid: 1234, gid: 2345 },
  { name: 'pkg/run.sh', mode: 0o755, uid: 1234, gid: 2345, body: '#!/bin/sh\n' },
  { name: 'pkg/data.txt', mode: 0o640, body: 'data' },
  { name: 'pkg/link', type: 'symlink', linkname: 'data.txt' },
  { name: 'pkg/hard', type: 'link', linkname: 'pkg/data.txt' },
  { name: '.wh.not-a-whiteout', mode: 0o644, body: 'plain' },
];

describe('ADD', () => {
  let base = '';
  let ctx = '';
  let root = '';
  let outside = '';
  let server: http.Server;
  let origin = '';
  const payload = 'remote payload\n';
  const payloadSha = createHash('sha256').update(payload).digest('hex');
  let remoteTarGz = Buffer.alloc(0);

  before(async () => {
    remoteTarGz = gzipSync(await makeTar(sampleEntries));
    server = http.createServer((req, res) => {
      if (req.url === '/files/remote.txt' || req.url === '/files/remote.txt?token=secret') {
        res.writeHead(200, { 'last-modified': lastModified, 'content-type': 'text/plain' });
        res.end(payload);
      } else if (req.url === '/no-date') {
        res.end(payload);
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/files/remote.txt' });
        res.end();
      } else if (req.url === '/pkg.tar.gz') {
        res.end(remoteTarGz);
      } else {
        res.writeHead(404);
        res.end('nope');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'add-cmd-'));
    [ctx, root, outside] = ['ctx', 'root', 'outside'].map((d) => path.join(base, d)) as [string, string, string];
    for (const d of [ctx, root, outside, path.join(root, 'etc')]) await mkdir(d);
    await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
    await writeFile(path.join(root, 'etc/group'), 'root:x:0:\napp:x:1001:\n');
    await writeFile(path.join(outside, 'sentinel'), 'untouched');
    const tar = await makeTar(sampleEntries);
    await writeFile(path.join(ctx, 'pkg.tar'), tar);
    await writeFile(path.join(ctx, 'pkg.tgz.bin'), gzipSync(tar)); // name says nothing: content decides
    await writeFile(path.join(ctx, 'fake.tar.gz'), 'not an archive at all');
    await writeFile(path.join(ctx, 'plain.txt'), 'plain');
    await chmod(path.join(ctx, 'plain.txt'), 0o604);
  });
  afterEach(async () => {
    assert.deepEqual(await readdir(outside), ['sentinel']);
    assert.equal(await readFile(path.join(outside, 'sentinel'), 'utf8'), 'untouched');
    await rm(base, { recursive: true, force: true });
  });

  function step(over: Partial<StepContext> = {}): StepContext {
    // Spread + cast: StepContext grows fields other engineers add; these tests need only these.
    return {
      root, contextDir: ctx, image: image(), args: new Map(), buildArgs: new Map(), metaArgs: new Map(), cmdSet: false,
      env: new Map(), escape: '\\', log, signal: new AbortController().signal,
      runtime: { helperPath: '', isolate: true, output: () => undefined },
      resolveFrom: async () => { throw new BuildError('BUILD', 'no stages here'); },
      ...over,
    } as StepContext;
  }
  function instr(fields: Partial<AddInstruction> & Pick<AddInstruction, 'sources' | 'dest'>): AddInstruction {
    return { kind: 'ADD', line: 7, text: 'ADD …', link: false, parents: false, exclude: [], heredocs: [], keepGitDir: false, ...fields };
  }
  async function run(fields: Partial<AddInstruction> & Pick<AddInstruction, 'sources' | 'dest'>, opts: AddOptions = {}, over: Partial<StepContext> = {}): Promise<StepResult> {
    return addCommand(instr(fields), opts).execute(step(over));
  }
  const at = (p: string) => path.join(root, p);
  const read = (p: string) => readFile(at(p), 'utf8');

  async function assertExtracted(dir: string, owner?: [number, number]): Promise<void> {
    const pkg = await stat(at(`${dir}/pkg`));
    assert.equal(pkg.mode & 0o7777, 0o750);
    assert.equal(pkg.mtime.getTime(), oldTime.getTime());
    const runSh = await stat(at(`${dir}/pkg/run.sh`));
    assert.equal(runSh.mode & 0o7777, 0o755);
    assert.equal(runSh.mtime.getTime(), oldTime.getTime());
    assert.deepEqual([runSh.uid, runSh.gid], owner ?? [1234, 2345]);
    assert.deepEqual([pkg.uid, pkg.gid], owner ?? [1234, 2345]);
    const data = await stat(at(`${dir}/pkg/data.txt`));
    assert.equal(data.mode & 0o7777, 0o640);
    assert.deepEqual([data.uid, data.gid], owner ?? [0, 0]);
    assert.equal(await read(`${dir}/pkg/data.txt`), 'data');
    assert.equal(await readlink(at(`${dir}/pkg/link`)), 'data.txt');
    assert.equal((await stat(at(`${dir}/pkg/hard`))).ino, data.ino);
    // No whiteout processing: a .wh. name is an ordinary file.
    assert.equal(await read(`${dir}/.wh.not-a-whiteout`), 'plain');
  }

  it('declares its effects', () => {
    const cmd = addCommand(instr({ sources: ['plain.txt'], dest: '/x' }));
    assert.deepEqual(cmd.effects, { snapshot: 'files', cacheable: true, needsRootfs: true });
    assert.equal(cmd.line, 7);
  });

  it('extracts a local plain tar into the destination, keeping modes, owners and mtimes', async () => {
    const r = await run({ sources: ['pkg.tar'], dest: '/opt/app' });
    await assertExtracted('opt/app');
    assert.equal((await lstat(at('opt/app'))).isDirectory(), true);
    for (const p of ['/opt', '/opt/app', '/opt/app/pkg', '/opt/app/pkg/run.sh', '/opt/app/pkg/data.txt', '/opt/app/pkg/link', '/opt/app/pkg/hard', '/opt/app/.wh.not-a-whiteout']) {
      assert.ok(r.changed?.includes(p), `changed lists ${p}: ${JSON.stringify(r.changed)}`);
    }
  });

  it('detects gzip by content, not by name; a .tar.gz name that is not an archive is copied as is', async () => {
    await run({ sources: ['pkg.tgz.bin'], dest: '/gz/' });
    await assertExtracted('gz');
    await run({ sources: ['fake.tar.gz'], dest: '/fake/' });
    assert.equal(await read('fake/fake.tar.gz'), 'not an archive at all');
  });

  it('extracts xz and bzip2 archives when the tools exist', async (t) => {
    const tar = await makeTar(sampleEntries);
    for (const tool of ['xz', 'bzip2']) {
      if (!hasTool(tool)) {
        t.diagnostic(`${tool} not installed: skipped`);
        continue;
      }
      await writeFile(path.join(ctx, `pkg.${tool}`), compressWith(tool, tar));
      await run({ sources: [`pkg.${tool}`], dest: `/${tool}` });
      await assertExtracted(tool);
    }
  });

  it('a missing xz tool is NOT_SUPPORTED', async (t) => {
    if (!hasTool('xz')) return t.skip('xz not installed');
    await writeFile(path.join(ctx, 'pkg.txz'), compressWith('xz', await makeTar(sampleEntries)));
    await assert.rejects(run({ sources: ['pkg.txz'], dest: '/x/' }, { decompressors: { xz: 'no-such-xz-tool', bzip2: 'bzip2' } }),
      (err: BuildError) => err.code === 'NOT_SUPPORTED' && /needs no-such-xz-tool/.test(err.message));
  });

  it('copies a plain file like COPY; --unpack=false copies an archive as is', async () => {
    const r = await run({ sources: ['plain.txt'], dest: '/p/copied' });
    assert.equal(await read('p/copied'), 'plain');
    assert.equal((await stat(at('p/copied'))).mode & 0o7777, 0o604);
    assert.deepEqual(r.changed, ['/p', '/p/copied']);
    await run({ sources: ['pkg.tar'], dest: '/raw/', unpack: false });
    assert.deepEqual(await readFile(at('raw/pkg.tar')), await readFile(path.join(ctx, 'pkg.tar')));
  });

  it('a glob matching archives and plain files extracts the former and copies the latter into the dir', async () => {
    await run({ sources: ['p*'], dest: '/mix' });
    await assertExtracted('mix');
    assert.equal(await read('mix/plain.txt'), 'plain');
  });

  it('respects .dockerignore and reports missing sources in ADD terms', async () => {
    await assert.rejects(run({ sources: ['pkg.tar'], dest: '/x/' }, { ignore: createMatcher(['*.tar']) }),
      (err: BuildError) => /^ADD failed: file not found in build context or excluded by \.dockerignore/.test(err.message));
    await assert.rejects(run({ sources: ['nope'], dest: '/x/' }), /^BuildError: ADD failed: file not found/);
    await assert.rejects(run({ sources: ['plain.txt', 'pkg.tar'], dest: '/x' }), /destination must be a directory/);
  });

  it('--chown applies to extracted entries (BuildKit >= 0.23) and to copied files', async () => {
    await run({ sources: ['pkg.tar'], dest: '/owned', chown: 'app:app' });
    await assertExtracted('owned', [1000, 1001]);
    const dir = await stat(at('owned'));
    assert.deepEqual([dir.uid, dir.gid], [1000, 1001]);
    // A user without a group: the gid is the uid (Docker's documented rule).
    await run({ sources: ['plain.txt'], dest: '/owned/plain', chown: '1000' });
    const st = await stat(at('owned/plain'));
    assert.deepEqual([st.uid, st.gid], [1000, 1000]);
  });

  it('resolves archive entries with the destination as their root (BuildKit untars chrooted): nothing lands outside it', async () => {
    const rel = path.relative(path.join(root, 'dest'), path.join(outside, 'evil'));
    await writeFile(path.join(ctx, 'climb.tar'), await makeTar([
      { name: './', type: 'directory', mode: 0o700, uid: 1234, gid: 1234 },
      { name: '../evil0', body: 'x' },
      { name: rel, body: 'x' },
      { name: 'a/../../evil2', body: 'x' },
      { name: 'up', type: 'symlink', linkname: '../../outside' },
      { name: 'up/through', body: 'x' },
      { name: 'abs', type: 'symlink', linkname: '/' },
      { name: 'abs/inside.txt', body: 'in' },
      { name: 'h', type: 'link', linkname: '../../evil0' },
    ]));
    await run({ sources: ['climb.tar'], dest: '/dest/' });
    // The './' entry is skipped (moby Unpack): the destination keeps ADD's 0755 root:root.
    const dest = await stat(at('dest'));
    assert.deepEqual([dest.mode & 0o7777, dest.uid, dest.gid], [0o755, 0, 0]);
    assert.equal(await read('dest/evil0'), 'x');
    assert.equal(await read('dest/outside/evil'), 'x');
    assert.equal(await read('dest/evil2'), 'x');
    assert.equal(await readlink(at('dest/up')), '../../outside');
    assert.equal(await read('dest/outside/through'), 'x');
    assert.equal(await readlink(at('dest/abs')), '/');
    assert.equal(await read('dest/inside.txt'), 'in');
    assert.equal((await stat(at('dest/h'))).ino, (await stat(at('dest/evil0'))).ino);
    // A '.' entry of another type is skipped too; a '/' directory entry applies its metadata to the destination.
    await writeFile(path.join(ctx, 'dot-file.tar'), await makeTar([{ name: '.', body: 'not a dir' }, { name: 'x', body: 'x' }]));
    await run({ sources: ['dot-file.tar'], dest: '/d3' });
    assert.ok((await stat(at('d3'))).isDirectory());
    assert.equal(await read('d3/x'), 'x');
    await writeFile(path.join(ctx, 'slash.tar'), await makeTar([{ name: '/', type: 'directory', mode: 0o710, uid: 7, gid: 8 }]));
    await run({ sources: ['slash.tar'], dest: '/d4' });
    const d4 = await stat(at('d4'));
    assert.deepEqual([d4.mode & 0o7777, d4.uid, d4.gid], [0o710, 7, 8]);
  });

  it('downloads a URL: 0600, Last-Modified mtime, name from the URL path; ARGs expanded', async () => {
    const r = await run({ sources: [`$ORIGIN/files/remote.txt`], dest: '/dl/' }, {}, { env: new Map([['ORIGIN', origin]]) });
    assert.equal(await read('dl/remote.txt'), payload);
    const st = await stat(at('dl/remote.txt'));
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(st.mtime.getTime(), Date.parse(lastModified));
    assert.deepEqual([st.uid, st.gid], [0, 0]);
    assert.deepEqual(r.changed, ['/dl', '/dl/remote.txt']);
    await run({ sources: [`${origin}/no-date`], dest: '/named' });
    assert.equal(await read('named'), payload);
    assert.equal((await stat(at('named'))).mtime.getTime(), 0);
    await run({ sources: [`${origin}/moved`], dest: '/dl' });
    assert.equal(await read('dl/moved'), payload, 'redirect followed; existing dir receives the file');
  });

  it('a downloaded archive is not extracted (unless --unpack)', async () => {
    await run({ sources: [`${origin}/pkg.tar.gz`], dest: '/r/' });
    assert.deepEqual(await readFile(at('r/pkg.tar.gz')), remoteTarGz);
    await run({ sources: [`${origin}/pkg.tar.gz`], dest: '/u/', unpack: true });
    await assertExtracted('u');
  });

  it('--checksum verified; a mismatch names the URL and writes nothing', async () => {
    await run({ sources: [`${origin}/files/remote.txt`], dest: '/ok/', checksum: `sha256:${payloadSha}` });
    assert.equal(await read('ok/remote.txt'), payload);
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(run({ sources: [`${origin}/files/remote.txt`], dest: '/bad/', checksum: wrong }),
      (err: BuildError) => err.code === 'DIGEST_MISMATCH' && err.message.includes(`${origin}/files/remote.txt`) && err.message.includes(payloadSha));
    await assert.rejects(stat(at('bad')), { code: 'ENOENT' });
    await assert.rejects(run({ sources: [`${origin}/files/remote.txt`], dest: '/bad/', checksum: 'md5:abc' }), /invalid --checksum/);
    await assert.rejects(run({ sources: ['plain.txt'], dest: '/bad/', checksum: `sha256:${payloadSha}` }), /only be used with http/);
  });

  it('a non-2xx status fails with the status and a redacted URL', async () => {
    const url = `http://user:pw@127.0.0.1:${new URL(origin).port}/missing?token=secret`;
    await assert.rejects(run({ sources: [url], dest: '/x/' }), (err: BuildError) => {
      assert.match(err.message, /HTTP status 404/);
      assert.ok(!err.message.includes('pw') && !err.message.includes('secret'), err.message);
      return true;
    });
    await assert.rejects(stat(at('x')), { code: 'ENOENT' });
  });

  it('--chown and --chmod apply to a downloaded file', async () => {
    await run({ sources: [`${origin}/files/remote.txt`], dest: '/o/f', chown: 'app:app', chmod: '0644' });
    const st = await stat(at('o/f'));
    assert.deepEqual([st.uid, st.gid], [1000, 1001]);
    assert.equal(st.mode & 0o7777, 0o644);
  });

  it('a here-document is written like COPY does (0644, never extracted); its body is a cache input', async () => {
    const doc = { name: 'x.tar', content: 'v=$V\n', expand: true };
    await run({ sources: ['<<x.tar', 'plain.txt'], dest: '/h/', chown: '5:6', heredocs: [doc] }, {}, { env: new Map([['V', '1']]) });
    assert.equal(await read('h/x.tar'), 'v=1\n');
    const st = await stat(at('h/x.tar'));
    assert.equal(st.mode & 0o7777, 0o644);
    assert.deepEqual([st.uid, st.gid], [5, 6]);
    const key = (v: string) => addCommand(instr({ sources: ['<<x.tar'], dest: '/h/', heredocs: [doc] })).cacheInputs?.(step({ env: new Map([['V', v]]) }));
    assert.deepEqual(await key('1'), await key('1'));
    assert.notDeepEqual(await key('1'), await key('2'));
    assert.deepEqual(await addCommand(instr({ sources: ['plain.txt'], dest: '/h/' })).cacheInputs?.(step()), []);
  });

  it('git sources: URL#REF:SUBDIR parts, BuildKit\'s git detection, commit checksums', () => {
    assert.ok(isGitSource('https://github.com/moby/buildkit.git#v0.10.1') && isGitSource('git@github.com:a/b.git') && isGitSource('ssh://h/r'));
    assert.ok(!isGitSource('https://example.com/a.tgz') && !isGitSource('./x.git'));
    assert.deepEqual(parseGitAddSource('https://u:p@h/o/r.git#v1:sub/dir'),
      { url: 'https://u:p@h/o/r.git', transport: 'http', shown: 'https://***@h/o/r.git', ref: 'v1', subdir: 'sub/dir' });
    assert.deepEqual(parseGitAddSource('git@h:o/r.git#:docs'), { url: 'git@h:o/r.git', transport: 'ssh', shown: 'git@h:o/r.git', subdir: 'docs' });
    assert.equal(parseGitAddSource('git://h/r.git').transport, 'git');
    assert.equal(parseGitChecksum('ABCDEF1'), 'abcdef1');
    assert.throws(() => parseGitChecksum('sha256:abc'), /expected a commit id/);
  });
});
