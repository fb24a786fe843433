// 220 fuzzed Dockerfiles (test/support/fuzz-corpus.ts, seeded) run through the real executor, FROM scratch, --no-push,
// without a network (a private network namespace: a mutated FROM can reach no registry). Every case must settle within
// its timeout, never crash (no stack trace, no "internal error"), and fail, if it fails, in a line naming the Dockerfile
// and its line, or a flag. FUZZ_SEED / FUZZ_CASES / FUZZ_ONLY=<index> rerun other seeds or one case.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { contextFiles, fuzzCorpus, type FuzzCase } from '../support/fuzz-corpus.ts';
import { executorBin, runExecutor } from '../support/executor-process.ts';

const seed = Number(process.env['FUZZ_SEED'] ?? 17);
const count = Number(process.env['FUZZ_CASES'] ?? 220);
const only = process.env['FUZZ_ONLY'];
const caseTimeoutMs = 30_000;
const parallel = 2;
const isolated = process.getuid?.() === 0;

interface Outcome { readonly c: FuzzCase; readonly code: number; readonly stderr: string; readonly ms: number; readonly problem?: string }

/** What is wrong with an outcome, or undefined. */
function problemOf(code: number, stderr: string, ms: number): string | undefined {
  if (ms >= caseTimeoutMs) return 'hang';
  if (/^\s+at .+:\d+:\d+\)?$/m.test(stderr) || /internal error|RangeError|TypeError|ReferenceError|Detected unsettled/.test(stderr)) return 'crash';
  if (code === 0) return undefined;
  if (code >= 128 || code === 13 || code === 70) return 'crash';
  const errors = stderr.split('\n').filter((l) => l.startsWith('error: '));
  if (errors.length !== 1) return `${errors.length} error lines`;
  const line = errors[0]!;
  if (!/Dockerfile(\.[\w-]+)?:\d+: |--[a-z][a-z-]+/.test(line)) return 'message names no Dockerfile:line or flag';
  return undefined;
}

let dir: string;
let bin: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'e2e-fuzz-'));
  // No network but loopback (down): a FROM the fuzzer turned into a registry name fails at once, offline.
  bin = join(dir, 'executor-offline');
  await writeFile(bin, isolated ? `#!/bin/sh\nexec unshare -n ${executorBin} "$@"\n` : `#!/bin/sh\nexec ${executorBin} "$@"\n`);
  await chmod(bin, 0o755);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

test(`${count} fuzzed Dockerfiles (seed ${seed}): no crash, no hang, every failure names the file:line or a flag`, { skip: isolated ? false : 'needs root for a private network namespace (unshare -n)' }, async (t) => {
  const cases = fuzzCorpus(seed, count).filter((c) => only === undefined || String(c.index) === only);
  const started = Date.now();
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < cases.length; i = next++) {
      const c = cases[i]!;
      const ctx = join(dir, `case-${c.index}`);
      for (const [f, body] of Object.entries(contextFiles)) { await mkdir(dirname(join(ctx, f)), { recursive: true }); await writeFile(join(ctx, f), body); }
      await writeFile(join(ctx, 'Dockerfile'), c.dockerfile);
      const t0 = Date.now();
      const run = await runExecutor([`--context=dir://${ctx}`, `--root-dir=${join(ctx, '.root')}`, '--no-push', '--log-format=text'], { bin, timeoutMs: caseTimeoutMs });
      const ms = Date.now() - t0;
      const problem = problemOf(run.code, run.stderr, ms);
      outcomes.push({ c, code: run.code, stderr: run.stderr, ms, ...(problem !== undefined ? { problem } : {}) });
      await rm(ctx, { recursive: true, force: true });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const bad = outcomes.filter((o) => o.problem !== undefined);
  const crashes = bad.filter((o) => o.problem === 'crash').length;
  const hangs = bad.filter((o) => o.problem === 'hang').length;
  t.diagnostic(`cases=${outcomes.length} built=${outcomes.filter((o) => o.code === 0).length} failed-cleanly=${outcomes.filter((o) => o.code !== 0 && o.problem === undefined).length} crashes=${crashes} hangs=${hangs} other=${bad.length - crashes - hangs} slowest=${Math.max(...outcomes.map((o) => o.ms))}ms total=${Date.now() - started}ms`);
  const report = bad.sort((a, b) => a.c.index - b.c.index).slice(0, 20).map((o) =>
    `case ${o.c.index} [${o.c.mutations.join('+')}] exit ${o.code} in ${o.ms}ms: ${o.problem}\n  ${o.stderr.split('\n').filter((l) => /error|at /.test(l)).slice(0, 4).join('\n  ').slice(0, 600)}`).join('\n');
  assert.equal(bad.length, 0, `${bad.length} of ${outcomes.length} cases misbehaved (rerun one with FUZZ_ONLY=<index>):\n${report}`);
});
