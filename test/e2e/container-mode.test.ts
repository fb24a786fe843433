// Container mode end to end: the assembled runtime directory (scripts/assemble-kaniko-dir.ts) is the whole
// filesystem of a fresh mount + pid namespace, as in the executor image; the executor detects a container
// ($container), builds a three-stage Dockerfile into '/' and pushes. Checks: the image runs, the stages saw
// a reset '/', the runtime directory survived, and the HOST's /, /etc, /bin, /usr/bin and /tmp are untouched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';

const exec = promisify(execFile);

type Listing = Map<string, string>;

/** name → type, size and mtime of each entry (lstat: links are not followed). */
async function listing(dir: string, recursive = false): Promise<Listing> {
  const out: Listing = new Map();
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const st = await lstat(join(d, name)).catch(() => undefined);
      if (st === undefined) continue; // vanished meanwhile (another process's temp file)
      out.set(prefix + name, `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.isDirectory() ? 0 : st.size} ${st.mtimeMs}`);
      if (recursive && st.isDirectory()) await walk(join(d, name), `${prefix}${name}/`);
    }
  };
  await walk(dir, '');
  return out;
}

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'container-mode-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: a multi-stage build into / of a fresh namespace, pushed; the host untouched', { timeout: 600_000 }, async (t) => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const marker = `kts-marker-${process.pid}`;
  const base = `${registry.host}/busybox:latest`;
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'hello.txt'), 'from the context\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${base} AS build`,
    // A stage other than the target RUNs chrooted in its own directory under the work directory: no /kaniko there.
    `RUN mkdir -p /out && echo "built in stage one" > /out/msg && echo x > /etc/${marker} && echo x > /tmp/${marker} && test ! -e /kaniko`,
    'FROM build AS check',
    `RUN test -f /out/msg && test -f /etc/${marker} && echo checked > /out/checked`,
    `FROM ${base}`,
    'COPY --from=check /out/ /out-copied/',
    'COPY --from=build /out/msg /msg',
    'COPY hello.txt /hello.txt',
    // The first stages never wrote to '/': nothing of them is in the target's filesystem.
    `RUN test ! -e /out && test ! -e /etc/${marker} && test ! -e /tmp/${marker} && cat /msg /out-copied/checked /hello.txt > /both`,
    'CMD ["cat", "/both"]',
    '',
  ].join('\n'));
  // The context is copied, not mounted: '/workspace' must survive the resets because it is the context.
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);

  const hostDirs = ['/etc', '/bin', '/usr/bin'];
  const hostBefore = await Promise.all(hostDirs.map((d) => listing(d)));
  // '/': names only (the mtimes of /tmp, /run, /var move with whatever else runs on this machine).
  const topBefore = [...(await listing('/')).keys()].sort();
  const tmpBefore = await listing('/tmp');
  const kanikoBefore = await listing(join(root, 'kaniko'), true);

  const destination = `${registry.host}/container-mode:latest`;
  const run = await runContained(script, root, [
    '--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull', '--log-format=text',
  ], 300_000);
  t.diagnostic(`launch → first log line: ${run.firstLogMs ?? '?'} ms; whole build: ${run.totalMs} ms`);
  assert.equal(run.code, 0, `executor failed:\n${run.stderr}\n${run.stdout}`);
  assert.doesNotMatch(run.stderr, /Deleting filesystem/, "'/' is the target's alone: never reset between stages");

  // The host: the same entries with the same mtimes; /tmp (shared with other processes) has none of the build's names.
  const hostAfter = await Promise.all(hostDirs.map((d) => listing(d)));
  for (const [i, d] of hostDirs.entries()) assert.deepEqual(hostAfter[i], hostBefore[i], `host ${d} changed`);
  assert.deepEqual([...(await listing('/')).keys()].sort(), topBefore, 'host / changed');
  const tmpAfter = await listing('/tmp');
  const buildNames = new Set([marker, ...(await readdir(root))]);
  const newInTmp = [...tmpAfter.keys()].filter((n) => !tmpBefore.has(n) && buildNames.has(n));
  assert.deepEqual(newInTmp, [], 'the build wrote into the host /tmp');
  for (const p of [`/etc/${marker}`, `/tmp/${marker}`, '/msg', '/both', '/out']) {
    await assert.rejects(lstat(p), { code: 'ENOENT' }, `${p} appeared on the host`);
  }
  // The mounts lived in the namespace only.
  assert.deepEqual(await readdir(join(root, 'dev')), []);

  // The build root: the target's files, no leftovers of earlier stages, the runtime directory intact.
  assert.deepEqual(await listing(join(root, 'kaniko'), true), kanikoBefore, 'the kaniko directory changed');
  await lstat(join(root, 'both'));
  await lstat(join(root, 'workspace', 'hello.txt'));
  await assert.rejects(lstat(join(root, 'out')), { code: 'ENOENT' });

  const { stdout } = await runImage(`docker://${destination}`);
  assert.equal(stdout, 'built in stage one\nchecked\nfrom the context\n');
});

test('the runtime directory alone runs the warmer: a root holding nothing but /kaniko', { timeout: 120_000 }, async () => {
  const bare = join(work, 'bare');
  await mkdir(join(bare, 'proc'), { recursive: true });
  await cp(join(root, 'kaniko'), join(bare, 'kaniko'), { recursive: true });
  const { stdout } = await exec('unshare', ['--mount', '--pid', '--fork', '--mount-proc', `--root=${bare}`, '/kaniko/warmer', '--help'],
    { env: { PATH: `/kaniko:${process.env['PATH'] ?? '/usr/bin:/bin'}` }, timeout: 60_000 });
  assert.match(stdout, /^Usage: warmer/m);
});
