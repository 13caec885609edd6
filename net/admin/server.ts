// The admin HTTP listener (admin_listen): /metrics (Prometheus), /health, and pages mounted later
// (the inspector). Anything not on loopback needs the bearer token (admin_token).
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Metrics } from './metrics.js';

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export class AdminError extends Error {
  readonly code = 'ADMIN_LISTEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminError';
  }
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  readonly metrics: Metrics;
  health(): { ok: boolean; detail: Record<string, unknown> };
}

const isLoopback = (ip: string | undefined): boolean =>
  ip !== undefined && (ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'));

function authorised(req: IncomingMessage, token: string | undefined): boolean {
  if (isLoopback(req.socket.remoteAddress)) return true;
  if (!token) return false;
  const got = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(got);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class AdminServer {
  readonly #opts: AdminOptions;
  readonly #routes: Route[] = [];
  #server: Server | undefined;

  constructor(opts: AdminOptions) {
    this.#opts = opts;
  }

  /** Pages added by other parts of the daemon (the inspector); tried in order before the 404. */
  mount(route: Route): void {
    this.#routes.push(route);
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new AdminError(`cannot listen on ${this.#opts.host}:${this.#opts.port} (admin_listen): ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e })));
      server.listen({ host: this.#opts.host, port: this.#opts.port }, () => resolve());
    });
    this.#server = server;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!authorised(req, this.#opts.token)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('unauthorised\n');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://admin');
      if (req.method === 'GET' && url.pathname === '/metrics') {
        const body = await this.#opts.metrics.text();
        res.writeHead(200, { 'content-type': this.#opts.metrics.registry.contentType }).end(body);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/health') {
        const h = this.#opts.health();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', ...h.detail }));
        return;
      }
      for (const route of this.#routes) if (await route(req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(e as Error).message}\n`);
    }
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
