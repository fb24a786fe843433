// Low-level splitting of an instruction's argument text, ported from BuildKit's
// frontend/dockerfile/parser (parseWords, extractBuilderFlags, parseJSON) and instructions/bflag.go.
// Errors are plain BuildError('DOCKERFILE'); parse.ts re-throws them with file:line.
import { BuildError } from '../errors.ts';

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

/**
 * Splits on unquoted whitespace, KEEPING quotes and escapes in the words (expansion removes them later).
 * Used for ENV/LABEL/ARG (BuildKit parseWords).
 */
export function splitWordsRaw(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let word = '';
  let quote = '';
  let blankOk = false;
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i] as string;
    if (phase === 'spaces') {
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOk || word.length > 0) words.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (i + 1 === chars.length) continue; // a trailing escape is dropped
        word += ch;
        i++;
        ch = chars[i] as string;
      }
      word += ch;
      continue;
    }
    // In quotes: the escape is special except inside single quotes.
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      i++;
      word += ch;
      ch = chars[i] as string;
    }
    word += ch;
  }
  if (phase !== 'spaces' && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** Splits on whitespace only (BuildKit parseStringsWhitespaceDelimited). */
export function splitWhitespace(rest: string): string[] {
  return rest.split(/\s+/u).filter((w) => w !== '');
}

/**
 * Takes the leading `--flag[=value]` words off an argument string (quotes in flag values removed, `\` escapes),
 * as BuildKit's extractBuilderFlags. Returns the flags and the rest of the line.
 */
export function extractFlags(line: string): { flags: string[]; rest: string } {
  const chars = Array.from(line);
  const flags: string[] = [];
  let word = '';
  let quote = '';
  let blankOk = false;
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = chars[i] ?? '';
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || chars[i + 1] !== '-') return { flags, rest: chars.slice(i).join('') };
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOk || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags, rest: chars.slice(i).join('').trimStart() };
        if (blankOk || word.length > 0) flags.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (i + 1 === chars.length) continue;
        i++;
        ch = chars[i] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      i++;
      ch = chars[i] as string;
    }
    word += ch;
  }
  return { flags, rest: '' };
}

export type FlagType = 'bool' | 'string' | 'strings';
export type FlagSpec = Readonly<Record<string, FlagType>>;

export interface ParsedFlags {
  readonly bools: ReadonlyMap<string, boolean>;
  readonly strings: ReadonlyMap<string, string>;
  readonly lists: ReadonlyMap<string, readonly string[]>;
}

/** Validates flags against the instruction's spec (BuildKit BFlags.Parse): unknown, duplicate, missing value. */
export function parseFlags(flags: readonly string[], spec: FlagSpec): ParsedFlags {
  const bools = new Map<string, boolean>();
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const raw of flags) {
    if (!raw.startsWith('--')) throw new BuildError('DOCKERFILE', `arg should start with -- : ${raw}`);
    if (raw === '--') break;
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (type === undefined) {
      const known = Object.keys(spec);
      const hint = known.length === 0 ? 'this instruction takes no flags' : `known flags: ${known.map((k) => '--' + k).join(', ')}`;
      throw new BuildError('DOCKERFILE', `unknown flag: ${name} (${hint})`);
    }
    if (type !== 'strings' && (bools.has(name) || strings.has(name))) {
      throw new BuildError('DOCKERFILE', `duplicate flag specified: ${name}`);
    }
    if (type === 'bool') {
      if (value === '') throw new BuildError('DOCKERFILE', `missing a value on flag: ${name}`);
      const v = (value ?? 'true').toLowerCase();
      if (v !== 'true' && v !== 'false') {
        throw new BuildError('DOCKERFILE', `expecting boolean value for flag ${name}, not: ${value ?? ''}`);
      }
      bools.set(name, v === 'true');
    } else {
      if (value === undefined) throw new BuildError('DOCKERFILE', `missing a value on flag: ${name}`);
      if (type === 'string') strings.set(name, value);
      else lists.set(name, [...(lists.get(name) ?? []), value]);
    }
  }
  return { bools, strings, lists };
}

/**
 * The JSON (exec) form: a JSON array of strings. Returns undefined when the text is not a JSON array,
 * so the caller falls back to the shell form as Docker does; a JSON array of non-strings is an error.
 */
export function parseJsonArray(rest: string): string[] | undefined {
  const text = rest.trimStart();
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const out: string[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'string') throw new BuildError('DOCKERFILE', 'JSON arrays in Dockerfile instructions must contain only strings');
    out.push(item);
  }
  return out;
}
