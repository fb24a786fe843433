// The summary printed at the end of a successful build, gathered from the same events the display shows:
// per stage its steps (duration, CACHED, layer size), the total time, the image digest, its compressed size and
// every destination pushed.
import type { BuildFinished, ProgressEvent, StepFinished } from './events.ts';
import { formatBytes, formatDuration, stepPrefix } from './format.ts';

export interface SummaryStage {
  readonly stage: string;
  readonly steps: readonly StepFinished[];
}

export interface Summary {
  readonly stages: readonly SummaryStage[];
  readonly totalMs: number;
  readonly image: BuildFinished;
}

export class SummaryCollector {
  readonly #started: number;
  readonly #now: () => number;
  readonly #stages = new Map<string, StepFinished[]>();
  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#started = now();
  }
  add(e: ProgressEvent): void {
    if (e.type !== 'step-finished') return;
    let steps = this.#stages.get(e.stage);
    if (steps === undefined) { steps = []; this.#stages.set(e.stage, steps); }
    steps.push(e);
  }
  summary(image: BuildFinished): Summary {
    return { stages: [...this.#stages].map(([stage, steps]) => ({ stage, steps })), totalMs: this.#now() - this.#started, image };
  }
}

const maxInstruction = 60;

function clip(text: string): string {
  const one = text.replace(/\s*\n\s*/gu, ' ');
  return one.length > maxInstruction ? `${one.slice(0, maxInstruction - 1)}…` : one;
}

/** The summary as text lines (no trailing newline on each). */
export function formatSummary(s: Summary): string[] {
  const steps = s.stages.flatMap((st) => st.steps);
  const cached = steps.filter((st) => st.cached).length;
  const out = [`Build summary: ${s.stages.length} stage${s.stages.length === 1 ? '' : 's'}, ${steps.length} step${steps.length === 1 ? '' : 's'} (${cached} cached) in ${formatDuration(s.totalMs)}`];
  const rows = steps.map((st) => [`${stepPrefix(st)} ${clip(st.instruction)}`, st.cached ? 'CACHED' : formatDuration(st.durationMs),
    st.layerSize !== undefined ? formatBytes(st.layerSize) : '-'] as const);
  const w0 = Math.max(0, ...rows.map((r) => r[0].length));
  const w1 = Math.max(0, ...rows.map((r) => r[1].length));
  // Grouped by stage (the order stages first finished a step), each line naming its stage in the prefix.
  for (const r of rows) out.push(`  ${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
  out.push(`Image ${s.image.digest} (${formatBytes(s.image.size)} compressed)`);
  for (const d of s.image.pushed) out.push(`  pushed ${d}`);
  for (const w of s.image.written) out.push(`  written ${w}`);
  if (s.image.pushed.length === 0 && s.image.written.length === 0) out.push('  not pushed');
  return out;
}

/** The summary as one JSON-friendly record (the fields of the `summary` stream line). */
export function summaryRecord(s: Summary): Record<string, unknown> {
  return {
    stream: 'summary', totalMs: s.totalMs, digest: s.image.digest, size: s.image.size, pushed: s.image.pushed, written: s.image.written,
    stages: s.stages.map((st) => ({
      stage: st.stage,
      steps: st.steps.map((x) => ({ step: x.step, total: x.total, instruction: x.instruction, durationMs: x.durationMs, cached: x.cached,
        ...(x.layerSize !== undefined ? { layerSize: x.layerSize } : {}) })),
    })),
  };
}
