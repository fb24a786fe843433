// Named build contexts: buildx's `--build-context NAME=VALUE` (repeatable), as BuildKit's Dockerfile frontend uses
// them (dockerfile2llb + dockerui's NamedContext):
// - a NAME is normalised like an image reference (`alpine` ≡ `docker.io/library/alpine:latest`, `:latest` dropped),
//   so `FROM alpine`, `COPY --from=alpine` and `RUN --mount=from=alpine` all find `--build-context alpine=…`;
//   a plain name matches case-insensitively (stage names are);
// - a Dockerfile stage whose name is a named context is replaced by it (its instructions never run); `FROM scratch`
//   is never overridden; a numeric `--from=N` is always stage N;
// - VALUE: a local directory or any --context URL (dir://, tar://, https:// tarball, git://, s3://, gs://, Azure) — a
//   directory, with its own `.dockerignore` (not the main context's), files owned 0:0; `FROM NAME` gets one layer holding
//   it; `docker-image://REF` — that image; `oci-layout://PATH[:TAG|@DIGEST]` — an image of a local OCI layout (buildx:
//   the tag is looked up by name, default `latest`, else the layout's only manifest).
import { statSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createMatcher, parseIgnoreLines, type Matcher } from '../context/dockerignore.ts';
import { pickContextSource } from '../context/pick.ts';
import { fetchGitSource, isGitSource, parseGitAddSource } from '../commands/add-git.ts';
import type { SshSource } from '../commands/command.ts';
import type { ContextDeps } from '../context/source.ts';
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { readOciLayout } from '../archive/oci-layout.ts';
import { emptyImage } from '../oci/empty.ts';
import type { Image } from '../oci/image.ts';
import { layerFromTarWriter } from '../oci/layer.ts';
import { appendLayers } from '../oci/mutate.ts';
import { createIgnoreList } from '../rootfs/ignore-list.ts';
import { extractLayer } from '../rootfs/extract.ts';
import type { Digest, Platform } from '../oci/types.ts';
import { OwnershipTable } from '../ownership/table.ts';
import { redactUrl } from '../redact.ts';
import { DOCKER_HUB, parseReference } from '../registry/reference.ts';
import { writeLayerTarTo } from '../snapshot/layer-tar.ts';

export type NamedContextSource =
  /** A local directory (absolute) or a context URL, fetched on first use. */
  | { readonly kind: 'dir'; readonly spec: string; readonly local: boolean }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'oci-layout'; readonly dir: string; readonly tag: string; readonly digest?: Digest };

export interface NamedContext {
  /** The normalised name (the lookup key). */
  readonly name: string;
  /** The value as given, credentials redacted (for logs and errors). */
  readonly shown: string;
  readonly source: NamedContextSource;
}

/** --build-context values by normalised name, and the fetches of dir/URL contexts (once per executor run). */
export interface NamedContexts {
  readonly entries: ReadonlyMap<string, NamedContext>;
  /** A dir or URL context's directory on disk: fetched (URLs) or checked (local paths) once, on first use. */
  directory(c: NamedContext, signal: AbortSignal): Promise<string>;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * BuildKit's key for a context name: `reference.FamiliarString(ParseNormalizedNamed(name))` without `:latest`
 * (`docker.io/library/alpine:latest` → `alpine`, `127.0.0.1:5000/base:1` stays). The repository part is lower-cased
 * first, so a plain name matches as stage names do. Undefined when the name is no valid reference.
 */
export function contextKey(name: string): string | undefined {
  let rest = name.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at); rest = rest.slice(0, at); }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) { tag = rest.slice(colon); rest = rest.slice(0, colon); }
  let ref;
  try {
    ref = parseReference(`${rest.toLowerCase()}${tag}${digest}`);
  } catch {
    return undefined;
  }
  const repo = ref.registry === DOCKER_HUB ? ref.repository.replace(/^library\/(?=[^/]+$)/, '') : `${ref.registry}/${ref.repository}`;
  const familiar = `${repo}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
  return familiar.endsWith(':latest') ? familiar.slice(0, -':latest'.length) : familiar;
}

/** Known --context schemes (src/context/pick.ts) a named context may use. */
const URL_SCHEMES = ['dir://', 'tar://', 'https://', 'http://', 'git://', 's3://', 'gs://'];

function parseValue(flag: string, value: string, cwd: string): NamedContextSource {
  const bad = (why: string): UsageError => new UsageError(`invalid --build-context "${flag}": ${why}`);
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (ref === '') throw bad('docker-image:// needs an image reference');
    try { parseReference(ref); } catch (err) { throw bad((err as Error).message); }
    return { kind: 'image', ref };
  }
  if (value.startsWith('oci-layout://')) {
    // buildx: PATH[:TAG][@DIGEST], split at the first '@' and then the first ':'.
    let rest = value.slice('oci-layout://'.length);
    let digest: Digest | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      const d = rest.slice(at + 1);
      if (!DIGEST.test(d)) throw bad(`"${d}" is not a sha256 digest`);
      digest = d as Digest;
      rest = rest.slice(0, at);
    }
    let tag = 'latest';
    const colon = rest.indexOf(':');
    if (colon >= 0) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
    if (rest === '') throw bad('oci-layout:// needs a directory');
    if (tag === '') throw bad('the tag after ":" is empty');
    const dir = path.resolve(cwd, rest);
    checkDir(flag, dir, 'OCI layout directory');
    return { kind: 'oci-layout', dir, tag, ...(digest !== undefined ? { digest } : {}) };
  }
  // BuildKit's git references (an http(s) URL ending in .git, git@…, ssh://) are cloned; git:// is kaniko's context form.
  if (isGitSource(value) && !/^git:\/\//i.test(value)) {
    try { parseGitAddSource(value); } catch (err) { throw bad((err as Error).message); }
    return { kind: 'dir', spec: value, local: false };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[0];
  if (scheme !== undefined) {
    if (!URL_SCHEMES.includes(scheme.toLowerCase())) {
      throw bad(`unknown source ${scheme}; use a directory, ${URL_SCHEMES.join(', ')}, docker-image:// or oci-layout://`);
    }
    if (value === 'tar://stdin') throw bad('standard input is for --context only');
    if (scheme === 'dir://') {
      const dir = path.resolve(cwd, value.slice('dir://'.length));
      checkDir(flag, dir, 'directory');
      return { kind: 'dir', spec: dir, local: true };
    }
    return { kind: 'dir', spec: value, local: false };
  }
  const dir = path.resolve(cwd, value);
  checkDir(flag, dir, 'directory');
  return { kind: 'dir', spec: dir, local: true };
}

/** buildx stats a local context before the build: a missing path fails there, not halfway through. */
function checkDir(flag: string, dir: string, what: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`invalid --build-context "${flag}": ${what} ${dir} ${code === 'ENOENT' ? 'does not exist' : (err as Error).message}`);
  }
  if (!isDir) throw new UsageError(`invalid --build-context "${flag}": ${dir} is not a directory`);
}

/** Parses every --build-context NAME=VALUE: a malformed value, an empty or invalid name, a repeated name → UsageError. */
export function parseBuildContexts(values: readonly string[], cwd: string): Map<string, NamedContext> {
  const out = new Map<string, NamedContext>();
  for (const raw of values) {
    const flag = redactUrl(raw);
    const eq = raw.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid --build-context "${flag}": expected NAME=VALUE`);
    const rawName = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    if (rawName === '') throw new UsageError(`invalid --build-context "${flag}": the name is empty`);
    if (value === '') throw new UsageError(`invalid --build-context "${flag}": the value is empty`);
    const name = contextKey(rawName);
    if (name === undefined) throw new UsageError(`invalid --build-context "${flag}": "${rawName}" is not a valid context name (a stage name or an image reference)`);
    if (out.has(name)) throw new UsageError(`invalid --build-context "${flag}": the name "${name}" is given twice`);
    out.set(name, { name, shown: redactUrl(value), source: parseValue(flag, value, cwd) });
  }
  return out;
}

/** The named contexts of one executor run: URL contexts are fetched under fetchDir, once, when a build first uses them. */
export function namedContexts(entries: ReadonlyMap<string, NamedContext>, deps: { readonly fetchDir: string; readonly source: ContextDeps; readonly ssh?: SshSource }): NamedContexts {
  const fetched = new Map<string, Promise<string>>();
  return {
    entries,
    directory(c, signal) {
      if (c.source.kind !== 'dir') return Promise.reject(new Error(`named context ${c.name} is not a directory`));
      let pending = fetched.get(c.name);
      if (pending === undefined) {
        const spec = c.source.spec;
        const into = path.join(deps.fetchDir, String(fetched.size));
        deps.source.log.info(`Loading build context ${c.name} from ${c.shown}`);
        pending = isGitSource(spec) && !/^git:\/\//i.test(spec)
          ? fetchGitSource(parseGitAddSource(spec), into, { keepGitDir: false },
            { env: deps.source.env, ssh: deps.ssh, log: deps.source.log, signal }).then((got) => got.dir)
          : pickContextSource(spec, deps.source).fetch(into, signal);
        pending.catch(() => undefined);
        fetched.set(c.name, pending);
      }
      return pending;
    },
  };
}

/** The named context a Dockerfile name (FROM, --from=, from=) refers to; a number is a stage index, never a context. */
export function findNamedContext(contexts: NamedContexts | undefined, name: string): NamedContext | undefined {
  if (contexts === undefined || /^\d+$/.test(name) || name === 'scratch') return undefined;
  const key = contextKey(name);
  return key === undefined ? undefined : contexts.entries.get(key);
}

/** Local directories among the contexts (container mode keeps them when '/' is reset, and leaves them out of layers). */
export function localContextDirs(contexts: NamedContexts | undefined): string[] {
  return [...(contexts?.entries.values() ?? [])].flatMap((c) => (c.source.kind === 'dir' && c.source.local ? [c.source.spec] : []));
}

/** A named context directory's own `.dockerignore` (BuildKit reads it from that directory; the main one does not apply). */
export async function contextIgnore(dir: string): Promise<Matcher | undefined> {
  const file = path.join(dir, '.dockerignore');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  return createMatcher(parseIgnoreLines(text.split(/\r?\n/)), file);
}

export interface ContextImageDeps {
  readonly pull: (ref: string, platform: Platform) => Promise<Image>;
  readonly workDir: string;
  readonly compression: 'gzip' | 'zstd';
  readonly level: number;
  readonly timestamp?: Date;
  readonly log: Log;
  readonly signal: AbortSignal;
}

/** The files of a directory, minus what its .dockerignore leaves out, as root paths ('/a/b'). */
async function contextPaths(dir: string, ignore: Matcher | undefined, signal: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  const walk = async (host: string, rel: string): Promise<void> => {
    signal.throwIfAborted();
    for (const name of (await readdir(host)).sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childHost = path.join(host, name);
      const st = await lstat(childHost);
      const excluded = ignore?.matches(childRel) === true;
      if (excluded && (!st.isDirectory() || ignore?.canSkipDir(childRel) === true)) continue;
      if (!excluded) out.push(`/${childRel}`);
      if (st.isDirectory()) await walk(childHost, childRel);
    }
  };
  await walk(dir, '');
  return out;
}

/**
 * `FROM NAME` of a directory context: an image with one layer holding the directory (owners 0:0, its .dockerignore
 * applied), as BuildKit's local source is a whole filesystem of its own; history as BuildKit's exporter writes it.
 */
export async function directoryImage(c: NamedContext, dir: string, platform: Platform, deps: ContextImageDeps): Promise<Image> {
  const paths = await contextPaths(dir, await contextIgnore(dir), deps.signal);
  const { layer } = await layerFromTarWriter((sink) => writeLayerTarTo(dir, { added: paths, deleted: [] }, sink,
    { owners: new OwnershipTable(), ...(deps.timestamp !== undefined ? { timestamp: deps.timestamp } : {}) }),
  { compression: deps.compression, level: deps.level, workDir: deps.workDir });
  const created = (deps.timestamp ?? new Date()).toISOString();
  return appendLayers(emptyImage(platform), { layer, history: { created, created_by: `[context ${c.name}] load from client`, comment: 'buildkit.exporter.image.v0' } });
}

/** The image a named context stands for in FROM (and, extracted, in --from= of an image context). */
export async function contextImage(c: NamedContext, platform: Platform, deps: ContextImageDeps & { directory(): Promise<string> }): Promise<Image> {
  switch (c.source.kind) {
    case 'image': return deps.pull(c.source.ref, platform);
    case 'oci-layout': {
      const { dir, tag, digest } = c.source;
      deps.log.info(`Reading build context ${c.name} from OCI layout ${dir}`);
      const image = digest !== undefined ? await readOciLayout(dir, { digest, unlisted: true, platform })
        : await readOciLayout(dir, { refName: tag, platform }).catch(async (err: unknown) => {
          // buildx: no manifest of that name → the layout's only manifest, if it has just one.
          const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8').catch(() => '{}')) as { manifests?: unknown[] };
          if (index.manifests?.length === 1) return readOciLayout(dir, { platform });
          throw err;
        });
      return image;
    }
    case 'dir': return directoryImage(c, await deps.directory(), platform, deps);
  }
}

export interface ContextResolver {
  /** The named context standing for a stage's FROM: the stage's own name (the stage is replaced) or its image reference. */
  forStage(stage: { readonly name?: string; readonly base: { readonly kind: string; readonly ref?: string } }): NamedContext | undefined;
  /** FROM: the context's image for a platform (asked once per context and platform). */
  image(c: NamedContext, platform: Platform): Promise<Image>;
  /** --from= / from=: the directory a named context gives (an image context extracted once), undefined for other names. */
  dirFor(from: string): Promise<string | undefined>;
  /** --from= / from= of a directory context: its root and its own .dockerignore (COPY and mounts treat it as a build context). */
  namedContextOf(from: string): Promise<{ readonly root: string; readonly ignore: Matcher | undefined } | undefined>;
}

/**
 * One build's view of the named contexts. `deps.tableFor` gives an extracted image's directory its ownership table
 * (non-root mode), as build.ts does for a pulled COPY --from image.
 */
export function contextResolver(contexts: NamedContexts, deps: ContextImageDeps & { readonly platform: Platform; tableFor(dir: string): OwnershipTable | undefined }): ContextResolver {
  const images = new Map<string, Promise<Image>>();
  const dirs = new Map<string, Promise<string>>();
  const image = (c: NamedContext, platform: Platform): Promise<Image> => {
    const key = `${c.name} ${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
    let pending = images.get(key);
    if (pending === undefined) {
      pending = (async () => {
        await mkdir(deps.workDir, { recursive: true });
        return contextImage(c, platform, { ...deps, directory: () => contexts.directory(c, deps.signal) });
      })();
      images.set(key, pending);
    }
    return pending;
  };
  return {
    forStage(stage) {
      const own = stage.name === undefined ? undefined : findNamedContext(contexts, stage.name);
      return own ?? (stage.base.kind === 'image' && stage.base.ref !== undefined ? findNamedContext(contexts, stage.base.ref) : undefined);
    },
    image,
    async dirFor(from) {
      const c = findNamedContext(contexts, from);
      if (c === undefined) return undefined;
      if (c.source.kind === 'dir') return contexts.directory(c, deps.signal);
      let pending = dirs.get(c.name);
      if (pending === undefined) {
        pending = (async () => {
          const dir = path.join(deps.workDir, `image-${dirs.size}`);
          await mkdir(dir, { recursive: true });
          const table = deps.tableFor(dir);
          for (const layer of await (await image(c, deps.platform)).layers()) {
            await extractLayer(dir, await layer.uncompressed(), { ignore: createIgnoreList([]), log: deps.log, ...(table !== undefined ? { owners: table } : {}) });
          }
          return dir;
        })();
        dirs.set(c.name, pending);
      }
      return pending;
    },
    async namedContextOf(from) {
      const c = findNamedContext(contexts, from);
      if (c?.source.kind !== 'dir') return undefined;
      const root = await contexts.directory(c, deps.signal);
      return { root, ignore: await contextIgnore(root) };
    },
  };
}
