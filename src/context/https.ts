// `https://…/context.tar.gz`: a plain download (kaniko's https.go), streamed straight into the
// unpacker. kaniko refuses `http://`; it is accepted here with a warning, because a context on a
// trusted local network (or a test server) should not need a certificate.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fetch as undiciFetch } from 'undici';
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { extractContextArchive } from './archive.ts';
import type { ContextDeps, ContextSource, FetchFn } from './source.ts';

export interface Download {
  readonly body: Readable;
  /** Content-Length when the server sent one. */
  readonly size: number | undefined;
}

/**
 * GET url and return the body as a stream; anything but 200 is BuildError('CONTEXT') naming the
 * redacted URL. Userinfo in the URL becomes Basic auth (as Go's http.Get), never part of a message.
 */
export async function openDownload(url: string, what: string, deps: { fetch?: FetchFn; signal?: AbortSignal }): Promise<Download> {
  const shown = redactUrl(url);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new BuildError('CONTEXT', `${what} ${shown} is not a valid URL`);
  }
  const headers: Record<string, string> = {};
  if (target.username !== '' || target.password !== '') {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  const doFetch = deps.fetch ?? undiciFetch;
  let res: Awaited<ReturnType<FetchFn>>;
  try {
    res = await doFetch(target, { headers, redirect: 'follow', ...(deps.signal !== undefined ? { signal: deps.signal } : {}) });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const why = cause instanceof Error ? cause.message : (err as Error).message;
    throw new BuildError('CONTEXT', `${what} ${shown}: download failed: ${why}`, { cause: err });
  }
  if (res.status !== 200 || res.body === null) {
    await res.body?.cancel().catch(() => undefined);
    const text = res.statusText === '' ? '' : ` ${res.statusText}`;
    throw new BuildError('CONTEXT', `${what} ${shown}: download failed: HTTP ${res.status}${text}`);
  }
  const length = res.headers.get('content-length');
  return {
    body: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
    size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
  };
}

export function httpsContextSource(url: string, deps: ContextDeps): ContextSource {
  return {
    scheme: 'https',
    async fetch(workDir, signal) {
      signal.throwIfAborted();
      const shown = redactUrl(url);
      if (url.startsWith('http://')) {
        deps.log.warn({ url: shown }, 'Downloading the build context over plain HTTP: it is not protected in transit');
      }
      deps.log.info({ url: shown }, `Downloading the build context from ${shown}`);
      const dl = await openDownload(url, 'build context', { ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}), signal });
      await extractContextArchive(dl.body, workDir, { source: shown, log: deps.log, signal });
      return workDir;
    },
  };
}
