// Non-root RUN with --root-dir on the host (issue 19 item 2): the Debian workload of bench/rootless-run.ts built with
// --root-dir as root (root mode: RUN isolated by run-in-root) and as uid 1000 under test/support/pss-restricted.py
// (no capabilities, namespace calls and chroot refused: RUN under native/fakeroot-supervisor.c --chroot, the chroot
// emulated by path translation). Median wall time of --runs N, each step's median time from the log, then one more
// untimed non-root build whose supervisor writes --stats: the traced calls by name. Prints figures, asserts nothing.
// Run as root: TMPDIR=/dev/shm/bench node bench/rootless-rootdir.ts [--runs 3]
import { execFileSync, spawnSync, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { debianBase } from '../test/support/debian-base.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { tinyDeb } from '../test/support/tiny-deb.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const project = join(import.meta.dirname, '..');
const executor = join(project, 'bin', 'executor');
const pss = join(project, 'test', 'support', 'pss-restricted.py');
const tools = join(project, '.tools', 'bin');

// The file work of bench/rootless-run.ts's last RUN: many stats, chowns, chmods and creations.
const work = 'cp -a /usr/share /opt/share && chown -R app:app /opt/share && find /opt/share -type f -exec chmod 0640 {} + && ls -lR /opt/share > /dev/null';

/** x86_64/aarch64 syscall numbers → names, from the C library's headers (numbers only without gcc). */
function syscallNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    const defs = execFileSync('gcc', ['-E', '-dM', '-'], { input: '#include <sys/syscall.h>\n', encoding: 'utf8' });
    for (const m of defs.matchAll(/^#define __NR_(\w+) (\d+)$/gm)) names.set(Number(m[2]), m[1] ?? '');
  } catch {
    // no compiler: numbers
  }
  return names;
}

/** Each step's time from a text log: `[2/6] RUN …` names the step, `[2/6] DONE 3.1s` ends it. */
function stepTimes(log: string): Map<string, number> {
  const names = new Map<string, string>();
  const times = new Map<string, number>();
  for (const line of log.split('\n')) {
    const m = /\] \[(\d+\/\d+)\] (.*)$/.exec(line);
    if (m === null) continue;
    const [, step = '', rest = ''] = m;
    const done = /^DONE (\d+(?:\.\d+)?)s$/.exec(rest);
    if (done !== null) times.set(names.get(step) ?? step, Number(done[1]) * 1000);
    else if (!names.has(step) && !/^(ERROR|CACHED)/.test(rest)) names.set(step, `${step} ${rest.length > 60 ? `${rest.slice(0, 57)}...` : rest}`);
  }
  return times;
}

const registry = await startRegistry({ auth: 'none' });
const dir = mkdtempSync(join(tmpdir(), 'rootless-rootdir-bench-'));
try {
  chmodSync(dir, 0o755);
  const base = await debianBase(registry.host);
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx, { mode: 0o755 });
  chmodSync(ctx, 0o755);
  writeFileSync(join(ctx, 'Dockerfile'), [`FROM ${base}`, 'RUN useradd -u 1500 -m app', 'COPY tiny.deb /tmp/tiny.deb', 'RUN dpkg -i /tmp/tiny.deb && rm /tmp/tiny.deb', `RUN ${work}`, ''].join('\n'));
  writeFileSync(join(ctx, 'tiny.deb'), await tinyDeb(join(dir, 'deb')), { mode: 0o644 });

  const build = (mode: 'root' | 'non-root', name: string, extra: readonly string[] = [], o: { keepRoot?: boolean } = {}): { ms: number; log: string } => {
    const root = join(dir, `root-${name}`);
    const home = join(dir, `home-${name}`);
    for (const d of [root, home]) { mkdirSync(d); chownSync(d, 1000, 1000); }
    const args = [`--context=dir://${ctx}`, `--root-dir=${root}`, `--destination=${registry.host}/bench/rootless-rootdir:${mode}`,
      '--insecure', '--insecure-pull', '--log-format=text', ...extra];
    const env = { ...process.env, HOME: home };
    const started = process.hrtime.bigint();
    const r = mode === 'root'
      ? spawnSync(executor, args, { encoding: 'utf8', env, maxBuffer: 256 << 20 })
      : spawnSync(pss, ['1000:1000', executor, ...args], { encoding: 'utf8', env, maxBuffer: 256 << 20 });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (r.status !== 0) throw new Error(`${mode} build failed: ${r.stderr}${r.stdout}`);
    if (o.keepRoot !== true) rmSync(root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    return { ms, log: r.stdout + r.stderr };
  };

  const times: Record<'root' | 'non-root', number[]> = { root: [], 'non-root': [] };
  const steps: Record<'root' | 'non-root', Map<string, number[]>> = { root: new Map(), 'non-root': new Map() };
  for (let i = 0; i < runs; i++) {
    for (const mode of ['root', 'non-root'] as const) {
      const { ms, log } = build(mode, `${mode}-${i}`);
      times[mode].push(ms);
      for (const [step, t] of stepTimes(log)) steps[mode].set(step, [...steps[mode].get(step) ?? [], t]);
    }
  }
  const rootMs = median(times.root);
  const userMs = median(times['non-root']);
  console.log(`Debian base + useradd + dpkg -i + RUN over /usr/share (cp -a, chown -R, chmod, ls -lR), --root-dir on the host, ${runs} runs, median wall time (pull, unpack, RUN, layers, push):`);
  console.log(`  root mode      ${(rootMs / 1000).toFixed(2)} s`);
  console.log(`  non-root mode  ${(userMs / 1000).toFixed(2)} s  (${(userMs / rootMs).toFixed(2)}× root; pss-restricted.py, uid 1000, RUN under the supervisor --chroot)`);
  console.log('  per step (median, from the log): root / non-root');
  for (const [step, ts] of steps.root) {
    const user = steps['non-root'].get(step) ?? [];
    console.log(`    ${step.padEnd(72)} ${(median(ts) / 1000).toFixed(2)} s / ${(median(user) / 1000).toFixed(2)} s`);
  }

  // One more non-root build, untimed: a --kaniko-dir whose fakeroot-supervisor is a wrapper adding --stats, one file per RUN.
  const kaniko = join(dir, 'kaniko');
  const statsDir = join(dir, 'stats');
  for (const d of [kaniko, statsDir]) { mkdirSync(d); chownSync(d, 1000, 1000); }
  symlinkSync(join(tools, 'run-in-root'), join(kaniko, 'run-in-root'));
  writeFileSync(join(kaniko, 'fakeroot-supervisor'), `#!/bin/sh\nexec ${join(tools, 'fakeroot-supervisor')} --stats ${statsDir}/$$ "$@"\n`, { mode: 0o755 });
  build('non-root', 'stats', [`--kaniko-dir=${kaniko}`], { keepRoot: true });
  const counts = new Map<number, number>();
  const files = readdirSync(statsDir);
  for (const f of files) {
    for (const line of readFileSync(join(statsDir, f), 'utf8').trim().split('\n')) {
      const [nr, c] = line.split(' ').map(Number);
      if (nr !== undefined && c !== undefined && !Number.isNaN(nr)) counts.set(nr, (counts.get(nr) ?? 0) + c);
    }
  }
  const names = syscallNames();
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((n, [, c]) => n + c, 0);
  const runSteps = [...steps.root.keys()].filter((s) => / RUN /.test(s));
  const overhead = runSteps.reduce((n, s) => n + median(steps['non-root'].get(s) ?? []) - median(steps.root.get(s) ?? []), 0);
  console.log(`Traced calls over the ${files.length} RUNs: ${total}; the RUN steps' extra time ${(overhead / 1000).toFixed(2)} s, `
    + `${total > 0 ? (overhead * 1000 / total).toFixed(1) : '?'} µs per traced call at most`);
  console.log(`  by call: ${sorted.slice(0, 12).map(([nr, c]) => `${names.get(nr) ?? nr}:${c}`).join(' ')}`);

  // Where the RUN's time goes: its file work alone, in the build root the non-root build left (Debian + app), three ways:
  // as root chrooted by run-in-root (no supervisor); as uid 1000 under the supervisor without --chroot, on host paths
  // with the host's tools (fake root only); as uid 1000 under the supervisor --chroot, run-in-root's chroot emulated.
  const root = join(dir, 'root-stats');
  const share = join(dir, 'share');
  mkdirSync(share);
  chownSync(share, 1000, 1000);
  // The root has no /dev (the runtime's): ls writes to a file instead.
  const solo = work.replace('> /dev/null', '> /tmp/ls.out');
  const helper = ['--root', root, '--cwd', '/', '--uid', '0', '--gid', '0', '--groups', '0', '--error-fd', '3', '--', 'sh', '-c', solo];
  const hostScript = solo.replace('/tmp/ls.out', `${share}/ls.out`).replaceAll('/usr/share', `${root}/usr/share`).replaceAll('/opt/share', `${share}/s`).replace('chown -R app:app', 'chown -R 1500:1500');
  const io: SpawnSyncOptionsWithStringEncoding = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] };
  const sup = (name: string): string[] => ['1000:1000', join(tools, 'fakeroot-supervisor'), '--stats', join(statsDir, name)];
  const ways: { name: string; stats?: string; run: () => SpawnSyncReturns<string> }[] = [
    { name: 'root, chroot(2), no supervisor', run: () => spawnSync(join(tools, 'run-in-root'), helper, io) },
    { name: 'uid 1000, supervisor, host paths', stats: 'host', run: () => spawnSync(pss, [...sup('host'), '--', 'sh', '-c', hostScript], io) },
    { name: 'uid 1000, supervisor --chroot', stats: 'chroot', run: () => spawnSync(pss, [...sup('chroot'), '--chroot', '--', join(tools, 'run-in-root'), ...helper], io) },
  ];
  let baseMs = NaN;
  console.log(`The last RUN's file work alone (${runs} runs, median):`);
  for (const way of ways) {
    const ms = median(Array.from({ length: runs }, () => {
      rmSync(join(root, 'opt', 'share'), { recursive: true, force: true });
      rmSync(join(root, 'tmp', 'ls.out'), { force: true });
      rmSync(join(share, 's'), { recursive: true, force: true });
      const started = process.hrtime.bigint();
      const r = way.run();
      if (r.status !== 0) throw new Error(`${way.name}: exit ${r.status}: ${r.stderr}${r.output[3] ?? ''}`);
      return Number(process.hrtime.bigint() - started) / 1e6;
    }));
    baseMs = Number.isNaN(baseMs) ? ms : baseMs;
    const calls = way.stats === undefined ? 0 : readFileSync(join(statsDir, way.stats), 'utf8').trim().split('\n').reduce((n, l) => n + Number(l.split(' ')[1] ?? 0), 0);
    console.log(`  ${way.name.padEnd(36)} ${(ms / 1000).toFixed(2)} s${calls > 0 ? `  ${calls} traced calls, ${((ms - baseMs) * 1000 / calls).toFixed(1)} µs each over the first` : ''}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await registry.stop();
}
