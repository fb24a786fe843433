// Azure Blob Storage build contexts, as kaniko's buildcontext/azureblob.go:
// `https://<account>.blob.core.<suffix>/<container>/<blob>` (suffix windows.net, chinacloudapi.cn,
// cloudapi.de or usgovcloudapi.net), streamed straight into the archive extractor.
//
// Credentials, from the `env` the CLI passes in:
//   - a SAS token in the URL's query (`?sv=…&sig=…`) is used as is, with no other credential; it is
//     an addition to kaniko, and wins over the key because the user put it in this very URL;
//   - otherwise AZURE_STORAGE_ACCESS_KEY, a shared key for the account named by the first host
//     label, as kaniko (which requires it).
// AZURE_STORAGE_BLOB_ENDPOINT (ours, not kaniko's) sends the requests to another blob endpoint, as
// the `BlobEndpoint=` of an Azure connection string: e.g. Azurite's path-style
// `http://127.0.0.1:10000/devstoreaccount1`. The context URL keeps its production form, so the
// account name and the credential rules stay the same; only `<container>/<blob>?<sas>` moves.
// The SAS is a secret: every message uses redactUrl, which drops the query.
import { AnonymousCredential, BlobClient, RestError, StorageSharedKeyCredential } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { extractContextArchive } from './archive.ts';
import type { ContextDeps, ContextSource } from './source.ts';

/** kaniko's ValidAzureBlobStorageHost: the public cloud and the sovereign clouds. */
const azureBlobHost = /^([a-z0-9]+)\.blob\.core\.(windows\.net|chinacloudapi\.cn|cloudapi\.de|usgovcloudapi\.net)$/;

export interface AzureBlobLocation {
  readonly account: string;
  /** The URL requests go to (the endpoint override applied), query included. */
  readonly requestUrl: string;
  /** Whether the URL carries a SAS token (a `sig` parameter). */
  readonly hasSas: boolean;
}

/** Parses a blob context URL; BuildError('CONTEXT') naming the (redacted) URL when it is not one. */
export function parseAzureBlobUrl(spec: string, env: ContextDeps['env']): AzureBlobLocation {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new BuildError('CONTEXT', `invalid Azure Blob Storage context URL ${redactUrl(spec)}`);
  }
  const match = azureBlobHost.exec(url.hostname);
  const account = match?.[1];
  if (url.protocol !== 'https:' || account === undefined) {
    throw new BuildError('CONTEXT', `${redactUrl(spec)} is not an Azure Blob Storage URL (https://<account>.blob.core.windows.net/<container>/<blob>)`);
  }
  // pathname is /<container>/<blob…>; both parts are required.
  const parts = url.pathname.split('/');
  if (parts.length < 3 || parts[1] === '' || parts.slice(2).join('/') === '') {
    throw new BuildError('CONTEXT', `Azure Blob Storage context ${redactUrl(spec)} must name a container and a blob`);
  }
  const hasSas = url.searchParams.has('sig');
  const endpoint = env['AZURE_STORAGE_BLOB_ENDPOINT'];
  if (endpoint === undefined || endpoint === '') return { account, requestUrl: url.href, hasSas };
  let base: URL;
  try {
    base = new URL(endpoint);
  } catch {
    throw new BuildError('CONTEXT', `AZURE_STORAGE_BLOB_ENDPOINT ${JSON.stringify(redactUrl(endpoint))} is not a URL`);
  }
  const requestUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}${url.pathname}${url.search}`;
  return { account, requestUrl, hasSas };
}

/** One line: the storage error code and status, never the request (which may hold a SAS). */
function describeAzureFailure(source: string, host: string, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  if (err instanceof RestError && err.statusCode === undefined) {
    // No HTTP answer at all: the SDK wraps the socket error (ECONNREFUSED, ENOTFOUND…) in a RestError.
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: cannot reach ${host} (${err.code ?? 'network error'})`, { cause: err });
  }
  if (err instanceof RestError) {
    const code = err.code ?? 'error';
    const what = ({
      ContainerNotFound: 'the container does not exist',
      BlobNotFound: 'the blob does not exist',
      ResourceNotFound: 'not found',
      AuthenticationFailed: 'authentication failed (bad key or SAS token)',
      // Azurite answers a bad signature with this code where Azure says AuthenticationFailed.
      AuthorizationFailure: 'not authorized (wrong key or SAS token, or no permission)',
      AuthorizationPermissionMismatch: 'not authorized',
      InvalidAuthenticationInfo: 'invalid authentication information',
      NoAuthenticationInformation: 'no credentials (set AZURE_STORAGE_ACCESS_KEY or add a SAS token)',
    } as Record<string, string>)[code] ?? code;
    const status = err.statusCode === undefined ? '' : ` (HTTP ${err.statusCode})`;
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${what}${status}`, { cause: err });
  }
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return new BuildError('CONTEXT', `fetching build context ${source} was aborted`, { cause: err });
  if (e.code !== undefined) {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: cannot reach ${host} (${e.code})`, { cause: err });
  }
  return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${e.name ?? 'error'}`, { cause: err });
}

export function azureBlobContextSource(url: string, deps: ContextDeps): ContextSource {
  const source = redactUrl(url);
  return {
    scheme: 'azure-blob',
    async fetch(workDir, signal) {
      signal.throwIfAborted();
      const loc = parseAzureBlobUrl(url, deps.env);
      const key = deps.env['AZURE_STORAGE_ACCESS_KEY'];
      let credential: StorageSharedKeyCredential | AnonymousCredential;
      if (loc.hasSas) {
        credential = new AnonymousCredential();
      } else if (key !== undefined && key !== '') {
        credential = new StorageSharedKeyCredential(loc.account, key);
      } else {
        throw new BuildError('CONTEXT', `cannot fetch build context ${source}: AZURE_STORAGE_ACCESS_KEY is not set and the URL has no SAS token`);
      }
      deps.log.info({ source, account: loc.account, auth: loc.hasSas ? 'sas' : 'shared-key' }, `Fetching build context from ${source}`);
      // A context download is one GET: fail within seconds on a dead endpoint, not minutes.
      const client = new BlobClient(loc.requestUrl, credential, { retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 } });
      let body: NodeJS.ReadableStream;
      try {
        const res = await client.download(0, undefined, { abortSignal: signal });
        if (res.readableStreamBody === undefined) throw new BuildError('CONTEXT', `cannot fetch build context ${source}: the response has no body`);
        body = res.readableStreamBody;
      } catch (err) {
        throw describeAzureFailure(source, new URL(loc.requestUrl).host, err);
      }
      const input = body instanceof Readable ? body : new Readable().wrap(body);
      await extractContextArchive(input, workDir, { source, log: deps.log, signal });
      return workDir;
    },
  };
}
