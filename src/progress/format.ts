// The shared pieces of every renderer's lines: BuildKit's step prefix, durations, sizes and rates.
import type { StepId } from './events.ts';

/** `[stage-1 3/5]`, `[ 3/12]` — the step number padded to the width of the total, as BuildKit's prefixCommand. */
export function stepPrefix(s: Pick<StepId, 'stage' | 'step' | 'total'>): string {
  const width = String(s.total).length;
  return `[${s.stage === '' ? '' : `${s.stage} `}${String(s.step).padStart(width)}/${s.total}]`;
}

/** `0.0s`, `1.2s`, `12.3s`, `2m3.4s` (BuildKit prints seconds with one decimal). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${(s - m * 60).toFixed(1)}s`;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `512 B`, `1.5 KiB`, `40.0 MiB`. */
export function formatBytes(n: number): string {
  let v = Math.max(0, n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u] ?? ''}`;
}

/** `5.1 MiB/s` (0 B/s before the first millisecond). */
export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? Math.round(bytes * 1000 / ms) : 0)}/s`;
}

/** `sha256:0123456789ab` — the digest cut to 12 hex digits, as docker prints layer ids. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

/** One line of a transfer: `pull sha256:0123456789ab host/repo 12.3 MiB / 40.0 MiB 5.1 MiB/s`. */
export function transferLine(t: { direction: 'pull' | 'push'; repository: string; digest: string; bytes: number; total?: number; elapsedMs: number; finished: boolean }): string {
  const verb = t.finished ? (t.direction === 'pull' ? 'pulled' : 'pushed') : (t.direction === 'pull' ? 'pulling' : 'pushing');
  const where = t.direction === 'pull' ? `from ${t.repository}` : `to ${t.repository}`;
  if (t.finished) return `${verb} ${shortDigest(t.digest)} ${where}: ${formatBytes(t.bytes)} in ${formatDuration(t.elapsedMs)} (${formatRate(t.bytes, t.elapsedMs)})`;
  const of = t.total !== undefined ? ` / ${formatBytes(t.total)}` : '';
  return `${verb} ${shortDigest(t.digest)} ${where}: ${formatBytes(t.bytes)}${of} (${formatRate(t.bytes, t.elapsedMs)})`;
}

/** The last `max` lines of a RUN's output, kept while it runs (a bounded buffer, not the whole output). */
export class OutputTail {
  readonly #max: number;
  readonly #lines: string[] = [];
  #partial = '';
  constructor(max = 10) { this.#max = max; }
  /** Adds output; returns the last complete line it ended, if any. */
  push(text: string): string | undefined {
    const parts = (this.#partial + text).split('\n');
    this.#partial = (parts.pop() ?? '').slice(-4096);
    for (const p of parts) this.#add(p);
    return parts.length > 0 ? this.#lines[this.#lines.length - 1] : undefined;
  }
  #add(line: string): void {
    this.#lines.push(line.replace(/\r$/u, '').slice(0, 4096));
    if (this.#lines.length > this.#max) this.#lines.shift();
  }
  lines(): string[] {
    return this.#partial === '' ? [...this.#lines] : [...this.#lines, this.#partial].slice(-this.#max);
  }
  clear(): void { this.#lines.length = 0; this.#partial = ''; }
}
