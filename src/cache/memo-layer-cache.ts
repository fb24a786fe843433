// Layers remembered for one executor run. A multi-platform build makes each platform in turn; a step whose cache key
// is the same for the next platform (a `FROM --platform=$BUILDPLATFORM` stage, steps that use no TARGET* argument)
// takes the layer the first platform made instead of running again — BuildKit shares such work by LLB digest; our
// keys are that digest's counterpart. Layers stay the files the first platform wrote.
import type { CachedLayer, LayerCache } from './layer-cache.ts';

export interface LayerMemo {
  /** How many get() calls this run's own layers answered. */
  readonly hits: () => number;
  /** A LayerCache answering from the memo first, then from `inner` (the --cache store of one platform). */
  cache(inner?: LayerCache): LayerCache;
}

export function layerMemo(): LayerMemo {
  const seen = new Map<string, CachedLayer>();
  let hits = 0;
  return {
    hits: () => hits,
    cache: (inner) => ({
      async get(key) {
        const own = seen.get(key);
        if (own !== undefined) { hits++; return own; }
        return inner?.get(key);
      },
      async put(key, layer, history) {
        seen.set(key, { layer, history });
        await inner?.put(key, layer, history);
      },
    }),
  };
}
