// The SMTP dialogue of one load generator session (RFC 5321, PIPELINING per RFC 2920).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmtpConnection } from './connection.js';
import type { MessageSource } from './message.js';
import type { LoadOptions } from './options.js';
import { classify, hasExtension, type ReplyClass, type SmtpReply } from './reply.js';

export type FailureKind = Exclude<ReplyClass, 'ok'> | 'error';

/** What a session needs from the process that runs it: work to claim, somewhere to record results. */
export interface SessionContext {
  readonly options: LoadOptions;
  /** The source of message number `seq` (its size, from the size mix; or the one fixed message). */
  factoryFor(seq: number): MessageSource;
  readonly sender: string;
  readonly recipients: readonly string[];
  /** True once the run must end: sessions claim nothing more and close. */
  readonly stopped: boolean;
  /** The sequence number of the next message to send, or undefined when there is no more work. */
  claim(): number | undefined;
  recordOk(latencyMs: number): void;
  /** Connect to banner of a connection (ms). */
  recordBanner?(ms: number): void;
  /** A whole one-message session, connect to the reply to QUIT (ms). */
  recordSession?(ms: number): void;
  /** At a target rate, how long the message just claimed must wait (ms); absent or 0: go. */
  paceMs?(): number;
  recordFailure(kind: FailureKind, reason: string): void;
  /** A claimed message that the stop interrupted: it counts neither as sent nor as failed. */
  recordAborted(): void;
  opened(conn: SmtpConnection): void;
  /** The session just opened will pipeline (the server offered PIPELINING). */
  pipelined(): void;
  closed(conn: SmtpConnection): void;
}

/** A reply that ends the transaction it answers: the message is counted as failed with its class. */
class Refused {
  constructor(
    readonly kind: FailureKind,
    readonly reason: string,
  ) {}
}

const CONNECT_BACKOFF_MS = 20;

function replyText(step: string, r: SmtpReply): string {
  return `${step}: ${r.code} ${(r.lines[0] ?? '').slice(0, 100)}`;
}

/** Runs sessions one after another until no work is left or the run is stopped. */
export async function runSession(ctx: SessionContext): Promise<void> {
  const o = ctx.options;
  const group =
    `MAIL FROM:<${ctx.sender}>\r\n` + ctx.recipients.map((r) => `RCPT TO:<${r}>\r\n`).join('') + 'DATA\r\n';
  while (!ctx.stopped) {
    let seq = ctx.claim();
    if (seq === undefined) return;
    const wait = ctx.paceMs?.() ?? 0;
    if (wait > 0) await sleep(wait);
    let conn: SmtpConnection;
    const t0 = performance.now();
    try {
      conn = await SmtpConnection.connect(o.host, o.port, o.replyTimeoutMs);
    } catch (err) {
      settleFailure(ctx, err);
      // A refused port fails instantly; pausing keeps a duration run from spinning the CPU.
      if (!ctx.stopped) await sleep(CONNECT_BACKOFF_MS);
      continue;
    }
    // Registered before the greeting, so that a stop can cut a server that never sends its banner.
    ctx.opened(conn);
    let sent = 0;
    try {
      if (ctx.stopped) conn.destroy();
      const pipelining = await greet(conn, o, (ms) => ctx.recordBanner?.(ms), t0);
      if (pipelining) ctx.pipelined();
      for (;;) {
        const outcome = await transaction(ctx, conn, pipelining, group, seq);
        seq = undefined;
        sent++;
        if (outcome instanceof Refused) {
          ctx.recordFailure(outcome.kind, outcome.reason);
          // A 421 (or any reply after which the server hangs up) ends this connection.
          if (conn.closed) break;
          conn.write('RSET\r\n');
          await conn.read();
        }
        if (ctx.stopped || (o.messagesPerConnection > 0 && sent >= o.messagesPerConnection)) break;
        seq = ctx.claim();
        if (seq === undefined) break;
        const next = ctx.paceMs?.() ?? 0;
        if (next > 0) await sleep(next);
      }
      const quitted = await quit(conn);
      if (quitted && o.messagesPerConnection === 1 && sent === 1) ctx.recordSession?.(performance.now() - t0);
    } catch (err) {
      if (seq !== undefined) settleFailure(ctx, err);
      conn.destroy();
      // Failing before the first transaction is a refused or broken connection: pause as for connect.
      if (sent === 0 && !ctx.stopped) await sleep(CONNECT_BACKOFF_MS);
    } finally {
      ctx.closed(conn);
    }
  }
}

/** A failure of the message in flight: aborted by the stop, or an error of the connection. */
function settleFailure(ctx: SessionContext, err: unknown): void {
  if (ctx.stopped) ctx.recordAborted();
  else if (err instanceof Refused) ctx.recordFailure(err.kind, err.reason);
  else ctx.recordFailure('error', err instanceof Error ? err.message : String(err));
}

/** Banner and EHLO (HELO when EHLO is refused); returns whether to pipeline. */
async function greet(conn: SmtpConnection, o: LoadOptions, onBanner: (ms: number) => void, t0: number): Promise<boolean> {
  const banner = await conn.read();
  onBanner(performance.now() - t0);
  if (banner.code !== 220) throw new Refused(banner.code >= 500 ? 'perm' : 'temp', replyText('banner', banner));
  conn.write(`EHLO ${o.ehloName}\r\n`);
  const ehlo = await conn.read();
  if (ehlo.code === 250) return o.pipelining && hasExtension(ehlo, 'PIPELINING');
  if (ehlo.code < 500) throw new Refused('temp', replyText('EHLO', ehlo));
  conn.write(`HELO ${o.ehloName}\r\n`);
  const helo = await conn.read();
  if (helo.code !== 250) throw new Refused(kindOf(helo), replyText('HELO', helo));
  return false;
}

/**
 * One mail transaction. Returns nothing when the message was accepted (its latency recorded) or a
 * Refused when a reply turned it down; throws when the connection failed.
 */
async function transaction(
  ctx: SessionContext,
  conn: SmtpConnection,
  pipelining: boolean,
  group: string,
  seq: number,
): Promise<Refused | undefined> {
  let refused: Refused | undefined;
  let accepted = 0;
  let data: SmtpReply;
  if (pipelining) {
    conn.write(group);
    const mail = await conn.read();
    if (mail.code !== 250) refused = new Refused(kindOf(mail), replyText('MAIL', mail));
    for (let i = 0; i < ctx.recipients.length; i++) {
      const rcpt = await conn.read();
      if (rcpt.code === 250 || rcpt.code === 251) accepted++;
      else refused ??= new Refused(kindOf(rcpt), replyText('RCPT', rcpt));
    }
    data = await conn.read();
    if (data.code === 354 && accepted === 0) {
      // The server took DATA with no recipient; an empty message ends that cleanly.
      conn.write('.\r\n');
      await conn.read();
      return refused ?? new Refused('perm', 'DATA accepted without recipients');
    }
    if (accepted > 0) refused = undefined;
  } else {
    conn.write(group.slice(0, group.indexOf('\r\n') + 2));
    const mail = await conn.read();
    if (mail.code !== 250) return new Refused(kindOf(mail), replyText('MAIL', mail));
    for (const r of ctx.recipients) {
      conn.write(`RCPT TO:<${r}>\r\n`);
      const rcpt = await conn.read();
      if (rcpt.code === 250 || rcpt.code === 251) accepted++;
      else refused ??= new Refused(kindOf(rcpt), replyText('RCPT', rcpt));
    }
    if (accepted === 0) return refused ?? new Refused('perm', 'no recipient accepted');
    refused = undefined;
    conn.write('DATA\r\n');
    data = await conn.read();
  }
  if (refused) return refused;
  if (data.code !== 354) return new Refused(kindOf(data), replyText('DATA', data));
  let t = 0;
  const factory = ctx.factoryFor(seq);
  conn.writeMessage(factory.headers(seq), factory.body, () => {
    t = performance.now();
  });
  const done = await conn.read();
  if (done.code !== 250) return new Refused(kindOf(done), replyText('end of data', done));
  ctx.recordOk(performance.now() - t);
  return undefined;
}

function kindOf(r: SmtpReply): FailureKind {
  const c = classify(r.code);
  // A 2xx/3xx where another code was due is a protocol mismatch: count it as permanent.
  return c === 'ok' ? 'perm' : c;
}

/**
 * QUIT and wait for 221 (or the close); a session that misbehaves here has already delivered.
 * Returns whether QUIT was answered.
 */
async function quit(conn: SmtpConnection): Promise<boolean> {
  if (conn.closed) return false;
  conn.write('QUIT\r\n');
  let answered = false;
  try {
    await conn.read();
    answered = true;
  } catch {
    // The server may close without answering QUIT; the messages were already counted.
  }
  conn.end();
  return answered;
}
