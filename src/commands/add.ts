// ADD = COPY plus two things (Docker/BuildKit semantics): a local source that is a tar archive
// (recognised by content) is extracted into the destination directory, and an http(s) URL is
// downloaded (not extracted) as a 0600 file with the Last-Modified mtime, optionally verified with
// --checksum. Everything else is handed to COPY unchanged, so the two never drift apart.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdtemp, open, readdir, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path, { posix } from 'node:path';
import { Agent, interceptors, request } from 'undici';
import { cleanGoPath, createMatcher } from '../context/dockerignore.ts';
import { compileGoGlob, hasGlobMeta } from '../context/glob.ts';
import type { AddInstruction, CopyInstruction, Heredoc } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { BuildError, isBuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { copyFileInto, mkdirAllInRoot } from '../rootfs/copy.ts';
import type { Ownership } from '../rootfs/copy.ts';
import { resolveInRoot, toRootPath } from '../rootfs/resolve.ts';
import { resolveOwnership } from '../rootfs/users.ts';
import { defaultDecompressors, extractArchive, isTarArchive } from './add-archive.ts';
import type { Decompressors } from './add-archive.ts';
import type { Command, StepContext, StepResult } from './command.ts';
import { copyCommand, copyFailure, heredocBody, heredocSources } from './copy.ts';
import { secretValue } from './run.ts';
import type { CopyOptions } from './copy.ts';
import { parseChmod } from './copy-tree.ts';
import { fetchGitSource, gitSourceKey, isGitSource, parseGitAddSource, parseGitChecksum, type GitFetchDeps } from './add-git.ts';

export interface AddOptions extends CopyOptions {
  /** bzip2/xz commands for compressed archives (default: from PATH). */
  readonly decompressors?: Decompressors;
}

interface Checksum {
  readonly algorithm: 'sha256' | 'sha384' | 'sha512';
  readonly hex: string;
}

const hexLengths = { sha256: 64, sha384: 96, sha512: 128 } as const;
const maxRedirections = 10;

/** --checksum=<algo>:<hex> (OCI digest form, as BuildKit's digest.Parse). */
function parseChecksum(text: string): Checksum {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(text);
  const algorithm = m?.[1] as Checksum['algorithm'] | undefined;
  if (m === null || algorithm === undefined || (m[2] ?? '').length !== hexLengths[algorithm]) {
    throw new BuildError('BUILD', `invalid --checksum ${JSON.stringify(text)}: expected sha256:<64 hex digits> (or sha384/sha512)`);
  }
  return { algorithm, hex: m[2] ?? '' };
}

function isRemote(word: string): boolean {
  return /^https?:\/\//i.test(word);
}


/** The downloaded file's name: the URL path's base name (BuildKit's dockerfile2llb). */
function remoteFileName(url: string): string {
  try {
    const base = posix.basename(new URL(url).pathname);
    return base === '' || base === '.' || base === '/' ? '__unnamed__' : decodeURIComponent(base);
  } catch {
    return '__unnamed__';
  }
}

/** An expanded path as a word that expands to itself (for handing single matches to COPY). */
function literalWord(text: string, escape: string): string {
  return [...text].map((c) => (/[A-Za-z0-9/._-]/.test(c) ? c : `${escape}${c}`)).join('');
}

interface LocalMatch {
  readonly host: string;
  readonly named: string;
  readonly stat: Stats;
}

/** The regular files a local source word names, for archive detection (COPY resolves it again when copying). */
async function findLocalFiles(ctxRoot: string, word: string, opts: AddOptions, excludes: readonly string[]): Promise<LocalMatch[] | undefined> {
  const cleaned = cleanGoPath(`/${word}`);
  const hidden = (hostPath: string, named: string): boolean => {
    const rel = path.relative(ctxRoot, hostPath).split(path.sep).join('/');
    return opts.ignore !== undefined && ((rel !== '' && opts.ignore.matches(rel)) || (named !== '/' && opts.ignore.matches(named.slice(1))));
  };
  if (!hasGlobMeta(cleaned)) {
    const host = await resolveInRoot(ctxRoot, cleaned);
    const st = await stat(host).catch(() => undefined);
    return st === undefined || hidden(host, cleaned) ? [] : [{ host, named: cleaned, stat: st }];
  }
  const parts = cleaned.split('/').filter((p) => p !== '');
  const first = parts.findIndex((p) => hasGlobMeta(p));
  const prefix = `/${parts.slice(0, first).join('/')}`;
  let segments: RegExp[];
  try {
    segments = parts.slice(first).map((p) => compileGoGlob(p));
  } catch {
    return undefined; // COPY reports the syntax error
  }
  const exclude = excludes.length === 0 ? undefined : createMatcher(excludes, 'ADD --exclude');
  const out: LocalMatch[] = [];
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    const rx = segments[depth];
    if (rx === undefined) return;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      if (!rx.test(name)) continue;
      const relName = rel === '' ? name : `${rel}/${name}`;
      const named = posix.join(prefix, relName);
      if (depth < segments.length - 1) {
        const st = await lstat(path.join(dir, name));
        if (st.isDirectory()) await walk(path.join(dir, name), relName, depth + 1);
        continue;
      }
      if (exclude?.matches(relName) === true) continue;
      const host = await resolveInRoot(ctxRoot, named);
      const st = await stat(host).catch(() => undefined);
      if (st !== undefined && !hidden(host, named)) out.push({ host, named, stat: st });
    }
  };
  await walk(await resolveInRoot(ctxRoot, prefix), '', 0);
  return out;
}

interface AddPlan {
  readonly step: StepContext;
  readonly instr: AddInstruction;
  readonly opts: AddOptions;
  readonly tools: Decompressors;
  readonly destRootPath: string;
  readonly destIsDir: boolean;
  readonly owner: Ownership | undefined;
  readonly chmod: string;
  readonly changed: Set<string>;
}

/** Runs COPY for one source word; its messages are reworded for ADD. */
async function copyVia(plan: AddPlan, word: string, forceDir: boolean, heredoc?: Heredoc): Promise<void> {
  const { instr } = plan;
  const copy: CopyInstruction = {
    kind: 'COPY', line: instr.line, text: instr.text, sources: [word],
    dest: forceDir && !plan.destIsDir ? `${instr.dest}/` : instr.dest,
    ...(instr.chown === undefined ? {} : { chown: instr.chown }),
    ...(instr.chmod === undefined ? {} : { chmod: instr.chmod }),
    link: instr.link, parents: heredoc === undefined && instr.parents, exclude: instr.exclude, heredocs: heredoc === undefined ? [] : [heredoc],
  };
  let result: StepResult;
  try {
    result = await copyCommand(copy, plan.opts.ignore === undefined ? {} : { ignore: plan.opts.ignore }).execute(plan.step);
  } catch (err) {
    if (isBuildError(err) && err.message.startsWith('COPY ')) {
      throw new BuildError(err.code, `ADD ${err.message.slice('COPY '.length)}`, { cause: err, ...(err.hint === undefined ? {} : { hint: err.hint }) });
    }
    throw err;
  }
  for (const p of result.changed ?? []) plan.changed.add(p);
}

/** The destination directory for an extraction (created if missing, 0755). */
async function openDestDir(plan: AddPlan): Promise<string> {
  const { step } = plan;
  for (const p of await mkdirAllInRoot(step.root, plan.destRootPath, { ...(plan.owner ?? { uid: 0, gid: 0 }), mode: 0o755, owners: step.owners })) plan.changed.add(p);
  const host = await resolveInRoot(step.root, plan.destRootPath);
  return toRootPath(step.root, host);
}

async function extractInto(plan: AddPlan, archive: string, source: string): Promise<void> {
  if (plan.chmod !== '') plan.step.log.warn({ source }, 'ADD --chmod is not applied to files extracted from an archive');
  await extractArchive(archive, {
    root: plan.step.root, destRootPath: await openDestDir(plan), owner: plan.owner, tools: plan.tools, source, owners: plan.step.owners,
    log: plan.step.log, signal: plan.step.signal, changed: plan.changed,
  });
}

async function addLocal(plan: AddPlan, rawWord: string, word: string): Promise<void> {
  const { step, instr } = plan;
  const excludes = instr.exclude.map((w) => expandWord(w, step.env, { escape: step.escape }));
  const matches = instr.unpack === false ? undefined : await findLocalFiles(path.resolve(step.contextDir), word, plan.opts, excludes);
  const archives = new Set<string>();
  for (const m of matches ?? []) {
    step.signal.throwIfAborted();
    if (m.stat.isFile() && (await isTarArchive(m.host, plan.tools))) archives.add(m.named);
  }
  // No archive among the matches: COPY does exactly what ADD must (including its errors).
  if (matches === undefined || archives.size === 0) return copyVia(plan, rawWord, false);
  const several = matches.length > 1;
  for (const m of matches) {
    if (archives.has(m.named)) await extractInto(plan, m.host, m.named);
    else await copyVia(plan, literalWord(m.named, step.escape), several);
  }
}

interface Download {
  readonly file: string;
  readonly mtime: Date;
}

/** Streams url into dir/name, hashing on the way; verified before anything reaches the root. */
async function download(url: string, dir: string, checksum: Checksum | undefined, signal: AbortSignal): Promise<Download> {
  const shown = redactUrl(url);
  const file = path.join(dir, 'download');
  const agent = new Agent();
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections }));
  try {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method: 'GET', dispatcher, signal });
    } catch (err) {
      if (err instanceof Error && err.name === 'AbortError') throw err;
      throw new BuildError('NETWORK', `ADD failed: cannot download ${shown}: ${(err as Error).message}`, { cause: err });
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump();
      throw new BuildError('BUILD', `ADD failed: downloading ${shown}: HTTP status ${res.statusCode}`);
    }
    const hash = checksum === undefined ? undefined : createHash(checksum.algorithm);
    const fh = await open(file, 'wx', 0o600);
    try {
      for await (const data of res.body) {
        const chunk = data as Buffer;
        hash?.update(chunk);
        let offset = 0;
        while (offset < chunk.length) offset += (await fh.write(chunk, offset, chunk.length - offset)).bytesWritten;
      }
    } catch (err) {
      if (err instanceof Error && err.name === 'AbortError') throw err;
      throw new BuildError('NETWORK', `ADD failed: downloading ${shown}: ${(err as Error).message}`, { cause: err });
    } finally {
      await fh.close();
    }
    if (checksum !== undefined && hash !== undefined) {
      const got = hash.digest('hex');
      if (got !== checksum.hex) {
        throw new BuildError('DIGEST_MISMATCH', `ADD failed: checksum mismatch for ${shown}: expected ${checksum.algorithm}:${checksum.hex}, got ${checksum.algorithm}:${got}`);
      }
    }
    // BuildKit's http source: Last-Modified, else the epoch (reproducible).
    const header = res.headers['last-modified'];
    const parsed = typeof header === 'string' ? Date.parse(header) : Number.NaN;
    return { file, mtime: new Date(Number.isNaN(parsed) ? 0 : parsed) };
  } finally {
    await agent.close();
  }
}

async function addRemote(plan: AddPlan, url: string, checksum: Checksum | undefined): Promise<void> {
  const { step } = plan;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kaniko-add-'));
  try {
    const got = await download(url, tmp, checksum, step.signal);
    if (plan.instr.unpack === true && (await isTarArchive(got.file, plan.tools))) {
      await extractInto(plan, got.file, redactUrl(url));
      return;
    }
    await utimes(got.file, got.mtime, got.mtime);
    const name = remoteFileName(url);
    let target = plan.destRootPath;
    if (plan.destIsDir) {
      target = posix.join(await openDestDir(plan), name);
    } else {
      const host = await resolveInRoot(step.root, plan.destRootPath);
      if ((await stat(host).catch(() => undefined))?.isDirectory() === true) target = posix.join(toRootPath(step.root, host), name);
    }
    const owner = plan.owner ?? { uid: 0, gid: 0 };
    const mode = plan.chmod === '' ? 0o600 : parseChmod(plan.chmod).apply(0o600, false);
    for (const p of await copyFileInto(step.root, got.file, target, { ...owner, mode, preserveTimes: true, owners: step.owners })) plan.changed.add(p);
    plan.changed.add(toRootPath(step.root, await resolveInRoot(step.root, target, { followFinal: false })));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * What a git source may use: the git-context credentials of the environment and, as BuildKit, a `--secret` named
 * GIT_AUTH_TOKEN.<host> or GIT_AUTH_TOKEN (sent as x-access-token:<token>) when the environment gives none.
 */
async function gitDeps(step: StepContext, url?: string): Promise<GitFetchDeps> {
  let env = step.runtime.gitEnv ?? {};
  const secrets = step.runtime.secrets;
  if (url !== undefined && /^https?:\/\//i.test(url) && secrets !== undefined && (env['GIT_TOKEN'] ?? env['GIT_USERNAME'] ?? '') === '') {
    let host = '';
    try { host = new URL(url).host; } catch { /* reported by the clone */ }
    const source = secrets.get(`GIT_AUTH_TOKEN.${host}`) ?? secrets.get('GIT_AUTH_TOKEN');
    const token = (await secretValue(source))?.toString().trim();
    if (token !== undefined && token !== '') env = { ...env, GIT_USERNAME: 'x-access-token', GIT_PASSWORD: token };
  }
  return { env, ssh: step.runtime.ssh?.get('default'), log: step.log, signal: step.signal };
}

/** A git source: cloned into a scratch directory outside the root, then written by COPY as a directory's contents. */
async function addGit(plan: AddPlan, word: string, checksum: string | undefined): Promise<void> {
  const { step } = plan;
  const src = parseGitAddSource(word);
  const tmp = await mkdtemp(path.join(step.runtime.scratchDir ?? os.tmpdir(), 'add-git-'));
  try {
    const got = await fetchGitSource(src, tmp, { keepGitDir: plan.instr.keepGitDir, checksum }, await gitDeps(step, src.url));
    const { ignore: _ignore, ...opts } = plan.opts;
    // The checkout is the "context" of this copy: .dockerignore does not apply to it, --exclude does.
    await copyVia({ ...plan, opts, instr: { ...plan.instr, parents: false }, step: { ...step, contextDir: got.dir } }, '.', false);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function executeAdd(instr: AddInstruction, opts: AddOptions, step: StepContext): Promise<StepResult> {
  const expand = (w: string): string => expandWord(w, step.env, { escape: step.escape });
  const docs = heredocSources(instr.sources, instr.heredocs);
  // A here-document is written as a file, as COPY does: never downloaded or extracted (BuildKit).
  const sources = instr.sources.map((raw, i) => ({ raw, word: docs[i] === undefined ? expand(raw) : '', doc: docs[i] }));
  const destWord = expand(instr.dest);
  if (sources.length === 0) throw new BuildError('BUILD', 'ADD requires at least one source and a destination');
  const destIsDir = destWord === '' || destWord === '.' || destWord.endsWith('/') || sources.length > 1;
  if (sources.length > 1 && !(destWord.endsWith('/') || destWord === '.' || destWord === '')) {
    throw new BuildError('BUILD', 'When using ADD with more than one source file, the destination must be a directory and end with a /');
  }
  const gitSources = sources.filter((s) => s.doc === undefined && isGitSource(s.word));
  const checksumText = instr.checksum === undefined ? '' : expand(instr.checksum);
  // A git source's --checksum is the commit id (BuildKit); it then names the one source.
  let gitChecksum: string | undefined;
  if (checksumText !== '' && gitSources.length > 0) {
    if (sources.length > 1) throw new BuildError('BUILD', 'ADD --checksum can only be used with a single source');
    gitChecksum = parseGitChecksum(checksumText);
  }
  const checksum = checksumText === '' || gitChecksum !== undefined ? undefined : parseChecksum(checksumText);
  if (checksum !== undefined && sources.some((s) => s.doc !== undefined || !isRemote(s.word))) {
    throw new BuildError('BUILD', 'ADD --checksum can only be used with http(s) sources');
  }
  const chown = instr.chown === undefined ? '' : expand(instr.chown);
  const chmod = instr.chmod === undefined ? '' : expand(instr.chmod);
  if (chmod !== '') parseChmod(chmod); // fail before downloading anything
  const workdir = step.image.config.WorkingDir ?? '';
  const plan: AddPlan = {
    step, instr, opts,
    tools: opts.decompressors ?? defaultDecompressors,
    destRootPath: cleanGoPath(posix.isAbsolute(destWord) ? destWord : posix.join('/', workdir, destWord)),
    destIsDir,
    owner: chown === '' ? undefined : await resolveOwnership(step.root, chown),
    chmod,
    changed: new Set<string>(),
  };
  for (const { raw, word, doc } of sources) {
    step.signal.throwIfAborted();
    if (doc !== undefined) await copyVia(plan, raw, sources.length > 1, doc);
    else if (isGitSource(word)) await addGit(plan, word, gitChecksum);
    else if (isRemote(word)) await addRemote(plan, word, checksum);
    // --parents (ignored for URLs, as BuildKit does): copied as COPY --parents does. BuildKit's source is then the
    // pivot directory, and its AttemptUnpack only unpacks a source that is itself an archive: nothing is extracted.
    else if (instr.parents) await copyVia(plan, raw, sources.length > 1);
    else await addLocal(plan, raw, word);
  }
  return { image: step.image, changed: [...plan.changed] };
}

export function addCommand(instr: AddInstruction, opts: AddOptions = {}): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'files', cacheable: true, needsRootfs: true },
    async execute(step) {
      try {
        return await executeAdd(instr, opts, step);
      } catch (err) {
        throw copyFailure(err, 'ADD');
      }
    },
    // Local and remote sources are keyed by the instruction text alone (see src/cache/README.md); a here-document's
    // body is not in that text, so its expanded content is; a git source by its resolved commit.
    async cacheInputs(step) {
      const all = heredocSources(instr.sources, instr.heredocs);
      const docs = all.flatMap((d) => (d === undefined ? [] : [d]));
      // A git source: the commit its ref names now, so a moved branch misses.
      const gitKeys: string[] = [];
      for (const [i, raw] of instr.sources.entries()) {
        if (all[i] !== undefined) continue;
        const word = expandWord(raw, step.env, { escape: step.escape });
        if (isGitSource(word)) {
          const src = parseGitAddSource(word);
          gitKeys.push(await gitSourceKey(src, instr.keepGitDir, await gitDeps(step, src.url)));
        }
      }
      return [...gitKeys, ...docs.map((d) => JSON.stringify(['heredoc', d.name, `sha256:${createHash('sha256').update(heredocBody(d, step)).digest('hex')}`]))];
    },
  };
}
