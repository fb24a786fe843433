// Parses argv against a flag table (flags.ts) with commander. Values come out as a typed record keyed by the
// flag's kaniko name; environment variables, deprecated aliases and "not supported yet" are applied here.
import { Command, CommanderError, Option } from 'commander';
import { parseGoDuration } from '../dockerfile/go-duration.ts';
import { UsageError } from '../errors.ts';
import type { FlagSpec } from './flags.ts';

export type FlagValue = string | boolean | number | readonly string[] | ReadonlyMap<string, string>;

export interface ParsedFlags {
  /** Values of flags set on the command line or by env, by kaniko name (aliases resolved). */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Deprecation warnings to log once the logger exists. */
  readonly warnings: readonly string[];
  readonly operands: readonly string[];
}

export function parseBool(flag: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'true' || value === '1' || value === 'TRUE' || value === 'True') return true;
  if (value === 'false' || value === '0' || value === 'FALSE' || value === 'False') return false;
  throw new UsageError(`invalid value "${value}" for --${flag}: expected true or false`);
}

/** Go duration syntax (as kaniko's flags take): "336h", "1h30m", "90s". Returns milliseconds. */
export function parseDuration(flag: string, value: string): number {
  const ns = parseGoDuration(value);
  if (ns === undefined) throw new UsageError(`invalid duration "${value}" for --${flag} (e.g. 336h, 90m)`);
  return ns / 1e6;
}

function parseInteger(flag: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new UsageError(`invalid value "${value}" for --${flag}: expected an integer`);
  return Number(value);
}

function splitKeyValue(flag: string, value: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`invalid value "${value}" for --${flag}: expected key=value`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

function optionFor(spec: FlagSpec): Option {
  const letters = spec.short !== undefined ? `-${spec.short}, ` : '';
  const valueSyntax = spec.kind === 'bool' ? ' [bool]' : ' <value>';
  const opt = new Option(`${letters}--${spec.name}${valueSyntax}`, spec.help);
  opt.negate = false; // kaniko's --no-push is a flag of its own, not commander's negation of --push
  opt.attributeName = () => spec.name;
  if (spec.hidden === true) opt.hideHelp();
  if (spec.default !== undefined && spec.kind !== 'bool') opt.default(spec.default);
  opt.argParser((value: string | undefined, previous: unknown): FlagValue => convert(spec, value, previous));
  return opt;
}

function convert(spec: FlagSpec, value: string | undefined, previous: unknown): FlagValue {
  switch (spec.kind) {
    case 'bool': return parseBool(spec.name, value);
    case 'string': return value ?? '';
    case 'int': return parseInteger(spec.name, value ?? '');
    case 'duration': parseDuration(spec.name, value ?? ''); return value ?? '';
    case 'multi': return [...(Array.isArray(previous) ? previous as string[] : []), value ?? ''];
    case 'kv': {
      const map = new Map(previous instanceof Map ? previous as Map<string, string> : []);
      const [k, v] = splitKeyValue(spec.name, value ?? '');
      map.set(k, v);
      return map;
    }
    case 'multikv': {
      const map = new Map(previous instanceof Map ? previous as Map<string, string> : []);
      for (const part of (value ?? '').split(';').filter((p) => p !== '')) {
        const [k, v] = splitKeyValue(spec.name, part);
        map.set(k, map.has(k) ? `${map.get(k)};${v}` : v);
      }
      return map;
    }
  }
}

/** Builds the commander program for a flag table (also used for --help). */
export function buildProgram(name: string, description: string, specs: readonly FlagSpec[]): Command {
  const program = new Command(name).description(description).helpOption('-h, --help', 'Show help');
  for (const spec of specs) program.addOption(optionFor(spec));
  program.allowExcessArguments(true);
  program.exitOverride();
  program.configureOutput({ writeErr: () => undefined });
  return program;
}

export function parseFlags(program: Command, specs: readonly FlagSpec[], argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>): ParsedFlags {
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') throw err;
      throw new UsageError(err.message.replace(/^error: /, ''), { hint: `run "${program.name()} --help" for the flags` });
    }
    throw err;
  }
  const opts = program.opts<Record<string, FlagValue>>();
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  const fromCli = (name: string): boolean => program.getOptionValueSource(name) === 'cli';
  for (const spec of specs) {
    let value = opts[spec.name];
    const set = value !== undefined && fromCli(spec.name);
    if (spec.env !== undefined && env[spec.env] !== undefined && env[spec.env] !== '') {
      const raw = env[spec.env] ?? '';
      // As kaniko: env values are appended to (multi) or override (scalar) the flag.
      const envValue = spec.kind === 'multi' || spec.kind === 'multikv'
        ? raw.split(spec.kind === 'multi' ? ',' : '\u0000').reduce<unknown>((prev, part) => convert(spec, part, prev), set ? value : undefined) as FlagValue
        : convert(spec, raw, undefined);
      values.set(spec.name, envValue);
      continue;
    }
    if (!set) {
      if (value !== undefined && spec.aliasOf === undefined) values.set(spec.name, value);
      continue;
    }
    if (spec.aliasOf !== undefined) {
      warnings.push(`--${spec.name} is deprecated: use --${spec.aliasOf}`);
      if (!fromCli(spec.aliasOf)) values.set(spec.aliasOf, value as FlagValue);
      continue;
    }
    if (!spec.supported && value !== spec.default) {
      throw new UsageError(`--${spec.name} is not supported yet`);
    }
    values.set(spec.name, value as FlagValue);
  }
  return { values, warnings, operands: program.args };
}
