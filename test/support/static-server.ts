// Test-only: serves fixed files over plain HTTP on 127.0.0.1 (context tarballs, remote Dockerfiles).
// Unknown paths are 404; every request is recorded, with its Authorization header if any.
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StaticBody = Buffer | string | { readonly file: string } | { readonly status: number };

export interface StaticServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly requests: Array<{ readonly path: string; readonly authorization: string | undefined }>;
  /** Adds or replaces a route. */
  set(path: string, body: StaticBody): void;
  close(): Promise<void>;
}

export async function startStaticServer(routes: Readonly<Record<string, StaticBody>> = {}): Promise<StaticServer> {
  const table = new Map<string, StaticBody>(Object.entries(routes));
  const requests: Array<{ path: string; authorization: string | undefined }> = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path, authorization: req.headers.authorization });
    const body = table.get(path);
    if (body === undefined) { res.writeHead(404).end('not found\n'); return; }
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
    } else if ('status' in body) {
      res.writeHead(body.status).end(`status ${body.status}\n`);
    } else {
      res.writeHead(200);
      createReadStream(body.file).pipe(res);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    set: (path, body) => { table.set(path, body); },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
