// What delivery results mean for a queued message: recipient states, retry times, give-up,
// the delivery reports owed (RFC 3461/3464) and the classic log lines. Pure: time and rules passed in.
import type { Envelope, RecipientRecord } from '../../store/envelope.js';
import type { RetryRule } from '../../policy/retry.js';
import { nextRetry } from '../../policy/retry.js';
import { reportable, shouldNotify } from '../../protocol/dsn/status.js';
import type { RecipientResult } from '../delivery/types.js';

/** A report owed to the sender, with what the report builder needs about each recipient. */
export interface ReportRequest {
  readonly kind: 'failure' | 'delay' | 'success';
  readonly recipients: readonly { readonly index: number; readonly result?: RecipientResult; readonly willRetryUntil?: number }[];
}

export interface OutcomeLog {
  readonly level: 'info' | 'warn';
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface OutcomeSettings {
  readonly now: number;
  /** Retry rules for a recipient's domain. */
  rulesFor(domain: string): readonly RetryRule[];
  /** delay_warning thresholds (ms after arrival), ascending. */
  readonly delayWarnings: readonly number[];
  /** How the recipient was routed and delivered, for log lines. */
  describe?(index: number): { router?: string; transport?: string };
}

export interface Applied {
  readonly envelope: Envelope;
  readonly reports: ReportRequest[];
  readonly logs: OutcomeLog[];
  /** No recipient is left to try: the message leaves the queue. */
  readonly done: boolean;
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

function where(r: RecipientResult): string {
  if (!r.host) return '';
  const tls = r.tls ? ` X=${r.tls.version}:${r.tls.cipher}` : '';
  return ` H=${r.host.name} [${r.host.ip}]:${r.host.port}${tls}`;
}

/**
 * `{ ...rec, ...a, ...b }` as Object.assign: the same keys in the same order, without the cost of a spread
 * that adds keys (docs/decisions/0014). Per recipient and attempt.
 */
function updated(rec: RecipientRecord, a: Partial<RecipientRecord>, b?: Partial<RecipientRecord>): RecipientRecord {
  return Object.assign({}, rec, a, b);
}

/** The latest time a deferred address will be tried, per its retry rules (for Will-Retry-Until). */
function retryUntil(rules: readonly RetryRule[], firstFailure: number): number {
  const last = rules[rules.length - 1];
  return firstFailure + (last ? last.cutoff : 0);
}

/** Record results in the envelope and say what follows from them. */
export function applyResults(env: Envelope, results: readonly RecipientResult[], s: OutcomeSettings): Applied {
  const recipients: RecipientRecord[] = env.recipients.slice();
  const logs: OutcomeLog[] = [];
  const failed: ReportRequest['recipients'][number][] = [];
  const delivered: ReportRequest['recipients'][number][] = [];
  const id = env.id;
  for (const r of results) {
    const rec = recipients[r.index];
    if (!rec || rec.state === 'delivered' || rec.state === 'failed' || rec.state === 'expanded') continue;
    const how = s.describe?.(r.index) ?? {};
    const rt = `${how.router ? ` R=${how.router}` : ''}${how.transport ? ` T=${how.transport}` : ''}`;
    const base = updated(rec, { attempts: (rec.attempts ?? 0) + 1, lastAttempt: s.now }, r.host ? { host: r.host } : undefined);
    const o = r.outcome;
    if (o.kind === 'delivered') {
      recipients[r.index] = updated(base, { state: 'delivered', reply: o.reply, nextAttempt: undefined });
      logs.push({ level: 'info', msg: `${id} => ${rec.address}${rt}${where(r)} C="${o.reply}"`, fields: { event: 'delivered', id, recipient: rec.address } });
      // RFC 3461 section 5.2: a hop that carries the DSN parameters on reports success itself.
      if (shouldNotify(rec.notify, 'success') && !r.dsnPassedOn) delivered.push({ index: r.index, result: r });
      continue;
    }
    if (o.kind === 'failed') {
      recipients[r.index] = updated(base, { state: 'failed', status: o.status, lastError: o.reason, ...(o.reply ? { reply: o.reply } : {}), nextAttempt: undefined });
      logs.push({ level: 'info', msg: `${id} ** ${rec.address}${rt}${where(r)}: ${o.reason}`, fields: { event: 'failed', id, recipient: rec.address } });
      failed.push({ index: r.index, result: r });
      continue;
    }
    const firstFailure = rec.firstFailure ?? s.now;
    const rules = s.rulesFor(domainOf(rec.address));
    const next = nextRetry(rules, firstFailure, s.now);
    if (next.kind === 'giveup') {
      const reason = `retry timeout exceeded (last error: ${o.reason})`;
      recipients[r.index] = updated(base, { firstFailure, state: 'failed', status: '4.4.7', lastError: reason, nextAttempt: undefined });
      logs.push({ level: 'info', msg: `${id} ** ${rec.address}${rt}${where(r)}: ${reason}`, fields: { event: 'failed', id, recipient: rec.address } });
      failed.push({ index: r.index, result: { ...r, outcome: { kind: 'failed', status: '4.4.7', reason, ...(o.reply ? { reply: o.reply } : {}) } } });
      continue;
    }
    recipients[r.index] = updated(base, { firstFailure, state: 'deferred', nextAttempt: next.at, lastError: o.reason, ...(o.reply ? { reply: o.reply } : {}) });
    logs.push({
      level: 'info',
      msg: `${id} == ${rec.address}${rt}${where(r)} defer: ${o.reason}${o.maybeDelivered ? ' (it may have been delivered)' : ''}`,
      fields: { event: 'deferred', id, recipient: rec.address, next: new Date(next.at).toISOString() },
    });
  }

  const reports: ReportRequest[] = [];
  // No report ever goes to the null sender (RFC 5321 section 4.5.5): a report cannot bounce.
  // A report of ours that cannot be delivered is told to postmaster instead (the queue decides).
  if (!reportable(env.sender) && env.reportOf !== undefined && failed.length > 0) {
    reports.push({ kind: 'failure', recipients: failed });
  }
  if (reportable(env.sender)) {
    const wanted = (list: ReportRequest['recipients'], event: 'failure' | 'success'): ReportRequest['recipients'] =>
      list.filter((x) => shouldNotify(recipients[x.index]?.notify, event));
    const f = wanted(failed, 'failure');
    if (f.length > 0) reports.push({ kind: 'failure', recipients: f });
    if (delivered.length > 0) reports.push({ kind: 'success', recipients: delivered });
  }

  const open = recipients.filter((r) => r.state === 'pending' || r.state === 'deferred');
  const due = open.length === 0 ? undefined : Math.min(...open.map((r) => (r.state === 'pending' ? s.now : (r.nextAttempt ?? s.now))));

  // Delay warnings (RFC 3461 NOTIFY=DELAY): once per delay_warning threshold passed.
  let warned = env.warned ?? [];
  if (reportable(env.sender) && open.length > 0) {
    const age = s.now - env.receivedAt;
    const passed = s.delayWarnings.filter((t) => age >= t && !warned.includes(t));
    if (passed.length > 0) {
      warned = [...warned, ...passed];
      const delayed = open
        .map((r) => ({ r, index: recipients.indexOf(r) }))
        .filter(({ r }) => r.state === 'deferred' && shouldNotify(r.notify, 'delay'))
        .map(({ r, index }) => ({ index, willRetryUntil: retryUntil(s.rulesFor(domainOf(r.address)), r.firstFailure ?? s.now) }));
      if (delayed.length > 0) reports.push({ kind: 'delay', recipients: delayed });
    }
  }

  const done = open.length === 0;
  if (done) logs.push({ level: 'info', msg: `${id} Completed`, fields: { event: 'completed', id } });
  const envelope: Envelope = { ...env, recipients, due, ...(warned.length > 0 ? { warned } : {}) };
  return { envelope, reports, logs, done };
}
