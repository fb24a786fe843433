// The two ways to send a blob's bytes after POST /blobs/uploads/ answered with a Location:
// one streamed PUT, or PATCH chunks of a fixed size then an empty PUT (for very large layers).
import { Readable } from 'node:stream';
import type { Digest } from '../oci/types.ts';
import { DEFAULT_CHUNK_SIZE } from './options.ts';
import { headerValue, RegistryError } from './registry-error.ts';
import type { RegistryTransport, TransportResponse } from './transport.ts';

interface Repo {
  readonly registry: string;
  readonly repository: string;
}

interface Openable {
  compressed(): Promise<Readable>;
}

/** `location` with ?digest= added (it may already carry the registry's _state parameter). */
function withDigest(location: string, digest: Digest): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

export async function uploadMonolithic(
  t: RegistryTransport, repo: Repo, location: string, digest: Digest, size: number, blob: Openable,
): Promise<TransportResponse> {
  return t.request({
    method: 'PUT',
    url: withDigest(location, digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: () => blob.compressed(),
    scopes: [`repository:${repo.repository}:pull,push`],
    expect: [201],
    what: `uploading ${digest} to ${repo.registry}/${repo.repository}`,
  });
}

export async function uploadChunked(
  t: RegistryTransport, repo: Repo, location: string, digest: Digest, size: number, blob: Openable,
  chunkSize: number = DEFAULT_CHUNK_SIZE,
): Promise<TransportResponse> {
  const scopes = [`repository:${repo.repository}:pull,push`];
  const what = `uploading ${digest} to ${repo.registry}/${repo.repository}`;
  const source = await blob.compressed();
  const chunks = new ChunkReader(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  let url = location;
  try {
    for (let offset = 0; offset < size;) {
      const length = Math.min(chunkSize, size - offset);
      let sent = false;
      const res = await t.request({
        method: 'PATCH',
        url,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(length),
          'content-range': `${offset}-${offset + length - 1}`,
        },
        body: async () => {
          // A chunk's bytes were read from the layer stream once; re-sending means starting over.
          if (sent) throw temporaryRestart(repo, url, what);
          sent = true;
          return Readable.from(chunks.take(length));
        },
        scopes,
        expect: [202, 204],
        what,
      });
      const next = headerValue(res.headers, 'location');
      await res.body.dump().catch(() => undefined);
      if (next !== undefined && next !== '') url = t.resolveUrl(next, res.url);
      offset += length;
    }
  } finally {
    source.destroy();
  }
  return t.request({
    method: 'PUT', url: withDigest(url, digest), headers: { 'content-length': '0' }, scopes, expect: [201], what,
  });
}

function temporaryRestart(repo: Repo, url: string, what: string): RegistryError {
  return new RegistryError({
    code: 'REGISTRY', registry: repo.registry, status: 0, method: 'PATCH', url, temporary: true,
    message: `${what}: a chunk had to be re-sent; restarting the upload`,
  });
}

/** Hands out consecutive byte ranges of one stream as separate async iterables. */
class ChunkReader {
  readonly #it: AsyncIterator<Buffer>;
  #leftover: Buffer | undefined;

  constructor(it: AsyncIterator<Buffer>) {
    this.#it = it;
  }

  async *take(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      let buf = this.#leftover;
      this.#leftover = undefined;
      if (buf === undefined) {
        const next = await this.#it.next();
        if (next.done === true) throw new Error(`the blob stream ended ${remaining} bytes early`);
        buf = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      }
      if (buf.length > remaining) {
        this.#leftover = buf.subarray(remaining);
        buf = buf.subarray(0, remaining);
      }
      remaining -= buf.length;
      yield buf;
    }
  }
}
