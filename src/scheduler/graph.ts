// The stage graph: which stages a stage reads (FROM, COPY --from, RUN --mount=from=, ONBUILD triggers), which the
// target needs, and whether two stages may ever run at the same time. Pure: nodes in, sets out.

/** One stage: its index and the indices of the stages it reads (all smaller: a Dockerfile only names earlier stages). */
export interface StageNode {
  readonly index: number;
  readonly deps: readonly number[];
}

/** The stages `target` needs, itself included (the closure of its dependencies). */
export function neededStages(nodes: readonly StageNode[], target: number): Set<number> {
  const byIndex = new Map(nodes.map((n) => [n.index, n]));
  const needed = new Set<number>();
  const pending = [target];
  for (let i = pending.pop(); i !== undefined; i = pending.pop()) {
    if (needed.has(i)) continue;
    needed.add(i);
    pending.push(...(byIndex.get(i)?.deps ?? []));
  }
  return needed;
}

/**
 * The graph restricted to `keep` (stages that will be built), checked: every dependency is a kept, earlier stage,
 * so the graph has no cycle and building in index order is always a valid sequential schedule.
 */
export function stageGraph(nodes: readonly StageNode[], keep: ReadonlySet<number>): StageNode[] {
  const out: StageNode[] = [];
  for (const node of [...nodes].sort((a, b) => a.index - b.index)) {
    if (!keep.has(node.index)) continue;
    const deps = [...new Set(node.deps)].sort((a, b) => a - b);
    for (const d of deps) {
      if (d >= node.index) throw new Error(`stage ${node.index} depends on stage ${d}, which is not defined before it`);
      if (!keep.has(d)) throw new Error(`stage ${node.index} depends on stage ${d}, which is not built`);
    }
    out.push({ index: node.index, deps });
  }
  return out;
}

/** Whether some two stages of the graph are independent (neither reaches the other): only then can two overlap. */
export function mayOverlap(nodes: readonly StageNode[]): boolean {
  const reach = new Map<number, Set<number>>();
  for (const node of [...nodes].sort((a, b) => a.index - b.index)) {
    const r = new Set<number>();
    for (const d of node.deps) {
      r.add(d);
      for (const x of reach.get(d) ?? []) r.add(x);
    }
    reach.set(node.index, r);
  }
  const indices = [...reach.keys()];
  for (const [i, a] of indices.entries()) {
    for (const b of indices.slice(i + 1)) {
      if (!(reach.get(b)?.has(a) ?? false)) return true;
    }
  }
  return false;
}
