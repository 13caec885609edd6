// What a failed step of an SMTP delivery means: next host, defer, or bounce; for the host, the
// message or one recipient (RFC 5321 sections 3.8, 4.2.1, 4.5.3.1.10, 5.1; RFC 7505; RFC 6531;
// RFC 3207; RFC 1047). The one place that decides it: callers act on the verdict, never on codes.
import type { ServerReply } from './replies.js';

export type Stage = 'connect' | 'banner' | 'ehlo' | 'helo' | 'starttls' | 'mail' | 'rcpt' | 'data' | 'dot' | 'quit';

/** What judge() needs of a reply. */
export type ReplyLike = Pick<ServerReply, 'code' | 'enhanced'>;

export type Failure =
  | { readonly kind: 'reply'; readonly reply: ReplyLike }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'closed' }
  | { readonly kind: 'garbage'; readonly reason: string }
  /** A socket error; code as Node gives it (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ...). */
  | { readonly kind: 'network'; readonly code: string }
  /** The TLS handshake failed, or TLS broke later; reason for the log. */
  | { readonly kind: 'tls'; readonly reason: string }
  /** The message needs SMTPUTF8 and the server did not offer it (pipeline.ts, smtpUtf8Problem). */
  | { readonly kind: 'utf8-unsupported' }
  /** The server's SIZE limit is below the message's size. */
  | { readonly kind: 'too-big'; readonly limit: number }
  /** The domain has a null MX (RFC 7505): there is no host to try. */
  | { readonly kind: 'null-mx' };

export interface JudgeContext {
  /** No other host (MX or address) is left to try in this delivery attempt. */
  readonly lastHost: boolean;
  /** For RCPT: the recipient's position in the transaction, 0 for the first (default 0). */
  readonly rcptIndex?: number;
  /** TLS is required for this host (DANE, MTA-STS, configuration): never fall back to clear text. */
  readonly tlsRequired?: boolean;
  /**
   * Every host tried before this one in this attempt refused service outright (5xx greeting or 5xx
   * to HELO); true also when there was none before it. Only read for such a refusal at the last
   * host; absent counts as false, so a caller that does not track it never bounces on a greeting.
   */
  readonly earlierHostsRefused?: boolean;
}

export type Verdict =
  /** Connection-level trouble before any transaction: try the next MX or address. status is class 4: nothing is final yet. */
  | { readonly action: 'next-host'; readonly scope: 'host'; readonly status: string; readonly reason: string }
  /** This host is unusable for now: defer every recipient still waiting for it. */
  | {
    readonly action: 'defer-host'; readonly status: string; readonly reason: string;
    readonly retryAfterMs?: number; readonly maybeDelivered?: true;
  }
  /** RCPT got a 4xx: this recipient later; the transaction goes on. */
  | { readonly action: 'defer-recipient'; readonly status: string; readonly reason: string }
  /** RCPT got a 5xx: bounce this recipient; the transaction goes on. */
  | { readonly action: 'fail-recipient'; readonly status: string; readonly reason: string }
  /** Too many recipients (RFC 5321 section 4.5.3.1.10): this one and the rest in a new transaction. Not a failure. */
  | { readonly action: 'defer-rest'; readonly status: string; readonly reason: string }
  /** Every recipient of this message in this transaction later. maybeDelivered: the server may have it already (RFC 1047). */
  | { readonly action: 'defer-message'; readonly status: string; readonly reason: string; readonly maybeDelivered?: true }
  /** Bounce every recipient of this message in this transaction. */
  | { readonly action: 'fail-message'; readonly status: string; readonly reason: string }
  /** A 5xx to EHLO: send HELO on the same connection and carry on without extensions. */
  | { readonly action: 'try-helo'; readonly reason: string }
  /**
   * Opportunistic TLS failed: deliver in clear text. sameConnection: the server refused STARTTLS
   * with a reply and the session is still usable; otherwise reconnect and do not ask for TLS.
   */
  | { readonly action: 'retry-without-tls'; readonly sameConnection: boolean; readonly status: string; readonly reason: string }
  /** Nothing is at stake (trouble after QUIT). */
  | { readonly action: 'ignore'; readonly reason: string };

const STATUS = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The status code of a reply (RFC 3463): its enhanced code when it has one of the reply's class,
 * else the class's generic code, X.0.0. A 3xx (or other) reply where a completion was due has no
 * class of its own there; it is reported as 4.0.0, matching judge(), which treats it as a protocol
 * error, a temporary one.
 */
export function statusOf(reply: ReplyLike): string {
  const cls = Math.floor(reply.code / 100);
  if (reply.enhanced !== undefined) {
    const m = STATUS.exec(reply.enhanced);
    if (m && Number(m[1]) === cls) return `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
  }
  return cls === 2 || cls === 5 ? `${cls}.0.0` : '4.0.0';
}

/** The same status with class 4: for a permanent-looking reply that is treated as temporary. */
function temporary(status: string): string {
  return status.startsWith('5') ? `4${status.slice(1)}` : status;
}

const AFTER: Record<Stage, string> = {
  connect: 'while connecting',
  banner: 'in the greeting',
  ehlo: 'after EHLO',
  helo: 'after HELO',
  starttls: 'after STARTTLS',
  mail: 'after MAIL FROM',
  rcpt: 'after RCPT TO',
  data: 'after DATA',
  dot: 'after end of data',
  quit: 'after QUIT',
};

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  ENETDOWN: 'network down',
  EPIPE: 'connection broken',
  EADDRNOTAVAIL: 'local address not available',
};

/** Text from elsewhere (error messages, codes) made safe for one log line. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 200);
}

type Phase = 'session' | 'tls' | 'transaction' | 'dot';

function phaseOf(stage: Stage): Phase {
  switch (stage) {
    case 'connect': case 'banner': case 'ehlo': case 'helo': return 'session';
    case 'starttls': return 'tls';
    case 'mail': case 'rcpt': case 'data': return 'transaction';
    default: return 'dot';
  }
}

/** Trouble with the host itself before any transaction: the next host, or defer when none is left. */
function hostTrouble(ctx: JudgeContext, status: string, reason: string): Verdict {
  const s = temporary(status);
  return ctx.lastHost
    ? { action: 'defer-host', status: s, reason }
    : { action: 'next-host', scope: 'host', status: s, reason };
}

/**
 * A 5xx greeting, or a 5xx to HELO: this host will not take mail from us. RFC 5321 section 5.1 has
 * the client try each address in turn, so the next host is tried (as Postfix does by default). At
 * the last host the refusal is final only when every host refused this way: when an earlier one
 * was merely unreachable, it may take the mail later, so the recipients are deferred instead.
 */
function refusal(ctx: JudgeContext, status: string, reason: string): Verdict {
  if (!ctx.lastHost) return { action: 'next-host', scope: 'host', status: temporary(status), reason };
  if (ctx.earlierHostsRefused === true) return { action: 'fail-message', status, reason };
  return { action: 'defer-host', status: temporary(status), reason };
}

/** STARTTLS did not give us TLS. Opportunistic TLS falls back to clear text; required TLS does not. */
function tlsTrouble(ctx: JudgeContext, sameConnection: boolean, status: string, reason: string): Verdict {
  if (ctx.tlsRequired === true) return hostTrouble(ctx, status, `${reason}; TLS is required for this host`);
  return { action: 'retry-without-tls', sameConnection, status: temporary(status), reason };
}

/** The connection failed us: no reply, no connection, or TLS broke. */
function lost(stage: Stage, reason: string, status: string, ctx: JudgeContext): Verdict {
  switch (phaseOf(stage)) {
    case 'session': return hostTrouble(ctx, status, reason);
    case 'tls': return tlsTrouble(ctx, false, status, reason);
    // RFC 5321 section 3.8: a connection lost mid-transaction counts as a 451 for the transaction.
    case 'transaction': return { action: 'defer-message', status, reason };
    // The server may have taken the message before we lost it: defer, and say so (RFC 1047,
    // RFC 5321 section 4.5.3.2.6). Never the next host: that would surely deliver a second copy.
    default: return { action: 'defer-message', status, reason: `${reason}; the message may have been delivered`, maybeDelivered: true };
  }
}

/** The server broke the protocol (garbage, or a reply of the wrong kind): drop the connection. */
function broken(stage: Stage, reason: string, ctx: JudgeContext): Verdict {
  const status = '4.5.0';
  switch (phaseOf(stage)) {
    // Before a transaction nothing is lost by trying another host, as with any connection trouble.
    case 'session': return hostTrouble(ctx, status, reason);
    // A middlebox that mangles STARTTLS is the usual cause; clear text avoids it.
    case 'tls': return tlsTrouble(ctx, false, status, reason);
    case 'transaction': return { action: 'defer-host', status, reason };
    default: return { action: 'defer-host', status, reason: `${reason}; the message may have been delivered`, maybeDelivered: true };
  }
}

function judgeReply(stage: Stage, r: ReplyLike, ctx: JudgeContext): Verdict {
  const after = AFTER[stage];
  const cls = Math.floor(r.code / 100);
  // judge() is for failures; a 2xx or 3xx here means server and client are out of step.
  if (cls !== 4 && cls !== 5) return broken(stage, `unexpected reply ${r.code} ${after}`, ctx);
  const status = statusOf(r);
  const kind = cls === 4 ? 'temporary' : 'permanent';
  if (r.code === 421) {
    // RFC 5321 section 3.8: the server is shutting the connection. Before a transaction that is
    // like a refused connection (the next host); within one, this host is done for now.
    const reason = `service not available (421) ${after}`;
    return phaseOf(stage) === 'transaction' || phaseOf(stage) === 'dot'
      ? { action: 'defer-host', status, reason }
      : hostTrouble(ctx, status, reason);
  }
  switch (stage) {
    case 'connect':
    case 'banner':
      return cls === 4
        ? hostTrouble(ctx, status, `temporary refusal ${after}`)
        : refusal(ctx, status, `host refused service ${after}`);
    case 'ehlo':
      // RFC 5321 section 4.1.1.1: a server without extensions answers EHLO with an error; HELO
      // must work. A 4xx is temporary, and HELO would not change that.
      return cls === 4
        ? hostTrouble(ctx, status, `temporary rejection ${after}`)
        : { action: 'try-helo', reason: `EHLO rejected (${r.code}); falling back to HELO` };
    case 'helo':
      return cls === 4
        ? hostTrouble(ctx, status, `temporary rejection ${after}`)
        : refusal(ctx, status, `host rejected our HELO`);
    case 'starttls':
      // RFC 3207 section 4: after a 454 (or any refusal) the session goes on in clear text.
      return tlsTrouble(ctx, true, status, `STARTTLS refused (${r.code})`);
    case 'rcpt':
      return judgeRcpt(r, status, ctx);
    case 'quit':
      return { action: 'ignore', reason: `${kind} rejection ${after}` };
    default:
      // MAIL, DATA and the end of data concern the whole message (RFC 5321 section 4.2.1:
      // 4yz may succeed if repeated, 5yz should not be repeated).
      return cls === 4
        ? { action: 'defer-message', status, reason: `${kind} rejection ${after}` }
        : { action: 'fail-message', status, reason: `${kind} rejection ${after}` };
  }
}

function judgeRcpt(r: ReplyLike, status: string, ctx: JudgeContext): Verdict {
  let code = r.code;
  let st = status;
  // RFC 5321 section 4.5.3.1.10: RFC 821 wrongly gave "too many recipients" code 552; a client
  // treats a 552 to RCPT as the 452 it should have been. A 552 naming another cause (mailbox full,
  // 5.2.2) is deferred too rather than bounced: it is transient by nature (RFC 3463 X.2.2).
  if (code === 552) {
    code = 452;
    st = temporary(st);
  }
  if (code === 452) {
    const tooMany = r.enhanced === undefined || /^\d\.5\.3$/.test(st);
    // The rest go in a new transaction. At the first recipient of a transaction it cannot be a
    // recipient limit (a server takes at least 100, section 4.5.3.1.8): defer just this one, which
    // also guarantees each new transaction makes progress.
    if (tooMany && (ctx.rcptIndex ?? 0) > 0) {
      return { action: 'defer-rest', status: st, reason: 'too many recipients for one transaction; the rest follow in another' };
    }
    return { action: 'defer-recipient', status: st, reason: 'temporary rejection after RCPT TO' };
  }
  return Math.floor(code / 100) === 4
    ? { action: 'defer-recipient', status: st, reason: 'temporary rejection after RCPT TO' }
    : { action: 'fail-recipient', status: st, reason: 'permanent rejection after RCPT TO' };
}

/** The verdict on one failure at one stage of a delivery attempt. */
export function judge(stage: Stage, f: Failure, ctx: JudgeContext): Verdict {
  if (f.kind === 'null-mx') {
    // RFC 7505 section 4.1: a null MX means the domain takes no mail; fail at once, 5.1.10.
    return { action: 'fail-message', status: '5.1.10', reason: 'the domain publishes a null MX: it accepts no mail' };
  }
  if (f.kind === 'utf8-unsupported') {
    // RFC 6531 sections 3.2 and 3.5: not sendable without SMTPUTF8; a relay should reject it.
    const reason = 'SMTPUTF8 is required, but the server does not offer it';
    return stage === 'rcpt'
      ? { action: 'fail-recipient', status: '5.6.7', reason }
      : { action: 'fail-message', status: '5.6.7', reason };
  }
  if (f.kind === 'too-big') {
    // RFC 1870 section 6: the server's fixed limit is below the message's size: return it.
    return { action: 'fail-message', status: '5.3.4', reason: `message larger than the server's limit of ${f.limit} octets` };
  }
  if (stage === 'quit') {
    // Every message was settled by its reply after the end of data; QUIT only closes.
    return { action: 'ignore', reason: `trouble after QUIT (${f.kind})` };
  }
  const after = AFTER[stage];
  const connect = stage === 'connect';
  switch (f.kind) {
    case 'reply':
      return judgeReply(stage, f.reply, ctx);
    case 'garbage':
      return broken(stage, `malformed reply ${after}: ${clean(f.reason)}`, ctx);
    case 'timeout':
      return lost(stage, connect ? 'connection timed out' : `timed out ${after}`, connect ? '4.4.1' : '4.4.2', ctx);
    case 'closed':
      return lost(stage, `connection closed by the server ${after}`, connect ? '4.4.1' : '4.4.2', ctx);
    case 'network': {
      const code = clean(f.code).replace(/[^A-Za-z0-9_]/g, '') || 'unknown';
      const what = NETWORK[code] ?? `network error ${code}`;
      return lost(stage, connect ? what : `${what} ${after}`, connect ? '4.4.1' : '4.4.2', ctx);
    }
    case 'tls':
      return lost(stage, `TLS failure ${after}: ${clean(f.reason)}`, '4.7.5', ctx);
  }
}
