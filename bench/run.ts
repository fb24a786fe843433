// Side-by-side benchmark: each workload of bench/workloads.ts built by our executor and by buildah (Debian's package,
// --isolation chroot --layers --format docker, vfs and overlay storage), in alternation, every run cold (fresh build
// root, fresh buildah storage), all pushing to one loopback registry; plus the floor measured in the same round.
// Prints a table per workload (medians; the machine is shared, so read them as such). Asserts nothing.
// Usage: node bench/run.ts [--runs 3] [--workloads a,b,c,d,e] [--skip-buildah] [--logs DIR (keeps our debug logs)]
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { debianBase } from '../test/support/debian-base.ts';
import { executorBin, projectRoot } from '../test/support/executor-process.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { DEFAULT_COMPRESSION_LEVEL } from '../src/pipeline/options.ts';
import { BIG_BASE_DOCKERFILE, workloads, type FloorStep, type Workload } from './workloads.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' }, workloads: { type: 'string', default: 'a,b,c,d,e' },
  'skip-buildah': { type: 'boolean', default: false }, logs: { type: 'string' },
} });
const runs = Number(values.runs);
const chosen = workloads.filter((w) => values.workloads.split(',').includes(w.id));
const drivers = values['skip-buildah'] ? [] : ['vfs', 'overlay'] as const;
const progress = (msg: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

interface Timed { readonly ms: number; readonly rssKiB: number; readonly code: number; readonly out: string }

/** Runs a command under GNU time for its peak RSS (the process's own high-water mark, from wait4). */
async function timed(cmd: string, args: readonly string[], opts: { cwd?: string; quiet?: boolean } = {}): Promise<Timed> {
  const rssFile = join(tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = performance.now();
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? 1, out: Buffer.concat(chunks).toString() }));
  });
  const ms = performance.now() - started;
  const rssKiB = Number((await readFile(rssFile, 'utf8').catch(() => '0')).trim().split('\n').pop());
  await rm(rssFile, { force: true });
  if (code !== 0 && opts.quiet !== true) throw new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`);
  return { ms, rssKiB, code, out };
}

/** What our executor's debug log says about a build (json lines). */
function parseLog(out: string): { snapshotMs: number; layerMs: number; layerBytes: number; pushMs: number; uploadMs: number; uploadBytes: number } {
  let snapshotMs = 0, layerMs = 0, layerBytes = 0, pushMs = 0, uploadMs = 0, uploadBytes = 0;
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { msg?: string; durationMs?: number; size?: number };
    try { rec = JSON.parse(line) as typeof rec; } catch { continue; }
    const d = rec.durationMs ?? 0;
    if (rec.msg === 'Filesystem walked' || rec.msg === 'Snapshot baseline taken') snapshotMs += d;
    else if (rec.msg === 'Layer snapshot') { layerMs += d; layerBytes += rec.size ?? 0; }
    else if (rec.msg?.startsWith('Pushed ') === true) pushMs += d;
    // Layers are uploaded while the build goes on, so the push step's time is not the upload's: each upload's own.
    else if (rec.msg === 'Uploaded blob') { uploadMs += d; uploadBytes += rec.size ?? 0; }
  }
  return { snapshotMs, layerMs, layerBytes, pushMs, uploadMs, uploadBytes };
}

async function writeContext(w: Workload, dir: string, baseRef: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await w.prepare(dir);
  await writeFile(join(dir, 'Dockerfile'), w.dockerfile.replace(/^FROM BASE$/m, `FROM ${baseRef}`));
}

function executorArgs(ctx: string, dest: string, root: string, extra: readonly string[] = []): string[] {
  return [`--context=dir://${ctx}`, `--dockerfile=${join(ctx, 'Dockerfile')}`, `--destination=${dest}`, `--root-dir=${root}`,
    `--cache-dir=${join(root, '..', 'base-cache')}`, '--insecure', '--insecure-pull', '--log-format=json', '--verbosity=debug', ...extra];
}

async function ours(ctx: string, dest: string, extra: readonly string[] = []): Promise<Timed> {
  const work = await mkdtemp(join(tmpdir(), 'bench-ours-'));
  try {
    return await timed(executorBin, executorArgs(ctx, dest, join(work, 'root'), extra));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildah(driver: string, ctx: string, dest: string, rebuild: boolean): Promise<Timed> {
  const work = await mkdtemp(join(tmpdir(), 'bench-buildah-'));
  const global = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', driver];
  const bud = [...global, 'bud', '--isolation', 'chroot', '--layers', '--format', 'docker', '--tls-verify=false',
    '-f', join(ctx, 'Dockerfile'), '-t', 'localhost/bench/img', ctx];
  try {
    if (rebuild) await timed('buildah', bud); // fills the same storage: the timed build below is the rebuild
    const built = await timed('buildah', bud);
    const pushed = await timed('buildah', [...global, 'push', '--tls-verify=false', 'localhost/bench/img', `docker://${dest}`]);
    return { ms: built.ms + pushed.ms, rssKiB: Math.max(built.rssKiB, pushed.rssKiB), code: 0, out: '' };
  } finally {
    await timed('buildah', [...global, 'rm', '--all'], { quiet: true }).catch(() => undefined);
    await timed('buildah', [...global, 'rmi', '--all', '--force'], { quiet: true }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

interface Floor { pull: number; extract: number; run: number; walks: number }

/** The floor: skopeo pull + tar extract of the base, each step in a bare chroot (or cp -a), one find walk per step. */
async function floor(baseRef: string | undefined, ctx: string, steps: readonly FloorStep[]): Promise<Floor> {
  const work = await mkdtemp(join(tmpdir(), 'bench-floor-'));
  const rootfs = join(work, 'rootfs');
  await mkdir(rootfs);
  const f: Floor = { pull: 0, extract: 0, run: 0, walks: 0 };
  try {
    if (baseRef !== undefined) {
      f.pull = (await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${baseRef}`, `dir:${join(work, 'pulled')}`])).ms;
      const manifest = JSON.parse(await readFile(join(work, 'pulled', 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
      for (const l of manifest.layers) {
        f.extract += (await timed('tar', ['--numeric-owner', '-xzf', join(work, 'pulled', l.digest.replace('sha256:', '')), '-C', rootfs])).ms;
      }
    }
    // The base's tar has no device nodes (our RUN gets a fresh /dev); programs need /dev/null. Not timed.
    await timed('sh', ['-c', `mkdir -p '${rootfs}/dev' && { [ -e '${rootfs}/dev/null' ] || mknod -m 666 '${rootfs}/dev/null' c 1 3; }`]);
    for (const step of steps) {
      if ('run' in step) f.run += (await timed('chroot', [rootfs, '/bin/sh', '-c', step.run])).ms;
      else {
        await mkdir(join(rootfs, step.to), { recursive: true });
        f.run += (await timed('cp', ['-a', `${join(ctx, step.copy)}/.`, join(rootfs, step.to)])).ms;
      }
      f.walks += (await timed('sh', ['-c', `find '${rootfs}' -xdev -printf '%s %T@ %C@\\n' > /dev/null`])).ms;
    }
    return f;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Single-core gzip at our level over the uncompressed bytes of the image's own layers (not the base's): the compression floor. */
async function compressFloor(imageRef: string, baseLayers: number): Promise<{ ms: number; bytes: number }> {
  const work = await mkdtemp(join(tmpdir(), 'bench-gz-'));
  try {
    await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${imageRef}`, `dir:${work}`]);
    const manifest = JSON.parse(await readFile(join(work, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
    let ms = 0, bytes = 0;
    for (const l of manifest.layers.slice(baseLayers)) {
      const blob = join(work, l.digest.replace('sha256:', ''));
      await timed('sh', ['-c', `gunzip -c '${blob}' > '${blob}.tar'`]);
      bytes += (await stat(`${blob}.tar`)).size;
      ms += (await timed('sh', ['-c', `gzip -${DEFAULT_COMPRESSION_LEVEL} -c '${blob}.tar' > /dev/null`])).ms;
    }
    return { ms, bytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const s = (ms: number): string => Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;

async function main(): Promise<void> {
  progress(`starting a registry; ${runs} runs; workloads ${chosen.map((w) => w.id).join(',')}; buildah ${drivers.join('+') || 'skipped'}; ${availableParallelism()} cores`);
  const registry = await startRegistry();
  let pushTarget: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const scratch = await mkdtemp(join(tmpdir(), 'bench-'));
  const report: string[] = [];
  try {
    const debian = await debianBase(registry.host);
    let big: string | undefined;
    if (chosen.some((w) => w.base === 'big')) {
      progress('building the 48k-entry base (b) once with our executor (apt-get from the Debian mirror)');
      const ctx = join(scratch, 'big-base');
      await mkdir(ctx);
      await writeFile(join(ctx, 'Dockerfile'), BIG_BASE_DOCKERFILE.replace(/^FROM BASE$/m, `FROM ${debian}`));
      big = `${registry.host}/bench/big:base`;
      await ours(ctx, big);
    }
    for (const w of chosen) {
      const baseRef = w.base === 'debian' ? debian : w.base === 'big' ? big : undefined;
      const baseLayers = w.base === 'big' ? 3 : w.base === 'debian' ? 1 : 0;
      const ctx = join(scratch, `ctx-${w.id}`);
      await writeContext(w, ctx, baseRef ?? 'scratch');
      const repo = `${registry.host}/bench/w-${w.id}`;
      const cacheArgs = w.rebuild === true ? ['--cache', `--cache-repo=${registry.host}/bench/cache-${w.id}`, '--cache-copy-layers'] : [];
      if (w.rebuild === true) { progress(`${w.id}: filling the layer cache (untimed)`); await ours(ctx, `${repo}:warm`, cacheArgs); }
      const oursRuns: Timed[] = [];
      const logs: ReturnType<typeof parseLog>[] = [];
      const theirs = new Map<string, Timed[]>();
      const floors: Floor[] = [];
      const pulls: { ours: Timed; skopeo: number; skopeoPush: number }[] = [];
      for (let r = 1; r <= runs; r++) {
        progress(`${w.id} run ${r}/${runs}: ours`);
        const o = await ours(ctx, `${repo}:ours`, cacheArgs);
        if (values.logs !== undefined) { await mkdir(values.logs, { recursive: true }); await writeFile(join(values.logs, `${w.id}-${r}.log`), o.out); }
        oursRuns.push(o);
        logs.push(parseLog(o.out));
        for (const d of drivers) {
          progress(`${w.id} run ${r}/${runs}: buildah ${d}`);
          theirs.set(d, [...(theirs.get(d) ?? []), await buildah(d, ctx, `${repo}:buildah-${d}`, w.rebuild === true)]);
        }
        if (w.id === 'e') {
          progress(`${w.id} run ${r}/${runs}: pull with our warmer, and with skopeo`);
          const cache = await mkdtemp(join(tmpdir(), 'bench-warm-'));
          const warm = await timed(join(projectRoot, 'bin', 'warmer'), [`--image=${repo}:ours`, `--cache-dir=${cache}`, '--insecure-pull', '--log-format=json']);
          await rm(cache, { recursive: true, force: true });
          const sk = await mkdtemp(join(tmpdir(), 'bench-skopeo-'));
          const skopeo = (await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${repo}:ours`, `dir:${sk}`])).ms;
          // skopeo's push of the same blobs: the peer for our push rate. To a second registry (same software, same
          // machine): into the first one skopeo would mount the blobs it just pulled instead of uploading them.
          pushTarget ??= await startRegistry();
          const skopeoPush = (await timed('skopeo', ['copy', '--dest-tls-verify=false', `dir:${sk}`, `docker://${pushTarget.host}/bench/skopeo-${r}:pushed`])).ms;
          await rm(sk, { recursive: true, force: true });
          pulls.push({ ours: warm, skopeo, skopeoPush });
        }
        if (w.rebuild !== true) { progress(`${w.id} run ${r}/${runs}: floor`); floors.push(await floor(baseRef, ctx, w.steps)); }
      }
      const gz = w.rebuild === true ? { ms: NaN, bytes: 0 } : await compressFloor(`${repo}:ours`, baseLayers);
      const oursMs = median(oursRuns.map((o) => o.ms));
      const lines = [`\n${w.title} — medians of ${runs} runs (shared 2-core machine: noisy)`];
      lines.push(`  ours              ${s(oursMs).padStart(8)}   peak RSS ${(median(oursRuns.map((o) => o.rssKiB)) / 1024).toFixed(0)} MiB (max ${(Math.max(...oursRuns.map((o) => o.rssKiB)) / 1024).toFixed(0)})` +
        `   layers ${mib(median(logs.map((l) => l.layerBytes)))}   snapshot walks ${s(median(logs.map((l) => l.snapshotMs)))}   layer tar+compress ${s(median(logs.map((l) => l.layerMs)))}`);
      for (const d of drivers) {
        const t = theirs.get(d) ?? [];
        const ms = median(t.map((x) => x.ms));
        lines.push(`  buildah ${d.padEnd(8)}  ${s(ms).padStart(8)}   ours/buildah ${(oursMs / ms).toFixed(2)}   buildah peak RSS ${(median(t.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB`);
      }
      if (floors.length > 0) {
        const f = (k: keyof Floor): number => median(floors.map((x) => x[k]));
        const total = f('pull') + f('extract') + f('run') + f('walks') + gz.ms / availableParallelism();
        lines.push(`  floor             ${s(total).padStart(8)}   = pull ${s(f('pull'))} + tar extract ${s(f('extract'))} + steps in chroot ${s(f('run'))}` +
          ` + find walks ${s(f('walks'))} + gzip -${DEFAULT_COMPRESSION_LEVEL} of ${mib(gz.bytes)} new bytes ${s(gz.ms)} on one core / ${availableParallelism()} cores`);
      }
      if (pulls.length > 0) {
        const bytes = median(logs.map((l) => l.layerBytes));
        const rate = (ms: number): string => `${(bytes / 1048576 / (ms / 1000)).toFixed(0)} MiB/s`;
        lines.push(`  push (ours: blob uploads, from the log) ${(median(logs.map((l) => l.uploadBytes / 1048576 / (l.uploadMs / 1000)))).toFixed(0)} MiB/s   push (skopeo) ${rate(median(pulls.map((p) => p.skopeoPush)))}` +
          `   pull (our warmer) ${rate(median(pulls.map((p) => p.ours.ms)))} peak RSS ${(median(pulls.map((p) => p.ours.rssKiB)) / 1024).toFixed(0)} MiB` +
          `   pull (skopeo) ${rate(median(pulls.map((p) => p.skopeo)))}`);
      }
      lines.push(`  raw ms: ours ${oursRuns.map((o) => o.ms.toFixed(0)).join(' ')}${drivers.map((d) => `; buildah-${d} ${(theirs.get(d) ?? []).map((x) => x.ms.toFixed(0)).join(' ')}`).join('')}`);
      report.push(...lines);
      process.stderr.write(lines.join('\n') + '\n');
    }
  } finally {
    await registry.stop();
    await pushTarget?.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  console.log(report.join('\n'));
}

await main();
