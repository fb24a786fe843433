// How fast does a layer unpack: our extractLayer (gunzip + tar-stream + safe path resolution) next to `tar -xzf`
// (the floor) on the same gzip file. Layers: the Debian base (debootstrap, cached as in the tests) and a generated
// layer of N small files. Prints figures, asserts nothing.
// Usage: TMPDIR=/dev/shm/bench node bench/extract.ts [--files 100000] [--runs 3]
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { pino } from 'pino';
import { createIgnoreList } from '../src/rootfs/ignore-list.ts';
import { extractLayer } from '../src/rootfs/extract.ts';
import { debianTarball } from '../test/support/debian-base.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: { files: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' } } });
const files = Number(values.files);
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'extract-bench-'));
try {
  const layers: [string, string][] = [];
  const debian = join(dir, 'debian.tar.gz');
  execFileSync('sh', ['-c', 'gzip -1 -c "$1" > "$2"', 'sh', await debianTarball(), debian]);
  layers.push(['Debian base (debootstrap minbase)', debian]);

  const small = join(dir, 'small');
  for (let i = 0; i < files; i++) {
    const sub = join(small, `d${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}`), `file ${i}\n`);
  }
  const smallTar = join(dir, 'small.tar.gz');
  execFileSync('tar', ['-C', small, '-czf', smallTar, '.']);
  rmSync(small, { recursive: true });
  layers.push([`${files} small files`, smallTar]);

  const log = pino({ level: 'silent' });
  for (const [label, file] of layers) {
    const ours: number[] = [];
    const floor: number[] = [];
    for (let r = 0; r < runs; r++) {
      const root = join(dir, `root-${r}`);
      mkdirSync(root);
      let t0 = performance.now();
      await extractLayer(root, createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(createGunzip({ chunkSize: 256 * 1024 })), { ignore: createIgnoreList([]), log });
      ours.push(performance.now() - t0);
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      t0 = performance.now();
      const tar = spawnSync('tar', ['-C', root, '-xzf', file], { stdio: 'inherit' });
      floor.push(performance.now() - t0);
      if (tar.status !== 0) throw new Error(`tar -xzf ${file} failed`);
      rmSync(root, { recursive: true, force: true });
    }
    console.log(`${label.padEnd(36)} ours ${(median(ours) / 1000).toFixed(2)} s   tar -xzf ${(median(floor) / 1000).toFixed(2)} s   (median of ${runs})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
