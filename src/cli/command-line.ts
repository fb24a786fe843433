// The start of both programs: parse the flags from the table, refuse stray operands, create the logger,
// report deprecated aliases. Returns typed access to the values and the root logger.
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { FlagReader } from './executor-options.ts';
import type { FlagSpec } from './flags.ts';
import { createLogger } from './logger.ts';
import { buildProgram, parseFlags } from './parse-flags.ts';
import type { CliIo } from './run-cli.ts';

export function startCommandLine(io: CliIo, name: string, description: string, specs: readonly FlagSpec[],
  opts: { operands?: boolean } = {}): { flags: FlagReader; log: Log; operands: readonly string[] } {
  const program = buildProgram(name, description, specs);
  program.configureOutput({ writeOut: io.stdout, writeErr: () => undefined });
  const parsed = parseFlags(program, specs, io.argv, io.env);
  if (opts.operands !== true && parsed.operands.length > 0) throw new UsageError(`unexpected argument "${parsed.operands[0]}"`, { hint: 'flags take the form --name=value' });
  const flags = new FlagReader(parsed.values);
  const log = createLogger({
    verbosity: flags.string('verbosity') ?? 'info', format: effectiveFormat(flags.string('log-format') ?? 'color', io),
    timestamp: flags.bool('log-timestamp'), write: io.stderr,
  });
  for (const w of parsed.warnings) log.warn(w);
  return { flags, log, operands: parsed.operands };
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
