// Word expansion with BuildKit's semantics (frontend/dockerfile/shell/lex.go): $VAR and ${VAR...}
// substitution, quote removal and escapes, as a POSIX shell would do for one word, but no command
// substitution or globbing. Behaviour, including BuildKit's quirks, is kept so images build the same.
import { BuildError } from '../errors.ts';
import type { InstructionKind } from './instructions.ts';

export interface ExpandOptions {
  /** The Dockerfile's escape character: '\\' or '`'. */
  readonly escape: string;
  /** Keep quotes and escapes as written, substituting only variables (BuildKit's RawQuotes+RawEscapes, for heredocs). */
  readonly raw?: boolean;
}

/** Instructions whose words are expanded against ARG/ENV at build time (BuildKit's Expand methods). */
const expandingKinds: ReadonlySet<InstructionKind> = new Set<InstructionKind>([
  'ADD', 'COPY', 'ENV', 'EXPOSE', 'FROM', 'LABEL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR', 'ARG',
]);

/**
 * True when the instruction's words go through expandWord. ARG is included: its default value is expanded
 * (BuildKit expands ARG defaults too). RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK are left to the shell;
 * ONBUILD triggers expand only when they run in the child build.
 */
export function expandsVariables(kind: InstructionKind): boolean {
  return expandingKinds.has(kind);
}

/** Expands one word: the result keeps inner whitespace (BuildKit ProcessWord). */
export function expandWord(word: string, env: ReadonlyMap<string, string>, opts: ExpandOptions): string {
  return processWord(word, env, opts).result;
}

/** Expands, then splits on unquoted whitespace, quotes and escapes keeping words together (ProcessWords). */
export function expandWords(word: string, env: ReadonlyMap<string, string>, opts: ExpandOptions): string[] {
  return processWord(word, env, opts).words;
}

const EOF = -1;

/**
 * The longest word an expansion may produce (1 MiB of UTF-16 code units). `ARG A=${A}${A}` repeated doubles a
 * word per line; without a bound forty lines ask for terabytes. BuildKit has no such bound; no real Dockerfile
 * comes near it.
 */
export const MAX_EXPANDED_WORD = 1024 * 1024;

/** Collects words the way BuildKit's wordsStruct does (text from $ expansions is split, quoted text is not). */
interface WordCollector {
  word: string;
  words: string[];
  inWord: boolean;
}

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

function addChar(w: WordCollector, ch: string): void {
  if (isSpace(ch)) {
    if (w.inWord && w.word.length !== 0) {
      w.words.push(w.word);
      w.word = '';
      w.inWord = false;
    }
  } else addRaw(w, ch);
}

function addRaw(w: WordCollector, s: string): void {
  w.word += s;
  w.inWord = true;
}

function addString(w: WordCollector, s: string): void {
  for (const ch of s) addChar(w, ch);
}

function finishWords(w: WordCollector): string[] {
  if (w.word.length > 0) {
    w.words.push(w.word);
    w.word = '';
    w.inWord = false;
  }
  return w.words;
}

/** A scanner over code points plus the expansion context. */
interface Lexer {
  readonly chars: readonly string[];
  pos: number;
  readonly env: ReadonlyMap<string, string>;
  readonly escape: string;
  readonly rawQuotes: boolean;
  /** How many `${…}` enclose the current position (bounded: see MAX_NESTING). */
  depth: number;
}

/**
 * `${A:-${B:-…}}` nests at most this deep. The lexer recurses per level (as BuildKit's does); bounding the depth turns
 * a hostile word into an error naming its line instead of a stack overflow. Real Dockerfiles nest two or three levels.
 */
export const MAX_NESTING = 500;

function peek(lx: Lexer): string | typeof EOF {
  return lx.chars[lx.pos] ?? EOF;
}

function next(lx: Lexer): string | typeof EOF {
  const ch = lx.chars[lx.pos];
  if (ch === undefined) return EOF;
  lx.pos++;
  return ch;
}

function processWord(word: string, env: ReadonlyMap<string, string>, opts: ExpandOptions): { result: string; words: string[] } {
  const lx: Lexer = { chars: Array.from(word), pos: 0, env, escape: opts.escape, rawQuotes: opts.raw === true, depth: 0 };
  try {
    const out = processStopOn(lx, EOF, opts.raw === true);
    checkSize(out.result.length);
    return out;
  } catch (err) {
    if (err instanceof SyntaxProblem) throw new BuildError('DOCKERFILE', `failed to process "${shorten(word)}": ${err.message}`);
    throw err;
  }
}

/** Internal: a lexer error before it is wrapped with the word. */
class SyntaxProblem extends Error {}

/** A word as an error quotes it: at most 200 characters. */
function shorten(word: string): string {
  return word.length <= 200 ? word : `${word.slice(0, 200)}…`;
}

function checkSize(length: number): void {
  if (length > MAX_EXPANDED_WORD) {
    throw new SyntaxProblem(`the expanded word is longer than ${MAX_EXPANDED_WORD} characters (1 MiB), the limit for one word`);
  }
}

function processStopOn(lx: Lexer, stop: string | typeof EOF, rawEscapes: boolean): { result: string; words: string[] } {
  let result = '';
  const words: WordCollector = { word: '', words: [], inWord: false };
  for (let ch = peek(lx); ch !== EOF; ch = peek(lx)) {
    if (stop !== EOF && ch === stop) {
      next(lx);
      return { result, words: finishWords(words) };
    }
    if (ch === '$') {
      const value = processDollar(lx);
      result += value;
      checkSize(result.length);
      addString(words, value);
    } else if (ch === "'" || ch === '"') {
      const inner = ch === "'" ? processSingleQuote(lx) : processDoubleQuote(lx, rawEscapes);
      const value = lx.rawQuotes ? `${ch}${inner}${ch}` : inner;
      result += value;
      addRaw(words, value);
    } else {
      let c = next(lx);
      if (c === lx.escape) {
        if (rawEscapes) {
          addRaw(words, c);
          result += c;
        }
        // An escape escapes the next character; a trailing one is dropped.
        c = next(lx);
        if (c === EOF) break;
        addRaw(words, c);
      } else if (c !== EOF) addChar(words, c);
      if (c !== EOF) result += c;
    }
  }
  if (stop !== EOF) throw new SyntaxProblem(`unexpected end of statement while looking for matching ${stop}`);
  return { result, words: finishWords(words) };
}

function processSingleQuote(lx: Lexer): string {
  // Everything up to the next single quote is literal; a single quote cannot be escaped inside.
  next(lx);
  let result = '';
  for (;;) {
    const ch = next(lx);
    if (ch === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching single-quote');
    if (ch === "'") return result;
    result += ch;
  }
}

function processDoubleQuote(lx: Lexer, rawEscapes: boolean): string {
  // Literal except $ expansions; the escape character escapes only ", $ and itself (sh semantics).
  next(lx);
  let result = '';
  for (;;) {
    const p = peek(lx);
    if (p === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching double-quote');
    if (p === '"') {
      next(lx);
      return result;
    }
    if (p === '$') {
      result += processDollar(lx);
      continue;
    }
    let ch = next(lx) as string;
    if (ch === lx.escape) {
      if (rawEscapes) result += ch;
      const after = peek(lx);
      if (after === EOF) continue;
      if (after === '"' || after === '$' || after === lx.escape) ch = next(lx) as string;
    }
    result += ch;
  }
}

function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch);
}

function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

function isNameChar(ch: string): boolean {
  return /^[\p{L}\p{Nd}_]$/u.test(ch);
}

function processName(lx: Lexer): string {
  let name = '';
  for (let ch = peek(lx); ch !== EOF; ch = peek(lx)) {
    if (name.length === 0 && isDigit(ch)) {
      // Positional parameters: all the digits, never set in a Dockerfile.
      for (let d = peek(lx); d !== EOF && isDigit(d); d = peek(lx)) name += next(lx);
      return name;
    }
    if (name.length === 0 && isSpecialParam(ch)) return next(lx) as string;
    if (!isNameChar(ch)) break;
    name += next(lx);
  }
  return name;
}

function processDollar(lx: Lexer): string {
  next(lx);
  if (peek(lx) !== '{') {
    const name = processName(lx);
    if (name === '') return '$';
    return lx.env.get(name) ?? '';
  }
  next(lx);
  if (lx.depth >= MAX_NESTING) throw new SyntaxProblem(`variable substitutions are nested deeper than ${MAX_NESTING} levels`);
  lx.depth++;
  try {
    return processBraced(lx);
  } finally {
    lx.depth--;
  }
}

function processBraced(lx: Lexer): string {
  const first = peek(lx);
  if (first === EOF) throw new SyntaxProblem("syntax error: missing '}'");
  if (first === '{' || first === '}' || first === ':') throw new SyntaxProblem('syntax error: bad substitution');
  const name = processName(lx);
  let ch = next(lx);
  let modifier = ch === EOF ? '' : ch;
  if (ch === '}') return lx.env.get(name) ?? '';
  if (ch === '/') return processReplace(lx, name);
  let nullIsUnset = false;
  if (ch === ':') {
    nullIsUnset = true;
    ch = next(lx);
    modifier += ch === EOF ? '' : ch;
  }
  if (ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
    if (ch === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    throw new SyntaxProblem(`unsupported modifier (${modifier}) in substitution`);
  }
  let word: string;
  try {
    word = processStopOn(lx, '}', ch === '#' || ch === '%').result;
  } catch (err) {
    if (err instanceof SyntaxProblem && peek(lx) === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    throw err;
  }
  const value = lx.env.get(name);
  const empty = value === undefined || (nullIsUnset && value === '');
  switch (ch) {
    case '-':
      return empty ? word : value;
    case '+':
      return empty ? '' : word;
    case '?':
      if (value === undefined) throw new SyntaxProblem(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
      if (empty) throw new SyntaxProblem(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
      return value;
    default: {
      // %/# remove the shortest matching suffix/prefix, %%/## the longest.
      let pattern = word;
      let greedy = false;
      if (pattern.startsWith(ch)) {
        greedy = true;
        pattern = pattern.slice(1);
      }
      return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
    }
  }
}

function processReplace(lx: Lexer, name: string): string {
  const replaceAll = peek(lx) === '/';
  if (replaceAll) next(lx);
  let pattern: string;
  let replacement: string;
  try {
    pattern = processStopOn(lx, '/', true).result;
  } catch (err) {
    if (err instanceof SyntaxProblem && peek(lx) === EOF) throw new SyntaxProblem("syntax error: missing '/' in ${}");
    throw err;
  }
  try {
    replacement = processStopOn(lx, '}', true).result;
  } catch (err) {
    if (err instanceof SyntaxProblem && peek(lx) === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    throw err;
  }
  const value = lx.env.get(name) ?? '';
  const re = shellPatternToRegex(pattern, true, false, replaceAll);
  // A function replacement keeps the text literal (no $& / $1 interpretation).
  if (replaceAll) {
    let grown = value.length;
    return value.replace(re, (m: string) => {
      grown += replacement.length - m.length;
      checkSize(grown);
      return replacement;
    });
  }
  const m = re.exec(value);
  if (m === null) return value;
  return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
}

/** A shell wildcard pattern (`*`, `?`, `\` escapes; no bracket expressions, as BuildKit) as a RegExp. */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i] as string;
    if (tok === '*') out += star;
    else if (tok === '?') out += '[^\\n]';
    else if (tok === '\\') {
      const after = chars[i + 1];
      // `\}` and `\/` protect the ${} delimiters; the escape is not part of the pattern.
      if (after === '}' || after === '/') continue;
      if (after !== '*' && after !== '?' && after !== '\\') {
        throw new SyntaxProblem(`invalid pattern (${pattern}) in substitution: invalid escape '\\${after ?? ''}'`);
      }
      out += '\\' + after;
      i++;
    } else if ('[]{}.+()|^$/'.includes(tok)) out += '\\' + tok;
    else out += tok;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegex(pattern, greedy, true).exec(value);
  return m === null ? value : value.slice(m[0].length);
}

/** Reverses a pattern keeping each escape before its character (a\*c → c\*a). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < chars.length;) {
    const tok = chars[i] as string;
    if (tok === '\\' && i !== chars.length - 1) {
      out.unshift(tok + (chars[i + 1] as string));
      i += 2;
    } else {
      out.unshift(tok);
      i++;
    }
  }
  return out.join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // Regexes find leftmost matches only, so the shortest suffix is found on the reversed strings.
  const reversed = Array.from(value).reverse().join('');
  return Array.from(trimPrefix(reversePattern(pattern), reversed, greedy)).reverse().join('');
}
