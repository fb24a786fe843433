// The stage graph of one build (src/scheduler runs it): resolveStages' edges (FROM, COPY --from, RUN --mount=from=)
// plus those of ONBUILD triggers, which only the base's config (an image) or the parent stage's ONBUILD lines (a
// stage) reveal. BuildKit also resolves every base image's config before it builds anything.
import { parseInstructionText } from '../dockerfile/parse.ts';
import type { Instruction } from '../dockerfile/instructions.ts';
import { mountSources, type ResolvedStage } from '../dockerfile/stages.ts';
import type { StageNode } from '../scheduler/graph.ts';

export interface StageFacts {
  readonly node: StageNode;
  /** Stages whose files this one copies (COPY --from, also in triggers): they must be unpacked. */
  readonly copiesFrom: readonly number[];
  /** A RUN among its instructions or triggers. */
  readonly runs: boolean;
}

/**
 * What one stage reads. `triggers` are the ONBUILD texts of its base image's config (undefined for a stage base:
 * then the parent stage's ONBUILD instructions are the triggers). A trigger that does not parse adds nothing here;
 * the stage reports it when it runs.
 */
export function stageFacts(stage: ResolvedStage, stages: readonly ResolvedStage[], opts: {
  readonly triggers?: readonly string[]; readonly file: string; readonly escape: string; readonly stageByName: ReadonlyMap<string, number>;
}): StageFacts {
  const deps = new Set(stage.dependsOn);
  const copies = new Set<number>();
  for (const ref of stage.copyFrom.values()) if (ref.kind === 'stage') copies.add(ref.index);
  for (const index of stage.mountFrom) copies.add(index); // RUN --mount from=<stage>: its files are read
  let runs = stage.stage.instructions.some((i) => i.kind === 'RUN');
  const triggers: Instruction[] = [];
  if (stage.base.kind === 'stage') {
    const parent = stages.find((s) => s.index === (stage.base.kind === 'stage' ? stage.base.index : -1));
    for (const i of parent?.stage.instructions ?? []) if (i.kind === 'ONBUILD') triggers.push(i.trigger);
  } else {
    for (const text of opts.triggers ?? []) {
      try { triggers.push(parseInstructionText(text, opts.file, 1, opts.escape)); } catch { /* reported by the stage */ }
    }
  }
  const earlier = (name: string): number | undefined => {
    const index = opts.stageByName.get(name.toLowerCase());
    return index !== undefined && index < stage.index ? index : undefined;
  };
  for (const t of triggers) {
    if (t.kind === 'RUN') {
      runs = true;
      for (const src of mountSources(t.mounts)) { const i = earlier(src); if (i !== undefined) deps.add(i); }
    } else if (t.kind === 'COPY' && t.from !== undefined) {
      const i = earlier(t.from);
      if (i !== undefined) { deps.add(i); copies.add(i); }
    }
  }
  return { node: { index: stage.index, deps: [...deps].sort((a, b) => a - b) }, copiesFrom: [...copies], runs };
}
