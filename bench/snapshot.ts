// How fast is the snapshotter next to the floor (`find` doing one stat per path)? Prints figures, asserts nothing.
// Usage: node --expose-gc bench/snapshot.ts [files=100000] [concurrency=64]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createIgnoreList } from '../src/rootfs/ignore-list.ts';
import { createSnapshotter } from '../src/snapshot/snapshotter.ts';

const files = Number(process.argv[2] ?? 100_000);
const concurrency = Number(process.argv[3] ?? 64);
const gc = (globalThis as { gc?: () => void }).gc;

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  console.log(`${label.padEnd(38)} ${(performance.now() - t0).toFixed(0).padStart(7)} ms`);
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'snapshot-bench-'));
try {
  // 100 top dirs × 10 subdirs × files/1000 files each: a tree shaped roughly like /usr.
  const perLeaf = Math.max(1, Math.ceil(files / 1000));
  const paths: string[] = [];
  await timed(`create ${files} files`, () => {
    for (let i = 0; i < 100 && paths.length < files; i++) {
      for (let j = 0; j < 10 && paths.length < files; j++) {
        const leaf = join(dir, `d${i}`, `s${j}`);
        mkdirSync(leaf, { recursive: true });
        for (let k = 0; k < perLeaf && paths.length < files; k++) {
          const p = join(leaf, `file-${k}.txt`);
          writeFileSync(p, `content ${i} ${j} ${k}\n`);
          paths.push(p);
        }
      }
    }
  });

  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const snapshotter = createSnapshotter({ root: dir, ignore: createIgnoreList([]), mode: 'full', log: pino({ level: 'silent' }), concurrency });
  await timed('init() (baseline walk)', () => snapshotter.init());
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const unchanged = await timed('snapshotTree(), nothing changed', () => snapshotter.snapshotTree());

  const touched = Math.max(1, Math.floor(files / 100));
  const now = new Date();
  for (let n = 0; n < touched; n++) {
    const p = paths[Math.floor((n * paths.length) / touched)];
    if (p !== undefined) utimesSync(p, now, now);
  }
  const changed = await timed(`snapshotTree(), ${touched} touched (1%)`, () => snapshotter.snapshotTree());

  // The floor: one stat per path, in C, output discarded.
  const devNull = openSync('/dev/null', 'w');
  await timed('find -xdev -printf (floor)', () => {
    spawnSync('find', [dir, '-xdev', '-printf', '%s %T@ %C@\n'], { stdio: ['ignore', devNull, 'inherit'] });
  });
  closeSync(devNull);

  console.log(`changes: unchanged=${unchanged.added.length + unchanged.deleted.length}, touched → added=${changed.added.length} (files + their dirs)`);
  console.log(`baseline heap: ${mb(heapAfter - heapBefore)} for ${files} files${gc === undefined ? ' (run with --expose-gc for an exact figure)' : ''}`);
  console.log(`heap used now: ${mb(process.memoryUsage().heapUsed)}; peak RSS: ${mb(process.resourceUsage().maxRSS * 1024)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
