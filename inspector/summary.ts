// What the capture keeps of each step, per kind: a few context fields (never buffers or whole
// transactions), a summary of the event's payload, one line per emitted effect, and filter keys.
import type { SessionContext } from '../actors/smtp-session/types.js';
import type { Ctx as DeliveryContext } from '../actors/delivery/steps.js';
import type { DeliveryJob, RecipientResult } from '../actors/delivery/types.js';
import type { Kind, Outcome } from './wire.js';

type Fields = Record<string, unknown>;

const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);
const firstLine = (s: string): string => {
  const nl = s.indexOf('\r\n');
  return nl < 0 ? s : s.slice(0, nl);
};
const domainOf = (address: string): string | undefined => {
  const at = address.lastIndexOf('@');
  return at < 0 ? undefined : address.slice(at + 1).toLowerCase();
};

function session(c: SessionContext): Fields {
  const s = c.session;
  const tx = c.tx;
  const out: Fields = { messages: s.messages };
  if (s.heloName) out.helo = s.heloName;
  if (s.tls) out.tls = s.tls.version;
  if (tx.sender !== undefined) out.from = tx.sender === null ? '<>' : `${tx.sender.local}@${tx.sender.domain}`;
  const n = tx.recipients.length;
  if (n > 0) {
    const last = tx.recipients[n - 1];
    out.rcpts = n;
    if (last) out.rcpt = `${last.mailbox.local}@${last.mailbox.domain}`;
  }
  if (tx.messageId) out.id = tx.messageId;
  return out;
}

function delivery(c: DeliveryContext): Fields {
  const t = c.targets[c.at];
  const job = c.jobs[0];
  const out: Fields = { sent: c.sent };
  if (t) out.target = `${t.host} [${t.ip}]:${t.port}`;
  if (job) {
    out.id = job.messageId;
    out.rcpts = job.recipients.length;
    const first = job.recipients[0];
    if (first) out.rcpt = first.address;
    const mid = job.messageIdHeader ?? job.envelope?.messageIdHeader;
    if (mid) out.messageId = cut(mid, 200);
  }
  if (c.conn.tls) out.tls = c.conn.tls.version;
  if (c.conn.greeting) out.greeting = cut(c.conn.greeting, 80);
  if (c.tx) out.accepted = c.tx.accepted.length;
  return out;
}

interface Counted {
  readonly total?: number;
  readonly perHost?: ReadonlyMap<string, number>;
  readonly restarts?: number;
  readonly failure?: string;
  readonly wait?: number;
  readonly again?: boolean;
}

function counters(c: Counted): Fields {
  const out: Fields = {};
  if (c.total !== undefined) out.total = c.total;
  if (c.perHost) out.hosts = c.perHost.size;
  if (c.restarts !== undefined) out.restarts = c.restarts;
  if (c.failure) out.failure = c.failure;
  if (c.wait !== undefined) out.wait = c.wait;
  return out;
}

/** Any other machine (the verifiers): its top-level primitive fields, and results by their kind. */
function generic(c: Fields): Fields {
  const out: Fields = {};
  let n = 0;
  for (const [k, v] of Object.entries(c)) {
    if (n >= 8) break;
    if (typeof v === 'string') out[k] = cut(v, 100);
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (v !== null && typeof v === 'object' && typeof (v as Fields).kind === 'string') out[k] = (v as Fields).kind;
    else continue;
    n++;
  }
  return out;
}

/** The selected context of a snapshot: what the page shows beside the state. */
export function pickContext(kind: Kind, context: unknown): Fields {
  if (context === null || typeof context !== 'object') return {};
  switch (kind) {
    case 'session':
      return session(context as SessionContext);
    case 'delivery':
      return delivery(context as DeliveryContext);
    case 'verifier':
      return generic(context as Fields);
    default:
      return counters(context as Counted);
  }
}

/** Values worth filtering on that an event brings in: the queue id, Message-ID and first recipient of a job. */
export function eventKeys(event: { readonly type: string } & Fields): string[] {
  const e = event as Fields;
  let id: unknown;
  let mid: unknown;
  let rcpt: unknown;
  if (event.type === 'JOB.NEXT' && e.job) {
    const j = e.job as DeliveryJob;
    id = j.messageId;
    mid = j.messageIdHeader ?? j.envelope?.messageIdHeader;
    rcpt = j.recipients[0]?.address;
  } else if (event.type === 'SPOOL.COMMITTED') {
    const env = e.envelope as { id?: unknown; messageIdHeader?: unknown };
    id = env.id;
    mid = env.messageIdHeader;
  } else {
    return [];
  }
  // The same fields as a picked delivery context: keysOf takes them from there.
  return keysOf({ id, messageId: typeof mid === 'string' ? cut(mid, 200) : undefined, rcpt });
}

/** Values worth filtering on in a picked context: message ids, domains, addresses. */
export function keysOf(ctx: Fields): string[] {
  const keys: string[] = [];
  for (const k of ['id', 'messageId', 'helo', 'target'] as const) {
    const v = ctx[k];
    if (typeof v === 'string') keys.push(v);
  }
  for (const k of ['from', 'rcpt'] as const) {
    const v = ctx[k];
    if (typeof v === 'string') {
      keys.push(v);
      const d = domainOf(v);
      if (d) keys.push(d);
    }
  }
  return keys;
}

/** Filter keys of the driver's description: IP addresses and host names, ports left out. */
export function keysOfInfo(info: Readonly<Fields>): string[] {
  const keys: string[] = [];
  for (const v of Object.values(info)) {
    if (typeof v !== 'string') continue;
    for (const token of v.split(/[\s[\]]+/)) {
      const t = token.replace(/^:\d+$/, '').replace(/:\d+$/, '');
      if (t && !/^\d+$/.test(t)) keys.push(t.toLowerCase());
    }
  }
  return keys;
}

function primitives(e: Fields, skip: string): Fields | undefined {
  let out: Fields | undefined;
  for (const [k, v] of Object.entries(e)) {
    if (k === skip) continue;
    if (typeof v === 'string') (out ??= {})[k] = cut(v, 200);
    else if (typeof v === 'number' || typeof v === 'boolean') (out ??= {})[k] = v;
  }
  return out;
}

/** The payload of an event, summarised (no buffers, no envelopes, long texts cut). */
export function eventDetail(event: { readonly type: string } & Fields): Fields | undefined {
  const e = event as Fields;
  switch (event.type) {
    case 'SMTP.COMMAND': {
      const c = e.command as { line?: string };
      return { line: cut(c.line ?? '', 200), ...(e.pipelined ? { pipelined: true } : {}), ...(e.early ? { early: true } : {}) };
    }
    case 'DATA.END': {
      const s = e.summary as { size: number; tooBig: boolean; bareNewline: boolean; longLine: boolean; headers: unknown };
      return { size: s.size, tooBig: s.tooBig, bareNewline: s.bareNewline, longLine: s.longLine, headers: Array.isArray(s.headers) ? s.headers.length : s.headers };
    }
    case 'ACL.RESULT': {
      const o = e.outcome as { verdict: string; message?: string };
      return { seq: e.seq, verdict: o.verdict, ...(o.message ? { message: cut(o.message, 200) } : {}) };
    }
    case 'SPOOL.COMMITTED': {
      const env = e.envelope as { id: string; size: number; messageIdHeader?: string };
      return { id: env.id, size: env.size, ...(env.messageIdHeader ? { messageId: cut(env.messageIdHeader, 200) } : {}) };
    }
    case 'TLS.READY': {
      const t = e.tls as { version: string; cipher: string };
      return { version: t.version, cipher: t.cipher };
    }
    case 'NET.REPLY': {
      const rs = e.replies as readonly { code: number; text: string; lines: readonly string[] }[];
      const r = rs[0];
      if (!r) return undefined;
      if (rs.length === 1) return { code: r.code, text: cut(r.text, 200), lines: r.lines.length };
      // A pipelined group: every code, and the words of the last (the one that moved the step on).
      const last = rs[rs.length - 1] as typeof r;
      return { codes: rs.map((x) => x.code).join(' '), text: cut(last.text, 200) };
    }
    case 'JOB.NEXT': {
      const j = e.job as DeliveryJob | undefined;
      return j ? { id: j.messageId, rcpts: j.recipients.length } : { job: 'none' };
    }
    default: {
      if (event.type.startsWith('xstate.error.actor.')) return { error: cut(String((e.error as Error | undefined)?.message ?? e.error), 300) };
      return primitives(e, 'type');
    }
  }
}

/** One emitted effect as a short line ("reply 250 2.1.0 Ok", "connect mx [192.0.2.1]:25"). */
export function effectLine(effect: { readonly type: string } & Fields): string {
  const e = effect as Fields;
  switch (effect.type) {
    case 'reply':
    case 'send': {
      const text = String(e.text ?? '');
      const more = text.split('\r\n').length - 2;
      return `${effect.type} ${cut(firstLine(text), 120)}${more > 0 ? ` (+${more} lines)` : ''}`;
    }
    case 'log':
      return `log ${cut(String(e.msg ?? ''), 200)}`;
    case 'acl':
      return `acl ${String((e.request as { stage?: string } | undefined)?.stage ?? '')}`;
    case 'connect': {
      const t = e.target as { host: string; ip: string; port: number };
      return `connect ${t.host} [${t.ip}]:${t.port}`;
    }
    case 'sendMessage':
      return `sendMessage ${(e.job as DeliveryJob).messageId}`;
    case 'results': {
      const job = e.job as DeliveryJob;
      const rs = e.results as readonly RecipientResult[];
      const parts = rs.slice(0, 3).map((r) => {
        const o = r.outcome;
        const who = job.recipients.find((x) => x.index === r.index)?.address ?? `#${r.index}`;
        return `${who} ${o.kind}${o.kind === 'delivered' ? '' : `: ${cut(o.reason, 120)}`}`;
      });
      return `results ${job.messageId}: ${parts.join('; ')}${rs.length > 3 ? ` (+${rs.length - 3})` : ''}`;
    }
    default: {
      const p = primitives(e, 'type');
      return p ? `${effect.type} ${Object.values(p).map(String).join(' ')}` : effect.type;
    }
  }
}

const RANK: Readonly<Record<Outcome, number>> = { none: 0, delivered: 1, deferred: 2, failed: 3 };

/** The worst outcome among a delivery's reported results, given the worst so far. */
export function worstOutcome(so: Outcome | undefined, effect: Fields): Outcome | undefined {
  if (effect.type !== 'results') return so;
  let worst: Outcome = so ?? 'none';
  for (const r of effect.results as readonly RecipientResult[]) {
    const k = r.outcome.kind;
    if (RANK[k] > RANK[worst]) worst = k;
  }
  return worst;
}
