// --progress=plain (BuildKit's plain, kaniko's log): every event is a pino log line, so --verbosity and
// --log-format apply (text, color, or one JSON object per line with `stream` and the event's fields). A step is
// `[stage-1 3/5] COPY app /srv/app`, then `[stage-1 3/5] DONE 1.2s` or `[stage-1 3/5] CACHED`; a transfer logs
// at most every 10 s and once at its end; the summary ends a successful build.
import type { Log } from '../log.ts';
import type { ProgressEvent, ProgressSink, StepFailed } from './events.ts';
import { formatDuration, stepPrefix, transferLine } from './format.ts';
import { formatSummary, summaryRecord, SummaryCollector } from './summary.ts';

export interface PlainOptions {
  readonly log: Log;
  /** JSON log lines: the summary is one record with its fields, not lines of text. */
  readonly json: boolean;
  /** Whether RUN output reached the user as it ran (then a failure does not repeat its tail). */
  readonly outputShown: boolean;
  /** Minimum time between two lines of one transfer; default 10 s. */
  readonly transferIntervalMs?: number;
  readonly now?: () => number;
}

/** BuildKit's block for a failed step whose output was not shown: `------`, ` > [2/2] RUN …:`, the lines, `------`. */
export function failureTail(e: StepFailed): string[] {
  if (e.outputTail.length === 0) return [];
  return ['------', ` > ${stepPrefix(e)} ${e.instruction}:`, ...e.outputTail.map((l) => `${l}`), '------'];
}

export function plainRenderer(opts: PlainOptions): ProgressSink {
  const { log } = opts;
  const now = opts.now ?? Date.now;
  const every = opts.transferIntervalMs ?? 10_000;
  const lastLine = new Map<string, number>();
  const summary = new SummaryCollector(now);
  return (e: ProgressEvent) => {
    summary.add(e);
    switch (e.type) {
      case 'step-started':
        log.info({ stream: 'step', stage: e.stage, step: e.step, total: e.total }, `${stepPrefix(e)} ${e.instruction}`);
        break;
      case 'step-finished':
        log.info({ stream: 'step', stage: e.stage, step: e.step, total: e.total, durationMs: e.durationMs, cached: e.cached,
          ...(e.layerSize !== undefined ? { layerSize: e.layerSize } : {}) }, `${stepPrefix(e)} ${e.cached ? 'CACHED' : `DONE ${formatDuration(e.durationMs)}`}`);
        break;
      case 'step-failed': {
        log.error({ stream: 'step', stage: e.stage, step: e.step, total: e.total, durationMs: e.durationMs }, `${stepPrefix(e)} ERROR: ${e.reason}`);
        if (!opts.outputShown && e.outputTail.length > 0) {
          if (opts.json) log.error({ stream: 'step', stage: e.stage, step: e.step, total: e.total, outputTail: e.outputTail }, `${stepPrefix(e)} ${e.instruction}: last output`);
          else for (const line of failureTail(e)) log.error({ stream: 'step' }, line);
        }
        break;
      }
      case 'transfer': {
        const fields = { stream: 'transfer', direction: e.direction, repository: e.repository, digest: e.digest, bytes: e.bytes,
          ...(e.total !== undefined ? { total: e.total } : {}), elapsedMs: e.elapsedMs };
        if (e.finished) { lastLine.delete(e.id); if (e.failed !== true) log.info(fields, transferLine(e)); break; } // a failure is the error's to say
        const last = lastLine.get(e.id);
        const t = now();
        if (last === undefined) { lastLine.set(e.id, t); break; } // the first line comes after 10 s, or the end line
        if (t - last >= every) { lastLine.set(e.id, t); log.info(fields, transferLine(e)); }
        break;
      }
      case 'build-finished': {
        const s = summary.summary(e);
        if (opts.json) log.info(summaryRecord(s), 'Build summary');
        else for (const line of formatSummary(s)) log.info({ stream: 'summary' }, line);
        break;
      }
    }
  };
}
