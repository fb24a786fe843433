// `gs://bucket[/path]` build contexts, as kaniko's buildcontext/gcs.go: the object (default
// `context.tar.gz`) is streamed from Cloud Storage straight into the archive extractor.
//
// Configuration comes from the `env` the CLI passes in, read explicitly here:
//   STORAGE_EMULATOR_HOST → the JSON API endpoint (`host:port` means plain HTTP, as in Go's client;
//   a full `http(s)://` URL is used as given); requests are then unauthenticated, as both SDKs do;
//   GOOGLE_APPLICATION_CREDENTIALS → the service-account / external-account key file.
// Without a key file, Application Default Credentials run inside google-auth-library, which reads
// process.env itself (GOOGLE_CLOUD_PROJECT, CLOUDSDK_CONFIG, GCE_METADATA_HOST/IP, HOME for gcloud's
// application_default_credentials.json) and may query the GCE metadata server. The Storage
// constructor also reads process.env.STORAGE_EMULATOR_HOST; we overwrite the base URL it derives so
// the request URL depends on `env` only.
import { Storage } from '@google-cloud/storage';
import type { StorageOptions } from '@google-cloud/storage';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { extractContextArchive } from './archive.ts';
import { splitBucketAndItem } from './s3.ts';
import type { ContextDeps, ContextSource } from './source.ts';

/** The emulator endpoint from STORAGE_EMULATOR_HOST, with Go's default scheme (http), or undefined. */
export function gcsEmulatorEndpoint(env: ContextDeps['env']): string | undefined {
  const host = env['STORAGE_EMULATOR_HOST'];
  if (host === undefined || host === '') return undefined;
  return (host.includes('://') ? host : `http://${host}`).replace(/\/+$/, '');
}

function createStorage(env: ContextDeps['env']): Storage {
  const endpoint = gcsEmulatorEndpoint(env);
  // A context download is one idempotent GET: a few quick retries, not the SDK's 10-minute budget.
  const options: StorageOptions = { retryOptions: { maxRetries: 2, totalTimeout: 60 } };
  if (endpoint !== undefined) options.apiEndpoint = endpoint;
  const keyFile = env['GOOGLE_APPLICATION_CREDENTIALS'];
  if (keyFile !== undefined && keyFile !== '') options.keyFilename = keyFile;
  const storage = new Storage(options);
  // The SDK uses process.env.STORAGE_EMULATOR_HOST verbatim as its base URL (no /storage/v1),
  // unlike Go's client; pin the JSON API path so both spellings of the variable work.
  if (endpoint !== undefined) storage.baseUrl = `${endpoint}/storage/v1`;
  return storage;
}

/** The HTTP status of a Cloud Storage API error, if it is one. */
function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** One line naming the source; GCS error messages ("No such object: b/o") carry no credentials. */
function describeGcsFailure(source: string, endpoint: string, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  const status = statusOf(err);
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return new BuildError('CONTEXT', `fetching build context ${source} was aborted`, { cause: err });
  if (status !== undefined) {
    const what = status === 404 ? 'not found' : status === 401 ? 'unauthenticated (bad credentials)' : status === 403 ? 'access denied' : `HTTP ${status}`;
    const detail = (e.message ?? '').split('\n')[0]?.slice(0, 200) ?? '';
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${what}${detail === '' ? '' : ` (${detail})`}`, { cause: err });
  }
  if (/default credentials|could not load the default credentials/i.test(e.message ?? '')) {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: no Google credentials found`, {
      cause: err, hint: 'set GOOGLE_APPLICATION_CREDENTIALS or run with a service account (Application Default Credentials)',
    });
  }
  if (typeof e.code === 'string') {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: cannot reach ${endpoint} (${e.code})`, { cause: err });
  }
  return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${(e.message ?? 'error').split('\n')[0]?.slice(0, 200)}`, { cause: err });
}

export function gcsContextSource(url: string, deps: ContextDeps): ContextSource {
  const rest = url.startsWith('gs://') ? url.slice('gs://'.length) : url;
  const { bucket, item } = splitBucketAndItem(rest);
  const source = `gs://${bucket}/${item}`;
  return {
    scheme: 'gs',
    async fetch(workDir, signal) {
      if (bucket === '') throw new BuildError('CONTEXT', `build context ${JSON.stringify(url)} names no bucket`);
      signal.throwIfAborted();
      const file = createStorage(deps.env).bucket(bucket).file(item);
      const endpoint = gcsEmulatorEndpoint(deps.env);
      deps.log.info({ source, endpoint: endpoint === undefined ? undefined : redactUrl(endpoint) }, `Fetching build context from ${source}`);
      // The metadata GET first: a missing bucket or object and refused credentials get a clean
      // status here, instead of surfacing as a read error in the middle of the extractor.
      try {
        await file.getMetadata();
      } catch (err) {
        throw describeGcsFailure(source, endpoint === undefined ? 'storage.googleapis.com' : redactUrl(endpoint), err);
      }
      signal.throwIfAborted();
      // validation stays on: when the server sends x-goog-hash, a corrupted download is refused.
      const body: Readable = file.createReadStream();
      await extractContextArchive(body, workDir, { source, log: deps.log, signal });
      return workDir;
    },
  };
}
