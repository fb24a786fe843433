// --context value → ContextSource, by prefix as kaniko's buildcontext.GetBuildContext: the text up to
// and including the first '://' picks the scheme; no '://' means a local directory. Each scheme is one
// entry here and one module; the remote ones are not built yet.
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { dirContextSource } from './dir.ts';
import type { ContextSource } from './source.ts';

type SourceFactory = (rest: string, spec: string) => ContextSource;

function notYet(prefix: string): SourceFactory {
  return () => {
    throw new BuildError('NOT_SUPPORTED', `context source ${prefix} is not supported yet`);
  };
}

/** Azure Blob Storage hosts, as kaniko's ValidAzureBlobStorageHost (public and sovereign clouds). */
const azureBlobHost = /^[a-z0-9]+\.blob\.core\.(windows\.net|chinacloudapi\.cn|cloudapi\.de|usgovcloudapi\.net)$/;

function isAzureBlobUrl(spec: string): boolean {
  try {
    return azureBlobHost.test(new URL(spec).hostname);
  } catch {
    return false;
  }
}

const factories: Readonly<Record<string, SourceFactory>> = {
  'dir://': (rest) => dirContextSource(rest),
  'tar://': notYet('tar://'),
  's3://': notYet('s3://'),
  'gs://': notYet('gs://'),
  'git://': notYet('git://'),
  'https://': (rest, spec) =>
    isAzureBlobUrl(spec) ? notYet('https:// (Azure Blob Storage)')(rest, spec) : notYet('https://')(rest, spec),
};

export function pickContextSource(spec: string): ContextSource {
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
  return make(rest, spec);
}
