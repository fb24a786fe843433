// One logical instruction line (continuations joined) → a typed Instruction. Follows BuildKit's
// parser/line_parsers.go (how each instruction's arguments are split) and instructions/parse.go (checks).
// Throws plain BuildError('DOCKERFILE'); the caller adds file:line.
import { BuildError } from '../errors.ts';
import type {
  CommandForm, Heredoc, HealthcheckInstruction, Instruction, InstructionKind, KeyValue, ArgDeclaration,
} from './instructions.ts';
import { instructionKinds } from './instructions.ts';
import type { FlagSpec, ParsedFlags } from './words.ts';
import { extractFlags, parseFlags, parseJsonArray, splitWhitespace, splitWordsRaw } from './words.ts';

/** Flags each instruction accepts (BuildKit's instructions/parse.go); absent kinds take none. */
const flagSpecs: Partial<Record<InstructionKind, FlagSpec>> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'strings', network: 'string', security: 'string' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' },
  ADD: {
    chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings', checksum: 'string',
    'keep-git-dir': 'bool', unpack: 'bool',
  },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

/** Instructions whose line may introduce heredocs (BuildKit heredocCompoundDirectives). */
export function allowsHeredocs(kind: InstructionKind): boolean {
  return kind === 'RUN' || kind === 'COPY' || kind === 'ADD';
}

/** The instruction keyword of a logical line, upper-cased, or an error for an unknown one. */
export function keywordOf(logical: string): { kind: InstructionKind; rest: string } {
  const trimmed = logical.trim();
  const m = /^(\S+)\s*([\s\S]*)$/u.exec(trimmed);
  const word = (m?.[1] ?? '').toUpperCase();
  const kind = instructionKinds.find((k) => k === word);
  if (kind === undefined) throw new BuildError('DOCKERFILE', `unknown instruction: ${word}`);
  return { kind, rest: m?.[2] ?? '' };
}

function requireArgs(kind: InstructionKind, rest: string): void {
  if (rest.trim() === '') throw new BuildError('DOCKERFILE', `${kind} requires at least one argument`);
}

/** Shell or exec form (BuildKit parseMaybeJSON). */
function commandForm(rest: string): CommandForm {
  const args = parseJsonArray(rest);
  return args === undefined ? { form: 'shell', command: rest } : { form: 'exec', args };
}

/** A JSON list or whitespace-separated words (BuildKit parseMaybeJSONToList). */
function listForm(rest: string): string[] {
  return parseJsonArray(rest) ?? splitWhitespace(rest);
}

/** ENV/LABEL pairs: `k=v k2="v 2"` or the legacy `k value with spaces` (BuildKit parseNameVal). */
function nameValuePairs(kind: 'ENV' | 'LABEL', rest: string, escape: string): KeyValue[] {
  const words = splitWordsRaw(rest, escape);
  if (words.length === 0) throw new BuildError('DOCKERFILE', `${kind} requires at least one argument`);
  const first = words[0] as string;
  if (!first.includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/u.exec(rest.trim());
    if (m === null) throw new BuildError('DOCKERFILE', `${kind} must have two arguments`);
    return [{ key: m[1] as string, value: m[2] as string }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) throw new BuildError('DOCKERFILE', `Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    if (eq === 0) throw new BuildError('DOCKERFILE', `${kind} names can not be blank`);
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}

function argDeclarations(rest: string, escape: string): ArgDeclaration[] {
  const words = splitWordsRaw(rest, escape);
  if (words.length === 0) throw new BuildError('DOCKERFILE', 'ARG requires at least one argument');
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq === 0) throw new BuildError('DOCKERFILE', 'ARG names can not be blank');
    return eq < 0 ? { name: word } : { name: word.slice(0, eq), defaultValue: word.slice(eq + 1) };
  });
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function copyFields(kind: 'COPY' | 'ADD', rest: string, flags: ParsedFlags, heredocs: readonly Heredoc[]) {
  const words = listForm(rest);
  if (words.length < 2) {
    throw new BuildError('DOCKERFILE',
      `${kind} requires at least two arguments, but only ${words.length === 0 ? 'none were' : 'one was'} provided. Destination could not be determined.`);
  }
  return {
    sources: words.slice(0, -1),
    dest: words[words.length - 1] as string,
    ...optional('chown', flags.strings.get('chown')),
    ...optional('chmod', flags.strings.get('chmod')),
    link: flags.bools.get('link') ?? false,
    parents: flags.bools.get('parents') ?? false,
    exclude: flags.lists.get('exclude') ?? [],
    heredocs,
  };
}

function healthcheck(base: { line: number; text: string }, rest: string, flags: ParsedFlags): HealthcheckInstruction {
  const m = /^(\S+)\s*([\s\S]*)$/u.exec(rest);
  const type = (m?.[1] ?? '').toUpperCase();
  const cmd = m?.[2] ?? '';
  if (type === 'NONE') {
    if (cmd.trim() !== '') throw new BuildError('DOCKERFILE', 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...base, none: true };
  }
  if (type !== 'CMD') throw new BuildError('DOCKERFILE', `Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  const test = commandForm(cmd);
  if ((test.form === 'shell' && test.command.trim() === '') || (test.form === 'exec' && test.args.length === 0)) {
    throw new BuildError('DOCKERFILE', 'Missing command after HEALTHCHECK CMD');
  }
  return {
    kind: 'HEALTHCHECK', ...base, none: false, test,
    ...optional('interval', flags.strings.get('interval')),
    ...optional('timeout', flags.strings.get('timeout')),
    ...optional('startPeriod', flags.strings.get('start-period')),
    ...optional('startInterval', flags.strings.get('start-interval')),
    ...optional('retries', flags.strings.get('retries')),
  };
}

/**
 * Parses one logical line. `text` is what history/errors show (normally the logical line itself);
 * heredocs are the bodies already read for this line.
 */
export function parseInstructionLine(logical: string, opts: { line: number; escape: string; heredocs: readonly Heredoc[] }): Instruction {
  const text = logical.trim();
  const { kind, rest: afterKeyword } = keywordOf(text);
  const base = { line: opts.line, text };
  const { flags: rawFlags, rest } = kind === 'ONBUILD' ? { flags: [], rest: afterKeyword } : extractFlags(afterKeyword);
  const flags = parseFlags(rawFlags, flagSpecs[kind] ?? {});
  switch (kind) {
    case 'FROM': {
      const words = splitWhitespace(rest);
      if (words.length !== 1 && !(words.length === 3 && words[1]?.toLowerCase() === 'as')) {
        throw new BuildError('DOCKERFILE', 'FROM requires either one or three arguments');
      }
      const stageName = words[2];
      if (stageName !== undefined && !/^[a-z][a-z0-9\-_.]*$/u.test(stageName.toLowerCase())) {
        throw new BuildError('DOCKERFILE', `invalid name for build stage: "${stageName}", name can't start with a number or contain symbols`);
      }
      return {
        kind, ...base, image: words[0] as string,
        ...optional('stageName', stageName), ...optional('platform', flags.strings.get('platform')),
      };
    }
    case 'RUN':
      requireArgs(kind, rest);
      return {
        kind, ...base, ...commandForm(rest), mounts: flags.lists.get('mount') ?? [],
        ...optional('network', flags.strings.get('network')), ...optional('security', flags.strings.get('security')),
        heredocs: opts.heredocs,
      };
    case 'CMD':
    case 'ENTRYPOINT':
      requireArgs(kind, rest);
      return { kind, ...base, ...commandForm(rest) };
    case 'SHELL': {
      requireArgs(kind, rest);
      const args = parseJsonArray(rest);
      if (args === undefined) throw new BuildError('DOCKERFILE', 'SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]');
      if (args.length === 0) throw new BuildError('DOCKERFILE', 'SHELL requires at least one argument');
      return { kind, ...base, form: 'exec', args };
    }
    case 'COPY':
      return { kind, ...base, ...copyFields(kind, rest, flags, opts.heredocs), ...optional('from', flags.strings.get('from')) };
    case 'ADD':
      return {
        kind, ...base, ...copyFields(kind, rest, flags, opts.heredocs),
        ...optional('checksum', flags.strings.get('checksum')),
        keepGitDir: flags.bools.get('keep-git-dir') ?? false,
        ...optional('unpack', flags.bools.get('unpack')),
      };
    case 'ENV':
    case 'LABEL':
      return { kind, ...base, pairs: nameValuePairs(kind, rest, opts.escape) };
    case 'ARG':
      return { kind, ...base, args: argDeclarations(rest, opts.escape) };
    case 'EXPOSE':
      requireArgs(kind, rest);
      return { kind, ...base, ports: splitWhitespace(rest) };
    case 'VOLUME': {
      requireArgs(kind, rest);
      const paths = listForm(rest);
      if (paths.some((p) => p.trim() === '')) throw new BuildError('DOCKERFILE', 'VOLUME specified can not be an empty string');
      return { kind, ...base, paths };
    }
    case 'WORKDIR':
      requireArgs(kind, rest);
      return { kind, ...base, path: rest.trim() };
    case 'USER':
      requireArgs(kind, rest);
      return { kind, ...base, user: rest.trim() };
    case 'STOPSIGNAL':
      requireArgs(kind, rest);
      return { kind, ...base, signal: rest.trim() };
    case 'MAINTAINER':
      requireArgs(kind, rest);
      return { kind, ...base, name: rest.trim() };
    case 'HEALTHCHECK':
      requireArgs(kind, rest);
      return healthcheck(base, rest.trim(), flags);
    case 'ONBUILD': {
      requireArgs(kind, rest);
      const triggerText = rest.trim();
      const { kind: triggerKind } = keywordOf(triggerText);
      if (triggerKind === 'ONBUILD') throw new BuildError('DOCKERFILE', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (triggerKind === 'FROM' || triggerKind === 'MAINTAINER') {
        throw new BuildError('DOCKERFILE', `${triggerKind} isn't allowed as an ONBUILD trigger`);
      }
      const trigger = parseInstructionLine(triggerText, { line: opts.line, escape: opts.escape, heredocs: [] });
      return { kind, ...base, trigger, triggerText };
    }
  }
}
