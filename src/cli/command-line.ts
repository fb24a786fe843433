// The start of both programs: parse the flags from the table, refuse stray operands, create the logger,
// report deprecated aliases. Returns typed access to the values and the root logger.
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { FlagReader } from './executor-options.ts';
import type { FlagSpec } from './flags.ts';
import { createLogger } from './logger.ts';
import type { ProgressSink } from '../progress/events.ts';
import { resolveProgressMode, type ProgressMode } from '../progress/mode.ts';
import { plainRenderer } from '../progress/plain.ts';
import { ttyRenderer } from '../progress/tty.ts';
import { buildProgram, parseFlags } from './parse-flags.ts';
import type { CliIo } from './run-cli.ts';

export function startCommandLine(io: CliIo, name: string, description: string, specs: readonly FlagSpec[],
  opts: { operands?: boolean } = {}): { flags: FlagReader; log: Log; operands: readonly string[]; progress: CliProgress } {
  const program = buildProgram(name, description, specs);
  program.configureOutput({ writeOut: io.stdout, writeErr: () => undefined });
  const parsed = parseFlags(program, specs, io.argv, io.env);
  if (opts.operands !== true && parsed.operands.length > 0) throw new UsageError(`unexpected argument "${parsed.operands[0]}"`, { hint: 'flags take the form --name=value' });
  const flags = new FlagReader(parsed.values);
  const format = effectiveFormat(flags.string('log-format') ?? 'color', io);
  const mode = specs.some((s) => s.name === 'progress')
    ? resolveProgressMode(flags.string('progress') ?? 'auto', { isTTY: io.stderrIsTTY === true, json: format === 'json' }) : 'plain';
  const tty = mode === 'tty' ? ttyRenderer(io.stderrStream ?? { write: io.stderr }) : undefined;
  const log = createLogger({
    verbosity: levelFor(mode, flags.string('verbosity') ?? 'info', io.argv), format,
    timestamp: flags.bool('log-timestamp'), write: tty !== undefined ? (line) => tty.log(line) : io.stderr,
  });
  for (const w of parsed.warnings) log.warn(w);
  const progress: CliProgress = {
    mode, outputShown: mode === 'plain',
    sink: tty?.sink ?? plainRenderer({ log, json: format === 'json', outputShown: mode === 'plain' }),
    stop: () => tty?.stop(),
  };
  return { flags, log, operands: parsed.operands, progress };
}

/** The display chosen by --progress (the warmer has no such flag: plain). */
export interface CliProgress {
  readonly mode: ProgressMode;
  readonly sink: ProgressSink;
  /** RUN output is streamed (plain); tty and quiet keep it for a failure's tail. */
  readonly outputShown: boolean;
  /** Ends the live display (before the error line or the exit). */
  stop(): void;
}

/**
 * quiet: errors only, whatever --verbosity says. tty: the display replaces kaniko's info lines, so warnings and errors
 * only unless --verbosity is given. plain: --verbosity.
 */
function levelFor(mode: ProgressMode, verbosity: string, argv: readonly string[]): string {
  const known = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'];
  if (!known.includes(verbosity)) return verbosity; // the logger refuses it, naming --verbosity
  if (mode === 'quiet') return ['fatal', 'panic'].includes(verbosity) ? verbosity : 'error';
  if (mode === 'tty' && !argv.some((a) => /^(-v|--verbosity)(=|$)/.test(a))) return 'warn';
  return verbosity;
}

/**
 * Colour only on a terminal or when forced (an explicit --log-format=color, FORCE_COLOR); a non-empty NO_COLOR always wins.
 * The flag's default is kaniko's `color`, which without a terminal becomes `text`.
 */
export function effectiveFormat(format: string, io: CliIo): string {
  if (format !== 'color') return format;
  const noColor = io.env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return 'text';
  const force = io.env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return 'color';
  if (io.argv.some((a, i) => a === '--log-format=color' || (a === '--log-format' && io.argv[i + 1] === 'color'))) return 'color';
  return io.stderrIsTTY === true ? 'color' : 'text';
}
