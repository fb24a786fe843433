// The bounded runner: each stage starts once the stages it depends on are done, at most `limit` at a time, the
// lowest ready index first (so limit 1 is exactly the sequential build, in Dockerfile order). The first failure
// aborts the signal every running stage was given, no further stage starts, and once the running ones have
// settled it is the error thrown — never a later "cancelled" one. BuildKit's solver does the same.
import type { StageNode } from './graph.ts';

export interface StageTaskContext<T> {
  /** Aborted when another stage failed or the build was cancelled. */
  readonly signal: AbortSignal;
  /**
   * The result of an earlier stage, once it is done: for a dependency found only while the stage runs (an ONBUILD
   * trigger's COPY --from). Deadlock-free because ready stages start lowest index first and only earlier stages are
   * waited for: the lowest unfinished stage is always running or about to.
   */
  result(index: number): Promise<T>;
}

export interface RunGraphOptions<T> {
  readonly nodes: readonly StageNode[];
  /** At most this many stages at once (≥ 1). */
  readonly limit: number;
  readonly signal?: AbortSignal;
  run(index: number, ctx: StageTaskContext<T>): Promise<T>;
}

interface Slot<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function slot<T>(): Slot<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined); // a stage nobody waits for must not become an unhandled rejection
  return { promise, resolve, reject };
}

export async function runGraph<T>(opts: RunGraphOptions<T>): Promise<Map<number, T>> {
  const limit = Math.max(1, Math.floor(opts.limit));
  const nodes = [...opts.nodes].sort((a, b) => a.index - b.index);
  const known = new Set(nodes.map((n) => n.index));
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(opts.signal?.reason);
  for (const n of nodes) {
    for (const d of n.deps) if (!known.has(d) || d >= n.index) throw new Error(`stage ${n.index} depends on stage ${d}, which is not an earlier stage of this build`);
  }

  const slots = new Map(nodes.map((n) => [n.index, slot<T>()]));
  const results = new Map<number, T>();
  const waiting = new Set(nodes.map((n) => n.index));
  const running = new Set<number>();
  let failure: { readonly err: unknown } | undefined;
  let finished = false;

  return new Promise<Map<number, T>>((resolve, reject) => {
    const finish = (): void => {
      if (finished) return;
      finished = true;
      opts.signal?.removeEventListener('abort', onOuterAbort);
      if (failure !== undefined) reject(failure.err);
      else resolve(results);
    };
    const fail = (err: unknown): void => {
      if (failure !== undefined) return;
      failure = { err };
      controller.abort(err);
    };
    controller.signal.addEventListener('abort', () => {
      fail(controller.signal.reason);
      for (const [index, s] of slots) if (!results.has(index)) s.reject(controller.signal.reason);
      pump();
    }, { once: true });

    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (opts.signal?.aborted === true) onOuterAbort();

    const ready = (node: StageNode): boolean => node.deps.every((d) => results.has(d));
    const start = (node: StageNode): void => {
      waiting.delete(node.index);
      running.add(node.index);
      const ctx: StageTaskContext<T> = {
        signal: controller.signal,
        result: (index) => {
          const s = slots.get(index);
          if (s === undefined || !known.has(index)) return Promise.reject(new Error(`stage ${index} is not part of this build`));
          if (index >= node.index) return Promise.reject(new Error(`stage ${node.index} cannot wait for stage ${index}, which is not defined before it`));
          return s.promise;
        },
      };
      // The task starts on a later tick: a synchronous throw is a rejection like any other.
      Promise.resolve().then(() => opts.run(node.index, ctx)).then((value) => {
        running.delete(node.index);
        results.set(node.index, value);
        slots.get(node.index)?.resolve(value);
        pump();
      }, (err: unknown) => {
        running.delete(node.index);
        slots.get(node.index)?.reject(err);
        fail(err);
        pump();
      });
    };
    function pump(): void {
      if (failure === undefined) {
        for (const node of nodes) {
          if (running.size >= limit) break;
          if (waiting.has(node.index) && ready(node)) start(node);
        }
      }
      if (running.size === 0 && (failure !== undefined || waiting.size === 0)) finish();
    }
    pump();
  });
}
