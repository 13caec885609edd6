// One client TCP connection to an SMTP server: writes commands, hands back replies in order.

import net from 'node:net';
import { LoadgenError } from '../errors.js';
import { ReplyReader, type SmtpReply } from './reply.js';

type Waiter = { resolve: (r: SmtpReply) => void; reject: (e: Error) => void };

// Ordinary ends share one error object: capturing a stack per closed connection showed up as a
// measurable share of the client's CPU at thousands of connections per second.
const CLOSED_BY_SERVER = new LoadgenError('ERR_LOADGEN_CLOSED', 'connection closed by server');
const CLOSED_BY_CLIENT = new LoadgenError('ERR_LOADGEN_CLOSED', 'connection closed by client');
const ABORTED_BY_CLIENT = new LoadgenError('ERR_LOADGEN_CLOSED', 'connection aborted by client');

/**
 * Replies are queued as they are parsed and handed to `read()` callers in order, so a pipelined
 * group of commands can be written at once and its replies collected one by one.
 */
export class SmtpConnection {
  readonly #socket: net.Socket;
  readonly #reader = new ReplyReader();
  readonly #ready: SmtpReply[] = [];
  readonly #waiters: Waiter[] = [];
  #failure: Error | undefined;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    // Nagle would hold the small final ".\r\n" back and distort the latency being measured.
    socket.setNoDelay(true);
    socket.setTimeout(timeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('timeout', () =>
      this.#fail(new LoadgenError('ERR_LOADGEN_TIMEOUT', `no reply within ${timeoutMs} ms`)),
    );
    socket.on('error', (err) => this.#fail(new LoadgenError('ERR_LOADGEN_CLOSED', err.message, { cause: err })));
    socket.on('close', () => this.#fail(CLOSED_BY_SERVER));
  }

  /** Opens a connection; rejects with ERR_LOADGEN_CONNECT when refused or too slow. */
  static connect(host: string, port: number, timeoutMs: number): Promise<SmtpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LoadgenError('ERR_LOADGEN_CONNECT', `connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new LoadgenError('ERR_LOADGEN_CONNECT', `connect to ${host}:${port}: ${err.message}`, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SmtpConnection(socket, timeoutMs));
      });
    });
  }

  /** The next reply, in the order the server sent them. */
  read(): Promise<SmtpReply> {
    const r = this.#ready.shift();
    if (r) return Promise.resolve(r);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  write(data: string): void {
    this.#socket.write(data, 'latin1');
  }

  /**
   * Writes a message: headers, shared body and the terminator in one segment when small. A large
   * body is sent first and the terminator after it is flushed, so that `onFinalDot` marks the moment
   * the server can start to answer rather than the start of a long transfer.
   */
  writeMessage(headers: string, body: Buffer, onFinalDot: () => void): void {
    const s = this.#socket;
    if (body.length <= 64 * 1024) {
      s.cork();
      s.write(headers, 'latin1');
      s.write(body);
      s.write('.\r\n', 'latin1');
      onFinalDot();
      s.uncork();
      return;
    }
    s.write(headers, 'latin1');
    s.write(body, () => {
      if (this.#failure) return;
      s.write('.\r\n', 'latin1');
      onFinalDot();
    });
  }

  get closed(): boolean {
    return this.#failure !== undefined;
  }

  /** Closes politely when possible; never throws. */
  end(): void {
    if (this.#failure) return;
    this.#failure = CLOSED_BY_CLIENT;
    this.#socket.end();
    // A server that never closes its side must not keep the socket (and the process) alive.
    this.#socket.setTimeout(1000, () => this.#socket.destroy());
    this.#rejectAll(this.#failure);
  }

  destroy(): void {
    this.#fail(ABORTED_BY_CLIENT);
  }

  #onData(chunk: Buffer): void {
    let replies: SmtpReply[];
    try {
      replies = this.#reader.push(chunk);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    for (const r of replies) {
      const w = this.#waiters.shift();
      if (w) w.resolve(r);
      else this.#ready.push(r);
    }
  }

  #fail(err: Error): void {
    if (!this.#failure) this.#failure = err;
    this.#socket.destroy();
    this.#rejectAll(this.#failure);
  }

  #rejectAll(err: Error): void {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) w.reject(err);
  }
}
