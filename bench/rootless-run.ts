// Non-root RUN (issue 19 item 2) next to root on the same Debian build with RUNs, both in container mode inside
// runc (test/support/runc-executor.ts): root with Docker's capabilities, and PSS "Restricted" (uid 1000, no
// capabilities, namespace calls refused, RUN under native/fakeroot-supervisor.c). Then where the supervisor's time
// goes: the RUN's file work on the host as uid 1000, with and without the supervisor, and the traced calls it saw.
// Prints figures, asserts nothing. Run as root: TMPDIR=/dev/shm/bench node bench/rootless-run.ts [--runs 3]
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assembleKanikoDir } from '../scripts/assemble-kaniko-dir.ts';
import { debianBase } from '../test/support/debian-base.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { runcExecutor } from '../test/support/runc-executor.ts';
import { tinyDeb } from '../test/support/tiny-deb.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const project = join(import.meta.dirname, '..');
const supervisor = join(project, '.tools', 'bin', 'fakeroot-supervisor');

// The file work of the RUN below: many stats, chowns, chmods and creations.
const work = 'cp -a /usr/share /opt/share && chown -R app:app /opt/share && find /opt/share -type f -exec chmod 0640 {} + && ls -lR /opt/share > /dev/null';

const registry = await startRegistry({ auth: 'none' });
const dir = mkdtempSync(join(tmpdir(), 'rootless-run-bench-'));
try {
  chmodSync(dir, 0o755);
  const base = await debianBase(registry.host);
  const template = join(dir, 'template');
  await assembleKanikoDir(template);
  const deb = await tinyDeb(join(dir, 'deb'));
  const dockerfile = [`FROM ${base}`, 'RUN useradd -u 1500 -m app', 'COPY tiny.deb /tmp/tiny.deb', 'RUN dpkg -i /tmp/tiny.deb && rm /tmp/tiny.deb', `RUN ${work}`, ''].join('\n');
  const times: Record<'root' | 'non-root', number[]> = { root: [], 'non-root': [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of ['root', 'non-root'] as const) {
      const bundle = join(dir, `bundle-${mode}-${i}`);
      const rootfs = join(bundle, 'rootfs');
      cpSync(template, rootfs, { recursive: true });
      for (const d of ['workspace', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
      chmodSync(join(rootfs, 'tmp'), 0o1777);
      writeFileSync(join(rootfs, 'workspace', 'Dockerfile'), dockerfile);
      writeFileSync(join(rootfs, 'workspace', 'tiny.deb'), deb);
      if (mode === 'non-root') execFileSync('chown', ['-R', '1000:1000', rootfs]);
      const r = await runcExecutor(bundle, ['--context=dir:///workspace', `--destination=${registry.host}/bench/rootless-run:${mode}`, '--insecure', '--insecure-pull', '--log-format=text'],
        { restricted: mode === 'non-root' });
      if (r.code !== 0) throw new Error(`${mode} build failed: ${r.stderr}${r.stdout}`);
      times[mode].push(r.ms);
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  const rootMs = median(times.root);
  const userMs = median(times['non-root']);
  console.log(`Debian base + useradd + dpkg -i + RUN over /usr/share (cp -a, chown -R, chmod, ls -lR), ${runs} runs, median wall time (whole build, runc):`);
  console.log(`  root mode      ${(rootMs / 1000).toFixed(2)} s`);
  console.log(`  non-root mode  ${(userMs / 1000).toFixed(2)} s  (${(userMs / rootMs).toFixed(2)}× root)`);

  // The same file work on the host, as uid 1000 in a directory it owns: plain, then under the supervisor.
  const host = join(dir, 'host');
  mkdirSync(host);
  chownSync(host, 1000, 1000);
  // /usr/share/doc: the host's /usr/share may hold directories uid 1000 cannot read.
  const script = work.replace('cp -a /usr/share', 'cp -a /usr/share/doc').replaceAll('/opt/share', `${host}/share`).replace('chown -R app:app', 'chown -R 1500:1500');
  const timed = (argv: string[]): number => {
    rmSync(join(host, 'share'), { recursive: true, force: true });
    const started = process.hrtime.bigint();
    const r = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', ...argv], { encoding: 'utf8' });
    if (r.status !== 0 && !argv.includes('--stats')) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  // Plain: chown to another uid fails without root, so it is left out there (the supervisor run does it).
  const plain = median(Array.from({ length: runs }, () => timed(['sh', '-c', script.replace(' && chown -R 1500:1500 ' + `${host}/share`, '')])));
  const stats = join(host, 'stats');
  const supervised = median(Array.from({ length: runs }, () => timed([supervisor, '--stats', stats, '--', 'sh', '-c', script])));
  const counts = readFileSync(stats, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]).sort((a, b) => b[1] - a[1]);
  const total = counts.reduce((n, [, c]) => n + c, 0);
  console.log(`The RUN's file work over the host's /usr/share/doc as uid 1000 (${runs} runs, median): plain ${(plain / 1000).toFixed(2)} s (without the chown -R), `
    + `under the supervisor ${(supervised / 1000).toFixed(2)} s; ${total} traced calls, ${((supervised - plain) * 1000 / total).toFixed(1)} µs each at most`);
  console.log(`  traced calls by syscall number (x86_64): ${counts.slice(0, 8).map(([nr, c]) => `${nr}:${c}`).join(' ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await registry.stop();
}
