import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ProgressEvent, StepFinished } from './events.ts';
import { formatBytes, formatDuration, formatRate, OutputTail, stepPrefix, transferLine } from './format.ts';
import { resolveProgressMode } from './mode.ts';
import { plainRenderer } from './plain.ts';
import { formatSummary, SummaryCollector, summaryRecord } from './summary.ts';
import { ttyRenderer } from './tty.ts';
import { UsageError } from '../errors.ts';

/** A pino logger whose records land in an array (the CLI's text formatting is not under test here). */
function recorder(): { log: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const log = pino({ level: 'info', base: null }, { write: (line: string) => { records.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, records };
}

const step = { stage: 'stage-1', step: 3, total: 5, instruction: 'COPY app /srv/app' };

describe('format', () => {
  it('prefixes steps as BuildKit: stage label, number padded to the total', () => {
    assert.equal(stepPrefix(step), '[stage-1 3/5]');
    assert.equal(stepPrefix({ stage: 'build', step: 3, total: 12 }), '[build  3/12]');
    assert.equal(stepPrefix({ stage: '', step: 2, total: 2 }), '[2/2]');
  });
  it('durations, sizes, rates', () => {
    assert.equal(formatDuration(1234), '1.2s');
    assert.equal(formatDuration(0), '0.0s');
    assert.equal(formatDuration(123_400), '2m3.4s');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(40 * 1024 * 1024), '40.0 MiB');
    assert.equal(formatRate(10 * 1024 * 1024, 2000), '5.0 MiB/s');
    assert.match(transferLine({ direction: 'pull', repository: 'r/x', digest: `sha256:${'a'.repeat(64)}`, bytes: 1024 * 1024, total: 4 * 1024 * 1024, elapsedMs: 1000, finished: false }),
      /^pulling sha256:a{12} from r\/x: 1\.0 MiB \/ 4\.0 MiB \(1\.0 MiB\/s\)$/);
    assert.match(transferLine({ direction: 'push', repository: 'r/x', digest: `sha256:${'b'.repeat(64)}`, bytes: 4 * 1024 * 1024, elapsedMs: 2000, finished: true }),
      /^pushed sha256:b{12} to r\/x: 4\.0 MiB in 2\.0s \(2\.0 MiB\/s\)$/);
  });
  it('keeps the last lines of an output, across chunks', () => {
    const tail = new OutputTail(3);
    tail.push('one\ntw');
    tail.push('o\nthree\nfour\nfive');
    assert.deepEqual(tail.lines(), ['three', 'four', 'five']);
    tail.clear();
    assert.deepEqual(tail.lines(), []);
  });
});

describe('--progress values', () => {
  it('auto is tty on a terminal, plain otherwise; json makes it plain', () => {
    assert.equal(resolveProgressMode('auto', { isTTY: true, json: false }), 'tty');
    assert.equal(resolveProgressMode('auto', { isTTY: false, json: false }), 'plain');
    assert.equal(resolveProgressMode('auto', { isTTY: true, json: true }), 'plain');
    assert.equal(resolveProgressMode('tty', { isTTY: false, json: false }), 'tty');
    assert.equal(resolveProgressMode('plain', { isTTY: true, json: false }), 'plain');
    assert.equal(resolveProgressMode('quiet', { isTTY: true, json: true }), 'quiet');
  });
  it('a bad value is one usage error naming --progress', () => {
    assert.throws(() => resolveProgressMode('fancy', { isTTY: false, json: false }),
      (e: unknown) => e instanceof UsageError && e.message === 'invalid --progress "fancy": use auto, plain, tty or quiet');
  });
});

describe('plain renderer', () => {
  it('a step line, then DONE with its duration or CACHED; every line carries its stage', () => {
    const { log, records } = recorder();
    const sink = plainRenderer({ log, json: false, outputShown: true });
    sink({ type: 'step-started', ...step });
    sink({ type: 'step-finished', ...step, durationMs: 1234, cached: false, layerSize: 10 });
    sink({ type: 'step-started', ...step, step: 4 });
    sink({ type: 'step-finished', ...step, step: 4, durationMs: 3, cached: true });
    assert.deepEqual(records.map((r) => r['msg']), ['[stage-1 3/5] COPY app /srv/app', '[stage-1 3/5] DONE 1.2s', '[stage-1 4/5] COPY app /srv/app', '[stage-1 4/5] CACHED']);
    assert.ok(records.every((r) => r['stream'] === 'step' && r['stage'] === 'stage-1'));
    assert.equal(records[1]?.['durationMs'], 1234);
  });
  it('a failure: the reason, and the output tail only when the output was not shown', () => {
    const failed: ProgressEvent = { type: 'step-failed', stage: '', step: 2, total: 2, instruction: 'RUN exit 3', durationMs: 5,
      reason: 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3', outputTail: ['hello', 'world'] };
    const shown = recorder();
    plainRenderer({ log: shown.log, json: false, outputShown: true })(failed);
    assert.deepEqual(shown.records.map((r) => r['msg']), ['[2/2] ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3']);
    const hidden = recorder();
    plainRenderer({ log: hidden.log, json: false, outputShown: false })(failed);
    assert.deepEqual(hidden.records.map((r) => r['msg']).slice(1), ['------', ' > [2/2] RUN exit 3:', 'hello', 'world', '------']);
  });
  it('a transfer: nothing at its start, a line at most every 10 s, one at the end with size and rate', () => {
    let now = 0;
    const { log, records } = recorder();
    const sink = plainRenderer({ log, json: false, outputShown: true, now: () => now });
    const t = { type: 'transfer', id: 'x', direction: 'pull', repository: 'h/r', digest: `sha256:${'c'.repeat(64)}`, total: 8 << 20 } as const;
    for (let i = 0; i <= 25; i++) { now = i * 1000; sink({ ...t, bytes: i * 100_000, elapsedMs: now, finished: false }); }
    sink({ ...t, bytes: 8 << 20, elapsedMs: 26_000, finished: true });
    assert.equal(records.length, 3, records.map((r) => r['msg']).join('\n'));
    assert.match(String(records[0]?.['msg']), /^pulling sha256:c{12} from h\/r: .* \/ 8\.0 MiB/);
    assert.match(String(records[2]?.['msg']), /^pulled sha256:c{12} from h\/r: 8\.0 MiB in 26\.0s \(\d+\.\d KiB\/s\)$/);
    assert.ok(records.every((r) => r['stream'] === 'transfer'));
    sink({ ...t, id: 'y', bytes: 10, elapsedMs: 1, finished: false });
    sink({ ...t, id: 'y', bytes: 10, elapsedMs: 2, finished: true, failed: true });
    assert.equal(records.length, 3, 'a transfer that failed has no end line (the error says it)');
  });
  it('the summary: per stage the steps (duration or CACHED, layer size), the total, digest, size, destinations', () => {
    const { log, records } = recorder();
    const sink = plainRenderer({ log, json: false, outputShown: true });
    sink({ type: 'step-finished', stage: 'build', step: 1, total: 2, instruction: 'FROM busybox', durationMs: 100, cached: false });
    sink({ type: 'step-finished', stage: 'build', step: 2, total: 2, instruction: 'RUN make', durationMs: 2500, cached: false, layerSize: 3 << 20 });
    sink({ type: 'step-finished', stage: 'stage-1', step: 2, total: 2, instruction: 'COPY --from=build /out /out', durationMs: 1, cached: true, layerSize: 2048 });
    sink({ type: 'build-finished', digest: `sha256:${'d'.repeat(64)}`, size: 5 << 20, pushed: ['reg/app:1', 'reg/app:latest'], written: [] });
    const lines = records.filter((r) => r['stream'] === 'summary').map((r) => String(r['msg']));
    assert.match(lines[0] ?? '', /^Build summary: 2 stages, 3 steps \(1 cached\) in \d+\.\ds$/);
    assert.match(lines[1] ?? '', /^ {2}\[build 1\/2\] FROM busybox +0\.1s {2}-$/);
    assert.match(lines[2] ?? '', /^ {2}\[build 2\/2\] RUN make +2\.5s {2}3\.0 MiB$/);
    assert.match(lines[3] ?? '', /^ {2}\[stage-1 2\/2\] COPY --from=build \/out \/out +CACHED {2}2\.0 KiB$/);
    assert.equal(lines[4], `Image sha256:${'d'.repeat(64)} (5.0 MiB compressed)`);
    assert.deepEqual(lines.slice(5), ['  pushed reg/app:1', '  pushed reg/app:latest']);
  });
  it('with --log-format=json the summary is one record with its fields', () => {
    const { log, records } = recorder();
    const sink = plainRenderer({ log, json: true, outputShown: true });
    sink({ type: 'step-finished', ...step, durationMs: 7, cached: true, layerSize: 9 });
    sink({ type: 'build-finished', digest: 'sha256:e', size: 10, pushed: ['r/a'], written: ['/t.tar'] });
    const rec = records.find((r) => r['stream'] === 'summary');
    assert.equal(rec?.['digest'], 'sha256:e');
    assert.deepEqual(rec?.['pushed'], ['r/a']);
    assert.deepEqual(rec?.['stages'], [{ stage: 'stage-1', steps: [{ step: 3, total: 5, instruction: 'COPY app /srv/app', durationMs: 7, cached: true, layerSize: 9 }] }]);
  });
});

describe('summary', () => {
  it('groups steps by stage in the order stages first finished one', () => {
    const c = new SummaryCollector(() => 0);
    const f = (stage: string, n: number): StepFinished => ({ type: 'step-finished', stage, step: n, total: 2, instruction: `RUN ${stage}${n}`, durationMs: 0, cached: false });
    for (const e of [f('a', 1), f('b', 1), f('a', 2), f('b', 2)]) c.add(e);
    const s = c.summary({ type: 'build-finished', digest: 'sha256:f', size: 0, pushed: [], written: [] });
    assert.deepEqual(formatSummary(s).slice(1, 5).map((l) => l.trim().split(/\s+/)[3]), ['a1', 'a2', 'b1', 'b2']);
    assert.equal(formatSummary(s).at(-1), '  not pushed');
    assert.equal((summaryRecord(s)['stages'] as unknown[]).length, 2);
  });
});

describe('tty renderer', () => {
  /** A fake terminal: collects what is written and replays cursor-up + clear to get the screen as the user sees it. */
  function fakeTty(columns = 80): { stream: { write(t: string): boolean; columns: number }; screen(): string[]; raw(): string } {
    let raw = '';
    const lines: string[] = [];
    return {
      stream: {
        columns,
        write(t: string) {
          raw += t;
          // eslint-disable-next-line no-control-regex
          for (const part of t.split(/(\u001b\[\d+F\u001b\[J)/u)) {
            // eslint-disable-next-line no-control-regex
            const m = /^\u001b\[(\d+)F\u001b\[J$/u.exec(part);
            if (m !== null) { lines.splice(lines.length - Number(m[1])); continue; }
            const parts = part.split('\n');
            parts.pop();
            lines.push(...parts);
          }
          return true;
        },
      },
      screen: () => [...lines],
      raw: () => raw,
    };
  }

  it('running steps live at the bottom, redrawn in place; finished steps scroll up with DONE time or CACHED', () => {
    let now = 1000;
    const tty = fakeTty();
    const d = ttyRenderer(tty.stream, { now: () => now, intervalMs: 0 });
    d.sink({ type: 'step-started', ...step });
    assert.deepEqual(tty.screen(), ['=> [stage-1 3/5] COPY app /srv/app  0.0s']);
    d.sink({ type: 'step-started', stage: 'web', step: 2, total: 2, instruction: 'RUN make' });
    now = 2500;
    d.log('WARN[0002] something\n');
    assert.deepEqual(tty.screen(), ['WARN[0002] something', '=> [stage-1 3/5] COPY app /srv/app  1.5s', '=> [web 2/2] RUN make  1.5s']);
    d.sink({ type: 'step-finished', ...step, durationMs: 1500, cached: false });
    d.sink({ type: 'transfer', id: 't', direction: 'push', repository: 'h/r', digest: `sha256:${'a'.repeat(64)}`, bytes: 1 << 20, total: 2 << 20, elapsedMs: 1000, finished: false });
    assert.deepEqual(tty.screen(), ['WARN[0002] something', '=> [stage-1 3/5] COPY app /srv/app  1.5s', '=> [web 2/2] RUN make  1.5s',
      '=> pushing sha256:aaaaaaaaaaaa to h/r: 1.0 MiB / 2.0 MiB (1.0 MiB/s)']);
    d.sink({ type: 'step-finished', stage: 'web', step: 2, total: 2, instruction: 'RUN make', durationMs: 1, cached: true });
    d.stop();
    assert.deepEqual(tty.screen(), ['WARN[0002] something', '=> [stage-1 3/5] COPY app /srv/app  1.5s', '=> CACHED [web 2/2] RUN make']);
  });

  it('a failed step: ERROR, then the last lines of its output; long lines fit the width', () => {
    const tty = fakeTty(30);
    const d = ttyRenderer(tty.stream, { now: () => 0, intervalMs: 0 });
    d.sink({ type: 'step-started', stage: '', step: 2, total: 2, instruction: 'RUN echo a long command line && exit 3' });
    assert.equal(tty.screen()[0]?.length, 29);
    d.sink({ type: 'step-failed', stage: '', step: 2, total: 2, instruction: 'RUN exit 3', durationMs: 200, reason: 'x', outputTail: ['out 1', 'out 2'] });
    d.stop();
    assert.deepEqual(tty.screen(), ['=> ERROR [2/2] RUN exit 3  0.2s', '------', ' > [2/2] RUN exit 3:', 'out 1', 'out 2', '------']);
  });

  it('the summary prints below the finished steps', () => {
    const tty = fakeTty();
    const d = ttyRenderer(tty.stream, { now: () => 0, intervalMs: 0 });
    d.sink({ type: 'step-finished', stage: '', step: 1, total: 1, instruction: 'FROM scratch', durationMs: 0, cached: false });
    d.sink({ type: 'build-finished', digest: 'sha256:1', size: 1, pushed: ['r/x:1'], written: [] });
    d.stop();
    assert.match(tty.screen().join('\n'), /Build summary: 1 stage, 1 step \(0 cached\)[^\n]*\n {2}\[1\/1\] FROM scratch +0\.0s {2}-\nImage sha256:1 \(1 B compressed\)\n {2}pushed r\/x:1$/);
  });
});

describe('tty renderer and RUN output', () => {
  it('shows the latest output line of a running step under it, without control characters', () => {
    let text = '';
    const d = ttyRenderer({ write: (t: string) => { text += t; return true; }, columns: 80 }, { now: () => 0, intervalMs: 0 });
    const s = { stage: '', step: 2, total: 2, instruction: 'RUN make' };
    d.sink({ type: 'step-started', ...s });
    d.sink({ type: 'step-output', ...s, line: '\u001b[32mcompiling\u001b[0m a.c\r' });
    d.log('x\n'); // any redraw shows it
    assert.match(text, /=> \[2\/2\] RUN make {2}0\.0s\n {3}compiling a\.c\n$/);
    d.stop();
  });
});
