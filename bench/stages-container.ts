// Parallel stages in container mode (issue 18): the bench/stages.ts workload (three independent stages, each a
// download answered after a delay plus a little work, feeding a final stage), built by the executor inside a runc
// container with Docker's default capabilities — non-target stages RUN chrooted in their own directories, at once —
// against the same container without CAP_SYS_CHROOT, where those stages take '/' one at a time, and against the
// one-stage build. Runs alternate; medians. Wall time of `runc run` (container start included). Asserts nothing.
// Usage: node bench/stages-container.ts [--runs 3] [--delay 4000] [--size 16]
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assembleKanikoDir } from '../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../test/support/busybox-base.ts';
import { dockerDefaultCapabilities, runInRunc } from '../test/support/container-mode.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' }, delay: { type: 'string', default: '4000' }, size: { type: 'string', default: '16' },
} });
const runs = Number(values.runs);
const delayMs = Number(values.delay);
const payload = randomBytes(Number(values.size) * 1048576);
const progress = (msg: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

const server = createServer((_req, res) => { setTimeout(() => res.end(payload), delayMs); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

const work = (name: string): string => `RUN wget -q -O /${name}.bin http://127.0.0.1:${port}/${name} && mkdir -p /out/${name} && `
  + `i=0; while [ $i -lt 300 ]; do echo $i > /out/${name}/f$i; i=$((i+1)); done; md5sum /${name}.bin > /out/${name}/sum`;
const dockerfiles = {
  three: (base: string) => [
    ...['web', 'api', 'tools'].flatMap((s) => [`FROM ${base} AS ${s}`, work(s)]),
    `FROM ${base}`, ...['web', 'api', 'tools'].map((s) => `COPY --from=${s} /out/${s}/ /out/${s}/`), '',
  ].join('\n'),
  one: (base: string) => [`FROM ${base}`, work('web'), ''].join('\n'),
};

const registry = await startRegistry({ auth: 'none' });
const dir = await mkdtemp(join(tmpdir(), 'bench-stages-container-'));
try {
  const base = `${registry.host}/busybox:latest`;
  const root = join(dir, 'R');
  await Promise.all([pushBusyboxBase(base), assembleKanikoDir(root)]);
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const contexts: Record<string, string> = {};
  for (const [id, make] of Object.entries(dockerfiles)) {
    contexts[id] = join(dir, `ctx-${id}`);
    await mkdir(contexts[id], { recursive: true });
    await writeFile(join(contexts[id], 'Dockerfile'), make(base));
  }
  const noChroot = dockerDefaultCapabilities.filter((c) => c !== 'CAP_SYS_CHROOT');
  const variants = [
    { id: 'one stage', ctx: 'one', caps: dockerDefaultCapabilities, extra: [] as string[] },
    { id: 'three stages (chrooted, at once)', ctx: 'three', caps: dockerDefaultCapabilities, extra: ['--max-parallel-stages=3'] },
    { id: 'three stages, --max-parallel-stages=1', ctx: 'three', caps: dockerDefaultCapabilities, extra: ['--max-parallel-stages=1'] },
    { id: 'three stages, no CAP_SYS_CHROOT (in /, one at a time)', ctx: 'three', caps: noChroot, extra: ['--max-parallel-stages=3'] },
  ];
  const results = new Map<string, number[]>(variants.map((v) => [v.id, []]));
  let n = 0;
  for (let round = 0; round < runs; round++) {
    for (const v of variants) {
      await rm(join(root, 'workspace'), { recursive: true, force: true });
      await cp(contexts[v.ctx] ?? '', join(root, 'workspace'), { recursive: true });
      const run = await runInRunc(root, join(dir, `bundle-${n++}`), ['--context=dir:///workspace',
        `--destination=${registry.host}/bench/stages-container-${v.ctx}:latest`, '--insecure', '--insecure-pull', '--log-format=text',
        '--cleanup', ...v.extra], { capabilities: v.caps, timeoutMs: 600_000 });
      if (run.code !== 0) throw new Error(`${v.id}: executor exited ${run.code}:\n${run.stderr.slice(-3000)}`);
      results.get(v.id)?.push(run.totalMs);
      progress(`round ${round + 1}: ${v.id}: ${(run.totalMs / 1000).toFixed(2)} s`);
    }
  }
  const med = (id: string): number => median(results.get(id) ?? []);
  const one = med('one stage');
  console.log(`Parallel stages in container mode (runc): ${runs} runs, download latency ${delayMs} ms, ${values.size} MiB each, ${availableParallelism()} CPUs`);
  console.log('| build | median | vs one stage |');
  console.log('|---|---|---|');
  for (const v of variants) console.log(`| ${v.id} | ${(med(v.id) / 1000).toFixed(2)} s | ${(med(v.id) / one).toFixed(2)}× |`);
} finally {
  server.closeAllConnections();
  server.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
