// Test helper: a scriptable fake SMTP server, the remote side of Petrel's deliveries. It listens on
// any 127.x.y.z address, answers each stage (banner, EHLO/HELO, STARTTLS, MAIL, each RCPT, DATA,
// end of data, RSET, QUIT) as scripted: a reply (multiline, delayed, split into packets), garbage,
// a dropped connection, or silence; and records every command and every transaction it accepted.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { TLSSocket, createSecureContext } from 'node:tls';

/**
 * What the peer does at a stage.
 * - a string: the reply; lines separated by "\n" are sent as they are written ("250-a\n250 b"),
 *   each ended with CRLF;
 * - `{ reply, delayMs?, split?, close? }`: the same after a delay, and/or cut into pieces sent as separate
 *   packets (`split: true` cuts every few octets; a number gives the size of the pieces), and/or
 *   followed by the end of the connection (`close: true`: the server's FIN right after the reply);
 * - `{ drop: true }`: close the connection without answering;
 * - `{ garbage }`: send these octets as they are (add your own line ends);
 * - `{ silent: true }`: never answer (the client's timeout decides).
 */
export type PeerAction =
  | string
  | { readonly reply: string; readonly delayMs?: number; readonly split?: boolean | number; readonly close?: boolean }
  | { readonly drop: true; readonly delayMs?: number }
  | { readonly garbage: string | Buffer; readonly delayMs?: number }
  | { readonly silent: true };

export interface PeerRcpt {
  readonly address: string;
  /** The parameters after the address, as sent ("NOTIFY=FAILURE ORCPT=rfc822;a@b"), "" when none. */
  readonly params: string;
}

/** The state a script function may look at. */
export interface PeerContext {
  /** 1 for the first connection the peer accepted, 2 for the next... */
  readonly connection: number;
  /** Transactions accepted so far on this connection. */
  readonly accepted: number;
  readonly tls: boolean;
  readonly helo?: string;
  readonly from?: string;
  readonly mailParams: string;
  /** Recipients accepted so far in the current transaction. */
  readonly rcpts: readonly PeerRcpt[];
}

/** A stage's script: an action, or a function of the command that may return undefined for the default. */
export type PeerHook<A extends unknown[]> = PeerAction | ((...args: [...A, PeerContext]) => PeerAction | undefined);

export interface PeerScript {
  /** Keywords after the first EHLO line, e.g. ['PIPELINING', 'SIZE 1000', 'DSN', 'SMTPUTF8', 'STARTTLS']. */
  extensions?: readonly string[];
  /** Cut every reply into small packets. */
  split?: boolean;
  banner?: PeerHook<[]>;
  ehlo?: PeerHook<[name: string]>;
  helo?: PeerHook<[name: string]>;
  starttls?: PeerHook<[]>;
  mail?: PeerHook<[address: string, params: string]>;
  rcpt?: PeerHook<[address: string, params: string]>;
  /** Replies to RCPT by recipient address (lower-cased), before `rcpt` is asked. */
  rcptByAddress?: Readonly<Record<string, PeerAction>>;
  data?: PeerHook<[]>;
  /** The reply after the end of data; the content (dot-stuffing removed) is given. */
  dot?: PeerHook<[content: Buffer]>;
  rset?: PeerHook<[]>;
  quit?: PeerHook<[]>;
}

export interface PeerOptions extends PeerScript {
  /** Address to listen on (default 127.0.0.1; any 127.x.y.z works). */
  host?: string;
  /** Port (default 0: any free one). */
  port?: number;
  /** The name in the banner and EHLO reply (default peer.test). */
  name?: string;
  /** Certificate and key files for STARTTLS (offer it by listing STARTTLS in extensions). */
  tls?: { readonly cert: string; readonly key: string };
}

/** One transaction the peer accepted (a 2xx after the end of data). */
export interface PeerTransaction {
  readonly connection: number;
  readonly helo: string;
  /** The keyword the client greeted with. */
  readonly greeting: 'EHLO' | 'HELO';
  readonly tls: boolean;
  readonly from: string;
  readonly mailParams: string;
  readonly rcpts: readonly PeerRcpt[];
  /** The content as the client sent it, dot-stuffing removed, without the final dot line. */
  readonly data: Buffer;
  /** The Message-ID header's value (angle brackets included), if there is one. */
  readonly messageId: string | undefined;
}

export interface PeerCommand {
  readonly connection: number;
  readonly line: string;
  readonly tls: boolean;
}

export interface SmtpPeer {
  readonly host: string;
  readonly port: number;
  /** "host:port", ready for smarthost or route_list. */
  readonly hostPort: string;
  readonly transactions: PeerTransaction[];
  readonly commands: PeerCommand[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Reads that held the end of a message and the next MAIL command together (pipelined, RFC 2920 section 3.1). */
  readonly pipelinedAfterDot: number;
  /** Change the script (merged over the current one); connections already open see the change too. */
  setScript(script: PeerScript): void;
  /** Resolves once `n` transactions are recorded (fails after timeoutMs). */
  waitForTransactions(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULTS = {
  banner: (name: string): string => `220 ${name} ESMTP fake peer`,
  mail: '250 2.1.0 Sender ok',
  rcpt: '250 2.1.5 Recipient ok',
  data: '354 End data with <CR><LF>.<CR><LF>',
  dot: '250 2.0.0 Ok: queued',
  rset: '250 2.0.0 Ok',
  quit: '221 2.0.0 Bye',
  starttls: '220 2.0.0 Ready to start TLS',
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The first Message-ID: header of a message's header section. */
export function messageIdOf(data: Buffer | string): string | undefined {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  return /^message-id:[ \t]*(<[^>\r\n]*>)/im.exec(head)?.[1];
}

/** Splits "MAIL FROM:<a@b> X=Y" into the address and the parameters. */
function pathAndParams(arg: string): { address: string; params: string } {
  const m = /^\s*<([^>]*)>\s*(.*)$/.exec(arg);
  if (m) return { address: m[1] as string, params: (m[2] as string).trim() };
  const [address = '', ...rest] = arg.trim().split(/\s+/);
  return { address, params: rest.join(' ') };
}

function unstuff(body: Buffer): Buffer {
  // A line that starts with a dot had one more dot added by the client (RFC 5321 section 4.5.2).
  const text = body.toString('latin1').replace(/(^|\r\n)\.\./g, '$1.');
  return Buffer.from(text, 'latin1');
}

class Peer implements SmtpPeer {
  readonly host: string;
  readonly transactions: PeerTransaction[] = [];
  readonly commands: PeerCommand[] = [];
  connections = 0;
  pipelinedAfterDot = 0;
  readonly #server: Server;
  readonly #name: string;
  #script: PeerScript;
  readonly #tls: PeerOptions['tls'];
  readonly #sockets = new Set<Socket>();
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  constructor(server: Server, opts: PeerOptions) {
    this.#server = server;
    this.host = opts.host ?? '127.0.0.1';
    this.#name = opts.name ?? 'peer.test';
    this.#tls = opts.tls;
    const { host: _h, port: _p, name: _n, tls: _t, ...script } = opts;
    this.#script = script;
    server.on('connection', (s) => void this.#serve(s));
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get hostPort(): string {
    return `${this.host}:${this.port}`;
  }

  setScript(script: PeerScript): void {
    this.#script = { ...this.#script, ...script };
  }

  waitForTransactions(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.transactions.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`peer ${this.hostPort}: ${this.transactions.length} transactions, waited for ${n}`));
      }, timeoutMs);
      const w = { n, resolve: () => { clearTimeout(t); resolve(); } };
      this.#waiters.push(w);
    });
  }

  #recorded(tx: PeerTransaction): void {
    this.transactions.push(tx);
    for (const w of [...this.#waiters]) {
      if (this.transactions.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  async #serve(raw: Socket): Promise<void> {
    const connection = ++this.connections;
    raw.setNoDelay(true);
    let socket: Socket = raw;
    this.#sockets.add(raw);
    let buf: Buffer = Buffer.alloc(0);
    let closed = false;
    let wake: (() => void) | undefined;
    const onData = (d: Buffer): void => {
      if (d.includes('\r\n.\r\nMAIL FROM:')) this.pipelinedAfterDot++;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      wake?.();
    };
    const onClose = (): void => {
      closed = true;
      this.#sockets.delete(raw);
      wake?.();
    };
    const attach = (s: Socket): void => {
      s.on('data', onData);
      s.on('error', () => s.destroy());
      s.on('close', onClose);
    };
    attach(raw);
    const more = (): Promise<void> => new Promise((r) => {
      wake = () => {
        wake = undefined;
        r();
      };
    });

    const st = {
      tls: false,
      helo: undefined as string | undefined,
      greeting: 'EHLO' as 'EHLO' | 'HELO',
      from: undefined as string | undefined,
      mailParams: '',
      rcpts: [] as PeerRcpt[],
      accepted: 0,
    };
    const ctx = (): PeerContext => ({
      connection, accepted: st.accepted, tls: st.tls, mailParams: st.mailParams, rcpts: [...st.rcpts],
      ...(st.helo !== undefined ? { helo: st.helo } : {}), ...(st.from !== undefined ? { from: st.from } : {}),
    });
    const resolve = <A extends unknown[]>(hook: PeerHook<A> | undefined, args: A, fallback: PeerAction): PeerAction =>
      (typeof hook === 'function' ? (hook as (...a: unknown[]) => PeerAction | undefined)(...args, ctx()) : hook) ?? fallback;

    /** Perform an action; returns the reply code sent (0 when none: dropped, garbage, silent). */
    const act = async (a: PeerAction): Promise<number> => {
      if (closed) return 0;
      if (typeof a === 'string') return this.#write(socket, a, this.#script.split ? true : undefined);
      if ('silent' in a) {
        // Never answer; wait for the client to go.
        while (!closed) await more();
        return 0;
      }
      if (a.delayMs) await sleep(a.delayMs);
      if (closed) return 0;
      if ('drop' in a) {
        socket.destroy();
        raw.destroy();
        closed = true;
        return 0;
      }
      if ('garbage' in a) {
        socket.write(typeof a.garbage === 'string' ? Buffer.from(a.garbage, 'latin1') : a.garbage);
        return 0;
      }
      const code = await this.#write(socket, a.reply, a.split ?? (this.#script.split ? true : undefined));
      if (a.close) {
        socket.end();
        closed = true;
      }
      return code;
    };
    const ok = (code: number): boolean => code >= 200 && code < 400;
    const resetTx = (): void => {
      st.from = undefined;
      st.mailParams = '';
      st.rcpts = [];
    };

    await act(resolve(this.#script.banner, [], DEFAULTS.banner(this.#name)));
    let mode: 'command' | 'data' = 'command';
    while (!closed) {
      if (mode === 'data') {
        // The content ends with CRLF.CRLF; an empty message is the ".CRLF" line alone.
        let end: number;
        let skip: number;
        if (buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) {
          end = 0;
          skip = 3;
        } else {
          const i = buf.indexOf('\r\n.\r\n');
          end = i < 0 ? -1 : i + 2;
          skip = 3;
        }
        if (end < 0) {
          await more();
          continue;
        }
        const content = unstuff(buf.subarray(0, end));
        buf = buf.subarray(end + skip);
        mode = 'command';
        const code = await act(resolve(this.#script.dot, [content], DEFAULTS.dot));
        if (code >= 200 && code < 300) {
          st.accepted++;
          this.#recorded({
            connection, helo: st.helo ?? '', greeting: st.greeting, tls: st.tls, from: st.from ?? '', mailParams: st.mailParams,
            rcpts: [...st.rcpts], data: content, messageId: messageIdOf(content),
          });
        }
        resetTx();
        continue;
      }
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        await more();
        continue;
      }
      const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      buf = buf.subarray(nl + 1);
      this.commands.push({ connection, line, tls: st.tls });
      const verb = (line.split(' ')[0] ?? '').toUpperCase();
      const arg = line.slice(verb.length).trim();
      switch (verb) {
        case 'EHLO': {
          const exts = (this.#script.extensions ?? ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES']).filter((e) => !(st.tls && e.toUpperCase() === 'STARTTLS'));
          const lines = [this.#name, ...exts];
          const dflt = lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\n');
          const code = await act(resolve(this.#script.ehlo, [arg], dflt));
          if (ok(code)) {
            st.helo = arg;
            st.greeting = 'EHLO';
          }
          resetTx();
          break;
        }
        case 'HELO': {
          const code = await act(resolve(this.#script.helo, [arg], `250 ${this.#name}`));
          if (ok(code)) {
            st.helo = arg;
            st.greeting = 'HELO';
          }
          resetTx();
          break;
        }
        case 'STARTTLS': {
          const code = await act(resolve(this.#script.starttls, [], this.#tls ? DEFAULTS.starttls : '454 4.7.0 TLS not available'));
          if (code === 220 && this.#tls && !closed) {
            raw.off('data', onData);
            const context = createSecureContext({ cert: readFileSync(this.#tls.cert), key: readFileSync(this.#tls.key) });
            const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
            socket = secure;
            buf = Buffer.alloc(0);
            attach(secure);
            st.tls = true;
            st.helo = undefined;
            resetTx();
          }
          break;
        }
        case 'MAIL': {
          const { address, params } = pathAndParams(arg.replace(/^FROM:/i, ''));
          const code = await act(resolve(this.#script.mail, [address, params], DEFAULTS.mail));
          if (ok(code)) {
            st.from = address;
            st.mailParams = params;
            st.rcpts = [];
          }
          break;
        }
        case 'RCPT': {
          // As real servers do: no RCPT before an accepted MAIL, no DATA before an accepted RCPT.
          if (st.from === undefined) {
            await act('503 5.5.1 Error: need MAIL command');
            break;
          }
          const { address, params } = pathAndParams(arg.replace(/^TO:/i, ''));
          const byAddress = this.#script.rcptByAddress?.[address.toLowerCase()];
          const code = await act(byAddress ?? resolve(this.#script.rcpt, [address, params], DEFAULTS.rcpt));
          if (ok(code)) st.rcpts.push({ address, params });
          break;
        }
        case 'DATA': {
          if (st.rcpts.length === 0) {
            await act('503 5.5.1 Error: need RCPT command');
            break;
          }
          const code = await act(resolve(this.#script.data, [], DEFAULTS.data));
          if (code === 354) mode = 'data';
          break;
        }
        case 'RSET':
          await act(resolve(this.#script.rset, [], DEFAULTS.rset));
          resetTx();
          break;
        case 'NOOP':
          await act('250 2.0.0 Ok');
          break;
        case 'QUIT':
          await act(resolve(this.#script.quit, [], DEFAULTS.quit));
          socket.end();
          closed = true;
          break;
        default:
          await act('502 5.5.2 Command not recognized');
      }
    }
  }

  /** Write a reply (lines CRLF-ended), maybe in small pieces; returns its code. */
  async #write(socket: Socket, text: string, split: boolean | number | undefined): Promise<number> {
    const wire = Buffer.from(text.split('\n').map((l) => l.replace(/\r$/, '') + '\r\n').join(''), 'utf8');
    if (!split) socket.write(wire);
    else {
      const size = typeof split === 'number' ? Math.max(1, split) : 3;
      for (let i = 0; i < wire.length; i += size) {
        if (socket.destroyed) break;
        // Long enough apart to leave as separate segments (Nagle is off). No wait after the last piece:
        // what follows the reply (recording a transaction) happens before the client can act on it.
        if (i > 0) await sleep(5);
        socket.write(wire.subarray(i, i + size));
      }
    }
    return Number(text.slice(0, 3)) || 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** Start a peer; it listens before this resolves. */
export async function startPeer(opts: PeerOptions = {}): Promise<SmtpPeer> {
  const server = createServer();
  const peer = new Peer(server, opts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return peer;
}

/** Start peers on the same port at several loopback addresses (MX hosts that differ by address only). */
export async function startPeersOnOnePort(hosts: readonly string[], opts: (host: string) => PeerOptions = () => ({})): Promise<SmtpPeer[]> {
  for (let attempt = 0; ; attempt++) {
    const first = await startPeer({ ...opts(hosts[0] as string), host: hosts[0] as string });
    const peers = [first];
    try {
      for (const h of hosts.slice(1)) peers.push(await startPeer({ ...opts(h), host: h, port: first.port }));
      return peers;
    } catch (e) {
      for (const p of peers) await p.close();
      if (attempt > 10 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
}
