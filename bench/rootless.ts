// Non-root mode (issue 19) next to root mode on the same no-RUN build: FROM the Debian base (debootstrap minbase,
// ~10k paths, cached as in the tests) + COPY --chown into /etc, pushed to a loopback registry. The non-root build runs
// under test/support/pss-restricted.py (uid 1000, no capabilities, namespace calls refused). Prints figures, asserts
// nothing. Run as root: TMPDIR=/dev/shm/bench node bench/rootless.ts [--runs 3]
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { debianBase } from '../test/support/debian-base.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const project = join(import.meta.dirname, '..');
const executor = join(project, 'bin', 'executor');
const pss = join(project, 'test', 'support', 'pss-restricted.py');

const registry = await startRegistry({ auth: 'none' });
const dir = mkdtempSync(join(tmpdir(), 'rootless-bench-'));
try {
  chmodSync(dir, 0o755);
  const base = await debianBase(registry.host);
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx, { mode: 0o755 });
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY --chown=1500:1500 app.conf /etc/app.conf\n`);
  writeFileSync(join(ctx, 'app.conf'), 'x=1\n');
  const times: Record<'root' | 'non-root', number[]> = { root: [], 'non-root': [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of ['root', 'non-root'] as const) {
      const root = join(dir, `root-${mode}-${i}`);
      const home = join(dir, `home-${mode}-${i}`);
      for (const d of [root, home]) { mkdirSync(d); chownSync(d, 1000, 1000); }
      const args = [`--context=dir://${ctx}`, `--root-dir=${root}`, `--destination=${registry.host}/bench/rootless:${mode}`,
        '--insecure', '--insecure-pull', '--log-format=text'];
      const started = process.hrtime.bigint();
      const r = mode === 'root'
        ? spawnSync(executor, args, { encoding: 'utf8', env: { ...process.env, HOME: home } })
        : spawnSync(pss, ['1000:1000', executor, ...args], { encoding: 'utf8', env: { ...process.env, HOME: home } });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (r.status !== 0) throw new Error(`${mode} build failed: ${r.stderr}${r.stdout}`);
      times[mode].push(ms);
      rmSync(root, { recursive: true, force: true });
    }
  }
  const rootMs = median(times.root);
  const userMs = median(times['non-root']);
  console.log(`Debian base + COPY --chown, ${runs} runs, median wall time (pull, unpack, layer, push):`);
  console.log(`  root mode      ${(rootMs / 1000).toFixed(2)} s`);
  console.log(`  non-root mode  ${(userMs / 1000).toFixed(2)} s  (${(userMs / rootMs).toFixed(2)}× root)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await registry.stop();
}
