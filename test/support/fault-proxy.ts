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
  | (RuleBase & { readonly kind: 'tamper' })
  /** Hold the request for `ms` before forwarding it (a stalled server). */
  | (RuleBase & { readonly kind: 'stall'; readonly ms: number });

/**
 * Faults on a seeded fraction of all requests, drawn from one PRNG (mulberry32): the same seed and the same
 * request order give the same faults.
 */
export interface ChaosPlan {
  readonly seed: number;
  /** 0..1: the share of requests that get a fault. */
  readonly fraction: number;
  /** Requests whose path matches are left alone (e.g. the base image's pulls). */
  readonly spare?: RegExp;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One fault for a request under chaos: statuses with and without Retry-After, resets, a stall, a truncated body. */
function chaosRule(random: () => number, method: string): FaultRule {
  const base = { path: /.*/, times: 1 };
  const upload = method === 'PUT' || method === 'PATCH' || method === 'POST';
  const kinds = ['500', '503', '503-retry-after', 'reset-response', 'stall', 'truncate', ...(upload ? ['reset-request'] : [])];
  const kind = kinds[Math.floor(random() * kinds.length)];
  switch (kind) {
    case '500': return { ...base, kind: 'status', status: 500 };
    case '503': return { ...base, kind: 'status', status: 503 };
    case '503-retry-after': return { ...base, kind: 'status', status: 503, headers: { 'retry-after': '1' } };
    case 'stall': return { ...base, kind: 'stall', ms: 1500 };
    case 'truncate': return { ...base, kind: 'reset-response', afterBytes: Math.floor(random() * 512) };
    case 'reset-request': return { ...base, kind: 'reset-request', afterBytes: Math.floor(random() * 65536) };
    default: return { ...base, kind: 'reset-response', afterBytes: 0 };
  }
}

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
  /** Seeded faults on a fraction of the requests the plan leaves alone; set or clear while the proxy runs. */
  chaos: ChaosPlan | undefined;
  readonly log: ProxyLogEntry[];
  stop(): Promise<void>;
}

export async function startFaultProxy(targetUrl: string, plan: FaultRule[] = []): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const log: ProxyLogEntry[] = [];

  let random: { seed: number; next: () => number } | undefined;
  const take = (req: IncomingMessage): FaultRule | undefined => {
    const rule = plan.find((r) => r.times > 0 && (r.method === undefined || r.method === req.method) && r.path.test(req.url ?? ''));
    if (rule !== undefined) { rule.times--; return rule; }
    const chaos = proxy.chaos;
    if (chaos === undefined || chaos.spare?.test(req.url ?? '') === true) return undefined;
    if (random?.seed !== chaos.seed) random = { seed: chaos.seed, next: mulberry32(chaos.seed) };
    return random.next() < chaos.fraction ? chaosRule(random.next, req.method ?? 'GET') : undefined;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const rule = take(req);
    const entry = entryFor(req, rule);
    if (rule?.kind === 'stall') {
      req.pause();
      setTimeout(() => { forward(req, res, undefined, entry); req.resume(); }, rule.ms);
      return;
    }
    forward(req, res, rule, entry);
  };

  const entryFor = (req: IncomingMessage, rule: FaultRule | undefined): ProxyLogEntry => {
    const entry: ProxyLogEntry = { method: req.method ?? 'GET', path: req.url ?? '/', status: undefined, fault: rule?.kind };
    log.push(entry);
    return entry;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, rule: FaultRule | undefined, entry: ProxyLogEntry): void => {
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
  const proxy: FaultProxy = {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    plan,
    chaos: undefined,
    log,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  return proxy;
}
