// The listener's I/O side: TCP servers on the configured addresses, one Connection per client.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import type { ListenAddress } from '../../config/load.js';
import type { ListenerEmitted } from '../events.js';
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

export interface ListenerOptions {
  readonly listen: readonly ListenAddress[];
  readonly maxTotal: number;
  readonly maxPerHost: number;
  readonly logger: Logger;
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
  readonly #servers: Server[] = [];
  readonly #connections = new Set<Connection>();
  readonly #actor;
  #verdict: ListenerEmitted | undefined;
  #bound: { host: string; port: number; tlsOnConnect: boolean }[] = [];

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#actor = createActor(listenerMachine, { input: { maxTotal: opts.maxTotal, maxPerHost: opts.maxPerHost } });
    this.#actor.on('*', (e) => {
      this.#verdict = e as ListenerEmitted;
    });
  }

  /** Addresses actually bound (port 0 in config becomes the port the system chose). */
  get addresses(): readonly { host: string; port: number; tlsOnConnect: boolean }[] {
    return this.#bound;
  }

  get active(): number {
    return this.#connections.size;
  }

  async start(): Promise<void> {
    this.#actor.start();
    try {
      for (const addr of this.#opts.listen) {
        const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.#accept(s, addr.tlsOnConnect));
        server.maxConnections = Number.MAX_SAFE_INTEGER;
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: addr.host, port: addr.port, backlog: 1024 }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (e) => this.#opts.onFailure(e));
        this.#servers.push(server);
        const info = server.address() as AddressInfo;
        this.#bound.push({ host: info.address, port: info.port, tlsOnConnect: addr.tlsOnConnect });
      }
    } catch (e) {
      await this.#closeServers();
      const err = e as NodeJS.ErrnoException;
      throw new ListenError(`cannot listen on ${this.#opts.listen.map((l) => `${l.host}:${l.port}`).join(', ')}: ${err.code ?? err.message}`, { cause: e });
    }
  }

  #accept(socket: Socket, tlsOnConnect: boolean): void {
    const ip = normaliseIp(socket.remoteAddress ?? '');
    this.#verdict = undefined;
    this.#actor.send({ type: 'CONN.OPEN', ip });
    const verdict = this.#verdict as ListenerEmitted | undefined;
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
      conn = new Connection(socket, this.#opts.deps(), () => {
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

  async #closeServers(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#servers.length = 0;
  }

  /**
   * Graceful stop: refuse new connections, tell every session (idle ones answer 421 now, busy
   * ones after their transaction), and cut whatever is left at the deadline.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#actor.send({ type: 'LISTENER.STOP' });
    const closing = this.#closeServers();
    for (const c of this.#connections) c.shutdown();
    const until = Date.now() + deadlineMs;
    while (this.#connections.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    for (const c of this.#connections) c.destroy();
    await closing;
    this.#actor.stop();
  }
}
