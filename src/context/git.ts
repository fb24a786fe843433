// `git://host/path.git[#ref[#commit]]` (kaniko's git.go): clone with isomorphic-git over
// `$GIT_PULL_METHOD` (https, or http), check out the ref or commit, optionally the submodules.
// Credentials (GIT_TOKEN, GIT_USERNAME/GIT_PASSWORD, or userinfo in the URL) are handed to git
// only through onAuth: they are never written to .git/config (the context may be COPY'd whole)
// and are scrubbed from every message.
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { GitAuth } from 'isomorphic-git';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import { createGitHttp, type GitHttp } from './git-http.ts';
import type { ContextDeps, ContextSource, GitContextOptions } from './source.ts';

export interface GitSpec {
  /** host/path before the first '#', possibly with userinfo. */
  readonly repo: string;
  readonly ref?: string;
  readonly commit?: string;
}

/** kaniko: at most three '#'-separated parts: repository, ref, commit. */
export function parseGitSpec(rest: string): GitSpec {
  const [repo = '', ref, commit, ...extra] = rest.split('#');
  if (repo === '') throw new BuildError('CONTEXT', 'git:// needs a repository, e.g. git://github.com/org/repo.git#refs/heads/main');
  if (extra.length > 0) throw new BuildError('CONTEXT', 'git:// context takes at most two "#" parts: #<ref>#<commit>');
  return { repo, ...(ref !== undefined && ref !== '' ? { ref } : {}), ...(commit !== undefined && commit !== '' ? { commit } : {}) };
}

interface Credentials {
  readonly username: string;
  readonly password: string;
}

interface Remote {
  /** Without credentials: safe to print and to store in .git/config. */
  readonly url: string;
  readonly credentials: Credentials | undefined;
}

/** kaniko's getGitAuth: GIT_TOKEN wins (as the username), then GIT_USERNAME/GIT_PASSWORD, then the URL's userinfo. */
export function resolveRemote(repo: string, env: ContextDeps['env']): Remote {
  const method = env['GIT_PULL_METHOD'] === 'http' ? 'http' : 'https';
  let parsed: URL;
  try {
    parsed = new URL(`${method}://${repo}`);
  } catch {
    throw new BuildError('CONTEXT', `git:// context: "${repo.replace(/^[^@/]*@/, '***@')}" is not a valid repository address`);
  }
  const fromUrl = parsed.username !== '' || parsed.password !== ''
    ? { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) } : undefined;
  parsed.username = '';
  parsed.password = '';
  const token = env['GIT_TOKEN'] ?? '';
  const user = env['GIT_USERNAME'] ?? '';
  const pass = env['GIT_PASSWORD'] ?? '';
  const credentials = token !== '' ? { username: token, password: '' }
    : user !== '' || pass !== '' ? { username: user, password: pass } : fromUrl;
  return { url: parsed.href, credentials };
}

interface CloneContext {
  readonly http: GitHttp;
  readonly remote: Remote;
  readonly opts: GitContextOptions;
  readonly log: Log;
  readonly scrub: (text: string) => string;
}

const hash40 = /^[0-9a-f]{40}$/i;

function authHandlers(credentials: Credentials | undefined): { onAuth?: () => GitAuth; onAuthFailure: () => GitAuth } {
  return {
    ...(credentials !== undefined ? { onAuth: () => ({ username: credentials.username, password: credentials.password }) } : {}),
    // Refused credentials are final: asking again would loop.
    onAuthFailure: () => ({ cancel: true }),
  };
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** An isomorphic-git or network failure → one CONTEXT line naming the (credential-free) URL. */
function describeGitFailure(ctx: CloneContext, what: string, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  const url = ctx.remote.url;
  const code = errorCode(err);
  const status = (err as { data?: { statusCode?: unknown } }).data?.statusCode;
  if (code === 'UserCanceledError' || status === 401 || status === 403) {
    const why = ctx.remote.credentials === undefined ? 'the repository needs credentials' : 'the credentials were refused';
    return new BuildError('CONTEXT', `git clone ${url}: authentication failed: ${why}`, {
      hint: 'set GIT_TOKEN, or GIT_USERNAME and GIT_PASSWORD', cause: err,
    });
  }
  if (typeof status === 'number') return new BuildError('CONTEXT', `git clone ${url}: HTTP ${status} while ${what}`, { cause: err });
  const cause = (err as { cause?: unknown }).cause;
  const message = ctx.scrub(cause instanceof Error ? `${(err as Error).message}: ${cause.message}` : (err as Error).message);
  return new BuildError('CONTEXT', `git clone ${url}: ${what} failed: ${message}`, { cause: err });
}

/** kaniko's --git branch=X: must exist on the remote as a branch or a tag; overrides #ref. */
async function resolveBranchOption(ctx: CloneContext, branch: string): Promise<string> {
  const refs = await git.listServerRefs({ http: ctx.http.client, url: ctx.remote.url, ...authHandlers(ctx.remote.credentials) });
  for (const candidate of [`refs/heads/${branch}`, `refs/tags/${branch}`]) {
    if (refs.some((r) => r.ref === candidate)) return candidate;
  }
  throw new BuildError('CONTEXT', `git clone ${ctx.remote.url}: branch or tag "${branch}" (--git branch) not found`);
}

async function hasObject(dir: string, oid: string): Promise<boolean> {
  try {
    await git.readObject({ fs, dir, oid, format: 'deflated' });
    return true;
  } catch {
    return false;
  }
}

/** init + fetch + checkout in dir; returns the checked-out commit. */
async function cloneInto(ctx: CloneContext, dir: string, ref: string | undefined, commit: string | undefined, signalCheck: () => void): Promise<string> {
  const { remote, opts } = ctx;
  await git.init({ fs, dir });
  // The URL without credentials: .git/config becomes part of the context.
  await git.addRemote({ fs, dir, remote: 'origin', url: remote.url, force: true });
  const auth = authHandlers(remote.credentials);
  const base = {
    fs, http: ctx.http.client, dir, remote: 'origin', tags: false, ...auth,
    ...(opts.depth !== undefined && opts.depth > 0 ? { depth: opts.depth } : {}),
  };
  let head: string | null;
  try {
    if (ref !== undefined && hash40.test(ref)) {
      // A commit id: fetch the branches, then the commit itself if no branch holds it (as kaniko's hash:hash fetch).
      const oid = ref.toLowerCase();
      await git.fetch({ ...base, singleBranch: false });
      if (!(await hasObject(dir, oid))) await git.fetch({ ...base, remoteRef: oid, singleBranch: true });
      head = oid;
    } else {
      const res = await git.fetch({ ...base, remoteRef: ref ?? 'HEAD', singleBranch: opts.singleBranch ?? false });
      head = res.fetchHead;
    }
  } catch (err) {
    if (errorCode(err) === 'NotFoundError' && ref !== undefined) {
      throw new BuildError('CONTEXT', `git clone ${remote.url}: ref "${ref}" not found (no such branch, tag or ref)`, { cause: err });
    }
    throw describeGitFailure(ctx, 'fetching', err);
  }
  signalCheck();
  if (head === null) throw new BuildError('CONTEXT', `git clone ${remote.url}: the repository is empty`);
  let target = head;
  if (commit !== undefined) {
    try {
      target = await git.expandOid({ fs, dir, oid: commit.toLowerCase() });
    } catch (err) {
      throw new BuildError('CONTEXT', `git clone ${remote.url}: commit "${commit}" not found${ref !== undefined ? ` on "${ref}"` : ''}`, {
        ...(opts.depth !== undefined && opts.depth > 0 ? { hint: 'a shallow clone (--git depth=…) may not reach it' } : {}), cause: err,
      });
    }
  }
  try {
    await git.checkout({ fs, dir, ref: target, force: true });
  } catch (err) {
    if (errorCode(err) === 'NotFoundError' || errorCode(err) === 'CommitNotFetchedError') {
      throw new BuildError('CONTEXT', `git clone ${remote.url}: commit "${commit ?? ref ?? target}" not found`, { cause: err });
    }
    throw describeGitFailure(ctx, 'checking out', err);
  }
  return git.resolveRef({ fs, dir, ref: 'HEAD' });
}

/** A submodule URL: relative to the superproject's URL (as git resolves it) or absolute http(s); ssh is refused. */
function submoduleRemote(parent: Remote, subUrl: string): Remote {
  let parsed: URL;
  try {
    parsed = new URL(subUrl, `${parent.url.replace(/\/$/, '')}/`);
  } catch {
    throw new BuildError('CONTEXT', `git clone ${parent.url}: submodule URL "${subUrl.replace(/^[^@/]*@/, '***@')}" is not an http(s) URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:' || /^[^/]*@[^/]*:/.test(subUrl)) {
    throw new BuildError('CONTEXT', `git clone ${parent.url}: submodule URL ${parsed.protocol}//${parsed.host}${parsed.pathname} is not http(s); only http(s) submodules are supported`);
  }
  const fromUrl = parsed.username !== '' || parsed.password !== ''
    ? { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) } : undefined;
  parsed.username = '';
  parsed.password = '';
  // The superproject's credentials go along only to the same host.
  const inherited = new URL(parent.url).host === parsed.host ? parent.credentials : undefined;
  return { url: parsed.href, credentials: fromUrl ?? inherited };
}

interface Submodule {
  readonly path: string;
  readonly url: string;
}

/** The [submodule "x"] sections of .gitmodules (path and url only). */
export function parseGitmodules(text: string): Submodule[] {
  const out: Submodule[] = [];
  let current: { path?: string; url?: string } | undefined;
  const flush = (): void => {
    if (current?.path !== undefined && current.url !== undefined) out.push({ path: current.path, url: current.url });
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      flush();
      current = /^\[submodule\s/.test(line) ? {} : undefined;
      continue;
    }
    const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (current === undefined || m === null) continue;
    const value = (m[2] ?? '').replace(/^"(.*)"$/, '$1');
    if (m[1] === 'path') current.path = value;
    else if (m[1] === 'url') current.url = value;
  }
  flush();
  return out;
}

/** Submodules at the commits the superproject records (gitlinks), recursively up to `levels`. */
async function checkoutSubmodules(ctx: CloneContext, dir: string, commit: string, levels: number, signalCheck: () => void): Promise<void> {
  let text: string;
  try {
    text = await readFile(path.join(dir, '.gitmodules'), 'utf8');
  } catch {
    return;
  }
  for (const sub of parseGitmodules(text)) {
    signalCheck();
    const rel = path.posix.normalize(sub.path);
    if (rel.startsWith('..') || path.posix.isAbsolute(rel)) {
      throw new BuildError('CONTEXT', `git clone ${ctx.remote.url}: submodule path "${sub.path}" leaves the repository`);
    }
    const parent = path.posix.dirname(rel);
    const tree = await git.readTree({ fs, dir, oid: commit, ...(parent !== '.' ? { filepath: parent } : {}) });
    const entry = tree.tree.find((e) => e.path === path.posix.basename(rel) && e.type === 'commit');
    if (entry === undefined) continue;
    const subCtx: CloneContext = { ...ctx, remote: submoduleRemote(ctx.remote, sub.url) };
    ctx.log.info({ path: rel, url: subCtx.remote.url, commit: entry.oid }, `Checking out submodule ${rel}`);
    const subDir = path.join(dir, rel);
    const got = await cloneInto(subCtx, subDir, entry.oid, undefined, signalCheck);
    if (levels > 1) await checkoutSubmodules(subCtx, subDir, got, levels - 1, signalCheck);
  }
}

export function gitContextSource(rest: string, deps: ContextDeps): ContextSource {
  const spec = parseGitSpec(rest);
  return {
    scheme: 'git',
    async fetch(workDir, signal) {
      signal.throwIfAborted();
      const remote = resolveRemote(spec.repo, deps.env);
      const secrets = [remote.credentials?.username, remote.credentials?.password].filter((s): s is string => s !== undefined && s.length >= 3);
      const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('***'), text);
      const opts = deps.git;
      const http = createGitHttp({ insecureSkipTls: opts.insecureSkipTls ?? false, signal });
      const ctx: CloneContext = { http, remote, opts, log: deps.log, scrub };
      const check = (): void => signal.throwIfAborted();
      try {
        const ref = opts.branch !== undefined && opts.branch !== '' ? await resolveBranchOption(ctx, opts.branch) : spec.ref;
        deps.log.info({ url: remote.url, ref: ref ?? 'HEAD', ...(spec.commit !== undefined ? { commit: spec.commit } : {}) },
          `Cloning ${remote.url}${ref !== undefined ? ` at ${ref}` : ''}`);
        const commit = await cloneInto(ctx, workDir, ref, spec.commit, check);
        // kaniko: go-git's default recursion depth when submodules are enabled.
        if (opts.recurseSubmodules === true) await checkoutSubmodules(ctx, workDir, commit, 10, check);
        const files = await git.listFiles({ fs, dir: workDir });
        deps.log.info({ url: remote.url, commit, entries: files.length }, `Checked out ${remote.url} at ${commit}: ${files.length} files`);
        return workDir;
      } catch (err) {
        if (signal.aborted) throw new BuildError('CONTEXT', `git clone ${remote.url}: aborted`, { cause: err });
        throw describeGitFailure(ctx, 'cloning', err);
      } finally {
        await http.close();
      }
    },
  };
}

/** A repository for ADD (http(s) URL, possibly with userinfo), fetched as a git context is, with the same credentials. */
export interface GitUrlRequest {
  /** http:// or https:// URL of the repository; userinfo is taken as credentials and never stored. */
  readonly url: string;
  /** Branch, tag, full ref or commit id; HEAD when absent. */
  readonly ref?: string;
  /** GIT_TOKEN, GIT_USERNAME, GIT_PASSWORD (as for git:// contexts). */
  readonly env: ContextDeps['env'];
  readonly log: Log;
  readonly signal: AbortSignal;
}

/** An http(s) URL → credential-free URL + credentials (GIT_TOKEN > GIT_USERNAME/GIT_PASSWORD > userinfo). */
export function remoteFromUrl(url: string, env: ContextDeps['env']): { url: string; credentials: { username: string; password: string } | undefined } {
  const m = /^(https?):\/\/(.*)$/i.exec(url);
  if (m === null) throw new BuildError('BUILD', `git source "${url.replace(/\/\/[^@/]*@/, '//***@')}" is not an http(s) URL`);
  return resolveRemote(m[2] ?? '', { ...env, GIT_PULL_METHOD: (m[1] ?? '').toLowerCase() === 'http' ? 'http' : 'https' });
}

function urlContext(req: GitUrlRequest): { ctx: CloneContext; close: () => Promise<void> } {
  const remote = remoteFromUrl(req.url, req.env);
  const secrets = [remote.credentials?.username, remote.credentials?.password].filter((s): s is string => s !== undefined && s.length >= 3);
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('***'), text);
  const http = createGitHttp({ insecureSkipTls: false, signal: req.signal });
  // A named ref is fetched shallow (as BuildKit's git source); a commit id fetches the branches first.
  const opts: GitContextOptions = req.ref !== undefined && hash40.test(req.ref) ? {} : { depth: 1, singleBranch: true };
  return { ctx: { http, remote, opts, log: req.log, scrub }, close: () => http.close() };
}

/** The commit `ref` names on the remote (a tag is peeled), without fetching; undefined when the ref is not advertised. */
export async function resolveGitUrlRef(req: GitUrlRequest): Promise<string | undefined> {
  const ref = req.ref ?? 'HEAD';
  if (hash40.test(ref)) return ref.toLowerCase();
  const { ctx, close } = urlContext(req);
  try {
    const refs = await git.listServerRefs({ http: ctx.http.client, url: ctx.remote.url, peelTags: true, symrefs: true, ...authHandlers(ctx.remote.credentials) });
    for (const name of ref === 'HEAD' || ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`]) {
      const hit = refs.find((r) => r.ref === name);
      if (hit !== undefined) return hit.peeled ?? hit.oid;
    }
    return undefined;
  } catch (err) {
    throw describeGitFailure(ctx, 'listing refs', err);
  } finally {
    await close();
  }
}

/** Clones req.url at req.ref (submodules included, as BuildKit) into dir; returns the checked-out commit. */
export async function cloneGitUrl(req: GitUrlRequest, dir: string): Promise<string> {
  const { ctx, close } = urlContext(req);
  const check = (): void => req.signal.throwIfAborted();
  try {
    req.log.info({ url: ctx.remote.url, ref: req.ref ?? 'HEAD' }, `Cloning ${ctx.remote.url}${req.ref !== undefined ? ` at ${req.ref}` : ''}`);
    const commit = await cloneInto(ctx, dir, req.ref, undefined, check);
    await checkoutSubmodules(ctx, dir, commit, 10, check);
    return commit;
  } catch (err) {
    if (req.signal.aborted) throw new BuildError('CONTEXT', `git clone ${ctx.remote.url}: aborted`, { cause: err });
    throw describeGitFailure(ctx, 'cloning', err);
  } finally {
    await close();
  }
}
