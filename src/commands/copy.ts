// COPY with Docker/BuildKit semantics: sources are cleaned paths inside the context (or inside an
// earlier stage's root for --from), Go globs, .dockerignore'd files invisible; a directory source
// copies its contents; the destination is resolved inside the build root relative to WORKDIR.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path, { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cleanGoPath, createMatcher } from '../context/dockerignore.ts';
import type { Matcher } from '../context/dockerignore.ts';
import { compileGoGlob, GlobSyntaxError, hasGlobMeta } from '../context/glob.ts';
import type { CopyInstruction, Heredoc } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { BuildError, isBuildError } from '../errors.ts';
import type { OwnerRecord } from '../ownership/table.ts';
import type { Ownership } from '../rootfs/copy.ts';
import { resolveInRoot, toRootPath } from '../rootfs/resolve.ts';
import { resolveOwnership } from '../rootfs/users.ts';
import type { Command, StepContext, StepResult } from './command.ts';
import { copyDirContents, copyFileNode, ensureDestDir, listDirContents, parseChmod } from './copy-tree.ts';
import type { EntryFilter, TreeCopy } from './copy-tree.ts';

/** The .dockerignore as COPY needs it; canSkipDir (when present) lets the walk skip excluded trees. */
export interface IgnoreMatcher {
  matches(relPath: string): boolean;
  canSkipDir?(relDir: string): boolean;
}

export interface CopyOptions {
  readonly ignore?: IgnoreMatcher;
}

/** One source node found for a source word. */
interface SourceMatch {
  /** The path as named ('/a/link'), for the destination's base name. */
  readonly named: string;
  /** The node after following symlinks inside the source root. */
  readonly host: string;
  readonly stat: Stats;
  /** COPY --parents: what of this directory is copied (a dockerignore-style matcher of what is left out). */
  readonly leaveOut?: Matcher;
}

const rootOwner: Ownership = { uid: 0, gid: 0 };
const sourceOwner = (o: { readonly uid: number; readonly gid: number }): Ownership => ({ uid: o.uid, gid: o.gid });

function relFrom(base: string, hostPath: string): string {
  return path.relative(base, hostPath).split(path.sep).join('/');
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

interface SourceScope {
  readonly root: string;
  /** Set for the build context: what .dockerignore hides. */
  readonly ignore: IgnoreMatcher | undefined;
  readonly exclude: Matcher | undefined;
  /** Names the place in error messages: 'build context' or 'stage/image "x"'. */
  readonly where: string;
  /** The build context or a named build context (--build-context): its files are owned 0:0. */
  readonly context: boolean;
}

function ignored(scope: SourceScope, hostPath: string): boolean {
  if (scope.ignore === undefined) return false;
  const rel = relFrom(scope.root, hostPath);
  return rel !== '' && scope.ignore.matches(rel);
}

function notFoundWhat(scope: SourceScope): string {
  return scope.ignore === undefined ? `file not found in ${scope.where}` : `file not found in ${scope.where} or excluded by .dockerignore`;
}

function ignoredTree(scope: SourceScope, hostPath: string): boolean {
  const rel = relFrom(scope.root, hostPath);
  return ignored(scope, hostPath) && scope.ignore?.canSkipDir?.(rel) === true;
}

/**
 * True when something below the excluded directory hostDir survives .dockerignore (fsutil's walk sends
 * an excluded directory only for the re-included paths that exist under it).
 */
async function holdsIncluded(scope: SourceScope, hostDir: string): Promise<boolean> {
  for (const name of await readdir(hostDir)) {
    const host = path.join(hostDir, name);
    if (!ignored(scope, host)) return true;
    const st = await lstat(host);
    if (st.isDirectory() && !ignoredTree(scope, host) && (await holdsIncluded(scope, host))) return true;
  }
  return false;
}

/** Excluded by .dockerignore, unless a directory that still holds re-included paths. */
async function hiddenByIgnore(scope: SourceScope, host: string, rel: string, st: Stats | undefined): Promise<boolean> {
  const excluded = ignored(scope, host) || (rel !== '' && scope.ignore?.matches(rel) === true);
  if (!excluded) return false;
  if (st?.isDirectory() !== true || scope.ignore?.canSkipDir === undefined || scope.ignore.canSkipDir(rel)) return true;
  return !(await holdsIncluded(scope, host));
}

/** Glob walk as fsutil's resolveWildcards: the literal prefix is resolved, the rest matched per segment. */
async function resolveGlob(scope: SourceScope, cleaned: string, word: string): Promise<SourceMatch[]> {
  const parts = cleaned.split('/').filter((p) => p !== '');
  const first = parts.findIndex((p) => hasGlobMeta(p));
  const prefix = `/${parts.slice(0, first).join('/')}`;
  let segments: RegExp[];
  try {
    segments = parts.slice(first).map((p) => compileGoGlob(p));
  } catch (err) {
    if (err instanceof GlobSyntaxError) throw new BuildError('BUILD', `COPY failed: source ${JSON.stringify(word)}: ${err.message}`, { cause: err });
    throw err;
  }
  const base = await resolveInRoot(scope.root, prefix);
  const baseStat = await lstatOrUndefined(base);
  const out: SourceMatch[] = [];
  // BuildKit: the literal directory before the first wildcard must exist (lstat …: no such file or directory).
  if (baseStat === undefined || (prefix !== '/' && (await hiddenByIgnore(scope, base, prefix.slice(1), baseStat)))) {
    throw new BuildError('BUILD', `COPY failed: ${notFoundWhat(scope)}: stat ${prefix.slice(1)}: file does not exist`);
  }
  if (!baseStat.isDirectory()) return out;
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    const rx = segments[depth];
    if (rx === undefined) return;
    for (const name of (await readdir(dir)).sort()) {
      if (!rx.test(name)) continue;
      const host = path.join(dir, name);
      const st = await lstat(host);
      const relName = rel === '' ? name : `${rel}/${name}`;
      if (depth < segments.length - 1) {
        // Like filepath.Walk: intermediate symlinks are not descended.
        if (st.isDirectory() && !ignoredTree(scope, host)) await walk(host, relName, depth + 1);
        continue;
      }
      if (await hiddenByIgnore(scope, host, relFrom(scope.root, host), st)) continue;
      if (scope.exclude?.matches(relName) === true) continue;
      const named = posix.join(prefix, relName);
      const resolved = await resolveInRoot(scope.root, named);
      const rst = await lstatOrUndefined(resolved);
      if (rst === undefined || ignored(scope, resolved)) continue;
      out.push({ named, host: resolved, stat: rst });
    }
  };
  await walk(base, '', 0);
  return out;
}

/** The nodes one source word names; a missing literal is an error, an empty glob is not (BuildKit). */
async function resolveSource(scope: SourceScope, word: string, step: StepContext): Promise<SourceMatch[]> {
  // '../x' cannot leave the root: cleaned against '/' as Docker does.
  const cleaned = cleanGoPath(`/${word}`);
  if (hasGlobMeta(cleaned)) {
    const found = await resolveGlob(scope, cleaned, word);
    if (found.length === 0) step.log.warn({ source: word }, 'COPY source pattern matched no files');
    return found;
  }
  const host = await resolveInRoot(scope.root, cleaned);
  const st = await lstatOrUndefined(host);
  // An excluded directory that a `!` exception re-includes existing paths under is still there, holding just
  // those (Docker); an exception naming nothing that exists does not bring its excluded parent back.
  if (st === undefined || (cleaned !== '/' && (await hiddenByIgnore(scope, host, cleaned.slice(1), st)))) {
    throw new BuildError('BUILD', `COPY failed: ${notFoundWhat(scope)}: stat ${word}: file does not exist`);
  }
  return [{ named: cleaned, host, stat: st }];
}

function makeFilter(scope: SourceScope, srcTop: string, leaveOut?: Matcher): EntryFilter {
  return {
    excluded(hostPath) {
      const rel = relFrom(srcTop, hostPath);
      return ignored(scope, hostPath) || scope.exclude?.matches(rel) === true || leaveOut?.matches(rel) === true;
    },
    canSkipDir(hostPath) {
      if (ignoredTree(scope, hostPath)) return true;
      const rel = relFrom(srcTop, hostPath);
      return scope.exclude?.canSkipDir(rel) === true || leaveOut?.canSkipDir(rel) === true;
    },
  };
}

/**
 * COPY --parents (BuildKit dockerfile2llb): the source is cut at its first `/./`; the part before it (the context
 * root without one) is copied as a directory's contents, keeping only the paths the rest matches (with `**`), so
 * the matched paths keep their parents below the pivot.
 */
async function resolveParents(scope: SourceScope, word: string, step: StepContext): Promise<SourceMatch[]> {
  const cut = word.indexOf('/./');
  const pivotWord = cut < 0 ? '/' : word.slice(0, cut) === '' ? '/' : word.slice(0, cut);
  const pattern = cleanGoPath(`/${cut < 0 ? word : word.slice(cut + 3)}`).slice(1);
  const pivots = await resolveSource(scope, pivotWord, step);
  const out: SourceMatch[] = [];
  for (const pivot of pivots) {
    if (!pivot.stat.isDirectory()) throw new BuildError('BUILD', `COPY failed: --parents: ${pivotWord} is not a directory`);
    if (pattern === '') {
      out.push(pivot);
      continue;
    }
    if (!hasGlobMeta(pattern)) {
      const target = await resolveInRoot(scope.root, posix.join(pivot.named, pattern));
      if ((await lstatOrUndefined(target)) === undefined || ignored(scope, target)) {
        throw new BuildError('BUILD', `COPY failed: file not found in ${scope.where}: stat ${word}: file does not exist`);
      }
    }
    let leaveOut: Matcher;
    try {
      leaveOut = createMatcher(['*', `!${pattern}`], `COPY --parents ${word}`);
    } catch (err) {
      throw new BuildError('BUILD', `COPY failed: source ${JSON.stringify(word)}: ${(err as Error).message}`, { cause: err });
    }
    out.push({ ...pivot, leaveOut });
  }
  return out;
}

/** Copies one found source to the destination (BuildKit's prepareTargetDir + copy). */
async function copyMatch(t: TreeCopy, scope: SourceScope, match: SourceMatch, destRootPath: string): Promise<void> {
  const destHost = await resolveInRoot(t.root, destRootPath);
  const destResolved = toRootPath(t.root, destHost);
  const destStat = await stat(destHost).catch(() => undefined);
  const base = makeFilter(scope, match.host, match.leaveOut);
  // The destination may lie inside the source (context inside the root, `COPY . /ctx/sub/`): never walk into it.
  const inDest = (hostPath: string): boolean => hostPath === destHost;
  const filter: EntryFilter = {
    excluded: (hostPath, isDir) => inDest(hostPath) || base.excluded(hostPath, isDir),
    canSkipDir: (hostPath) => inDest(hostPath) || base.canSkipDir(hostPath),
  };
  const tree: TreeCopy = { ...t, filter };
  if (match.stat.isDirectory()) {
    if (destStat === undefined) await ensureDestDir(t, destResolved);
    else if (!destStat.isDirectory()) throw new BuildError('BUILD', `COPY failed: cannot copy directory to non-directory: ${destRootPath}`);
    await copyDirContents(tree, match.host, destResolved);
    return;
  }
  if (!match.stat.isFile()) {
    throw new BuildError('BUILD', `COPY failed: ${match.named} is not a regular file, directory or symlink`);
  }
  const target = destStat?.isDirectory() === true ? posix.join(destResolved, posix.basename(match.named)) : destResolved;
  await copyFileNode(tree, match.host, match.stat, target);
}

/** Everything COPY resolves before writing: shared by execute() and cacheInputs() so both see the same sources. */
interface CopyPlan {
  readonly scope: SourceScope;
  readonly matches: readonly SourceMatch[];
  readonly destRootPath: string;
  readonly destIsDir: boolean;
  readonly from: string;
  readonly chown: string;
  readonly chmod: string;
  readonly excludes: readonly string[];
  readonly parents: boolean;
  /** Removes the here-document files written for this plan. */
  readonly cleanup: () => Promise<void>;
}

/** A source word that stands for a here-document (`<<EOF`, `<<-"EOF"`, `3<<EOF`). */
export function isHeredocWord(word: string): boolean {
  return /^\d*<<-?\S/u.test(word);
}

/** Pairs source words with the heredoc bodies they name, in order: undefined for a normal source. */
export function heredocSources(sources: readonly string[], heredocs: readonly Heredoc[]): (Heredoc | undefined)[] {
  let n = 0;
  return sources.map((w) => (isHeredocWord(w) && n < heredocs.length ? heredocs[n++] : undefined));
}

/**
 * A here-document's body as COPY/ADD writes it (BuildKit dockerfile2llb): variables expanded with quotes and
 * escapes kept, unless the delimiter was quoted.
 */
export function heredocBody(doc: Heredoc, step: StepContext): string {
  if (!doc.expand) return doc.content;
  try {
    return expandWord(doc.content, step.env, { escape: step.escape, raw: true });
  } catch (err) {
    // The lexer quotes the word it failed on; a body spans lines, the error must not.
    if (!isBuildError(err)) throw err;
    const why = err.message.replace(/^failed to process "[\s\S]*": /u, '');
    throw new BuildError(err.code, `failed to expand here-document ${doc.name}: ${why}`, { cause: err });
  }
}

/** Writes the here-documents as 0644 files named by their word (BuildKit's llb.Mkfile) into a fresh temp dir. */
async function heredocMatches(docs: readonly Heredoc[], step: StepContext): Promise<{ matches: SourceMatch[]; dir: string | undefined }> {
  if (docs.length === 0) return { matches: [], dir: undefined };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kaniko-heredoc-'));
  const matches: SourceMatch[] = [];
  for (const [i, doc] of docs.entries()) {
    const named = cleanGoPath(`/${doc.name}`);
    const base = posix.basename(named);
    if (base === '' || base === '/') throw new BuildError('BUILD', `COPY failed: invalid here-document name ${JSON.stringify(doc.name)}`);
    await mkdtemp(path.join(dir, `${i}-`)).then(async (sub) => {
      const host = path.join(sub, base);
      await writeFile(host, heredocBody(doc, step));
      await chmod(host, 0o644);
      matches.push({ named, host, stat: await lstat(host) });
    });
  }
  return { matches, dir };
}

async function planCopy(instr: CopyInstruction, opts: CopyOptions, step: StepContext): Promise<CopyPlan> {
  const expand = (w: string): string => expandWord(w, step.env, { escape: step.escape });
  const docs = heredocSources(instr.sources, instr.heredocs);
  const sources = instr.sources.map((w, i) => (docs[i] === undefined ? expand(w) : w));
  const destWord = expand(instr.dest);
  if (sources.length === 0) throw new BuildError('BUILD', 'COPY requires at least one source and a destination');
  let destIsDir = destWord === '' || destWord === '.' || destWord.endsWith('/');
  if (sources.length > 1 && !destIsDir) {
    throw new BuildError('BUILD', 'When using COPY with more than one source file, the destination must be a directory and end with a /');
  }
  const workdir = step.image.config.WorkingDir ?? '';
  const destRootPath = cleanGoPath(posix.isAbsolute(destWord) ? destWord : posix.join('/', workdir, destWord));

  const from = instr.from === undefined ? '' : expand(instr.from);
  const chown = instr.chown === undefined ? '' : expand(instr.chown);
  const chmod = instr.chmod === undefined ? '' : expand(instr.chmod);
  const excludes = instr.exclude.map(expand);
  const named = from === '' ? undefined : await step.namedContextOf?.(from);
  const scope: SourceScope = from === ''
    ? { root: path.resolve(step.contextDir), ignore: opts.ignore, exclude: undefined, where: 'build context', context: true }
    : named !== undefined ? { root: path.resolve(named.root), ignore: named.ignore, exclude: undefined, where: `build context ${JSON.stringify(from)}`, context: true }
      : { root: path.resolve(await step.resolveFrom(from)), ignore: undefined, exclude: undefined, where: `stage or image ${JSON.stringify(from)}`, context: false };
  const scoped: SourceScope = excludes.length === 0 ? scope : { ...scope, exclude: createMatcher(excludes, 'COPY --exclude') };

  const written = await heredocMatches(docs.flatMap((d) => (d === undefined ? [] : [d])), step);
  const cleanup = async (): Promise<void> => {
    if (written.dir !== undefined) await rm(written.dir, { recursive: true, force: true });
  };
  try {
    const matches: SourceMatch[] = [];
    let n = 0;
    for (const [i, word] of sources.entries()) {
      if (docs[i] !== undefined) {
        const m = written.matches[n++];
        if (m !== undefined) matches.push(m);
      } else if (instr.parents) matches.push(...(await resolveParents(scoped, word, step)));
      else matches.push(...(await resolveSource(scoped, word, step)));
    }
    // Several nodes (from globs) go INTO the destination, never one after another onto the same path.
    if (matches.length > 1 || instr.parents) destIsDir = true;
    return { scope: scoped, matches, destRootPath, destIsDir, from, chown, chmod, excludes, parents: instr.parents, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function executeCopy(instr: CopyInstruction, opts: CopyOptions, step: StepContext): Promise<StepResult> {
  const plan = await planCopy(instr, opts, step);
  try {
    return await copyPlanned(plan, step);
  } finally {
    await plan.cleanup();
  }
}

async function copyPlanned(plan: CopyPlan, step: StepContext): Promise<StepResult> {
  const { from, matches, destRootPath } = plan;
  const owner = plan.chown === '' ? undefined : await resolveOwnership(step.root, plan.chown);
  // Non-root mode, COPY --from: owners and modes of the source are in its root's table, not on its disk.
  const sourceTable = plan.scope.context ? undefined : step.ownersOf?.(plan.scope.root);
  const sourceRecord = sourceTable === undefined ? undefined
    : (srcHost: string): OwnerRecord | undefined => sourceTable.get(toRootPath(plan.scope.root, srcHost));
  // A node without a record there was made by a RUN as fake root: the build user's own, which reads as root.
  const me = step.owners !== undefined ? { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 } : undefined;
  const diskOwner = (st: Ownership): Ownership => me === undefined ? st : { uid: st.uid === me.uid ? 0 : st.uid, gid: st.gid === me.gid ? 0 : st.gid };
  const t: TreeCopy = {
    root: step.root,
    // BuildKit: context files are 0:0; COPY --from keeps the source owner; --chown wins over both.
    ownerOf: (st, srcHost) => owner ?? (plan.scope.context ? rootOwner : sourceOwner(sourceRecord?.(srcHost) ?? diskOwner(st))),
    parentOwner: owner ?? rootOwner,
    owners: step.owners,
    sourceRecord,
    mode: plan.chmod === '' ? undefined : parseChmod(plan.chmod),
    filter: { excluded: () => false, canSkipDir: () => false },
    changed: new Set<string>(),
    log: step.log,
    signal: step.signal,
  };
  if (matches.length > 0) await ensureDestDir(t, plan.destIsDir ? destRootPath : posix.dirname(destRootPath));
  for (const match of matches) {
    step.signal.throwIfAborted();
    await copyMatch(t, plan.scope, match, destRootPath);
  }
  return { image: step.image, changed: [...t.changed] };
}

/** Hashes files a few at a time: one stream each, never a whole file in memory. */
async function hashFiles(hosts: readonly string[], signal: AbortSignal): Promise<string[]> {
  const out: string[] = new Array<string>(hosts.length).fill('');
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < hosts.length; i = next++) {
      signal.throwIfAborted();
      const hash = createHash('sha256');
      await pipeline(createReadStream(hosts[i] ?? ''), hash);
      out[i] = hash.digest('hex');
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, hosts.length) }, worker));
  return out;
}

/**
 * The cache inputs of a COPY (documented in src/cache/README.md): the resolved destination and flags, then per
 * source match and per node it writes, in copy order: path, type, mode after --chmod, owner, content digest or
 * link target. No times: an mtime never changes the key (Docker's rule). Context files are always 0:0, so their
 * owner on disk is not an input; a --chown is keyed by its text (the root's passwd is covered by the key chain),
 * so this runs without the root being unpacked.
 */
async function copyCacheInputs(instr: CopyInstruction, opts: CopyOptions, step: StepContext): Promise<string[]> {
  const plan = await planCopy(instr, opts, step);
  try {
    return await plannedCacheInputs(plan, step);
  } finally {
    await plan.cleanup();
  }
}

async function plannedCacheInputs(plan: CopyPlan, step: StepContext): Promise<string[]> {
  const mode = plan.chmod === '' ? undefined : parseChmod(plan.chmod);
  const ownerOf = (st: Stats): string => (plan.chown !== '' ? 'chown' : plan.scope.context ? '0:0' : `${st.uid}:${st.gid}`);
  const modeOf = (st: Stats): string => {
    const own = st.mode & 0o7777;
    return (mode === undefined ? own : mode.apply(own, st.isDirectory())).toString(8);
  };
  const destHost = await resolveInRoot(step.root, plan.destRootPath);
  const records: (string | { readonly host: string; readonly fields: readonly string[] })[] = [
    JSON.stringify(['copy', plan.destRootPath, plan.destIsDir, plan.from, plan.chown, plan.chmod, ...plan.excludes]),
    ...(plan.parents ? [JSON.stringify(['parents'])] : []),
  ];
  const describe = async (rel: string, host: string, st: Stats): Promise<void> => {
    if (st.isFile()) records.push({ host, fields: ['file', rel, modeOf(st), ownerOf(st)] });
    else if (st.isSymbolicLink()) records.push(JSON.stringify(['symlink', rel, ownerOf(st), await readlink(host)]));
    else if (st.isDirectory()) records.push(JSON.stringify(['dir', rel, modeOf(st), ownerOf(st)]));
    // A special file inside a tree is skipped by the copy, but it makes an excluded parent directory appear.
    else records.push(JSON.stringify(['special', rel]));
  };
  for (const match of plan.matches) {
    records.push(JSON.stringify(['source', match.named, match.stat.isDirectory() ? 'dir' : match.stat.isFile() ? 'file' : 'other']));
    if (match.stat.isDirectory()) {
      const base = makeFilter(plan.scope, match.host, match.leaveOut);
      const filter: EntryFilter = {
        excluded: (hostPath, isDir) => hostPath === destHost || base.excluded(hostPath, isDir),
        canSkipDir: (hostPath) => hostPath === destHost || base.canSkipDir(hostPath),
      };
      for (const node of await listDirContents(match.host, filter, step.signal)) await describe(node.rel, node.host, node.stat);
    } else if (match.stat.isFile()) {
      await describe('', match.host, match.stat);
    } else {
      throw new BuildError('BUILD', `COPY failed: ${match.named} is not a regular file, directory or symlink`);
    }
  }
  const files = records.flatMap((r) => (typeof r === 'string' ? [] : [r.host]));
  const digests = await hashFiles(files, step.signal);
  let n = 0;
  return records.map((r) => (typeof r === 'string' ? r : JSON.stringify([...r.fields, `sha256:${digests[n++] ?? ''}`])));
}

/** Non-BuildErrors (EACCES, ...) become a COPY/ADD failure; aborts stay aborts. */
export function copyFailure(err: unknown, instruction: 'COPY' | 'ADD' = 'COPY'): unknown {
  if (isBuildError(err)) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new BuildError('BUILD', `${instruction} failed: ${(err as Error).message}`, { cause: err });
}

export function copyCommand(instr: CopyInstruction, opts: CopyOptions = {}): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'files', cacheable: true, needsRootfs: true },
    async execute(step) {
      try {
        return await executeCopy(instr, opts, step);
      } catch (err) {
        throw copyFailure(err);
      }
    },
    async cacheInputs(step) {
      try {
        return await copyCacheInputs(instr, opts, step);
      } catch (err) {
        throw copyFailure(err);
      }
    },
  };
}
