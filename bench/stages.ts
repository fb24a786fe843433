// Parallel stages (issue 18): three independent stages, each a 4 s wait (a download's latency, from a loopback HTTP
// server that answers after 4 s) plus a little work, feeding a final stage — built with the default bound, with
// --max-parallel-stages=3 and with --max-parallel-stages=1 — next to the one-stage build of the same shape (one such download + work). Runs alternate,
// every build cold (fresh --root-dir); medians and peak RSS (GNU time). Asserts nothing.
// Usage: node bench/stages.ts [--runs 3] [--delay 4000] [--size 16]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pushBusyboxBase } from '../test/support/busybox-base.ts';
import { executorBin } from '../test/support/executor-process.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' }, delay: { type: 'string', default: '4000' }, size: { type: 'string', default: '16' },
} });
const runs = Number(values.runs);
const delayMs = Number(values.delay);
const payload = randomBytes(Number(values.size) * 1048576);
const progress = (msg: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

// The "download": answers after the delay, then streams the payload.
const server = createServer((_req, res) => { setTimeout(() => res.end(payload), delayMs); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

/** One stage's work: the download, then a few hundred small files and a checksum of what came. */
const work = (name: string): string => `RUN wget -q -O /${name}.bin http://127.0.0.1:${port}/${name} && mkdir -p /out/${name} && `
  + `i=0; while [ $i -lt 300 ]; do echo $i > /out/${name}/f$i; i=$((i+1)); done; md5sum /${name}.bin > /out/${name}/sum`;

const dockerfiles = {
  three: (base: string) => [
    ...['web', 'api', 'tools'].flatMap((s) => [`FROM ${base} AS ${s}`, work(s)]),
    `FROM ${base}`, ...['web', 'api', 'tools'].map((s) => `COPY --from=${s} /out/${s}/ /out/${s}/`), '',
  ].join('\n'),
  one: (base: string) => [`FROM ${base}`, work('web'), ''].join('\n'),
};

interface Timed { readonly ms: number; readonly rssKiB: number }

async function timed(args: readonly string[]): Promise<Timed> {
  const rssFile = join(tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = performance.now();
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, executorBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? 1, out: Buffer.concat(chunks).toString() }));
  });
  const ms = performance.now() - started;
  const rssKiB = Number((await readFile(rssFile, 'utf8').catch(() => '0')).trim().split('\n').pop());
  await rm(rssFile, { force: true });
  if (code !== 0) throw new Error(`executor ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`);
  return { ms, rssKiB };
}

const registry = await startRegistry({ auth: 'none' });
const dir = await mkdtemp(join(tmpdir(), 'bench-stages-'));
try {
  const base = `${registry.host}/busybox:latest`;
  await pushBusyboxBase(base);
  const contexts: Record<string, string> = {};
  for (const [id, make] of Object.entries(dockerfiles)) {
    const ctx = join(dir, `ctx-${id}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), make(base));
    contexts[id] = ctx;
  }
  const variants = [
    { id: 'one stage', ctx: 'one', extra: [] as string[] },
    { id: 'three stages', ctx: 'three', extra: [] as string[] },
    { id: 'three stages, --max-parallel-stages=3', ctx: 'three', extra: ['--max-parallel-stages=3'] },
    { id: 'three stages, --max-parallel-stages=1', ctx: 'three', extra: ['--max-parallel-stages=1'] },
  ];
  const results = new Map<string, Timed[]>(variants.map((v) => [v.id, []]));
  let n = 0;
  for (let round = 0; round < runs; round++) {
    for (const v of variants) {
      const root = join(dir, `root-${n++}`);
      const t = await timed([`--context=dir://${contexts[v.ctx] ?? ''}`, `--destination=${registry.host}/bench/stages-${v.ctx}:latest`,
        `--root-dir=${root}`, '--insecure', '--insecure-pull', '--log-format=text', ...v.extra]);
      await rm(root, { recursive: true, force: true });
      results.get(v.id)?.push(t);
      progress(`round ${round + 1}: ${v.id}: ${(t.ms / 1000).toFixed(2)} s, ${Math.round(t.rssKiB / 1024)} MiB`);
    }
  }
  const med = (id: string): number => median((results.get(id) ?? []).map((t) => t.ms));
  const one = med('one stage');
  console.log(`Parallel stages: ${runs} runs, download latency ${delayMs} ms, ${values.size} MiB each, ${availableParallelism()} CPUs (default bound ${Math.max(2, availableParallelism())})`);
  console.log('| build | median | vs one stage | peak RSS (max) |');
  console.log('|---|---|---|---|');
  for (const v of variants) {
    const rss = Math.max(...(results.get(v.id) ?? []).map((t) => t.rssKiB));
    console.log(`| ${v.id} | ${(med(v.id) / 1000).toFixed(2)} s | ${(med(v.id) / one).toFixed(2)}× | ${Math.round(rss / 1024)} MiB |`);
  }
} finally {
  server.closeAllConnections();
  server.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
