// --progress=tty: BuildKit's terminal display. Finished steps scroll up as one line each
// (`=> [stage-1 3/5] COPY app /srv/app  0.3s`, `=> CACHED [2/4] RUN …`); below them a live area, redrawn in place,
// holds every running step with its elapsed time and every transfer with bytes and rate. Log lines (warnings, or
// everything at an explicit --verbosity) print above the live area. RUN output is not streamed: a failed step's
// last lines are shown.
import type { ProgressEvent, StepId } from './events.ts';
import { formatDuration, stepPrefix, transferLine } from './format.ts';
import { failureTail } from './plain.ts';
import { formatSummary, SummaryCollector } from './summary.ts';

/** What the renderer writes to: process.stderr, or a fake in tests. */
export interface TtyStream {
  write(text: string): unknown;
  readonly columns?: number;
}

export interface TtyOptions {
  readonly now?: () => number;
  /** Redraw period for the elapsed times, ms; 0: only on events (tests). Default 200. */
  readonly intervalMs?: number;
}

export interface TtyDisplay {
  readonly sink: (e: ProgressEvent) => void;
  /** A finished log line (ends with a newline), printed above the live area. */
  log(line: string): void;
  /** Clears the live area and stops the timer. */
  stop(): void;
}

const clearLines = (n: number): string => (n > 0 ? `\u001b[${n}F\u001b[J` : '');

export function ttyRenderer(out: TtyStream, opts: TtyOptions = {}): TtyDisplay {
  const now = opts.now ?? Date.now;
  const running = new Map<string, StepId & { started: number; last?: string }>();
  const transfers = new Map<string, { line: () => string }>();
  const summary = new SummaryCollector(now);
  let drawn = 0;
  /** A live line must not wrap (the redraw counts lines): the text is cut, the suffix (the elapsed time) kept. */
  const fit = (line: string, suffix = ''): string => {
    const columns = out.columns !== undefined && out.columns > 0 ? out.columns : 80; // 0: a terminal of unknown size
    const room = columns - 1 - suffix.length;
    return (line.length > room ? `${line.slice(0, Math.max(0, room - 1))}…` : line) + suffix;
  };
  const live = (): string[] => [
    ...[...running.values()].flatMap((s) => [fit(`=> ${stepPrefix(s)} ${oneLine(s.instruction)}`, `  ${formatDuration(now() - s.started)}`),
      // The latest line of a RUN's output, under its step (redrawn with the timer, not per line).
      ...(s.last !== undefined ? [fit(`   ${printableLine(s.last)}`)] : [])]),
    ...[...transfers.values()].map((t) => fit(`=> ${t.line()}`)),
  ];
  /** Clears the live area, writes `above` (finished lines), draws the live area again — one write, no flicker. */
  const draw = (above = ''): void => {
    const lines = live();
    const text = clearLines(drawn) + above + lines.map((l) => `${l}\n`).join('');
    drawn = lines.length;
    if (text !== '') out.write(text);
  };
  const timer = (opts.intervalMs ?? 200) > 0 ? setInterval(() => { if (drawn > 0) draw(); }, opts.intervalMs ?? 200) : undefined;
  timer?.unref();
  const key = (s: StepId): string => `${s.stage}\u0000${s.step}`;
  const sink = (e: ProgressEvent): void => {
    summary.add(e);
    switch (e.type) {
      case 'step-started':
        running.set(key(e), { ...e, started: now() });
        draw();
        break;
      case 'step-finished':
        running.delete(key(e));
        draw(`${e.cached ? `=> CACHED ${stepPrefix(e)} ${oneLine(e.instruction)}` : `=> ${stepPrefix(e)} ${oneLine(e.instruction)}  ${formatDuration(e.durationMs)}`}\n`);
        break;
      case 'step-output': {
        const s = running.get(key(e));
        if (s !== undefined) s.last = e.line;
        break;
      }
      case 'step-failed':
        running.delete(key(e));
        draw(`=> ERROR ${stepPrefix(e)} ${oneLine(e.instruction)}  ${formatDuration(e.durationMs)}\n${failureTail(e).map((l) => `${l}\n`).join('')}`);
        break;
      case 'transfer':
        if (e.finished) { transfers.delete(e.id); draw(e.failed === true ? '' : `=> ${transferLine(e)}\n`); }
        else { transfers.set(e.id, { line: () => transferLine(e) }); draw(); }
        break;
      case 'build-finished':
        draw(formatSummary(summary.summary(e)).map((l) => `${l}\n`).join(''));
        break;
    }
  };
  return {
    sink,
    log: (line) => draw(line.endsWith('\n') ? line : `${line}\n`),
    stop: () => {
      if (timer !== undefined) clearInterval(timer);
      running.clear();
      transfers.clear();
      draw();
    },
  };
}

/** Output shown in the live area: no control characters (a colour code or \r would break the redraw), tabs as spaces. */
function printableLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/gu, '').replace(/\t/gu, '  ').replace(/[\u0000-\u001f\u007f-\u009f]/gu, '');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/gu, ' ');
}
