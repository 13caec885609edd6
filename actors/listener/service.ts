// The listener's I/O side: TCP servers on the configured addresses, one Connection per client.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import type { ListenAddress } from '../../config/load.js';
import type { ListenerEmitted } from '../events.js';
import type { Metrics } from '../../net/admin/metrics.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import { Connection, normaliseIp } from '../smtp-session/connection.js';
import type { ConnectionDeps } from '../smtp-session/connection.js';
import { listenerMachine } from './machine.js';

export class ListenError extends Error {
  readonly code = 'LISTEN_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenError';
  }
}

const keyOf = (a: ListenAddress): string => `${a.host}|${a.port}|${a.tlsOnConnect}`;

export interface ListenerOptions {
  readonly listen: readonly ListenAddress[];
  readonly maxTotal: number;
  readonly maxPerHost: number;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly inspection?: InspectionHub;
  /** The dependencies new connections get; read per connection, so a reload applies to new sessions. */
  deps(): ConnectionDeps;
  /** A server failed after it started (the supervisor decides what to do). */
  onFailure(error: Error): void;
}

const REFUSALS: Record<Extract<ListenerEmitted, { type: 'refuse' }>['reason'], string> = {
  total: '421 4.7.0 Too many concurrent SMTP connections; please try again later\r\n',
  'per-host': '421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later\r\n',
  stopping: '421 4.3.2 Service shutting down; please try again later\r\n',
};

export class ListenerService {
  readonly #opts: ListenerOptions;
  readonly #servers = new Map<string, { server: Server; bound: { host: string; port: number; tlsOnConnect: boolean } }>();
  readonly #connections = new Set<Connection>();
  readonly #actor;
  #verdict: ListenerEmitted | undefined;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#actor = createActor(listenerMachine, {
      input: { maxTotal: opts.maxTotal, maxPerHost: opts.maxPerHost },
      ...inspectOption(opts.inspection, 'listener', () => ({ listen: opts.listen.map((l) => `${l.host}:${l.port}`).join(' ') })),
    });
    this.#actor.on('*', (e) => {
      this.#verdict = e as ListenerEmitted;
    });
  }

  /** Addresses actually bound (port 0 in config becomes the port the system chose). */
  get addresses(): readonly { host: string; port: number; tlsOnConnect: boolean }[] {
    return [...this.#servers.values()].map((s) => s.bound);
  }

  get active(): number {
    return this.#connections.size;
  }

  async start(): Promise<void> {
    this.#actor.start();
    try {
      for (const addr of this.#opts.listen) await this.#bind(addr);
    } catch (e) {
      await this.#closeServers([...this.#servers.keys()]);
      throw e;
    }
  }

  async #bind(addr: ListenAddress): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.#accept(s, addr.tlsOnConnect));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: addr.host, port: addr.port, backlog: 1024 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ListenError(`cannot listen on ${addr.host}:${addr.port}: ${err.code ?? err.message}`, { cause: e });
    }
    server.on('error', (e) => {
      // This address stops accepting; its sessions carry on. The supervisor rebinds it.
      this.#servers.delete(keyOf(addr));
      server.close();
      this.#opts.onFailure(e);
    });
    const info = server.address() as AddressInfo;
    this.#servers.set(keyOf(addr), { server, bound: { host: info.address, port: info.port, tlsOnConnect: addr.tlsOnConnect } });
  }

  /**
   * Apply a reloaded config: new limits for new connections, servers opened and closed to match
   * `listen`. Sessions in progress are never cut. Nothing changes if a new address cannot be bound.
   */
  async reconfigure(listen: readonly ListenAddress[], maxTotal: number, maxPerHost: number): Promise<void> {
    const wanted = new Map(listen.map((a) => [keyOf(a), a]));
    const added: string[] = [];
    try {
      for (const [key, addr] of wanted) {
        if (this.#servers.has(key)) continue;
        await this.#bind(addr);
        added.push(key);
      }
    } catch (e) {
      await this.#closeServers(added);
      throw e;
    }
    await this.#closeServers([...this.#servers.keys()].filter((k) => !wanted.has(k)));
    this.#actor.send({ type: 'LISTENER.LIMITS', maxTotal, maxPerHost });
  }

  #accept(socket: Socket, tlsOnConnect: boolean): void {
    const ip = normaliseIp(socket.remoteAddress ?? '');
    this.#verdict = undefined;
    this.#actor.send({ type: 'CONN.OPEN', ip });
    const verdict = this.#verdict as ListenerEmitted | undefined;
    this.#opts.metrics?.connections.inc({ result: verdict?.type === 'admit' ? 'admitted' : 'refused' });
    if (verdict?.type !== 'admit') {
      const reason = verdict?.type === 'refuse' ? verdict.reason : 'stopping';
      this.#opts.logger.info({ event: 'refused', ip, reason }, `connection from [${ip}] refused: ${reason === 'total' ? 'too many connections' : reason === 'per-host' ? 'too many connections from this host' : 'shutting down'}`);
      socket.on('error', () => undefined);
      if (!tlsOnConnect) socket.end(REFUSALS[reason]);
      else socket.destroy();
      return;
    }
    let conn: Connection | undefined;
    try {
      this.#opts.metrics?.openConnections.inc();
      conn = new Connection(socket, this.#opts.deps(), () => {
        this.#opts.metrics?.openConnections.dec();
        if (conn) this.#connections.delete(conn);
        this.#actor.send({ type: 'CONN.CLOSED', ip });
      });
      this.#connections.add(conn);
      conn.start(tlsOnConnect);
    } catch (e) {
      // One session failing must never take the daemon down.
      this.#opts.logger.error({ err: (e as Error).stack, ip }, 'session could not start');
      socket.destroy();
      if (conn && this.#connections.delete(conn)) this.#actor.send({ type: 'CONN.CLOSED', ip });
    }
  }

  /** Stop accepting on these addresses; their connections carry on. */
  async #closeServers(keys: readonly string[]): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const key of keys) {
      const entry = this.#servers.get(key);
      if (!entry) continue;
      this.#servers.delete(key);
      // close() waits for the server's connections to end; we only need it to stop listening.
      closing.push(new Promise<void>((resolve) => entry.server.close(() => resolve())));
    }
    void Promise.all(closing);
  }

  /**
   * Graceful stop: refuse new connections, tell every session (idle ones answer 421 now, busy
   * ones after their transaction), and cut whatever is left at the deadline.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#actor.send({ type: 'LISTENER.STOP' });
    await this.#closeServers([...this.#servers.keys()]);
    for (const c of this.#connections) c.shutdown();
    const until = Date.now() + deadlineMs;
    while (this.#connections.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    for (const c of this.#connections) c.destroy();
    this.#actor.stop();
  }
}
