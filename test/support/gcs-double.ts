// TEST DOUBLE — not Google Cloud Storage and not an emulator. No GCS emulator is available from our
// package registries, so this tiny HTTP server implements only the two JSON API calls a gs://
// context makes through @google-cloud/storage, reached via STORAGE_EMULATOR_HOST:
//   GET /storage/v1/b/<bucket>/o/<object>            → object metadata (JSON)
//   GET /storage/v1/b/<bucket>/o/<object>?alt=media  → the object's bytes
// (also under /download/storage/v1/…, the form Go's client uses for media). Errors use the JSON
// API's error body: 404 for a missing bucket or object, 403 for a bucket marked forbidden.
// It listens on 127.0.0.1 only, and records each request line and whether it carried credentials.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GcsDoubleRequest {
  readonly method: string;
  readonly url: string;
  readonly authorized: boolean;
}

export interface GcsDouble {
  /** http://127.0.0.1:PORT — the value for STORAGE_EMULATOR_HOST. */
  readonly endpoint: string;
  readonly requests: readonly GcsDoubleRequest[];
  createBucket(name: string, opts?: { forbidden?: boolean }): void;
  putObject(bucket: string, name: string, body: Uint8Array | string): void;
  stop(): Promise<void>;
}

interface Bucket {
  readonly forbidden: boolean;
  readonly objects: Map<string, Buffer>;
}

function sendError(res: ServerResponse, code: number, message: string, reason: string): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason }] } }));
}

function handle(buckets: Map<string, Bucket>, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://double.invalid');
  const m = /^(?:\/download)?\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
  if (req.method !== 'GET' || m?.[1] === undefined || m[2] === undefined) {
    sendError(res, 501, `test double: ${req.method ?? '?'} ${url.pathname} is not implemented`, 'notImplemented');
    return;
  }
  const bucketName = decodeURIComponent(m[1]);
  const objectName = decodeURIComponent(m[2]);
  const bucket = buckets.get(bucketName);
  if (bucket === undefined) { sendError(res, 404, 'The specified bucket does not exist.', 'notFound'); return; }
  if (bucket.forbidden) {
    sendError(res, 403, `anonymous caller does not have storage.objects.get access to the Google Cloud Storage object.`, 'forbidden');
    return;
  }
  const data = bucket.objects.get(objectName);
  if (data === undefined) { sendError(res, 404, `No such object: ${bucketName}/${objectName}`, 'notFound'); return; }
  if (url.searchParams.get('alt') === 'media') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
    res.end(data);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({
    kind: 'storage#object', id: `${bucketName}/${objectName}/1`, name: objectName, bucket: bucketName,
    generation: '1', metageneration: '1', contentType: 'application/gzip', size: String(data.length),
    md5Hash: createHash('md5').update(data).digest('base64'), storageClass: 'STANDARD',
  }));
}

export async function startGcsDouble(): Promise<GcsDouble> {
  const buckets = new Map<string, Bucket>();
  const requests: GcsDoubleRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorized: req.headers.authorization !== undefined });
    handle(buckets, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    createBucket(name, opts = {}) {
      buckets.set(name, { forbidden: opts.forbidden === true, objects: new Map() });
    },
    putObject(bucket, name, body) {
      const b = buckets.get(bucket);
      if (b === undefined) throw new Error(`test double: no bucket ${bucket}`);
      b.objects.set(name, typeof body === 'string' ? Buffer.from(body) : Buffer.from(body));
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
