// BuildKit's build checks over a parsed Dockerfile. Pure: the Dockerfile, its text, the build's args and
// platform, the context's .dockerignore and what is known of the base images' ENV come in; warnings come out.
// Parse-time rules look at every stage; the rules BuildKit runs while dispatching (UndefinedVar, WorkdirRelativePath,
// JSONArgsRecommended, ...) look at the stages the build reaches (every stage when `allStages`, as `--check`).
import { platformArgs, resolveMetaArgs, type PlatformSpec } from '../dockerfile/args.ts';
import { expandWord, expandWords } from '../dockerfile/expand.ts';
import type { Dockerfile, Instruction, Stage } from '../dockerfile/instructions.ts';
import { resolveStages } from '../dockerfile/stages.ts';
import { extractFlags, splitWhitespace } from '../dockerfile/words.ts';
import { defaultCheckConfig, directiveLineCount, ruleEnabled, type CheckConfig } from './config.ts';
import { messages, rules, type RuleName } from './rules.ts';
import { cleanPath, isValidReference, parsePlatform, suggest } from './words.ts';

export interface CheckWarning {
  readonly rule: RuleName;
  readonly message: string;
  /** 1-based line of the instruction (NoEmptyContinuation: its last line, as BuildKit). */
  readonly line: number;
  readonly url: string;
  readonly description: string;
}

/** The part of a .dockerignore matcher the checks use (src/context's Matcher fits). */
export interface IgnoreMatcher {
  readonly patterns: readonly string[];
  matches(relPath: string): boolean;
}

export interface CheckInput {
  readonly dockerfile: Dockerfile;
  /** The Dockerfile's text (continuation lines and comments are not in the model). */
  readonly source: string;
  readonly buildArgs?: ReadonlyMap<string, string>;
  /** Target platform; linux/amd64 when absent. */
  readonly platform?: PlatformSpec;
  readonly buildPlatform?: PlatformSpec;
  readonly target?: string;
  /** Check every stage, not only those the target reaches (`--check`). */
  readonly allStages?: boolean;
  readonly dockerignore?: IgnoreMatcher;
  /**
   * ENV names of a registry base image (by its expanded FROM reference). undefined: not known, and UndefinedVar
   * stays silent in that stage. Without the function every image is taken to set PATH only.
   */
  readonly baseImageEnv?: (ref: string) => readonly string[] | undefined;
  readonly config?: CheckConfig;
}

/** Not reported as undefined (BuildKit's nonEnvArgs). */
const nonEnvArgs = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);
const reservedStageNames = new Set(['context', 'scratch']);

/**
 * An env for expandWord that records which names were looked up and found or not (BuildKit's ProcessWordWithMatches).
 * It reads through to the stage's env (no copy per word: a long Dockerfile stays linear).
 */
class RecordingEnv implements ReadonlyMap<string, string> {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly base: ReadonlyMap<string, string>;
  constructor(base: ReadonlyMap<string, string>) { this.base = base; }
  get(key: string): string | undefined {
    const v = this.base.get(key);
    if (v === undefined) this.unmatched.add(key); else this.matched.add(key);
    return v;
  }
  has(key: string): boolean { return this.get(key) !== undefined; }
  get size(): number { return this.base.size; }
  forEach(fn: (value: string, key: string, map: ReadonlyMap<string, string>) => void): void { this.base.forEach((v, k) => fn(v, k, this)); }
  entries(): MapIterator<[string, string]> { return this.base.entries(); }
  keys(): MapIterator<string> { return this.base.keys(); }
  values(): MapIterator<string> { return this.base.values(); }
  [Symbol.iterator](): MapIterator<[string, string]> { return this.base[Symbol.iterator](); }
}

interface Expanded { readonly result: string; readonly matched: ReadonlySet<string>; readonly unmatched: ReadonlySet<string> }

function expandRecording(word: string, env: ReadonlyMap<string, string>, escape: string): Expanded | undefined {
  const rec = new RecordingEnv(env);
  try {
    return { result: expandWord(word, rec, { escape }), matched: rec.matched, unmatched: rec.unmatched };
  } catch {
    return undefined; // the build reports the expansion error itself
  }
}

/** The keyword as written (`from`, `FROM`, `From`). */
function keywordOf(instr: { readonly text: string }): string {
  return /^\S+/u.exec(instr.text)?.[0] ?? '';
}

function restOf(instr: { readonly text: string }): string {
  return instr.text.replace(/^\S+\s*/u, '');
}

function isSelfConsistent(s: string): boolean {
  return s === s.toLowerCase() || s === s.toUpperCase();
}

interface StageState {
  env: Map<string, string>;
  declared: Set<string>;
  /** False when the base image's ENV is not known: UndefinedVar stays silent. */
  envKnown: boolean;
  workdirSet: boolean;
  shellSet: boolean;
}

/** Runs every enabled check; the warnings are sorted by line (then rule), as `docker build --check` prints them. */
export function runChecks(input: CheckInput): CheckWarning[] {
  const { dockerfile: df, source } = input;
  const config = input.config ?? defaultCheckConfig;
  const escape = df.escape;
  const buildArgs = input.buildArgs ?? new Map<string, string>();
  const platform = input.platform ?? { os: 'linux', architecture: 'amd64' };
  const out: CheckWarning[] = [];
  const warn = (rule: RuleName, line: number, message: string): void => {
    if (!ruleEnabled(config, rule)) return;
    out.push({ rule, message, line, url: rules[rule].url, description: rules[rule].description });
  };
  const lines = source.replace(/^\uFEFF/u, '').split('\n').map((l) => l.replace(/\r$/u, ''));

  // --- parse time: every stage ---
  noEmptyContinuation(lines, escape, warn);
  const directives = directiveLineCount(source);
  const describe = (what: 'FROM' | 'ARG', keys: readonly string[], line: number): void => {
    const comments = precedingComments(lines, line, directives);
    const last = comments[comments.length - 1];
    if (last === undefined || keys.length === 0) return;
    if (keys.includes(last.split(' ')[0] ?? '')) return;
    warn('InvalidDefinitionDescription', line, messages.InvalidDefinitionDescription(what, keys.length > 1 ? '<arg_key>' : keys[0] as string));
  };
  for (const arg of df.metaArgs) describe('ARG', arg.args.map((a) => a.name), arg.line);
  const fromOf = (stage: Stage): { keyword: string; words: string[] } => {
    const { rest } = extractFlags(restOf(stage));
    return { keyword: keywordOf(stage), words: splitWhitespace(rest) };
  };
  for (const stage of df.stages) {
    const { keyword, words } = fromOf(stage);
    if (words.length === 3 && words[2] !== (words[2] as string).toLowerCase()) warn('StageNameCasing', stage.line, messages.StageNameCasing(words[2] as string));
    if (words.length >= 3 && isSelfConsistent(keyword)) {
      const as = words[1] as string;
      const ok = keyword === keyword.toLowerCase() ? as === as.toLowerCase() : as === as.toUpperCase();
      if (!ok) warn('FromAsCasing', stage.line, messages.FromAsCasing(keyword, as));
    }
    if (stage.name !== undefined) describe('FROM', [stage.name], stage.line);
    for (const instr of stage.instructions) {
      if (instr.kind === 'MAINTAINER') warn('MaintainerDeprecated', instr.line, messages.MaintainerDeprecated());
      if (instr.kind === 'ARG') describe('ARG', instr.args.map((a) => a.name), instr.line);
    }
  }
  const seen = new Set<string>();
  for (const stage of df.stages) {
    if (stage.name === undefined) continue;
    if (reservedStageNames.has(stage.name)) warn('ReservedStageName', stage.line, messages.ReservedStageName(stage.name));
    if (seen.has(stage.name)) warn('DuplicateStageName', stage.line, messages.DuplicateStageName(stage.name));
    seen.add(stage.name);
  }
  instructionCasing(df, warn);

  // --- the global scope: FROM lines ---
  const automatic = platformArgs(platform, input.buildPlatform ?? platform);
  for (const k of ['TARGETOSVERSION', 'BUILDOSVERSION']) automatic.set(k, '');
  automatic.set('TARGETSTAGE', input.target ?? df.stages[df.stages.length - 1]?.name ?? '');
  for (const k of automatic.keys()) { const v = buildArgs.get(k); if (v !== undefined) automatic.set(k, v); }
  let defaults: Map<string, string> | undefined;
  let globals: Map<string, string> | undefined;
  try { defaults = resolveMetaArgs(df.metaArgs, new Map(), automatic, escape); } catch { defaults = undefined; }
  try { globals = resolveMetaArgs(df.metaArgs, buildArgs, automatic, escape); } catch { globals = undefined; }
  if (defaults !== undefined) {
    for (const stage of df.stages) {
      const e = expandRecording(stage.base, defaults, escape);
      if (e !== undefined && !isValidReference(e.result)) warn('InvalidDefaultArgInFrom', stage.line, messages.InvalidDefaultArgInFrom(stage.base));
    }
  }
  if (globals !== undefined) {
    const known = new Set([...globals.keys(), ...df.metaArgs.flatMap((a) => a.args.map((d) => d.name))]);
    const undeclared = (e: Expanded, line: number): void => {
      for (const name of e.unmatched) if (!known.has(name)) warn('UndefinedArgInFrom', line, messages.UndefinedArgInFrom(name, suggest(name, known)));
    };
    for (const stage of df.stages) {
      const base = expandRecording(stage.base, globals, escape);
      if (base !== undefined) undeclared(base, stage.line);
      if (stage.platform === undefined) continue;
      const p = expandRecording(stage.platform, globals, escape);
      if (p === undefined) continue;
      undeclared(p, stage.line);
      if (p.matched.size === 1 && p.unmatched.size === 0 && p.matched.has('TARGETPLATFORM') && p.result === globals.get('TARGETPLATFORM')) {
        warn('RedundantTargetPlatform', stage.line, messages.RedundantTargetPlatform(stage.platform));
      }
      if (p.matched.size === 0 && p.unmatched.size === 0) {
        const parsed = parsePlatform(p.result);
        const name = stage.name ?? '';
        if (parsed !== undefined && !name.includes(parsed.os) && !name.includes(parsed.arch)) {
          warn('FromPlatformFlagConstDisallowed', stage.line, messages.FromPlatformFlagConstDisallowed(p.result));
        }
      }
    }
  }

  // --- dispatch time: the stages the build reaches ---
  let reached: ReadonlySet<number> | undefined;
  if (input.allStages !== true) {
    try {
      const resolved = resolveStages(df, { buildArgs, platform, ...(input.target !== undefined ? { target: input.target } : {}) });
      reached = new Set(resolved.stages.filter((s) => s.needed).map((s) => s.index));
    } catch {
      reached = undefined;
    }
  }
  const finalStates = new Map<number, StageState>();
  for (const stage of df.stages) {
    const state = initialState(stage, df, finalStates, globals ?? new Map(), input);
    if (reached === undefined || reached.has(stage.index)) dispatchStage(stage, state, { ...input, buildArgs, escape, globals: globals ?? new Map() }, warn);
    else simulate(stage, state, buildArgs, escape, globals ?? new Map());
    finalStates.set(stage.index, state);
  }
  return out.map((w, i) => ({ w, i })).sort((a, b) => a.w.line - b.w.line || (a.w.rule < b.w.rule ? -1 : a.w.rule > b.w.rule ? 1 : a.i - b.i)).map((x) => x.w);
}

type Warn = (rule: RuleName, line: number, message: string) => void;

/** Empty lines inside a continued instruction (BuildKit's parser warns at the instruction's last line). */
function noEmptyContinuation(lines: readonly string[], escape: string, warn: Warn): void {
  const continued = new RegExp(`${escape === '`' ? '`' : '\\\\'}[ \\t]*$`, 'u');
  const isComment = (l: string): boolean => /^\s*#/u.test(l);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '' || isComment(line) || !continued.test(line)) continue;
    let empty = false;
    let j = i + 1;
    for (; j < lines.length; j++) {
      const next = lines[j] as string;
      if (isComment(next)) continue;
      if (next.trim() === '') { empty = true; continue; }
      if (!continued.test(next)) break;
    }
    const last = Math.min(j, lines.length - 1);
    if (empty) warn('NoEmptyContinuation', last + 1, messages.NoEmptyContinuation());
    i = last;
  }
}

/**
 * The description comments right above a 1-based line: consecutive `#` lines, `#` alone or an empty line
 * ending the run; the file's parser directives are not comments.
 */
function precedingComments(lines: readonly string[], line: number, directives: number): string[] {
  const out: string[] = [];
  for (let i = line - 2; i >= directives; i--) {
    const raw = lines[i] as string;
    if (!/^\s*#/u.test(raw)) break;
    const text = raw.trim().slice(1).trim();
    if (text === '') break;
    out.unshift(text);
  }
  return out;
}

function instructionCasing(df: Dockerfile, warn: Warn): void {
  const all: { name: string; line: number }[] = [];
  for (const stage of df.stages) {
    all.push({ name: keywordOf(stage), line: stage.line });
    for (const instr of stage.instructions) all.push({ name: keywordOf(instr), line: instr.line });
  }
  let lower = 0;
  let upper = 0;
  for (const { name } of all) if (isSelfConsistent(name)) { if (name === name.toLowerCase()) lower++; else upper++; }
  const majorityLower = lower > upper;
  for (const { name, line } of all) {
    if (majorityLower && name !== name.toLowerCase()) warn('ConsistentInstructionCasing', line, messages.ConsistentInstructionCasing(name, 'lowercase'));
    else if (!majorityLower && name !== name.toUpperCase()) warn('ConsistentInstructionCasing', line, messages.ConsistentInstructionCasing(name, 'uppercase'));
  }
}

function initialState(stage: Stage, df: Dockerfile, finals: ReadonlyMap<number, StageState>, globals: ReadonlyMap<string, string>,
  input: CheckInput): StageState {
  const ref = expandRecording(stage.base, globals, df.escape)?.result ?? stage.base;
  const lower = ref.toLowerCase();
  const parentIndex = df.stages.slice(0, stage.index).findLastIndex((s) => s.name !== undefined && s.name === lower);
  const parent = parentIndex >= 0 ? finals.get(parentIndex) : undefined;
  if (parent !== undefined) {
    return { env: new Map(parent.env), declared: new Set(parent.declared), envKnown: parent.envKnown, workdirSet: parent.workdirSet, shellSet: parent.shellSet };
  }
  const env = new Map<string, string>();
  let envKnown = true;
  if (ref !== 'scratch' && input.baseImageEnv !== undefined) {
    const names = input.baseImageEnv(ref);
    if (names === undefined) envKnown = false;
    else for (const n of names) env.set(n, '');
  }
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  return { env, declared: new Set(), envKnown, workdirSet: false, shellSet: false };
}

interface DispatchContext {
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly escape: string;
  readonly globals: ReadonlyMap<string, string>;
  readonly dockerignore?: IgnoreMatcher;
}

/** ARG/ENV/SHELL/WORKDIR effects only, for a stage the build does not reach (a later stage may build on it). */
function simulate(stage: Stage, state: StageState, buildArgs: ReadonlyMap<string, string>, escape: string, globals: ReadonlyMap<string, string>): void {
  dispatchStage(stage, state, { buildArgs, escape, globals }, () => undefined);
}

const secretToken = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/iu;
const secretAllow = /(?:_|^)(?:public|file|version)(?:_|$)/iu;

function dispatchStage(stage: Stage, state: StageState, ctx: DispatchContext, warn: Warn): void {
  const used: Partial<Record<'CMD' | 'ENTRYPOINT' | 'HEALTHCHECK', number>> = {};
  for (const instr of stage.instructions) {
    const unmatched = new Set<string>();
    const expand = (word: string): string => {
      const e = expandRecording(word, state.env, ctx.escape);
      if (e === undefined) return word;
      for (const n of e.unmatched) unmatched.add(n);
      return e.result;
    };
    const expandAll = (word: string): string[] => {
      const rec = new RecordingEnv(state.env);
      try {
        const words = expandWords(word, rec, { escape: ctx.escape });
        for (const n of rec.unmatched) unmatched.add(n);
        return words;
      } catch {
        return [word];
      }
    };
    const report = (): void => {
      if (!state.envKnown) return;
      for (const name of unmatched) {
        if (state.declared.has(name) || nonEnvArgs.has(name)) continue;
        warn('UndefinedVar', instr.line, messages.UndefinedVar(name, suggest(name, state.env.keys())));
      }
      unmatched.clear();
    };
    dispatchOne(instr, state, ctx, warn, { expand, expandAll, report, used });
  }
}

interface Helpers {
  readonly expand: (word: string) => string;
  readonly expandAll: (word: string) => string[];
  readonly report: () => void;
  readonly used: Partial<Record<'CMD' | 'ENTRYPOINT' | 'HEALTHCHECK', number>>;
}

function dispatchOne(instr: Instruction, state: StageState, ctx: DispatchContext, warn: Warn, h: Helpers): void {
  const { expand, expandAll, report, used } = h;
  const keyword = keywordOf(instr);
  const legacy = (): boolean => !(splitWhitespace(restOf(instr))[0] ?? '').includes('=');
  const once = (kind: 'CMD' | 'ENTRYPOINT' | 'HEALTHCHECK'): void => {
    const prev = used[kind];
    if (prev !== undefined) warn('MultipleInstructionsDisallowed', prev, messages.MultipleInstructionsDisallowed(keyword));
    used[kind] = instr.line;
  };
  switch (instr.kind) {
    case 'ENV': {
      // Every word is expanded against the environment before the instruction (`ENV A=1 B=$A` leaves B empty).
      const pairs = instr.pairs.map((p) => ({ key: expand(p.key), value: expand(p.value) }));
      report();
      if (legacy()) warn('LegacyKeyValueFormat', instr.line, messages.LegacyKeyValueFormat(keyword));
      for (const p of pairs) {
        if (secretToken.test(p.key) && !secretAllow.test(p.key)) warn('SecretsUsedInArgOrEnv', instr.line, messages.SecretsUsedInArgOrEnv('ENV', p.key));
        state.env.set(p.key, p.value);
      }
      break;
    }
    case 'LABEL':
      for (const p of instr.pairs) { expand(p.key); expand(p.value); }
      report();
      if (legacy()) warn('LegacyKeyValueFormat', instr.line, messages.LegacyKeyValueFormat(keyword));
      break;
    case 'ARG':
      for (const arg of instr.args) {
        if (secretToken.test(arg.name) && !secretAllow.test(arg.name)) warn('SecretsUsedInArgOrEnv', instr.line, messages.SecretsUsedInArgOrEnv('ARG', arg.name));
        let value = ctx.buildArgs.get(arg.name);
        if (value === undefined && arg.defaultValue !== undefined) { value = expand(arg.defaultValue); report(); }
        if (value === undefined && arg.defaultValue === undefined) value = ctx.globals.get(arg.name);
        if (value !== undefined && !nonEnvArgs.has(arg.name)) state.env.set(arg.name, value);
        state.declared.add(arg.name);
      }
      break;
    case 'WORKDIR': {
      const path = expand(instr.path);
      report();
      if (!state.workdirSet && !path.startsWith('/')) warn('WorkdirRelativePath', instr.line, messages.WorkdirRelativePath(path));
      state.workdirSet = true;
      break;
    }
    case 'USER': expand(instr.user); report(); break;
    case 'STOPSIGNAL': expand(instr.signal); report(); break;
    case 'VOLUME': for (const p of instr.paths) expand(p); report(); break;
    case 'EXPOSE': {
      const ports = instr.ports.flatMap((p) => expandAll(p));
      report();
      for (const port of ports) exposeChecks(port, instr.line, warn);
      break;
    }
    case 'COPY':
    case 'ADD': {
      const sources = instr.sources.filter((s) => !s.startsWith('<<')).map((s) => expand(s));
      expand(instr.dest);
      if (instr.chown !== undefined) expand(instr.chown);
      if (instr.chmod !== undefined) expand(instr.chmod);
      if (instr.kind === 'ADD' && instr.checksum !== undefined) expand(instr.checksum);
      report();
      if (instr.kind === 'ADD' || instr.from === undefined) {
        for (const src of sources) copyIgnored(instr.kind === 'ADD' ? 'Add' : 'Copy', src, instr.line, ctx.dockerignore, warn);
      }
      break;
    }
    case 'CMD':
    case 'ENTRYPOINT':
      once(instr.kind);
      if (instr.form === 'shell' && !state.shellSet) warn('JSONArgsRecommended', instr.line, messages.JSONArgsRecommended(keyword));
      break;
    case 'HEALTHCHECK': once('HEALTHCHECK'); break;
    case 'SHELL': state.shellSet = true; break;
    default: break;
  }
}

/** BuildKit's convert_expose.go splitParts/splitProtoPort, for the two EXPOSE checks. */
function exposeChecks(rawPort: string, line: number, warn: Warn): void {
  const parts = rawPort.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1] ?? '';
  const ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
  const hostPort = n >= 2 ? parts[n - 2] ?? '' : '';
  const protoParts = containerPort.split('/');
  let proto = '';
  if (containerPort !== '' && (protoParts[0] ?? '') !== '') proto = protoParts.length === 1 || (protoParts[1] ?? '') === '' ? 'tcp' : protoParts[1] as string;
  if (proto !== proto.toLowerCase()) warn('ExposeProtoCasing', line, messages.ExposeProtoCasing(rawPort));
  if (ip !== '' || hostPort !== '') warn('ExposeInvalidFormat', line, messages.ExposeInvalidFormat(rawPort));
}

/** CopyIgnoredFile (BuildKit validateCopySourcePath): no check when there is no .dockerignore or it has `!` exceptions. */
function copyIgnored(cmd: 'Copy' | 'Add', rawSrc: string, line: number, matcher: IgnoreMatcher | undefined, warn: Warn): void {
  if (matcher === undefined || matcher.patterns.length === 0 || matcher.patterns.some((p) => p.startsWith('!'))) return;
  if (/^(?:https?:\/\/|git@)/u.test(rawSrc)) return;
  const src = cleanPath(rawSrc);
  let ignored: boolean;
  if (src === '.' || src === '/') ignored = matcher.patterns.some((p) => p === '*' || p === '**' || p === '**/*');
  else ignored = matcher.matches(src.replace(/^\/+/u, ''));
  if (ignored) warn('CopyIgnoredFile', line, messages.CopyIgnoredFile(cmd, src));
}
