// The smtp-session's driver: moves bytes between one socket and its session actor, and performs
// what the actor emits (replies, TLS upgrade, data streaming, close). All socket I/O lives here.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { parseCommand } from '../../protocol/smtp/command.js';
import type { Command } from '../../protocol/smtp/command.js';
import { LineReader } from '../../protocol/smtp/lines.js';
import { R } from '../../protocol/smtp/reply.js';
import { COMMAND_LINE_MAX, PARAMETER_ALLOWANCE } from '../../protocol/smtp/sequencer.js';
import { inspectOption } from '../inspection.js';
import type { TlsRecord } from '../../store/envelope.js';
import type { SessionEmitted, SessionEvent, VerifyAsk } from '../events.js';
import { sessionMachine } from './machine.js';
import { Receiver } from './receiver.js';
import type { ConnectionFacts, SessionPorts } from './types.js';
import type { ConnectionDeps } from './deps.js';
import { verifyReceived } from './verify.js';

export type SessionActor = Actor<typeof sessionMachine>;

/** Buffered command input beyond which the socket is paused until the session catches up. */
const INPUT_HIGH_WATER = 64 * 1024;

/** A client that neither closes nor reads after our last reply is cut off after this long. */
const LINGER_MS = 5000;

export class Connection {
  #socket: Socket;
  readonly #deps: ConnectionDeps;
  readonly #reader = new LineReader(COMMAND_LINE_MAX + PARAMETER_ALLOWANCE);
  #mode: 'command' | 'data' | 'tls' | 'closed' = 'command';
  #receiver: Receiver | undefined;
  #out: string[] = [];
  #flushQueued = false;
  #bannerSent = false;
  #early = false;
  #ready = false;
  #pumping = false;
  #paused = false;
  #silence: NodeJS.Timeout | undefined;
  #silenceMs = 0;
  #actor: SessionActor | undefined;
  #facts: ConnectionFacts;
  readonly #onEnd: () => void;
  #ended = false;
  /** Cuts a client that stays after our last reply; cleared when the socket closes, so that it does not hold the session. */
  #linger: NodeJS.Timeout | undefined;

  /** `local`: the listening address when it is a specific one, which saves asking the kernel (getsockname) per connection. */
  constructor(socket: Socket, deps: ConnectionDeps, onEnd: () => void, local?: { readonly ip: string; readonly port: number }) {
    this.#socket = socket;
    this.#deps = deps;
    this.#onEnd = onEnd;
    this.#facts = {
      clientIp: normaliseIp(socket.remoteAddress ?? ''),
      clientPort: socket.remotePort ?? 0,
      serverIp: local ? local.ip : normaliseIp(socket.localAddress ?? ''),
      serverPort: local ? local.port : (socket.localPort ?? 0),
    };
  }

  get clientIp(): string {
    return this.#facts.clientIp;
  }

  get actor(): SessionActor | undefined {
    return this.#actor;
  }

  /** Begin the session; with tlsOnConnect the TLS handshake comes first (implicit TLS, RFC 8314). */
  start(tlsOnConnect: boolean): void {
    this.#socket.on('error', (e) => this.#deps.logger.debug({ err: e.message, ip: this.#facts.clientIp }, 'socket error'));
    this.#socket.once('close', () => this.#closed());
    if (!tlsOnConnect) {
      this.#attach(this.#socket);
      this.#startActor();
      return;
    }
    this.#upgrade((tls) => {
      this.#facts = { ...this.#facts, tls };
      this.#startActor();
    });
  }

  /** The daemon is stopping: the session answers 421 at its next chance. */
  shutdown(): void {
    this.#actor?.send({ type: 'SESSION.SHUTDOWN' });
  }

  /** Cut the connection now (shutdown deadline passed). */
  destroy(): void {
    this.#socket.destroy();
  }

  #attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #startActor(): void {
    const ports: SessionPorts = {
      tryAcl: (r) => this.#deps.tryAcl(r),
      newMessage: () => this.#deps.newMessage(),
      offer: (tls) => this.#deps.offer(this.#facts.clientIp, tls),
    };
    const facts = this.#facts;
    const actor = createActor(sessionMachine, {
      input: { conn: facts, settings: this.#deps.settings, ports },
      ...inspectOption(this.#deps.inspection, 'session', () => ({ client: `[${facts.clientIp}]:${facts.clientPort}`, server: `${facts.serverIp}:${facts.serverPort}` })),
    });
    this.#actor = actor;
    actor.on('*', (e) => this.#perform(e as SessionEmitted));
    actor.subscribe({
      next: (snap) => {
        if (snap.status === 'done') return;
        if (snap.hasTag('awaitCommand') && !this.#ready) {
          this.#ready = true;
          this.#arm(this.#deps.settings.timeouts.command);
          // Not from inside the actor's notification: an event sent now would be queued behind
          // this transition and the snapshot read after it would be stale.
          queueMicrotask(() => {
            if (!this.#pumping) this.#pump();
          });
        }
      },
      error: (err) => this.#crashed(err),
      complete: () => this.#finish(),
    });
    actor.start();
  }

  #onData(chunk: Buffer): void {
    if (!this.#bannerSent) this.#early = true;
    switch (this.#mode) {
      case 'command':
        this.#reader.push(chunk);
        if (!this.#pumping) this.#pump();
        // The session is busy (an ACL, a commit) and the client keeps sending: stop reading
        // rather than buffer without bound (RFC 2920 lets us apply this flow control).
        if (this.#reader.pending > INPUT_HIGH_WATER && !this.#paused) {
          this.#paused = true;
          this.#socket.pause();
        }
        return;
      case 'data':
        this.#feedData(chunk);
        return;
      default:
        return; // closing, or plaintext during a TLS upgrade: ignored
    }
  }

  /** Hand complete command lines to the actor, one at a time, whenever it waits for one. */
  #pump(): void {
    const actor = this.#actor;
    if (!actor) return;
    this.#pumping = true;
    try {
      while (this.#ready && this.#mode === 'command') {
        const ev = this.#reader.next();
        if (!ev) break;
        this.#ready = false;
        let command: Command;
        let octets: number;
        if (ev.kind === 'tooLong') {
          command = { kind: 'invalid', reply: R.lineTooLong, line: '' };
          octets = COMMAND_LINE_MAX + PARAMETER_ALLOWANCE + 1;
        } else if (ev.bareLf && this.#deps.settings.bareNewline === 'reject') {
          command = { kind: 'invalid', reply: R.bareLf, line: '' };
          octets = ev.bytes.length + 1;
        } else {
          command = parseCommand(ev.bytes);
          octets = ev.bytes.length + (ev.bareLf ? 1 : 2);
        }
        actor.send({ type: 'SMTP.COMMAND', command, octets, pipelined: this.#reader.pending > 0, early: this.#early });
        const snap = actor.getSnapshot();
        if (snap.status === 'active' && snap.hasTag('awaitCommand')) {
          this.#ready = true;
          this.#silence?.refresh();
        } else if (this.#mode === 'command') {
          // Busy with an ACL or a commit: the silence timer restarts when the session is ready.
          this.#disarm();
        }
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#paused && this.#reader.pending <= INPUT_HIGH_WATER) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #feedData(chunk: Buffer): void {
    const rx = this.#receiver;
    const actor = this.#actor;
    if (!rx || !actor) return;
    const r = rx.feed(chunk);
    if (r.pause) {
      this.#socket.pause();
      void rx.drain().then(() => this.#socket.resume());
    }
    if (!r.end) {
      this.#silence?.refresh();
      return;
    }
    this.#mode = 'command';
    this.#disarm();
    if (r.rest.length > 0) this.#reader.push(r.rest);
    actor.send({ type: 'DATA.END', summary: rx.summary() });
  }

  /** Carry out one thing the actor asked for. Runs inside the actor's transition: no re-entry. */
  #perform(e: SessionEmitted): void {
    switch (e.type) {
      case 'reply':
        this.#out.push(e.text);
        if (!this.#flushQueued) {
          this.#flushQueued = true;
          // Replies produced in one turn (a pipelined group) go out in one write (RFC 2920).
          setImmediate(() => this.#flush());
        }
        return;
      case 'acl': {
        const { seq, request } = e;
        this.#deps.runAcl(request).then(
          (outcome) => this.#send({ type: 'ACL.RESULT', seq, outcome }),
          (err: unknown) => this.#send({ type: 'ACL.FAILED', seq, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case 'verify':
        this.#verify(e.seq, e.ask);
        return;
      case 'commit': {
        const rx = this.#receiver;
        this.#receiver = undefined;
        if (!rx) {
          queueMicrotask(() => this.#send({ type: 'SPOOL.FAILED', error: 'no message is being received' }));
          return;
        }
        const started = performance.now();
        const auth = this.#deps.auth;
        const omit = auth?.strip(this.#facts.clientIp, e.draft.client.authenticatedId !== undefined) ? rx.authResultsClaiming(auth.authservId) : [];
        rx.commit(omit.length > 0 ? { ...e.draft, omit } : e.draft).then(
          (envelope) => {
            this.#send({ type: 'SPOOL.COMMITTED', envelope });
            if (!e.hold) this.#deps.committed(envelope, rx.editMark);
            this.#deps.metrics?.messages.inc({ outcome: 'accepted' });
            this.#deps.metrics?.commitSeconds.observe((performance.now() - started) / 1000);
          },
          (err: unknown) => this.#send({ type: 'SPOOL.FAILED', error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case 'beginData': {
        const s = this.#deps.settings;
        const hashes = this.#deps.auth?.hashes(e.dkim);
        this.#receiver = new Receiver(this.#deps.spool.beginMessage(e.id), e.header, {
          bareNewline: s.bareNewline, lineLengthLimit: s.lineLengthLimit, sizeLimit: s.messageSizeLimit, headerMax: s.headerMax,
          ...(hashes ? { hashes } : {}),
        });
        this.#mode = 'data';
        this.#arm(this.#deps.settings.timeouts.data);
        const pending = this.#reader.take();
        if (pending.length > 0) queueMicrotask(() => this.#feedData(pending));
        return;
      }
      case 'discardData': {
        const rx = this.#receiver;
        this.#receiver = undefined;
        this.#deps.metrics?.messages.inc({ outcome: 'rejected' });
        if (rx) void rx.abort().catch((err: Error) => this.#deps.logger.error({ err: err.message }, 'discarding message data failed'));
        return;
      }
      case 'startTls':
        this.#mode = 'tls';
        queueMicrotask(() => {
          this.#flush();
          // RFC 3207 section 4.2: anything the client sent after STARTTLS, before the handshake,
          // is discarded (it could have been injected by a man in the middle).
          this.#reader.take();
          this.#socket.removeAllListeners('data');
          this.#upgrade((tls) => {
            this.#mode = 'command';
            this.#actor?.send({ type: 'TLS.READY', tls });
          });
        });
        return;
      case 'close':
        this.#mode = 'closed';
        this.#flush();
        this.#closeAfterReply();
        return;
      case 'log':
        // ip and port first: a spread followed by keys it lacks is slow on Node 20 (decision 0014).
        this.#deps.logger[e.level]({ ip: this.#facts.clientIp, port: this.#facts.clientPort, ...e.fields }, e.msg);
        return;
    }
  }

  /** Run the message verifier on what the receiver collected; answer VERIFY.DONE or VERIFY.FAILED. */
  #verify(seq: number, ask: VerifyAsk): void {
    verifyReceived(this.#receiver, this.#deps.auth, this.#facts.clientIp, seq, ask, (e) => this.#send(e));
  }

  /** Send an answer to the actor if it is still running (the client may have gone). */
  #send(event: SessionEvent): void {
    const actor = this.#actor;
    if (actor && actor.getSnapshot().status === 'active') actor.send(event);
  }

  /**
   * The client-silence timer: one per connection, re-armed by refresh() rather than rescheduled,
   * because it restarts on every command (see docs/decisions, session waits).
   */
  #arm(ms: number): void {
    if (this.#silence && this.#silenceMs === ms) {
      this.#silence.refresh();
      return;
    }
    this.#disarm();
    this.#silenceMs = ms;
    this.#silence = setTimeout(() => {
      this.#silence = undefined;
      this.#send({ type: 'SOCKET.TIMEOUT' });
    }, ms);
  }

  #disarm(): void {
    if (this.#silence) clearTimeout(this.#silence);
    this.#silence = undefined;
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#out.length === 0) return;
    const text = this.#out.length === 1 ? (this.#out[0] as string) : this.#out.join('');
    this.#out = [];
    this.#bannerSent = true;
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(text);
  }

  /**
   * Close after the last reply. Once that reply and the FIN are with the kernel, which still delivers
   * them, the socket goes: waiting to read the client's own close (often a reset after QUIT) cost an
   * error object per connection.
   * - Plain TCP with the reply wholly written: closed at once. The kernel sends the reply, then the FIN,
   *   in this turn (a close is graceful while nothing unread waits in the kernel, as after an end()).
   *   An end() first would send the FIN from libuv's next poll round instead, after a shutdown request,
   *   a wait for writability and a syscall of its own, and often a second wake-up of the client.
   * - Otherwise (a reply still queued, or TLS with its close_notify): end(), and destroy once it
   *   finished; cut after LINGER_MS if it never does.
   */
  #closeAfterReply(): void {
    const s = this.#socket;
    if (!(s instanceof TLSSocket) && s.writableLength === 0) {
      s.destroy();
      return;
    }
    s.once('finish', () => s.destroy());
    s.end();
    this.#lingerThenCut();
  }

  #upgrade(done: (tls: TlsRecord) => void): void {
    const context = this.#deps.tlsContext();
    if (!context) {
      this.#actor?.send({ type: 'TLS.FAILED', reason: 'no TLS certificate configured' });
      this.#socket.destroy();
      return;
    }
    const raw = this.#socket;
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
    this.#socket = secure;
    secure.on('error', (err) => {
      this.#actor?.send({ type: 'TLS.FAILED', reason: err.message });
      secure.destroy();
    });
    secure.once('secure', () => {
      const cipher = secure.getCipher();
      const peer = secure.getPeerCertificate();
      const tls: TlsRecord = {
        version: secure.getProtocol() ?? 'unknown',
        cipher: cipher.standardName ?? cipher.name,
        ...(peer && peer.subject ? { peerSubject: String(peer.subject.CN ?? '') } : {}),
      };
      this.#attach(secure);
      done(tls);
    });
  }

  #crashed(err: unknown): void {
    this.#deps.logger.error({ err: err instanceof Error ? err.stack : String(err), ip: this.#facts.clientIp }, 'session failed; connection closed');
    if (!this.#socket.destroyed) {
      this.#socket.end(`${R.localError.code} ${R.localError.enhanced} ${R.localError.lines[0]}\r\n`);
      this.#lingerThenCut();
    }
    void this.#receiver?.abort().catch(() => undefined);
    this.#receiver = undefined;
    this.#finish();
  }

  /**
   * Cut the socket if the client neither reads nor closes within LINGER_MS. The timer is
   * cleared at close: left to run, it kept every finished session (socket, actor, buffers)
   * reachable for those seconds, so each one outlived the young generation and cost old-space
   * collections.
   */
  #lingerThenCut(): void {
    if (this.#linger) return;
    this.#linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    this.#linger.unref();
  }

  #closed(): void {
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#mode = 'closed';
    // A client that vanished mid-DATA: nothing it sent is kept (it was never acknowledged).
    const rx = this.#receiver;
    this.#receiver = undefined;
    if (rx) void rx.abort().catch(() => undefined);
    const actor = this.#actor;
    if (actor && actor.getSnapshot().status === 'active') actor.send({ type: 'SOCKET.CLOSED' });
    this.#finish();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#disarm();
    if (!this.#socket.destroyed && this.#mode !== 'closed') this.#socket.destroy();
    this.#onEnd();
  }
}

/** IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) are shown and matched as plain IPv4. */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
