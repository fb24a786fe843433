// `--dockerfile https://…`: kaniko downloads a remote Dockerfile before the build. Streamed to
// destPath; anything but 200 is one CONTEXT line with the status and the redacted URL.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import { redactUrl } from '../redact.ts';
import { openDownload } from './https.ts';
import type { FetchFn } from './source.ts';

export interface RemoteDockerfileDeps {
  readonly log: Log;
  readonly fetch?: FetchFn;
  readonly signal?: AbortSignal;
}

export function isRemoteDockerfile(spec: string): boolean {
  return spec.startsWith('https://') || spec.startsWith('http://');
}

/** Downloads the Dockerfile at url to destPath and returns destPath. */
export async function fetchDockerfile(url: string, destPath: string, deps: RemoteDockerfileDeps): Promise<string> {
  const shown = redactUrl(url);
  if (url.startsWith('http://')) deps.log.warn({ url: shown }, 'Downloading the Dockerfile over plain HTTP: it is not protected in transit');
  const dl = await openDownload(url, 'Dockerfile', {
    ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}), ...(deps.signal !== undefined ? { signal: deps.signal } : {}),
  });
  await mkdir(path.dirname(destPath), { recursive: true });
  let bytes = 0;
  dl.body.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  try {
    await pipeline(dl.body, createWriteStream(destPath, { mode: 0o644 }), ...(deps.signal !== undefined ? [{ signal: deps.signal }] as const : []));
  } catch (err) {
    throw new BuildError('CONTEXT', `Dockerfile ${shown}: download failed: ${(err as Error).message}`, { cause: err });
  }
  deps.log.info({ url: shown, bytes }, `Downloaded the Dockerfile from ${shown} (${bytes} bytes)`);
  return destPath;
}
