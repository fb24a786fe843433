// The stage graph and the bounded runner: ordering, the bound, dependencies, first-failure cancellation. No timings:
// every task waits on a promise the test controls.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayOverlap, neededStages, stageGraph, type StageNode } from './graph.ts';
import { runGraph } from './run-graph.ts';

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('stage graph', () => {
  const nodes: StageNode[] = [
    { index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [0] }, { index: 3, deps: [] }, { index: 4, deps: [2, 1, 2] },
  ];
  test('neededStages is the closure of the target', () => {
    assert.deepEqual([...neededStages(nodes, 4)].sort(), [0, 1, 2, 4]);
    assert.deepEqual([...neededStages(nodes, 2)].sort(), [0, 2]);
  });
  test('stageGraph keeps the built stages, sorts and deduplicates dependencies, refuses a missing one', () => {
    assert.deepEqual(stageGraph(nodes, new Set([0, 1, 2, 4])), [
      { index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [0] }, { index: 4, deps: [1, 2] },
    ]);
    assert.throws(() => stageGraph(nodes, new Set([1, 2, 4])), /depends on stage 0, which is not built/);
    assert.throws(() => stageGraph([{ index: 0, deps: [1] }, { index: 1, deps: [] }], new Set([0, 1])), /not defined before it/);
  });
  test('mayOverlap: a chain never overlaps, two independent stages may', () => {
    assert.equal(mayOverlap([{ index: 0, deps: [] }, { index: 1, deps: [0] }, { index: 2, deps: [1] }]), false);
    assert.equal(mayOverlap([{ index: 0, deps: [] }]), false);
    assert.equal(mayOverlap([{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [0, 1] }]), true);
  });
});

describe('runGraph', () => {
  test('limit 1 runs the stages one by one in Dockerfile order', async () => {
    const order: number[] = [];
    const nodes = [0, 1, 2, 3].map((index) => ({ index, deps: index === 3 ? [0, 1, 2] : [] }));
    const results = await runGraph({ nodes, limit: 1, run: async (i) => { order.push(i); await tick(); order.push(-i - 1); return i * 10; } });
    assert.deepEqual(order, [0, -1, 1, -2, 2, -3, 3, -4]);
    assert.deepEqual([...results.entries()].sort(), [[0, 0], [1, 10], [2, 20], [3, 30]]);
  });

  test('independent stages run together up to the bound; a stage starts only after its dependencies', async () => {
    const gates = new Map([0, 1, 2, 3].map((i) => [i, deferred()]));
    const started: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const nodes = [{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [] }, { index: 3, deps: [0, 1, 2] }];
    const done = runGraph({
      nodes, limit: 2,
      run: async (i) => {
        started.push(i); inFlight++; peak = Math.max(peak, inFlight);
        await gates.get(i)?.promise;
        inFlight--;
        return i;
      },
    });
    await tick();
    assert.deepEqual(started, [0, 1]);
    gates.get(1)?.resolve();
    await tick(); await tick();
    assert.deepEqual(started, [0, 1, 2]);
    gates.get(2)?.resolve();
    await tick(); await tick();
    assert.deepEqual(started, [0, 1, 2], 'stage 3 waits for stage 0');
    gates.get(0)?.resolve();
    await tick(); await tick();
    assert.deepEqual(started, [0, 1, 2, 3]);
    gates.get(3)?.resolve();
    await done;
    assert.equal(peak, 2);
  });

  test('the first failure aborts the running stages, starts no other and is the error thrown', async () => {
    const aborted: number[] = [];
    const started: number[] = [];
    const gate = deferred();
    const nodes = [{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [] }, { index: 3, deps: [0, 1, 2] }];
    const done = runGraph({
      nodes, limit: 2,
      run: async (i, ctx) => {
        started.push(i);
        if (i === 1) { await gate.promise; throw new Error('stage 1 broke'); }
        // Stage 0 runs until cancelled, then fails with its own, later error.
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        aborted.push(i);
        throw new Error(`stage ${i} was cancelled`);
      },
    });
    await tick();
    gate.resolve();
    await assert.rejects(done, /stage 1 broke/);
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(aborted, [0]);
  });

  test('result() waits for an earlier stage found while running; a later or unknown stage is refused', async () => {
    const gate = deferred();
    const nodes = [{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [] }];
    const seen: string[] = [];
    await runGraph<string>({
      nodes, limit: 3,
      run: async (i, ctx) => {
        if (i === 0) { await gate.promise; return 'zero'; }
        if (i === 1) {
          await assert.rejects(ctx.result(2), /not defined before it/);
          await assert.rejects(ctx.result(7), /not part of this build/);
          gate.resolve();
          return 'one';
        }
        seen.push(await ctx.result(0));
        return 'two';
      },
    });
    assert.deepEqual(seen, ['zero']);
  });

  test('an aborted outer signal stops the build with its reason', async () => {
    const outer = new AbortController();
    const started: number[] = [];
    const done = runGraph({
      nodes: [{ index: 0, deps: [] }, { index: 1, deps: [0] }], limit: 2, signal: outer.signal,
      run: async (i, ctx) => {
        started.push(i);
        outer.abort(new Error('interrupted'));
        ctx.signal.throwIfAborted();
        return i;
      },
    });
    await assert.rejects(done, /interrupted/);
    assert.deepEqual(started, [0]);
    const pre = new AbortController();
    pre.abort(new Error('before'));
    await assert.rejects(runGraph({ nodes: [{ index: 0, deps: [] }], limit: 1, signal: pre.signal, run: async () => 0 }), /before/);
  });

  test('a dependency outside the graph is refused up front', async () => {
    await assert.rejects(runGraph({ nodes: [{ index: 1, deps: [0] }], limit: 1, run: async () => 0 }), /not an earlier stage/);
  });
});

describe('createLock and prefixLines', () => {
  test('the lock runs holders one at a time in order, a failure releases it', async () => {
    const { createLock } = await import('./exclusive.ts');
    const lock = createLock();
    const log: string[] = [];
    const gate = deferred();
    const a = lock.run(async () => { log.push('a+'); await gate.promise; log.push('a-'); throw new Error('a'); });
    const b = lock.run(async () => { log.push('b+'); log.push('b-'); return 'b'; });
    await tick();
    assert.deepEqual(log, ['a+']);
    gate.resolve();
    await assert.rejects(a, /^Error: a$/);
    assert.equal(await b, 'b');
    assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-']);
  });

  test('prefixLines sends whole prefixed lines; the end of a RUN flushes a partial one', async () => {
    const { prefixLines } = await import('./exclusive.ts');
    const out: string[] = [];
    const write = prefixLines('[web] ', (c) => out.push(c.toString()));
    write(Buffer.from('one\ntw'));
    write(Buffer.from('o\nthr'));
    assert.deepEqual(out, ['[web] one\n', '[web] two\n']);
    write(Buffer.alloc(0));
    assert.deepEqual(out, ['[web] one\n', '[web] two\n', '[web] thr\n', '']);
  });
});
