// --context value → ContextSource, by prefix as kaniko's buildcontext.GetBuildContext: the text up to
// and including the first '://' picks the scheme; no '://' means a local directory. Each scheme is one
// module and one line in `factories`. Sources built on a cloud SDK or isomorphic-git are imported only when a build
// uses them: loading each costs ~25 MiB and 0.1–0.25 s, and most builds use none.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { dirContextSource } from './dir.ts';
import { httpsContextSource } from './https.ts';
import type { ContextDeps, ContextSource } from './source.ts';
import { tarContextSource } from './tar.ts';

/** rest: the spec after the prefix; spec: the whole --context value (may hold credentials: redact before printing). */
type SourceFactory = (rest: string, spec: string, deps: ContextDeps) => ContextSource;

/** Azure Blob Storage hosts, as kaniko's ValidAzureBlobStorageHost (public and sovereign clouds). */
const azureBlobHost = /^[a-z0-9]+\.blob\.core\.(windows\.net|chinacloudapi\.cn|cloudapi\.de|usgovcloudapi\.net)$/;

function isAzureBlobUrl(spec: string): boolean {
  try {
    return azureBlobHost.test(new URL(spec).hostname);
  } catch {
    return false;
  }
}

/** A source whose module is imported (and the source made) on fetch. */
function lazySource(scheme: string, load: () => Promise<ContextSource>): ContextSource {
  return { scheme, fetch: async (workDir, signal) => (await load()).fetch(workDir, signal) };
}

const azureBlob: SourceFactory = (_rest, spec, deps) =>
  lazySource('azure-blob', async () => (await import('./azure-blob.ts')).azureBlobContextSource(spec, deps));

const factories: Readonly<Record<string, SourceFactory>> = {
  'dir://': (rest) => dirContextSource(rest),
  'tar://': (rest, _spec, deps) => tarContextSource(rest, deps),
  's3://': (_rest, spec, deps) => lazySource('s3', async () => (await import('./s3.ts')).s3ContextSource(spec, deps)),
  'gs://': (_rest, spec, deps) => lazySource('gs', async () => (await import('./gcs.ts')).gcsContextSource(spec, deps)),
  'git://': (rest, _spec, deps) => lazySource('git', async () => (await import('./git.ts')).gitContextSource(rest, deps)),
  'https://': (rest, spec, deps) => (isAzureBlobUrl(spec) ? azureBlob(rest, spec, deps) : httpsContextSource(spec, deps)),
  'http://': (_rest, spec, deps) => httpsContextSource(spec, deps),
};

export function pickContextSource(spec: string, deps: ContextDeps): ContextSource {
  const at = spec.indexOf('://');
  if (at < 0) return dirContextSource(spec);
  const prefix = spec.slice(0, at + 3);
  const rest = spec.slice(at + 3);
  const make = Object.hasOwn(factories, prefix) ? factories[prefix] : undefined;
  if (make === undefined) {
    throw new BuildError(
      'CONTEXT',
      `unknown build context prefix in ${JSON.stringify(redactUrl(spec))}; use one of: ${Object.keys(factories).join(', ')} or a local path`,
    );
  }
  return make(rest, spec, deps);
}

/**
 * --context-sub-path: the build context is this directory inside the fetched one (kaniko joins the
 * paths). A missing sub-path, a file, or one that climbs out of the context is a CONTEXT error.
 */
export async function enterContextSubPath(contextDir: string, subPath: string): Promise<string> {
  const target = path.resolve(contextDir, subPath);
  const rel = path.relative(contextDir, target);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new BuildError('CONTEXT', `--context-sub-path "${subPath}" leaves the build context`);
  }
  let isDir = false;
  try {
    isDir = (await stat(target)).isDirectory();
  } catch {
    throw new BuildError('CONTEXT', `--context-sub-path "${subPath}" does not exist in the build context`);
  }
  if (!isDir) throw new BuildError('CONTEXT', `--context-sub-path "${subPath}" is not a directory in the build context`);
  return target;
}
