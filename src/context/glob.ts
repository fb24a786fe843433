// Go's filepath.Match syntax (`*`, `?`, `[...]`, `\` escapes), translated to RegExp source so
// COPY sources and .dockerignore patterns behave exactly as in Docker. Classes are re-emitted
// canonically (JS 'u' regexes reject many of the escapes Go accepts).

/** A pattern Go's filepath.Match would reject with ErrBadPattern. */
export class GlobSyntaxError extends Error {
  readonly pattern: string;
  constructor(pattern: string, reason: string) {
    super(`syntax error in pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'GlobSyntaxError';
    this.pattern = pattern;
  }
}

/** True when a path segment holds an unescaped `*`, `?` or `[` (fsutil's containsWildcards). */
export function hasGlobMeta(s: string): boolean {
  for (let i = 0; i < s.length; i += 1) {
    const ch = s[i];
    if (ch === '\\') i += 1;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/**
 * Escape one code point for use in a 'u' RegExp. Unicode mode rejects identity escapes of
 * anything but syntax characters and `/`, so `-` is escaped only inside a class (`inClass`).
 */
export function escapeRegexChar(ch: string, inClass = false): string {
  if (/[\\^$.*+?()[\]{}|/]/.test(ch)) return `\\${ch}`;
  return inClass && ch === '-' ? '\\-' : ch;
}

interface ClassScan {
  readonly source: string;
  /** Index just after the closing `]`. */
  readonly next: number;
}

/**
 * Parse a Go character class starting at chars[start] === '['. Rules from path/filepath.Match:
 * optional leading `^`, ranges lo-hi, `\` escapes, `-` and `]` must be escaped, at least one range.
 */
export function scanClass(chars: readonly string[], start: number, pattern: string): ClassScan {
  let i = start + 1;
  let negated = false;
  if (chars[i] === '^') {
    negated = true;
    i += 1;
  }
  const ranges: string[] = [];
  let count = 0;
  const readEsc = (): string => {
    let ch = chars[i];
    if (ch === undefined || ch === '-' || ch === ']') throw new GlobSyntaxError(pattern, 'bad character class');
    if (ch === '\\') {
      i += 1;
      ch = chars[i];
      if (ch === undefined) throw new GlobSyntaxError(pattern, 'unterminated escape in character class');
    }
    i += 1;
    if (i >= chars.length) throw new GlobSyntaxError(pattern, 'unterminated character class');
    return ch;
  };
  for (;;) {
    if (chars[i] === ']' && count > 0) {
      i += 1;
      break;
    }
    const lo = readEsc();
    let hi = lo;
    if (chars[i] === '-') {
      i += 1;
      hi = readEsc();
    }
    count += 1;
    const loCode = lo.codePointAt(0) ?? 0;
    const hiCode = hi.codePointAt(0) ?? 0;
    // Go accepts an inverted range that simply never matches; JS would throw.
    if (loCode > hiCode) continue;
    ranges.push(lo === hi ? escapeRegexChar(lo, true) : `${escapeRegexChar(lo, true)}-${escapeRegexChar(hi, true)}`);
  }
  return { source: `[${negated ? '^' : ''}${ranges.join('')}]`, next: i };
}

/** RegExp source (without anchors) for one Go filepath.Match pattern. Throws GlobSyntaxError. */
export function translateGoGlob(pattern: string): string {
  const chars = Array.from(pattern);
  let out = '';
  for (let i = 0; i < chars.length;) {
    const ch = chars[i] ?? '';
    if (ch === '*') {
      out += '[^/]*';
      i += 1;
    } else if (ch === '?') {
      out += '[^/]';
      i += 1;
    } else if (ch === '[') {
      const cls = scanClass(chars, i, pattern);
      out += cls.source;
      i = cls.next;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) throw new GlobSyntaxError(pattern, 'trailing backslash');
      out += escapeRegexChar(next);
      i += 2;
    } else {
      out += escapeRegexChar(ch);
      i += 1;
    }
  }
  return out;
}

/** Compile a Go filepath.Match pattern; `*` and `?` never match `/`. */
export function compileGoGlob(pattern: string): RegExp {
  return new RegExp(`^${translateGoGlob(pattern)}$`, 'u');
}

/** filepath.Match(pattern, name). Throws GlobSyntaxError for a malformed pattern. */
export function matchGoGlob(pattern: string, name: string): boolean {
  return compileGoGlob(pattern).test(name);
}
