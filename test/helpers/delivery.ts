// Test helper for the delivery suites: a daemon set up to deliver (short retries, quick queue runs,
// Maildir under its directory), submitting messages and learning their queue ids, waiting for the
// per-recipient log lines, reading Maildirs, parsing delivery reports, and the independent sinks
// (the smtp-server package in process, Postfix's smtp-sink as a child process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { Daemon, DaemonLog } from './daemon.js';
import { adminBase, startDaemon } from './daemon.js';
import { RawClient } from './smtp-client.js';
import type { Reply } from './smtp-client.js';
import { freePort, sleep, until } from './integration.js';
import { messageIdOf } from './smtp-peer.js';

export interface DeliveryDaemon extends Daemon {
  /** Where local deliveries go: <maildir>/<local part>/new/. */
  readonly maildir: string;
}

/**
 * A daemon that delivers: queue_only off, a queue run every second, retries every second for 20 s
 * (give-up after), Maildir under its directory, log level info. `config` overrides any of these.
 */
export async function startDeliveryDaemon(config: Record<string, unknown> = {}, dir?: string): Promise<DeliveryDaemon> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'petrel-delivery-'));
  const maildir = join(d, 'mail');
  const daemon = await startDaemon({
    dir: d,
    config: {
      queue_only: false,
      queue_run_interval: '1s',
      retry_rules: [{ domains: '*', rules: 'F,20s,1s' }],
      maildir_directory: maildir,
      log_level: 'info',
      ...config,
    },
  });
  return Object.assign(daemon, { maildir });
}

/** The daemon's petrel_deliveries figures from /metrics (work in hand), by figure name. */
export async function deliveryFigures(d: Daemon): Promise<Record<string, number>> {
  const text = await (await fetch(`${adminBase(d)}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^petrel_deliveries\{figure="(\w+)"\} (\S+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

/**
 * What the inspector recorded of the deliveries that hold these messages (or of every running one, when
 * none names them): each one's state and its last steps (event, state reached), as text for a failure message.
 */
export async function deliverySteps(d: Daemon, messageIds: readonly string[], last = 15): Promise<string> {
  const api = `${adminBase(d)}/inspector/api`;
  type Summary = { id: string; kind: string; keys: string[]; status: string; state?: unknown };
  const list = (await (await fetch(`${api}/actors`)).json()) as Record<string, Summary[]>;
  const out: string[] = [];
  const deliveries = Object.values(list).flat().filter((s) => s.kind === 'delivery');
  // Those that name the messages, or else every one still running.
  const holding = deliveries.filter((s) => s.keys.some((k) => messageIds.includes(k)));
  for (const s of holding.length > 0 ? holding : deliveries.filter((x) => x.status === 'active')) {
    const detail = (await (await fetch(`${api}/actors/${s.id}`)).json()) as { entries?: unknown[] };
    const entries = (detail.entries ?? []).slice(-last).map((e) => JSON.stringify(e).slice(0, 300));
    out.push(`${s.id} ${s.status} ${JSON.stringify(s.state ?? '')}\n  ${entries.join('\n  ')}`);
  }
  return out.join('\n') || 'no delivery recorded for them';
}

/**
 * Postfix's smtp-source sending `messages` 2 KB messages over 20 sessions from `from` to
 * sink@relay.example; resolves with its exit code and stderr.
 */
export function smtpSource(port: number, messages: number, from: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const args = ['-s', '20', '-m', String(messages), '-l', '2048', '-f', from, '-t', 'sink@relay.example', `127.0.0.1:${port}`];
    const p = spawn('/usr/sbin/smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

/** A small message with a unique Message-ID (returned), CRLF line ends, no final dot. */
export function makeMessage(o: { subject?: string; body?: string; from?: string; to?: string; headers?: string[]; messageId?: string } = {}): { content: string; messageId: string } {
  const messageId = o.messageId ?? `<${randomBytes(8).toString('hex')}@client.petrel.test>`;
  const lines = [
    `From: <${o.from ?? 'sender@client.petrel.test'}>`,
    `To: <${o.to ?? 'rcpt@example.test'}>`,
    `Subject: ${o.subject ?? 'delivery test'}`,
    `Message-ID: ${messageId}`,
    ...(o.headers ?? []),
    '',
    o.body ?? 'hello from the delivery tests',
  ];
  return { content: lines.join('\r\n') + '\r\n', messageId };
}

export interface SubmitOptions {
  readonly from: string;
  readonly to: readonly string[];
  readonly content?: string;
  /** Parameters after MAIL FROM:<...> ("RET=FULL ENVID=x"). */
  readonly mailParams?: string;
  /** Parameters after each RCPT TO:<...>, by recipient. */
  readonly rcptParams?: Readonly<Record<string, string>>;
  readonly ehlo?: string;
}

export interface Submitted {
  /** The queue id from "250 2.0.0 OK id=...". */
  readonly id: string;
  readonly messageId: string;
  readonly content: string;
}

/** One message into the daemon over SMTP (one command at a time); fails the test unless accepted. */
export async function submit(d: Daemon, o: SubmitOptions): Promise<Submitted> {
  const msg = o.content === undefined ? makeMessage({ from: o.from, to: o.to[0] ?? '' }) : { content: o.content, messageId: messageIdOf(o.content) ?? '' };
  const c = await RawClient.connect(d.port);
  try {
    const expect = (r: Reply | null, code: number, what: string): Reply => {
      assert.ok(r, `${what}: the connection closed`);
      assert.equal(r.code, code, `${what}: ${r.text}`);
      return r;
    };
    expect(await c.read(), 220, 'banner');
    expect(await c.cmd(`EHLO ${o.ehlo ?? 'client.petrel.test'}`), 250, 'EHLO');
    // Commands go out as UTF-8 (an SMTPUTF8 envelope), not as RawClient.cmd's latin1.
    const cmd = (line: string): Promise<Reply | null> => {
      c.write(Buffer.from(`${line}\r\n`, 'utf8'));
      return c.read();
    };
    expect(await cmd(`MAIL FROM:<${o.from}>${o.mailParams ? ` ${o.mailParams}` : ''}`), 250, 'MAIL');
    for (const r of o.to) {
      const p = o.rcptParams?.[r];
      expect(await cmd(`RCPT TO:<${r}>${p ? ` ${p}` : ''}`), 250, `RCPT ${r}`);
    }
    expect(await c.cmd('DATA'), 354, 'DATA');
    const stuffed = msg.content.replace(/^\./gm, '..');
    c.write(Buffer.from(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'utf8'));
    const done = expect(await c.read(10_000), 250, 'end of data');
    const id = /id=([0-9A-Z]+)/.exec(done.text)?.[1];
    assert.ok(id, `no queue id in "${done.text}"`);
    await c.cmd('QUIT').catch(() => null);
    return { id, messageId: msg.messageId, content: msg.content };
  } finally {
    c.close();
  }
}

export type DeliveryEvent = 'delivered' | 'deferred' | 'failed' | 'completed' | 'expanded';

/** Log lines of one message (its queue id), optionally of one event. */
export function logsOf(d: Daemon, id: string, event?: DeliveryEvent): DaemonLog[] {
  return d.logs.filter((l) => l.id === id && (event === undefined || l.event === event));
}

/** Wait for a log line of this message with this event (and recipient, when given). */
export function waitEvent(d: Daemon, id: string, event: DeliveryEvent, recipient?: string, timeoutMs = 15_000): Promise<DaemonLog> {
  return d.waitForLog((l) => l.id === id && l.event === event && (recipient === undefined || l.recipient === recipient), timeoutMs)
    .catch((e: Error) => {
      throw new Error(`${id}: no "${event}"${recipient ? ` for ${recipient}` : ''} log line (${e.message.slice(0, 200)}); its lines:\n${logsOf(d, id).map((l) => l.msg).join('\n')}`);
    });
}

export interface QueueEntry {
  readonly id: string;
  readonly sender: string;
  readonly frozen: boolean;
  readonly messageId: string | null;
  readonly recipients: { address: string; state: string; attempts: number; nextAttempt: string | null; lastError?: string; parent?: string }[];
}

/** `petrel queue list --json`, with the per-recipient delivery fields. */
export async function queueEntries(d: Daemon): Promise<QueueEntry[]> {
  const r = await d.cli(['queue', '--config', d.configFile, 'list', '--json']);
  assert.equal(r.code, 0, `queue list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as QueueEntry[];
}

/** The queue entry of one message, or undefined when it left the queue. */
export async function queued(d: Daemon, id: string): Promise<QueueEntry | undefined> {
  return (await queueEntries(d)).find((m) => m.id === id);
}

/** `petrel queue count`, as a number. */
export async function queueCount(d: Daemon): Promise<number> {
  const r = await d.cli(['queue', '--config', d.configFile, 'count']);
  assert.equal(r.code, 0, `queue count failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Throws when the daemon process has exited: waiting for it to do something is then pointless. */
export function assertAlive(d: Daemon): void {
  const { exitCode, signalCode } = d.child;
  if (exitCode !== null || signalCode !== null) {
    const last = d.logs.slice(-5).map((l) => l.msg).join('\n');
    throw new Error(`the daemon exited (code ${exitCode}, signal ${signalCode}); its last log lines:\n${last}`);
  }
}

/** Poll until the queue is empty (or fail after timeoutMs, or as soon as the daemon dies). */
export async function waitQueueEmpty(d: Daemon, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let n = await queueCount(d);
  while (n !== 0) {
    assertAlive(d);
    if (Date.now() > end) throw new Error(`queue still holds ${n} messages: ${JSON.stringify(await queueEntries(d)).slice(0, 2000)}`);
    await sleep(200);
    n = await queueCount(d);
  }
}

export interface MaildirMessage {
  readonly file: string;
  readonly text: string;
}

/** The messages in <root>/<mailbox>/new/, oldest name first. */
export function maildirMessages(root: string, mailbox: string): MaildirMessage[] {
  const dir = join(root, mailbox, 'new');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
}

/** Wait until a Maildir holds a message satisfying pred; returns it. */
export async function waitMaildir(root: string, mailbox: string, pred: (m: MaildirMessage) => boolean = () => true, timeoutMs = 15_000): Promise<MaildirMessage> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = maildirMessages(root, mailbox).find(pred);
    if (m) return m;
    if (Date.now() > end) throw new Error(`no matching message in the Maildir ${join(root, mailbox)} (${maildirMessages(root, mailbox).length} messages there)`);
    await sleep(100);
  }
}

// ---- delivery reports (RFC 3464 in RFC 6522 multipart/report) ----

export interface MimePart {
  readonly headers: Map<string, string>;
  readonly body: string;
}

export interface ParsedReport {
  readonly headers: Map<string, string>;
  readonly contentType: string;
  readonly parts: MimePart[];
  /** The message/delivery-status part: per-message fields, then one group per recipient. */
  readonly perMessage: Map<string, string[]>;
  readonly perRecipient: Map<string, string[]>[];
}

/** Header fields (unfolded), names lower-cased; a repeated field keeps its first value here. */
function headerMap(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = f.indexOf(':');
    if (i <= 0) continue;
    const name = f.slice(0, i).trim().toLowerCase();
    if (!m.has(name)) m.set(name, f.slice(i + 1).trim());
  }
  return m;
}

/** Field groups of a delivery-status body: every value of each field (Remote-MTA may repeat). */
function fieldGroups(text: string): Map<string, string[]>[] {
  return text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ').split(/\n\s*\n/).filter((g) => g.trim() !== '').map((g) => {
    const m = new Map<string, string[]>();
    for (const f of g.split('\n')) {
      const i = f.indexOf(':');
      if (i <= 0) continue;
      const name = f.slice(0, i).trim().toLowerCase();
      m.set(name, [...(m.get(name) ?? []), f.slice(i + 1).trim()]);
    }
    return m;
  });
}

/** Split a message (as text, LF or CRLF) into header section and body. */
export function splitMessage(text: string): { head: string; body: string } {
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return { head: text, body: '' };
  return { head: text.slice(0, m.index), body: text.slice(m.index + m[0].length) };
}

/** Parse a multipart/report delivery report; fails the test when it is not one. */
export function parseReport(text: string): ParsedReport {
  const { head, body } = splitMessage(text);
  const headers = headerMap(head);
  const contentType = headers.get('content-type') ?? '';
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  assert.ok(boundary, `no MIME boundary in Content-Type: ${contentType}`);
  const delimiter = `--${boundary}`;
  const sections = body.split(new RegExp(`\\r?\\n?${delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?`));
  const parts = sections.slice(1, -1).map((s) => {
    const p = splitMessage(s);
    return { headers: headerMap(p.head), body: p.body };
  });
  const status = parts.find((p) => /^message\/(global-)?delivery-status/i.test(p.headers.get('content-type') ?? ''));
  assert.ok(status, `no delivery-status part among ${parts.map((p) => p.headers.get('content-type')).join(', ')}`);
  const groups = fieldGroups(status.body);
  return { headers, contentType, parts, perMessage: groups[0] ?? new Map(), perRecipient: groups.slice(1) };
}

/** The one value of a field of a report group (first when repeated). */
export function field(group: Map<string, string[]> | undefined, name: string): string | undefined {
  return group?.get(name.toLowerCase())?.[0];
}

// ---- independent sinks ----

export interface SinkMessage {
  readonly from: string;
  readonly rcpts: string[];
  readonly data: Buffer;
  readonly messageId: string | undefined;
}

export interface SmtpServerSink {
  readonly port: number;
  readonly hostPort: string;
  readonly messages: SinkMessage[];
  close(): Promise<void>;
}

/** The smtp-server package as an accept-everything sink on 127.0.0.1 (or the given address). */
export async function startSmtpServerSink(host = '127.0.0.1'): Promise<SmtpServerSink> {
  const messages: SinkMessage[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    // Petrel may reuse a connection for many messages, with many connections at once.
    maxClients: 1000,
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => {
        const data = Buffer.concat(parts);
        const env = session.envelope;
        messages.push({
          from: env.mailFrom === false ? '' : env.mailFrom.address,
          rcpts: env.rcptTo.map((r) => r.address),
          data,
          messageId: messageIdOf(data),
        });
        cb();
      });
    },
  });
  // A client that resets its connection is an error event here; it must not end the test process.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port, hostPort: `${host}:${port}`, messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PostfixSink {
  readonly port: number;
  readonly hostPort: string;
  /** Message-IDs of every transaction dumped so far (read from the dump file). */
  messageIds(): string[];
  close(): Promise<void>;
}

/** Postfix's smtp-sink, dumping every transaction into one file (as user nobody when we are root). */
export async function startPostfixSink(): Promise<PostfixSink> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-smtp-sink-'));
  chmodSync(dir, 0o777);
  const dump = join(dir, 'dump');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const root = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
    const child: ChildProcess = spawn('/usr/sbin/smtp-sink', [...root, '-D', dump, `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    // Ready when it accepts a connection.
    let up = false;
    for (let i = 0; i < 50 && child.exitCode === null; i++) {
      try {
        const c = await RawClient.connect(port);
        c.close();
        up = true;
        break;
      } catch {
        await sleep(50);
      }
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 5) continue;
      throw new Error(`smtp-sink did not start: ${err}`);
    }
    return {
      port, hostPort: `127.0.0.1:${port}`,
      messageIds() {
        if (!existsSync(dump)) return [];
        const text = readFileSync(dump, 'latin1');
        return [...text.matchAll(/^message-id:[ \t]*(<[^>\r\n]*>)/gim)].map((m) => m[1] as string);
      },
      async close() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** How many times each value occurs. */
export function tally(values: readonly (string | undefined)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/**
 * Wait until `count` messages are at the sink and the queue is empty, then check that none came twice
 * (a duplicate would arrive in the half second after) and that the spool holds nothing.
 */
export async function assertAllOnceAtSink(d: Daemon, sink: SmtpServerSink, count: number, timeoutMs: number): Promise<void> {
  await until(() => {
    assertAlive(d);
    return sink.messages.length >= count;
  }, timeoutMs, `${count} messages at the sink`).catch(async (e: unknown) => {
    // How many came, and what the queue still holds in hand.
    const figures = await deliveryFigures(d).catch(() => ({}));
    throw new Error(`${(e as Error).message} (have ${sink.messages.length}; deliveries ${JSON.stringify(figures)})`, { cause: e });
  });
  await waitQueueEmpty(d, 30_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(sink.messages.length, count, 'nothing delivered twice');
  const twice = [...tally(sink.messages.map((m) => m.messageId))].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no message reached the sink twice');
  assert.equal(await queueCount(d), 0);
}
