// Test-only: an HTTP proxy in front of a real registry that injects faults from a plan (error
// statuses, connection resets mid-body, flipped bytes) and logs every request for assertions.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface RuleBase {
  readonly method?: string;
  /** Matched against the request path (with query). */
  readonly path: RegExp;
  /** How many matching requests the fault applies to; decremented as it fires. */
  times: number;
}

export type FaultRule =
  | (RuleBase & { readonly kind: 'status'; readonly status: number; readonly headers?: Readonly<Record<string, string>> })
  /** Forward the request, then drop the connection after `afterBytes` bytes of the response body. */
  | (RuleBase & { readonly kind: 'reset-response'; readonly afterBytes: number })
  /** Drop the connection after `afterBytes` bytes of the request body (an upload). */
  | (RuleBase & { readonly kind: 'reset-request'; readonly afterBytes: number })
  /** Flip one byte of the response body. */
  | (RuleBase & { readonly kind: 'tamper' });

export interface ProxyLogEntry {
  readonly method: string;
  readonly path: string;
  status: number | undefined;
  readonly fault: FaultRule['kind'] | undefined;
}

export interface FaultProxy {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly url: string;
  /** Rules may be added while the proxy runs. */
  readonly plan: FaultRule[];
  readonly log: ProxyLogEntry[];
  stop(): Promise<void>;
}

export async function startFaultProxy(targetUrl: string, plan: FaultRule[] = []): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const log: ProxyLogEntry[] = [];

  const take = (req: IncomingMessage): FaultRule | undefined => {
    const rule = plan.find((r) => r.times > 0 && (r.method === undefined || r.method === req.method) && r.path.test(req.url ?? ''));
    if (rule !== undefined) rule.times--;
    return rule;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const rule = take(req);
    const entry: ProxyLogEntry = { method: req.method ?? 'GET', path: req.url ?? '/', status: undefined, fault: rule?.kind };
    log.push(entry);
    if (rule?.kind === 'status') {
      req.resume();
      entry.status = rule.status;
      res.writeHead(rule.status, { 'content-type': 'application/json', ...rule.headers });
      res.end(JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${rule.status}` }] }));
      return;
    }
    // The Host header is kept, so the registry's absolute Location URLs point back at the proxy.
    const upstream = httpRequest({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers,
    }, (up) => {
      entry.status = up.statusCode;
      res.writeHead(up.statusCode ?? 502, up.headers);
      let sent = 0;
      let flipped = false;
      up.on('data', (chunk: Buffer) => {
        if (rule?.kind === 'reset-response' && sent + chunk.length > rule.afterBytes) {
          res.write(chunk.subarray(0, Math.max(0, rule.afterBytes - sent)));
          up.destroy();
          res.socket?.destroy();
          return;
        }
        if (rule?.kind === 'tamper' && !flipped && chunk.length > 0) {
          const copy = Buffer.from(chunk);
          const at = Math.floor(copy.length / 2);
          copy[at] = (copy[at] ?? 0) ^ 0xff;
          chunk = copy;
          flipped = true;
        }
        sent += chunk.length;
        res.write(chunk);
      });
      up.on('end', () => res.end());
      up.on('error', () => res.socket?.destroy());
    });
    upstream.on('error', () => res.socket?.destroy());
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      if (rule?.kind === 'reset-request' && received + chunk.length > rule.afterBytes) {
        entry.status = 0;
        upstream.destroy();
        req.socket.destroy();
        return;
      }
      received += chunk.length;
      upstream.write(chunk);
    });
    req.on('end', () => upstream.end());
    req.on('error', () => upstream.destroy());
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    plan,
    log,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
