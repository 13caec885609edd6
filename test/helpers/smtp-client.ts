// Test helper: a raw SMTP client over a real socket, for exact control of what is sent and when.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface Reply {
  readonly code: number;
  readonly lines: string[];
  readonly text: string;
}

export class RawClient {
  socket: Socket | TLSSocket;
  #buf = '';
  #replies: Reply[] = [];
  #waiting: ((r: Reply | null) => void)[] = [];
  closed = false;
  #closeWaiters: (() => void)[] = [];

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.#wire(socket);
  }

  #wire(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.#onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiting.splice(0)) w(null);
      for (const w of this.#closeWaiters.splice(0)) w();
    });
  }

  /** localAddress: the whole of 127.0.0.0/8 is loopback, so a test can be "another host". */
  static connect(port: number, opts: { tls?: boolean; localAddress?: string } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
      const s = opts.tls
        ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...local }, () => resolve(new RawClient(s)))
        : connect({ host: '127.0.0.1', port, ...local }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  #onData(d: string): void {
    this.#buf += d;
    let lines: string[] = [];
    for (;;) {
      const nl = this.#buf.indexOf('\r\n');
      if (nl < 0) break;
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 2);
      lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const reply: Reply = { code: Number(line.slice(0, 3)), lines: lines.map((l) => l.slice(4)), text: lines.join('\n') };
        lines = [];
        const w = this.#waiting.shift();
        if (w) w(reply);
        else this.#replies.push(reply);
      }
    }
    if (lines.length > 0) this.#buf = lines.map((l) => l + '\r\n').join('') + this.#buf;
  }

  /** The next reply (null if the connection closed first). */
  read(timeoutMs = 5000): Promise<Reply | null> {
    const r = this.#replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter = (x: Reply | null): void => {
        clearTimeout(t);
        resolve(x);
      };
      const t = setTimeout(() => {
        // Withdraw the waiter, so that a reply arriving later is kept for the next read().
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(new Error('timed out waiting for a reply'));
      }, timeoutMs);
      this.#waiting.push(waiter);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Send a command line (CRLF added) and return its reply. */
  async cmd(line: string): Promise<Reply | null> {
    this.write(line + '\r\n');
    return this.read();
  }

  async upgradeTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: raw as Socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.#wire(secure);
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connection did not close')), timeoutMs);
      this.#closeWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** MAIL, RCPT..., DATA, content, "." on a greeted session; returns the final reply. */
export async function sendMail(c: RawClient, from: string, to: string[], content: string): Promise<Reply | null> {
  const mail = await c.cmd(`MAIL FROM:<${from}>`);
  if (mail?.code !== 250) return mail;
  for (const r of to) await c.cmd(`RCPT TO:<${r}>`);
  const data = await c.cmd('DATA');
  if (data?.code !== 354) return data;
  c.write(content.endsWith('\r\n') ? `${content}.\r\n` : `${content}\r\n.\r\n`);
  return c.read();
}
