// Test helper for the end-to-end suites: queue inspection through the CLI, reply checks, free ports.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Daemon } from './daemon.js';
import { RawClient } from './smtp-client.js';
import type { Reply } from './smtp-client.js';

export interface QueuedSummary {
  readonly id: string;
  readonly sender: string;
  readonly recipients: { address: string; state: string }[];
  readonly size: number;
  readonly received: string;
  readonly messageId: string | null;
}

export interface QueueShow {
  readonly envelope: {
    readonly id: string;
    readonly sender: string;
    readonly recipients: { address: string; state: string; notify?: string | string[]; orcpt?: { type: string; address: string } }[];
    readonly ret?: string;
    readonly envid?: string;
    readonly smtputf8: boolean;
    readonly client: { ip: string; port: number; helo: string };
    readonly protocol: string;
    readonly tls?: { version: string; cipher: string };
    readonly size: number;
    readonly addedHeaders: string[];
    readonly messageIdHeader?: string;
  };
  readonly headers: { name: string; value: string }[];
}

/** `petrel queue list --json`, parsed; fails the test if the command fails. */
export async function queueList(d: Daemon): Promise<QueuedSummary[]> {
  const r = await d.cli(['queue', '--config', d.configFile, 'list', '--json']);
  assert.equal(r.code, 0, `queue list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as QueuedSummary[];
}

/** `petrel queue show ID --json`, parsed. */
export async function queueShow(d: Daemon, id: string): Promise<QueueShow> {
  const r = await d.cli(['queue', '--config', d.configFile, 'show', id, '--json']);
  assert.equal(r.code, 0, `queue show ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as QueueShow;
}

/** `petrel queue show ID --body` (text): envelope, header section and body as stored. */
export async function queueShowText(d: Daemon, id: string): Promise<string> {
  const r = await d.cli(['queue', '--config', d.configFile, 'show', id, '--body']);
  assert.equal(r.code, 0, `queue show ${id} failed: ${r.stderr}`);
  return r.stdout;
}

/** Messages queued from one envelope sender. */
export async function queuedFrom(d: Daemon, sender: string): Promise<QueuedSummary[]> {
  return (await queueList(d)).filter((m) => m.sender === sender);
}

/** The enhanced status code at the start of a reply's last line, or undefined. */
export function enhanced(r: Reply): string | undefined {
  const last = r.lines[r.lines.length - 1] ?? '';
  return /^([245]\.\d{1,3}\.\d{1,3}) /.exec(last)?.[1];
}

/** Assert a reply's code and (when given) its enhanced code. */
export function expectReply(r: Reply | null, code: number, enh?: string | null, what = ''): asserts r is Reply {
  assert.ok(r, `${what}: expected ${code}${enh ? ` ${enh}` : ''}, but the connection closed`);
  assert.equal(r.code, code, `${what}: expected ${code}, got: ${r.text}`);
  if (enh === null) assert.equal(enhanced(r), undefined, `${what}: expected no enhanced code, got: ${r.text}`);
  else if (enh !== undefined) assert.equal(enhanced(r), enh, `${what}: expected enhanced ${enh}, got: ${r.text}`);
}

const open = new Set<RawClient>();

/** RawClient.connect, remembered so that closeClients() can end it if a test fails half-way. */
export async function connect(port: number, opts: { tls?: boolean } = {}): Promise<RawClient> {
  const c = await RawClient.connect(port, opts);
  open.add(c);
  c.socket.once('close', () => open.delete(c));
  return c;
}

/**
 * Close every client opened through connect() or connectEhlo(). Call it in `after` before stopping the
 * daemon: a session left in a transaction by a failed test would hold the daemon's shutdown.
 */
export function closeClients(): void {
  for (const c of open) c.close();
  open.clear();
}

/** Connect, check the 220 banner, send EHLO and check its 250; the client is ready for MAIL. */
export async function connectEhlo(port: number, name = 'client.petrel.test', opts: { tls?: boolean } = {}): Promise<{ c: RawClient; ehlo: Reply }> {
  const c = await connect(port, opts);
  expectReply(await c.read(), 220, undefined, 'banner');
  const ehlo = await c.cmd(`EHLO ${name}`);
  expectReply(ehlo, 250, undefined, 'EHLO');
  return { c, ehlo };
}

/** The EHLO keywords (upper case, first word of each line after the greeting). */
export function ehloKeywords(r: Reply): string[] {
  return r.lines.slice(1).map((l) => (l.split(' ')[0] ?? '').toUpperCase());
}

/** Resolves true if any byte arrives (or the socket closes) within ms; does not consume replies. */
export function anyInput(c: RawClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (c.closed) {
      resolve(true);
      return;
    }
    const s = c.socket;
    const done = (v: boolean): void => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('close', onClose);
      resolve(v);
    };
    const onData = (): void => done(true);
    const onClose = (): void => done(true);
    const t = setTimeout(() => done(false), ms);
    s.on('data', onData);
    s.on('close', onClose);
  });
}

/** Read replies until the server closes the connection (bounded); returns them. */
export async function readUntilClosed(c: RawClient, timeoutMs = 5000): Promise<Reply[]> {
  const out: Reply[] = [];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) throw new Error(`connection not closed; replies so far: ${out.map((r) => r.text).join(' | ')}`);
    const r = await c.read(left);
    if (r === null) return out;
    out.push(r);
  }
}

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until pred() is true (or fail after timeoutMs). */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A small, valid message (header section, blank line, body), CRLF line ends, without the final dot. */
export function message(subject = 'test', body = 'hello'): string {
  return `From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}

/** Whether a process of this id exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
