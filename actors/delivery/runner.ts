// The delivery actor's driver: the client socket (and TLS), the reply reader, streaming the message
// from the spool with dot-stuffing and backpressure, and the link to the queue (jobs, results).
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import { DotStuffer } from '../../protocol/smtp/client/dotstuff.js';
import { ReplyReader } from '../../protocol/smtp/client/replies.js';
import type { Spool } from '../../store/spool.js';
import { messageChunks } from '../../store/reader.js';
import type { DeliveryEvent } from '../events.js';
import type { DeliveryRunnerFactory, RunnerHooks } from '../queue/service.js';
import { deliveryMachine } from './machine.js';
import type { DeliverySettings, Effect, Target } from './steps.js';
import type { DeliveryJob, Destination } from './types.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';

export interface RunnerDeps {
  readonly spool: Spool;
  readonly logger: Logger;
  readonly inspection?: InspectionHub;
  settings(): DeliverySettings;
}

/** Starts one delivery actor per connection, with its socket handling. */
export function createRunnerFactory(deps: RunnerDeps): DeliveryRunnerFactory {
  return { start: (dest, first, hooks) => new Runner(deps, dest, first, hooks) };
}

class Runner {
  readonly #deps: RunnerDeps;
  readonly #hooks: RunnerHooks;
  readonly #actor;
  #socket: Socket | TLSSocket | undefined;
  #reader = new ReplyReader();
  #generation = 0;
  #ended = false;

  constructor(deps: RunnerDeps, dest: Destination, first: DeliveryJob, hooks: RunnerHooks) {
    this.#deps = deps;
    this.#hooks = hooks;
    this.#actor = createActor(deliveryMachine, {
      input: { settings: deps.settings(), dest, first },
      ...inspectOption(deps.inspection, 'delivery', () => ({ destination: dest.hosts.map((h) => `${h.name}:${h.port}`).join(' '), message: first.messageId })),
    });
    this.#actor.on('*', (e) => this.#perform(e as Effect));
    this.#actor.subscribe({
      complete: () => this.#end(),
      error: (err) => {
        deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'delivery actor failed');
        this.#end();
      },
    });
    this.#actor.start();
  }

  stop(): void {
    this.#socket?.destroy();
    this.#actor.stop();
    this.#end();
  }

  #send(e: DeliveryEvent): void {
    // Never from inside the actor's own transition (see the session's driver).
    queueMicrotask(() => {
      if (this.#actor.getSnapshot().status === 'active') this.#actor.send(e);
    });
  }

  #perform(e: Effect): void {
    switch (e.type) {
      case 'connect':
        this.#connect(e.target);
        return;
      case 'send':
        this.#socket?.write(e.text);
        return;
      case 'startTls':
        this.#startTls(e.servername);
        return;
      case 'sendMessage':
        this.#stream(e.job, this.#generation).catch((err: unknown) => {
          this.#deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'sending a message failed');
          this.#socket?.destroy();
        });
        return;
      case 'sendEmptyData':
        this.#socket?.write('.\r\n');
        return;
      case 'results':
        this.#hooks.results(e.job, e.results);
        return;
      case 'wantJob': {
        const job = this.#hooks.nextJob();
        this.#send({ type: 'JOB.NEXT', ...(job ? { job } : {}) });
        return;
      }
      case 'close':
        this.#close();
        return;
      case 'log':
        this.#deps.logger[e.level]({ event: 'delivery' }, e.msg);
        return;
    }
  }

  /** Events from a socket we have let go of are ignored: only the current generation counts. */
  #attach(socket: Socket | TLSSocket, generation: number): void {
    socket.on('data', (chunk: Buffer) => {
      if (generation !== this.#generation) return;
      for (const ev of this.#reader.push(chunk)) {
        this.#send(ev.kind === 'reply' ? { type: 'NET.REPLY', reply: ev.reply } : { type: 'NET.GARBAGE', reason: ev.reason });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (generation === this.#generation) this.#send({ type: 'NET.ERROR', code: err.code ?? err.message });
    });
    socket.on('close', () => {
      if (generation === this.#generation) this.#send({ type: 'NET.CLOSED' });
    });
  }

  #connect(t: Target): void {
    this.#close();
    const generation = ++this.#generation;
    this.#reader = new ReplyReader();
    const socket = netConnect({ host: t.ip, port: t.port, noDelay: true });
    this.#socket = socket;
    socket.once('connect', () => {
      if (generation === this.#generation) this.#send({ type: 'NET.CONNECTED' });
    });
    this.#attach(socket, generation);
  }

  #startTls(servername: string): void {
    const raw = this.#socket;
    if (!raw) return;
    const generation = ++this.#generation;
    raw.removeAllListeners('data');
    this.#reader = new ReplyReader();
    // Opportunistic TLS (RFC 3207, RFC 7435): encryption without authentication of the peer.
    const secure = tlsConnect({ socket: raw as Socket, ...(servername ? { servername } : {}), rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    this.#socket = secure;
    secure.once('secureConnect', () => {
      if (generation !== this.#generation) return;
      const cipher = secure.getCipher();
      this.#send({ type: 'TLS.READY', tls: { version: secure.getProtocol() ?? 'unknown', cipher: cipher.standardName ?? cipher.name } });
    });
    secure.once('error', (err) => {
      if (generation === this.#generation) this.#send({ type: 'TLS.FAILED', reason: err.message });
    });
    this.#attach(secure, generation);
  }

  /** Write the message with dot-stuffing and its final dot, waiting for the socket when it is full. */
  async #stream(job: DeliveryJob, generation: number): Promise<void> {
    const socket = this.#socket;
    const env = job.envelope ?? this.#deps.spool.envelope(job.messageId);
    if (!socket || !env) {
      // The message left the queue meanwhile (deleted by hand): abandon this connection.
      socket?.destroy();
      return;
    }
    const stuffer = new DotStuffer();
    // Corked: the pieces of a small message leave in one writev, not one system call each.
    socket.cork();
    let corked = true;
    const uncork = (): void => {
      if (corked) {
        corked = false;
        socket.uncork();
      }
    };
    const write = async (pieces: Buffer[]): Promise<boolean> => {
      for (const p of pieces) {
        if (generation !== this.#generation || socket.destroyed) return false;
        if (!socket.write(p)) {
          uncork();
          await new Promise<void>((r) => socket.once('drain', () => r()));
          socket.cork();
          corked = true;
        }
      }
      return true;
    };
    try {
      let read = 0;
      for (const chunk of messageChunks(this.#deps.spool, env)) {
        read += chunk.length;
        if (!(await write(stuffer.push(chunk)))) return;
      }
      if (read === 0 && env.size > 0) {
        // Deleted from the queue while this connection waited for the go-ahead: send nothing.
        uncork();
        socket.destroy();
        return;
      }
      if (!(await write([stuffer.end()]))) return;
      uncork();
      if (generation === this.#generation) this.#send({ type: 'NET.SENT' });
    } catch (e) {
      uncork();
      this.#deps.logger.error({ event: 'delivery-error', id: job.messageId, err: (e as Error).message }, `reading ${job.messageId} from the spool failed`);
      socket.destroy();
    }
  }

  #close(): void {
    const s = this.#socket;
    this.#socket = undefined;
    this.#generation++;
    if (s && !s.destroyed) {
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#close();
    this.#hooks.ended();
  }
}
