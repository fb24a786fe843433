// .dockerignore with moby/patternmatcher semantics: each pattern is cleaned like Go's filepath.Clean,
// `**` spans segments, `!` re-includes, the last matching pattern wins, and a pattern that matches a
// directory matches everything under it. Matching is on slash-separated paths relative to the context.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BuildError } from '../errors.ts';
import { isWithin } from '../rootfs/resolve.ts';
import { resolveContextFile } from './context-file.ts';
import { escapeRegexChar, GlobSyntaxError, scanClass, translateGoGlob } from './glob.ts';

export interface Matcher {
  /** The cleaned patterns in order ('!' kept), e.g. for cache keys. */
  readonly patterns: readonly string[];
  /** True when relPath (relative to the context, '/'-separated) is excluded. The root is never excluded. */
  matches(relPath: string): boolean;
  /**
   * True when relDir and everything below it are excluded, so a walker may skip the whole directory.
   * False when a `!` exception could re-include something inside it.
   */
  canSkipDir(relDir: string): boolean;
}

interface Pattern {
  readonly text: string;
  readonly exclusion: boolean;
  readonly test: (p: string) => boolean;
}

/** Go's filepath.Clean for '/' paths. */
export function cleanGoPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/**
 * The lines of an ignore file → patterns, as moby's ignorefile.ReadAll: '#' comments (only at column 0),
 * whitespace trimmed, blank lines dropped, paths cleaned and a leading '/' removed ('!' kept in front).
 */
export function parseIgnoreLines(lines: Iterable<string>): string[] {
  const out: string[] = [];
  let first = true;
  for (const raw of lines) {
    const line = first ? raw.replace(/^\uFEFF/, '') : raw;
    first = false;
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanGoPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

/** moby's Pattern.compile: exact/prefix/suffix matches where possible, else an anchored regexp. */
function compilePattern(text: string): (p: string) => boolean {
  // Validate with Go's Match rules first (as moby does with filepath.Match(p, ".")).
  translateGoGlob(text);
  const chars = Array.from(text);
  let kind: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  let re = '^';
  for (let i = 0, n = 0; i < chars.length; n += 1) {
    const ch = chars[i] ?? '';
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i += 2;
        if (chars[i] === '/') i += 1;
        if (i >= chars.length) {
          if (kind === 'exact') kind = 'prefix';
          else {
            re += '.*';
            kind = 'regexp';
          }
        } else {
          re += '(?:.*/)?';
          kind = 'regexp';
        }
        if (n === 0) kind = 'suffix';
        continue;
      }
      re += '[^/]*';
      kind = 'regexp';
      i += 1;
    } else if (ch === '?') {
      re += '[^/]';
      kind = 'regexp';
      i += 1;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      re += escapeRegexChar(next ?? '\\');
      if (next !== undefined) kind = 'regexp';
      i += next === undefined ? 1 : 2;
    } else if (ch === '[') {
      const cls = scanClass(chars, i, text);
      re += cls.source;
      kind = 'regexp';
      i = cls.next;
    } else {
      if (ch === ']') kind = 'regexp';
      re += escapeRegexChar(ch);
      i += 1;
    }
  }
  switch (kind) {
    case 'exact':
      return (p) => p === text;
    case 'prefix': {
      const prefix = text.slice(0, -2);
      return (p) => p.startsWith(prefix);
    }
    case 'suffix': {
      const suffix = text.slice(2);
      return (p) => p.endsWith(suffix) || (suffix.startsWith('/') && p === suffix.slice(1));
    }
    case 'regexp': {
      const rx = new RegExp(`${re}$`, 'u');
      return (p) => rx.test(p);
    }
  }
}

/** Could exception `text` (no '**') match a path strictly below dirParts? Conservative: true when unsure. */
function couldMatchBelow(text: string, dirParts: readonly string[]): boolean {
  if (text.includes('**')) return true;
  const segs = text.split('/');
  if (segs.length <= dirParts.length) return false;
  for (let i = 0; i < dirParts.length; i += 1) {
    let rx: RegExp;
    try {
      rx = new RegExp(`^${translateGoGlob(segs[i] ?? '')}$`, 'u');
    } catch {
      return true;
    }
    if (!rx.test(dirParts[i] ?? '')) return false;
  }
  return true;
}

function normalizeRel(relPath: string): string {
  const cleaned = cleanGoPath(relPath);
  return cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
}

/** Build a matcher from already-parsed patterns. `source` names the file in error messages. */
export function createMatcher(patterns: readonly string[], source = '.dockerignore'): Matcher {
  const compiled: Pattern[] = [];
  for (const raw of patterns) {
    let text = raw.trim();
    if (text === '') continue;
    text = cleanGoPath(text);
    const exclusion = text.startsWith('!');
    if (exclusion) {
      if (text.length === 1) throw new BuildError('CONTEXT', `${source}: illegal exclusion pattern "!"`);
      text = text.slice(1);
    }
    try {
      compiled.push({ text, exclusion, test: compilePattern(text) });
    } catch (err) {
      if (err instanceof GlobSyntaxError) throw new BuildError('CONTEXT', `${source}: ${err.message}`, { cause: err });
      throw err;
    }
  }
  const exceptions = compiled.filter((p) => p.exclusion);

  const matches = (relPath: string): boolean => {
    const file = normalizeRel(relPath);
    if (file === '.' || file === '' || compiled.length === 0) return false;
    const parts = file.split('/');
    let matched = false;
    for (const pattern of compiled) {
      // Only a pattern that could flip the current answer needs evaluating.
      if (pattern.exclusion !== matched) continue;
      let hit = pattern.test(file);
      for (let i = 1; !hit && i < parts.length; i += 1) hit = pattern.test(parts.slice(0, i).join('/'));
      if (hit) matched = !pattern.exclusion;
    }
    return matched;
  };

  return {
    patterns: compiled.map((p) => (p.exclusion ? `!${p.text}` : p.text)),
    matches,
    canSkipDir(relDir) {
      if (!matches(relDir)) return false;
      const dirParts = normalizeRel(relDir).split('/');
      return !exceptions.some((e) => couldMatchBelow(e.text, dirParts));
    },
  };
}

async function readLines(file: string): Promise<string[] | undefined> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  try {
    const lines: string[] = [];
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) lines.push(line);
    return lines;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new BuildError('CONTEXT', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    stream.destroy();
  }
}

/**
 * Load the ignore file for a build: `<Dockerfile>.dockerignore` next to the Dockerfile wins over
 * `<context>/.dockerignore` (as BuildKit). A relative dockerfilePath is taken relative to contextDir.
 * No ignore file ⇒ a matcher that excludes nothing.
 */
export async function loadDockerignore(contextDir: string, dockerfilePath: string): Promise<Matcher> {
  const dockerfileIgnore = `${path.resolve(contextDir, dockerfilePath)}.dockerignore`;
  const candidates = [
    isWithin(contextDir, dockerfileIgnore) ? resolveContextFile(contextDir, dockerfileIgnore, 'ignore file') : dockerfileIgnore,
    resolveContextFile(contextDir, '.dockerignore', 'ignore file'),
  ];
  for (const file of candidates) {
    const lines = await readLines(file);
    if (lines !== undefined) return createMatcher(parseIgnoreLines(lines), file);
  }
  return createMatcher([]);
}
