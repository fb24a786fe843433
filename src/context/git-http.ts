// isomorphic-git's HttpClient on undici, instead of its bundled `http/node` client: it lets
// `--git insecure-skip-tls=true` turn off certificate checks for this clone only, follows redirects
// (renamed repositories), and streams response bodies (packfiles) instead of buffering them here.
import { STATUS_CODES } from 'node:http';
import { Agent, interceptors, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';

export interface GitHttp {
  readonly client: HttpClient;
  close(): Promise<void>;
}

async function collect(body: AsyncIterableIterator<Uint8Array>): Promise<Buffer> {
  // Request bodies are the small want/have negotiation, never a pack (we only fetch).
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function createGitHttp(opts: { insecureSkipTls: boolean; signal?: AbortSignal }): GitHttp {
  const agent = new Agent(opts.insecureSkipTls ? { connect: { rejectUnauthorized: false } } : {});
  const dispatcher: Dispatcher = agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  return {
    client: {
      async request(req: GitHttpRequest): Promise<GitHttpResponse> {
        const body = req.body === undefined ? undefined : await collect(req.body);
        const signal = req.signal ?? opts.signal;
        const res = await request(req.url, {
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: req.headers ?? {},
          dispatcher,
          ...(body !== undefined ? { body } : {}),
          ...(signal !== undefined ? { signal } : {}),
        });
        return {
          url: req.url,
          method: req.method ?? 'GET',
          statusCode: res.statusCode,
          statusMessage: STATUS_CODES[res.statusCode] ?? '',
          headers: flattenHeaders(res.headers),
          body: res.body[Symbol.asyncIterator]() as AsyncIterableIterator<Uint8Array>,
        };
      },
    },
    close: () => agent.close(),
  };
}
