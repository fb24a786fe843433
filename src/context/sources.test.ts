import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import tarStream from 'tar-stream';
import { startStaticServer, type StaticServer } from '../../test/support/static-server.ts';
import { BuildError } from '../errors.ts';
import { httpsContextSource } from './https.ts';
import { enterContextSubPath } from './pick.ts';
import { fetchDockerfile } from './remote-dockerfile.ts';
import type { ContextDeps } from './source.ts';
import { tarContextSource } from './tar.ts';

const log = pino({ level: 'silent' });
const signal = new AbortController().signal;

async function oneFileTarGz(name: string, body: string): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve) => { pack.on('end', resolve); });
  pack.entry({ name }, body);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

function deps(extra: Partial<ContextDeps> = {}): ContextDeps {
  return { env: {}, stdin: Readable.from([]), git: {}, log, ...extra };
}

function contextError(...texts: string[]) {
  return (e: unknown) => e instanceof BuildError && e.code === 'CONTEXT' && texts.every((t) => e.message.includes(t));
}

describe('tar, https and remote Dockerfile sources', () => {
  let tmp = '';
  let web: StaticServer;
  let n = 0;
  const fresh = (): string => path.join(tmp, `w${(n += 1)}`);
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ctx-sources-'));
    web = await startStaticServer({ '/ctx.tgz': await oneFileTarGz('a.txt', 'A'), '/Dockerfile': 'FROM scratch\n', '/private.tgz': { status: 403 } });
  });
  after(async () => {
    await web.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('tar://PATH unpacks; a missing file names it', async () => {
    const file = path.join(tmp, 'c.tgz');
    await writeFile(file, await oneFileTarGz('x/y.txt', 'Y'));
    const dir = await tarContextSource(file, deps()).fetch(fresh(), signal);
    assert.equal(await readFile(path.join(dir, 'x/y.txt'), 'utf8'), 'Y');
    await assert.rejects(tarContextSource(path.join(tmp, 'none.tgz'), deps()).fetch(fresh(), signal), contextError('none.tgz', 'does not exist'));
  });
  it('tar://stdin reads the given stream and refuses a terminal with a hint', async () => {
    const dir = await tarContextSource('stdin', deps({ stdin: Readable.from([await oneFileTarGz('s.txt', 'S')]) })).fetch(fresh(), signal);
    assert.equal(await readFile(path.join(dir, 's.txt'), 'utf8'), 'S');
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    await assert.rejects(tarContextSource('stdin', deps({ stdin: tty })).fetch(fresh(), signal),
      (e: unknown) => contextError('terminal')(e) && /-i/.test((e as BuildError).hint ?? ''));
  });
  it('downloads over HTTP, sending URL credentials as Basic auth only', async () => {
    const url = `${web.url.replace('http://', 'http://me:pw-secret@')}/ctx.tgz`;
    const dir = await httpsContextSource(url, deps()).fetch(fresh(), signal);
    assert.equal(await readFile(path.join(dir, 'a.txt'), 'utf8'), 'A');
    assert.equal(web.requests.at(-1)?.authorization, `Basic ${Buffer.from('me:pw-secret').toString('base64')}`);
  });
  it('non-200 is one line with the status and the redacted URL', async () => {
    const url = `${web.url.replace('http://', 'http://me:pw-secret@')}/private.tgz`;
    await assert.rejects(httpsContextSource(url, deps()).fetch(fresh(), signal),
      (e: unknown) => contextError('HTTP 403', '***@', 'private.tgz')(e) && !(e as Error).message.includes('pw-secret'));
    await assert.rejects(httpsContextSource('https://127.0.0.1:1/x.tgz', deps()).fetch(fresh(), signal), contextError('download failed'));
  });
  it('uses the fetch seam', async () => {
    const body = await oneFileTarGz('f.txt', 'F');
    const fake = (async () => new Response(body, { status: 200 })) as unknown as NonNullable<ContextDeps['fetch']>;
    const dir = await httpsContextSource('https://example.invalid/c.tgz', deps({ fetch: fake })).fetch(fresh(), signal);
    assert.equal(await readFile(path.join(dir, 'f.txt'), 'utf8'), 'F');
  });
  it('fetchDockerfile writes the file; 404 names the URL', async () => {
    const dest = path.join(fresh(), 'Dockerfile');
    await fetchDockerfile(`${web.url}/Dockerfile`, dest, { log });
    assert.equal(await readFile(dest, 'utf8'), 'FROM scratch\n');
    await assert.rejects(fetchDockerfile(`${web.url}/nope`, dest, { log }), contextError('Dockerfile', '/nope', 'HTTP 404'));
  });
  it('enterContextSubPath refuses missing, file and escaping sub-paths', async () => {
    const dir = fresh();
    await tarContextSource(path.join(tmp, 'c.tgz'), deps()).fetch(dir, signal);
    assert.equal(await enterContextSubPath(dir, 'x'), path.join(dir, 'x'));
    await assert.rejects(enterContextSubPath(dir, 'nope'), contextError('does not exist'));
    await assert.rejects(enterContextSubPath(dir, 'x/y.txt'), contextError('not a directory'));
    await assert.rejects(enterContextSubPath(dir, '../..'), contextError('leaves the build context'));
  });
});
