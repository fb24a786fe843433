// The one place that turns an error into output and an exit code. One line, no stack trace (the stack only
// at --verbosity=debug or trace); a failed RUN's exit status is passed through, as kaniko does.
import { CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { isBuildError, isDiskFull } from '../errors.ts';
import { formatExcerpt } from './excerpt.ts';
import type { TtyStream } from '../progress/tty.ts';

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (colour by default only then). */
  readonly stderrIsTTY?: boolean;
  /** stderr itself when it is a terminal (--progress=tty redraws it and reads its width). */
  readonly stderrStream?: TtyStream;
}

/**
 * A message as one printable line: control characters (C0 but tab and newline — a message of several errors keeps one per line —, DEL, C1) shown escaped as `\xNN`, so a NUL
 * or an escape sequence from a Dockerfile or a server reaches the terminal as text.
 */
export function printable(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export async function runCli(main: (io: CliIo) => Promise<void>, io: CliIo): Promise<number> {
  try {
    await main(io);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version')) {
      return 0;
    }
    const debug = io.argv.some((a) => /^(-v|--verbosity)(=|$)/.test(a)) &&
      io.argv.some((a, i) => /(debug|trace)$/.test(a) && (/^--verbosity=/.test(a) || /^(-v|--verbosity)$/.test(io.argv[i - 1] ?? '')));
    const json = io.argv.some((a, i) => a === '--log-format=json' || (a === '--log-format' && io.argv[i + 1] === 'json'));
    if (json) {
      // Every line of the stream is one JSON object, the error too (its excerpt and stack as fields).
      const message = isBuildError(err) ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
      const rec: Record<string, unknown> = { level: 'error', msg: message };
      if (isBuildError(err) && err.hint !== undefined) rec['hint'] = err.hint;
      if (isBuildError(err) && err.location !== undefined) {
        let text: string | undefined;
        try { text = readFileSync(err.location.file, 'utf8'); } catch { text = undefined; }
        rec['file'] = err.location.file; rec['line'] = err.location.line;
        const excerpt = text === undefined ? undefined : formatExcerpt(text, err.location.line);
        if (excerpt !== undefined) rec['excerpt'] = excerpt;
      }
      if (debug && err instanceof Error && err.stack !== undefined) rec['stack'] = err.stack;
      io.stderr(JSON.stringify(rec) + '\n');
      return isBuildError(err) ? err.exitCode : 1;
    }
    if (isBuildError(err)) {
      if (err.location !== undefined) {
        // BuildKit's excerpt (`Dockerfile:3` and the lines around it) before the one error line; skipped when the file cannot be read again.
        let text: string | undefined;
        try { text = readFileSync(err.location.file, 'utf8'); } catch { text = undefined; }
        const excerpt = text === undefined ? undefined : formatExcerpt(text, err.location.line);
        if (excerpt !== undefined) io.stderr(`${printable(err.location.file)}:${err.location.line}\n${excerpt}`);
      }
      io.stderr(`error: ${printable(err.message)}\n`);
      if (err.hint !== undefined) io.stderr(`hint: ${printable(err.hint)}\n`);
      if (debug && err.stack !== undefined) io.stderr(err.stack + '\n');
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (isDiskFull(err)) {
      // Outside any step (fetching the context, writing an output): still a plain fault of the machine, not a bug.
      io.stderr(`error: no space left on device: ${printable(message)}\n`);
      if (debug && err instanceof Error && err.stack !== undefined) io.stderr(err.stack + '\n');
      return 1;
    }
    io.stderr(`error: internal error: ${printable(message)}\n`);
    if (debug && err instanceof Error && err.stack !== undefined) io.stderr(err.stack + '\n');
    return 1;
  }
}

/** Exit status when the event loop drains while the run is still pending (a promise that can never settle). */
export const unsettledExitCode = 70;

export async function exitWith(main: (io: CliIo) => Promise<void>): Promise<never> {
  // Node would exit 13 ("unsettled top-level await") with no word of what happened: say it in one line.
  const guard = (): void => {
    process.stderr.write('error: internal error: the run stopped with an operation still pending (nothing left to wait for)\n');
    void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => process.exit(unsettledExitCode));
  };
  process.once('beforeExit', guard);
  const code = await runCli(main, {
    argv: process.argv.slice(2), env: process.env,
    stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), stderrIsTTY: process.stderr.isTTY, stderrStream: process.stderr,
  });
  process.off('beforeExit', guard);
  // stdout/stderr to a pipe are asynchronous: process.exit would drop what the reader has not taken yet — with a
  // slow reader, the log's end and the error line. Wait for both to drain first (bounded).
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** Resolves once `stream` has nothing left in its write buffer, or after `ms`. */
function drained(stream: NodeJS.WriteStream, ms = 30_000): Promise<void> {
  if (stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void { clearTimeout(timer); stream.off('drain', done); stream.off('error', done); stream.off('close', done); resolve(); }
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
}
