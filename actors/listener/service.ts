// The listener's I/O side: TCP servers on the configured addresses, one Connection per client.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import type { ListenAddress } from '../../config/load.js';
import type { Metrics } from '../../net/admin/metrics.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import { Connection, normaliseIp } from '../smtp-session/connection.js';
import type { ConnectionDeps } from '../smtp-session/deps.js';
import { listenerMachine } from './machine.js';
import { Admissions } from './admissions.js';
import type { Admission } from './admissions.js';

export class ListenError extends Error {
  readonly code = 'LISTEN_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenError';
  }
}

type LocalAddress = { readonly ip: string; readonly port: number };

/** A listening address that is one address (not a wildcard) is every connection's local address. */
function specific(info: AddressInfo): LocalAddress | undefined {
  return info.address === '0.0.0.0' || info.address === '::' ? undefined : { ip: normaliseIp(info.address), port: info.port };
}

export const keyOf = (a: ListenAddress): string => `${a.host}|${a.port}|${a.tlsOnConnect}`;

export type { Admission } from './admissions.js';

/**
 * Where a session process asks about each connection it accepted: the daemon's listener keeps the
 * one count of connections for all processes (smtp_accept_max, smtp_accept_max_per_host).
 */
export interface AdmissionGate {
  open(ip: string): Promise<Admission>;
  closed(ip: string): void;
}

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
  /** Set in a session process: admission is asked of the daemon's listener rather than decided here. */
  readonly gate?: AdmissionGate;
}

const REFUSALS: Record<Exclude<Admission, 'admit'>, string> = {
  total: '421 4.7.0 Too many concurrent SMTP connections; please try again later\r\n',
  'per-host': '421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later\r\n',
  stopping: '421 4.3.2 Service shutting down; please try again later\r\n',
};

export class ListenerService {
  readonly #opts: ListenerOptions;
  readonly #servers = new Map<string, { server: Server; bound: { host: string; port: number; tlsOnConnect: boolean } }>();
  readonly #connections = new Set<Connection>();
  readonly #actor;
  readonly #admissions: Admissions;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#actor = createActor(listenerMachine, {
      input: { maxTotal: opts.maxTotal, maxPerHost: opts.maxPerHost },
      ...inspectOption(opts.inspection, 'listener', () => ({ listen: opts.listen.map((l) => `${l.host}:${l.port}`).join(' ') })),
    });
    this.#admissions = new Admissions(opts.maxTotal, opts.maxPerHost);
  }

  /** Addresses actually bound (port 0 in config becomes the port the system chose). */
  get addresses(): readonly { host: string; port: number; tlsOnConnect: boolean }[] {
    return [...this.#servers.values()].map((s) => s.bound);
  }

  get active(): number {
    return this.#connections.size;
  }

  /** The listening servers with their configured address, to be shared with session processes. */
  get servers(): readonly { key: string; server: Server }[] {
    return [...this.#servers.entries()].map(([key, e]) => ({ key, server: e.server }));
  }

  /** In a session process: accept on a server the daemon bound and handed over. */
  adopt(key: string, server: Server, tlsOnConnect: boolean): void {
    if (this.#servers.has(key)) return;
    const info0 = server.address() as AddressInfo | null;
    const local = info0 ? specific(info0) : undefined;
    server.on('connection', (s: Socket) => this.#accept(s, tlsOnConnect, local));
    this.#onFailure(key, server);
    const info = server.address() as AddressInfo | null;
    this.#servers.set(key, { server, bound: { host: info?.address ?? '', port: info?.port ?? 0, tlsOnConnect } });
  }

  /** A server failing after it started stops accepting; its sessions carry on. The supervisor rebinds it. */
  #onFailure(key: string, server: Server): void {
    server.on('error', (e) => {
      this.#servers.delete(key);
      server.close();
      this.#opts.onFailure(e);
    });
  }

  /** In a session process: stop accepting on a server the daemon no longer listens on. */
  drop(key: string): void {
    void this.#closeServers([key]);
  }

  /** Count a connection another process accepted, against the same limits as this one's. */
  admit(ip: string): Admission {
    const admission = this.#actor.getSnapshot().value === 'accepting' ? this.#admissions.open(ip) : 'stopping';
    if (admission !== 'admit') this.#actor.send({ type: 'CONN.REFUSED', ip, reason: admission });
    return admission;
  }

  /** A connection counted by admit() ended. */
  release(ip: string): void {
    this.#admissions.close(ip);
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
    // Known once bound; until then (never in practice) the kernel is asked per connection.
    const bound: { local?: LocalAddress } = {};
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.#accept(s, addr.tlsOnConnect, bound.local));
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
    this.#onFailure(keyOf(addr), server);
    const info = server.address() as AddressInfo;
    const local = specific(info);
    if (local) bound.local = local;
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
    this.#admissions.limits(maxTotal, maxPerHost);
    this.#actor.send({ type: 'LISTENER.LIMITS', maxTotal, maxPerHost });
  }

  #accept(socket: Socket, tlsOnConnect: boolean, local: LocalAddress | undefined): void {
    const ip = normaliseIp(socket.remoteAddress ?? '');
    const gate = this.#opts.gate;
    if (!gate) {
      this.#admitted(socket, tlsOnConnect, ip, this.admit(ip), local);
      return;
    }
    // The socket waits, paused, while the daemon's listener decides; a client that goes meanwhile is let go.
    const quiet = (): undefined => undefined;
    socket.on('error', quiet);
    gate.open(ip).then(
      (admission) => {
        socket.off('error', quiet);
        if (admission === 'admit' && socket.destroyed) gate.closed(ip);
        else if (!socket.destroyed) this.#admitted(socket, tlsOnConnect, ip, admission, local);
      },
      () => socket.destroy(),
    );
  }

  #admitted(socket: Socket, tlsOnConnect: boolean, ip: string, admission: Admission, local: LocalAddress | undefined): void {
    this.#opts.metrics?.connections.inc({ result: admission === 'admit' ? 'admitted' : 'refused' });
    if (admission !== 'admit') {
      this.#opts.logger.info({ event: 'refused', ip, reason: admission }, `connection from [${ip}] refused: ${admission === 'total' ? 'too many connections' : admission === 'per-host' ? 'too many connections from this host' : 'shutting down'}`);
      socket.on('error', () => undefined);
      if (!tlsOnConnect) socket.end(REFUSALS[admission]);
      else socket.destroy();
      return;
    }
    const release = (): void => (this.#opts.gate ? this.#opts.gate.closed(ip) : this.release(ip));
    let conn: Connection | undefined;
    try {
      this.#opts.metrics?.openConnections.inc();
      conn = new Connection(socket, this.#opts.deps(), () => {
        this.#opts.metrics?.openConnections.dec();
        if (conn) this.#connections.delete(conn);
        release();
      }, local);
      this.#connections.add(conn);
      conn.start(tlsOnConnect);
    } catch (e) {
      // One session failing must never take the daemon down.
      this.#opts.logger.error({ err: (e as Error).stack, ip }, 'session could not start');
      socket.destroy();
      if (conn && this.#connections.delete(conn)) release();
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
