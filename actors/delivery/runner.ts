// The delivery actor's driver: the client socket (and TLS), the reply reader, streaming the message
// from the spool with dot-stuffing and backpressure, and the link to the queue (jobs, results). With
// DKIM/ARC signing configured, a job reaches the actor only once its message is signed (signer.ts):
// the fields are prepended to the stored chunks, and a dkim_strict failure defers the job unsent.
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import { DotStuffer } from '../../protocol/smtp/client/dotstuff.js';
import { ReplyReader } from '../../protocol/smtp/client/replies.js';
import type { ServerReply } from '../../protocol/smtp/client/replies.js';
import type { Spool } from '../../store/spool.js';
import { messageChunks } from '../../store/reader.js';
import type { DeliveryEvent } from '../events.js';
import type { DeliveryRunnerFactory, RunnerHooks } from '../queue/ports.js';
import { deliveryMachine } from './machine.js';
import type { DeliverySettings, Effect, Target } from './steps.js';
import type { DeliveryJob, Destination } from './types.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import type { MessageSigner, SignOutcome } from './signer.js';
import type { Envelope } from '../../store/envelope.js';

export interface RunnerDeps {
  readonly spool: Spool;
  readonly logger: Logger;
  readonly inspection?: InspectionHub;
  settings(): DeliverySettings;
  /** DKIM signing and ARC sealing of what is sent; absent: messages go as stored. */
  readonly signer?: MessageSigner;
}

/** Starts one delivery actor per connection, with its socket handling. */
export function createRunnerFactory(deps: RunnerDeps): DeliveryRunnerFactory {
  return { start: (dest, first, hooks) => new Runner(deps, dest, first, hooks) };
}

type DeliveryActor = ReturnType<typeof createActor<typeof deliveryMachine>>;

class Runner {
  readonly #deps: RunnerDeps;
  readonly #hooks: RunnerHooks;
  readonly #dest: Destination;
  #actor: DeliveryActor | undefined;
  #socket: Socket | TLSSocket | undefined;
  #reader = new ReplyReader();
  #generation = 0;
  #ended = false;
  /** Signed fields of the messages whose jobs this connection holds, by message id. */
  readonly #signed = new Map<string, Buffer | undefined>();
  /**
   * The envelopes of jobs handed to the actor, by message id, until their results. The actor holds its
   * jobs without them: it never reads one, and whatever the actor holds its tape (inspection) may keep
   * for hundreds of steps, which made the collector copy every envelope out of the young generation.
   */
  readonly #envelopes = new Map<string, Envelope>();
  /** Withdraws this connection from the queue's idle ones (set while it idles). */
  #unidle: (() => void) | undefined;

  constructor(deps: RunnerDeps, dest: Destination, first: DeliveryJob, hooks: RunnerHooks) {
    this.#deps = deps;
    this.#hooks = hooks;
    this.#dest = dest;
    if (!deps.signer?.active()) {
      this.#start(first);
      return;
    }
    // Signing first: the connection opens for a job that can be sent (a strict failure defers it unsent).
    this.#take(first).then(
      (job) => (job ? this.#start(job) : this.#end()),
      (err: unknown) => {
        deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'preparing a delivery failed');
        this.#end();
      },
    );
  }

  #start(first: DeliveryJob): void {
    if (this.#ended) return;
    const dest = this.#dest;
    const input = { settings: this.#deps.settings(), dest, first: this.#lighten(first) };
    const describe = (): Record<string, unknown> => ({ destination: dest.hosts.map((h) => `${h.name}:${h.port}`).join(' '), message: first.messageId });
    // Recorded for later (deferred deliveries) but not watched live: a tape costs far less than an observer.
    const tape = this.#deps.inspection?.tape?.('delivery', describe);
    const actor = createActor(deliveryMachine, { input, ...(tape ? {} : inspectOption(this.#deps.inspection, 'delivery', describe)) });
    tape?.attach(actor, input);
    this.#actor = actor;
    actor.on('*', (e) => this.#perform(e as Effect));
    actor.subscribe({
      complete: () => {
        // Jobs still held at the end were never tried here (asked ahead, or after a 452): queued again.
        const { jobs, later } = actor.getSnapshot().context;
        for (const job of [...jobs, ...(later ?? [])]) this.#hooks.giveBack?.(this.#withEnvelope(job));
        this.#end();
      },
      error: (err) => {
        this.#deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'delivery actor failed');
        this.#end();
      },
    });
    actor.start();
  }

  /**
   * The job, once its message is signed (the fields kept for #stream), its size counting them; a job
   * whose signing must defer is reported as deferred and the next one taken instead.
   */
  async #take(first: DeliveryJob | undefined): Promise<DeliveryJob | undefined> {
    const signer = this.#deps.signer;
    let job = first;
    while (job && signer) {
      const outcome: SignOutcome = await signer.acquire(job);
      if (this.#ended) {
        signer.release(job.messageId);
        return undefined;
      }
      if (outcome.kind !== 'defer') {
        const headers = outcome.kind === 'signed' ? outcome.headers : undefined;
        // A second job of a message already held shares its outcome (and its hold).
        if (this.#signed.has(job.messageId)) signer.release(job.messageId);
        this.#signed.set(job.messageId, headers);
        return headers ? { ...job, size: job.size + headers.length } : job;
      }
      signer.release(job.messageId);
      const reason = outcome.reason;
      this.#hooks.results(job, job.recipients.map((r) => ({ index: r.index, outcome: { kind: 'deferred' as const, reason } })));
      job = this.#hooks.nextJob();
    }
    return job;
  }

  stop(): void {
    this.#socket?.destroy();
    this.#actor?.stop();
    this.#end();
  }

  #send(e: DeliveryEvent): void {
    // Never from inside the actor's own transition (see the session's driver).
    queueMicrotask(() => {
      const snapshot = this.#actor?.getSnapshot();
      // A job the queue handed over once the actor can no longer take it goes back, untried. (One that
      // comes while it ends, QUIT sent, is taken and handed back at its end.)
      if (e.type === 'JOB.NEXT' && e.job && (snapshot?.status !== 'active' || snapshot.value === 'idle')) {
        this.#hooks.giveBack?.(e.job);
        return;
      }
      if (snapshot?.status !== 'active') return;
      this.#actor?.send(e.type === 'JOB.NEXT' && e.job ? { type: 'JOB.NEXT', job: this.#lighten(e.job) } : e);
    });
  }

  /** The job as the actor gets it: its envelope kept here instead (#envelopes). */
  #lighten(job: DeliveryJob): DeliveryJob {
    if (!job.envelope) return job;
    this.#envelopes.set(job.messageId, job.envelope);
    // A copy with the field set to undefined, not a rest pattern: V8 copies the first far faster. Object.assign,
    // not a spread: the job usually lacks messageIdHeader, and a spread that adds a key is slow (docs/decisions/0014).
    return Object.assign({}, job, { envelope: undefined, messageIdHeader: job.envelope.messageIdHeader });
  }

  /** A job from the actor, with its envelope again when this connection still has it. */
  #withEnvelope(job: DeliveryJob): DeliveryJob {
    const envelope = this.#envelopes.get(job.messageId);
    return envelope ? { ...job, envelope } : job;
  }

  /** The envelope to stream a job's message with: kept from its job, or read from the spool. */
  #envelopeOf(job: DeliveryJob): Envelope | undefined {
    return this.#envelopes.get(job.messageId) ?? job.envelope ?? this.#deps.spool.envelope(job.messageId);
  }

  #perform(e: Effect): void {
    // Whatever the actor does next, it is no longer idling.
    if (this.#unidle && e.type !== 'idle') this.#stopIdling();
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
        if (e.whole) {
          this.#writeWhole(e.job, e.then);
          return;
        }
        this.#stream(e.job, this.#generation, e.then).catch((err: unknown) => {
          this.#deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'sending a message failed');
          this.#socket?.destroy();
        });
        return;
      case 'sendEmptyData':
        this.#socket?.write('.\r\n');
        return;
      case 'results':
        // (A part of the job deferred by 452 goes on without it: read from the spool if it is tried here.)
        this.#envelopes.delete(e.job.messageId);
        this.#hooks.results(e.job, e.results);
        return;
      case 'idle': {
        const inIdle = (): boolean => !this.#ended && this.#actor?.getSnapshot().value === 'idle';
        const leave = (type: 'JOB.WAKE' | 'JOB.NONE'): boolean => {
          if (!inIdle()) return false;
          this.#stopIdling();
          // Delivered only if still idle when it arrives: a timeout or the server may have ended the wait first.
          queueMicrotask(() => {
            if (inIdle()) this.#actor?.send({ type });
          });
          return true;
        };
        this.#unidle = this.#hooks.idle?.({ wake: () => leave('JOB.WAKE'), release: () => leave('JOB.NONE') });
        return;
      }
      case 'wantJob': {
        if (e.ahead) {
          this.#askAhead();
          return;
        }
        // The actor holds no job when it asks for one: the fields of earlier messages are let go (after
        // the next job took its own hold, so that a next job of the same message finds them still kept).
        const held = [...this.#signed.keys()];
        this.#signed.clear();
        const letGo = (): void => {
          for (const id of held) this.#deps.signer?.release(id);
        };
        // The next job is signed before the actor gets it, whether it came at once or by message (delivery thread).
        const next = (job: DeliveryJob | undefined): void => {
          if (!job || !this.#deps.signer?.active()) {
            letGo();
            this.#send({ type: 'JOB.NEXT', ...(job ? { job } : {}) });
            return;
          }
          this.#take(job).then(
            (taken) => {
              letGo();
              this.#send({ type: 'JOB.NEXT', ...(taken ? { job: taken } : {}) });
            },
            (err: unknown) => {
              letGo();
              this.#deps.logger.error({ event: 'delivery-error', err: err instanceof Error ? err.stack : String(err) }, 'preparing a delivery failed');
              this.#send({ type: 'JOB.NEXT' });
            },
          );
        };
        this.#askQueue(next);
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

  /**
   * The next job, asked while a message is under way (ahead.ts). Where messages are signed, the actor is
   * told there is none: a signed job must keep its fields until it is sent, and asking between
   * messages keeps that simple (see wantJob).
   */
  #askAhead(): void {
    if (this.#deps.signer?.active()) this.#send({ type: 'JOB.NEXT' });
    else this.#askQueue((job) => this.#send({ type: 'JOB.NEXT', ...(job ? { job } : {}) }));
  }

  /** The queue's next job for this connection: at once, or by message where the queue is in another thread. */
  #askQueue(answer: (job: DeliveryJob | undefined) => void): void {
    const later = this.#hooks.nextJobLater;
    if (later) later.call(this.#hooks).then(answer, () => answer(undefined));
    else answer(this.#hooks.nextJob());
  }

  /** Events from a socket we have let go of are ignored: only the current generation counts. */
  #attach(socket: Socket | TLSSocket, generation: number): void {
    socket.on('data', (chunk: Buffer) => {
      if (generation !== this.#generation) return;
      // Replies that came in one read go as one event: a pipelined group costs the actor one step.
      let replies: ServerReply[] = [];
      for (const ev of this.#reader.push(chunk)) {
        if (ev.kind === 'reply') {
          replies.push(ev.reply);
          continue;
        }
        if (replies.length > 0) this.#send({ type: 'NET.REPLY', replies });
        replies = [];
        this.#send({ type: 'NET.GARBAGE', reason: ev.reason });
      }
      if (replies.length > 0) this.#send({ type: 'NET.REPLY', replies });
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
  async #stream(job: DeliveryJob, generation: number, then?: string): Promise<void> {
    const socket = this.#socket;
    const env = this.#envelopeOf(job);
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
      const stored = { read: 0 };
      for (const piece of this.#pieces(job, env, stuffer, stored)) if (!(await write([piece]))) return;
      if (stored.read === 0 && env.size > 0) {
        this.#abandon(job, socket);
        return;
      }
      if (!(await write([stuffer.end()]))) return;
      // The next transaction's commands, pipelined behind the final dot: the same write carries them.
      if (then !== undefined && generation === this.#generation && !socket.destroyed) socket.write(then);
      uncork();
      if (generation === this.#generation) this.#send({ type: 'NET.SENT' });
    } catch (e) {
      uncork();
      this.#deps.logger.error({ event: 'delivery-error', id: job.messageId, err: (e as Error).message }, `reading ${job.messageId} from the spool failed`);
      socket.destroy();
    }
  }

  /**
   * The message as it goes on the wire, without its final dot: the signature fields first, then the
   * stored chunks, all through the same dot-stuffing. `stored.read` counts the stored octets read.
   */
  *#pieces(job: DeliveryJob, env: Envelope, stuffer: DotStuffer, stored: { read: number }): Generator<Buffer> {
    const signed = this.#signed.get(job.messageId);
    if (signed) yield* stuffer.push(signed);
    for (const chunk of messageChunks(this.#deps.spool, env)) {
      stored.read += chunk.length;
      yield* stuffer.push(chunk);
    }
  }

  /**
   * A small message (WHOLE_MESSAGE), final dot and `then` included, written before this returns: no
   * wait for the socket, so nothing can come in between, and the actor is not told when it is done.
   */
  #writeWhole(job: DeliveryJob, then: string | undefined): void {
    const socket = this.#socket;
    if (!socket) return;
    const env = this.#envelopeOf(job);
    if (!env) {
      this.#send({ type: 'NET.UNSENT' });
      this.#abandon(job, socket);
      return;
    }
    const stuffer = new DotStuffer();
    socket.cork();
    try {
      const stored = { read: 0 };
      for (const piece of this.#pieces(job, env, stuffer, stored)) socket.write(piece);
      if (stored.read === 0 && env.size > 0) {
        this.#send({ type: 'NET.UNSENT' });
        this.#abandon(job, socket);
        return;
      }
      socket.write(stuffer.end());
      if (then !== undefined) socket.write(then);
    } catch (e) {
      this.#send({ type: 'NET.UNSENT' });
      this.#deps.logger.error({ event: 'delivery-error', id: job.messageId, err: (e as Error).message }, `reading ${job.messageId} from the spool failed`);
      socket.destroy();
    } finally {
      if (!socket.destroyed) socket.uncork();
    }
  }

  /**
   * A message deleted from the queue while this connection waited for the go-ahead: nothing of it is
   * sent. Said in the log, because the server sees the connection cut after DATA, and this side
   * reports it as closed.
   */
  #abandon(job: DeliveryJob, socket: Socket | TLSSocket): void {
    this.#deps.logger.warn({ event: 'delivery-error', id: job.messageId }, `${job.messageId} has no data in the spool (deleted from the queue?): connection abandoned after DATA`);
    socket.destroy();
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

  #stopIdling(): void {
    const f = this.#unidle;
    this.#unidle = undefined;
    f?.();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopIdling();
    this.#close();
    for (const id of this.#signed.keys()) this.#deps.signer?.release(id);
    this.#signed.clear();
    this.#envelopes.clear();
    this.#hooks.ended();
  }
}
