// Helpers the stage loop needs around the runner: a FIFO lock (container mode: stages that must RUN in '/' take it
// one at a time) and a per-stage line prefixer for RUN output when stages may overlap.

export interface Lock {
  /** Runs `fn` once every earlier holder has released the lock. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

export function createLock(): Lock {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run(fn) {
      const next = tail.then(fn, fn);
      tail = next.catch(() => undefined);
      return next;
    },
  };
}

/**
 * Wraps a RUN output sink (raw chunks; an empty chunk ends a RUN's output) so that every line goes out whole,
 * prefixed, in one chunk: lines of two stages running at once never mix. A partial line waits for its newline or
 * for the end of the RUN (then it gets one). Bytes are split at '\n' only, so UTF-8 stays whole.
 */
export function prefixLines<A extends unknown[]>(prefix: string, sink: (chunk: Buffer, ...rest: A) => void): (chunk: Buffer, ...rest: A) => void {
  const head = Buffer.from(prefix);
  let pending: Buffer = Buffer.alloc(0);
  return (chunk, ...rest) => {
    if (chunk.length === 0) {
      if (pending.length > 0) sink(Buffer.concat([head, pending, Buffer.from('\n')]), ...rest);
      pending = Buffer.alloc(0);
      sink(chunk, ...rest);
      return;
    }
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      sink(Buffer.concat([head, data.subarray(0, nl + 1)]), ...rest);
      data = data.subarray(nl + 1);
    }
    // A line without end longer than 64 KiB goes out as it is (a progress bar redrawn with \r).
    if (data.length > 65536) { sink(Buffer.concat([head, data, Buffer.from('\n')]), ...rest); data = Buffer.alloc(0); }
    pending = Buffer.from(data);
  };
}
