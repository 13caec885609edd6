// One mail transaction of a delivery attempt: the replies to MAIL, RCPT and DATA (pipelined or
// not, RFC 2920), the end of data, and the results per recipient. Pure, like steps.ts.
import { quit, rset } from '../../protocol/smtp/client/commands.js';
import type { ServerReply } from '../../protocol/smtp/client/replies.js';
import { judge } from '../../protocol/smtp/client/trouble.js';
import type { Stage, Verdict } from '../../protocol/smtp/client/trouble.js';
import type { DeliveryJob, RecipientOutcome, RecipientResult } from './types.js';
import type { Ctx, Effect, Step, TxState } from './steps.js';
import { connect, onFailure, ready } from './steps.js';
import { planAhead, sendAhead } from './ahead.js';

/**
 * Messages up to this size (octets, signature fields included) are written in one go, final dot and
 * all: the socket's buffer takes them without a wait, and holding that much per connection costs
 * little. The attempt then waits for the verdict at once (phase dot), without the step that a
 * report of the write's end (NET.SENT) would cost. Larger ones are streamed with backpressure.
 */
export const WHOLE_MESSAGE = 64 * 1024;

const who = (c: Ctx): string => {
  const t = c.targets[c.at];
  return t ? `${t.host} [${t.ip}]:${t.port}` : '';
};

function resultFor(c: Ctx, job: DeliveryJob, pos: number, outcome: RecipientOutcome): RecipientResult {
  const t = c.targets[c.at];
  return {
    index: job.recipients[pos]?.index ?? -1,
    outcome,
    ...(t ? { host: { name: t.host, ip: t.ip, port: t.port } } : {}),
    ...(c.conn.tls ? { tls: { version: c.conn.tls.version, cipher: c.conn.tls.cipher } } : {}),
    ...(c.conn.greeting ? { greeting: c.conn.greeting } : {}),
    ...(c.conn.heloResponse ? { heloResponse: c.conn.heloResponse } : {}),
    relayed: true,
    ...(c.conn.caps?.dsn ? { dsnPassedOn: true } : {}),
  };
}

const replyText = (r: ServerReply): string => `${r.code} ${r.enhanced ? `${r.enhanced} ` : ''}${r.text}`.trim();

/** The outcome for a recipient: `text` for logs and reports, `reply` the server's own words (Diagnostic-Code). */
function verdictOutcome(v: Verdict, text: string, reply?: string): RecipientOutcome {
  if (v.action === 'fail-recipient' || v.action === 'fail-message') return { kind: 'failed', status: v.status, reason: text, ...(reply ? { reply } : {}) };
  return { kind: 'deferred', reason: text, ...(reply ? { reply } : {}), ...('maybeDelivered' in v && v.maybeDelivered ? { maybeDelivered: true } : {}) };
}

function stageWords(stage: Stage): string {
  return stage === 'rcpt' ? 'after RCPT TO' : stage === 'mail' ? 'after MAIL FROM' : stage === 'dot' ? 'after end of data' : 'after DATA';
}

/** Connection-level verdicts end the attempt; the others are about this transaction. */
const connectionLevel = (v: Verdict): boolean => v.action === 'defer-host' || v.action === 'next-host' || v.action === 'ignore' || v.action === 'retry-without-tls' || v.action === 'try-helo';

/** A reply to one of the transaction's commands, in the order they were sent. */
export function onTxReply(c: Ctx, r: ServerReply): Step {
  const tx = c.tx as TxState;
  const job = c.jobs[0] as DeliveryJob;
  const group = tx.groups[tx.group] ?? [];
  const cmd = group[tx.got];
  if (!cmd) return onFailure(c, 'mail', { kind: 'garbage', reason: 'reply to no command' });
  let next: TxState = { ...tx, got: tx.got + 1 };
  const ok = r.code >= 200 && r.code < 300;
  // Words for a log line or a report, made only when the reply is not what was hoped for (the 354 to DATA is).
  const text = (ok && cmd.stage !== 'data') || r.code === 354 ? '' : `SMTP error from remote mail server ${stageWords(cmd.stage)}: ${replyText(r)} (${who(c)})`;
  if (cmd.stage === 'mail' && !ok) {
    const v = judge('mail', { kind: 'reply', reply: r }, { lastHost: c.at >= c.targets.length - 1 });
    if (connectionLevel(v)) return onFailure(c, 'mail', { kind: 'reply', reply: r });
    next = { ...next, stop: v, stopText: text, stopReply: replyText(r) };
  } else if (cmd.stage === 'rcpt' && !next.stop) {
    if (ok) next = { ...next, accepted: [...next.accepted, cmd.rcptIndex] };
    else {
      const v = judge('rcpt', { kind: 'reply', reply: r }, { lastHost: c.at >= c.targets.length - 1, rcptIndex: cmd.rcptIndex });
      if (connectionLevel(v)) return onFailure(c, 'rcpt', { kind: 'reply', reply: r });
      if (v.action === 'defer-rest') next = { ...next, rest: [...(next.rest ?? []), cmd.rcptIndex] };
      else {
        const outcomes = new Map(next.outcomes);
        outcomes.set(cmd.rcptIndex, verdictOutcome(v, text, replyText(r)));
        next = { ...next, outcomes };
      }
    }
  } else if (cmd.stage === 'data') {
    const usable = !next.stop && next.accepted.length > 0;
    if (r.code === 354) {
      // A 354 with nothing to deliver: end the data at once, then let the transaction go.
      if (!usable) return { go: 'dot', update: { tx: { ...next, dataAccepted: false } }, effects: [{ type: 'sendEmptyData' }] };
      const sending: TxState = { ...next, dataAccepted: true };
      // The next message's commands, when it is already here, leave with this one's final dot.
      const a = planAhead({ ...c, tx: sending });
      const whole = job.size <= WHOLE_MESSAGE;
      return {
        go: whole ? 'dot' : 'sending',
        update: { tx: sending, ...a?.update },
        effects: [{ type: 'sendMessage', job, ...(a ? { then: a.text } : {}), ...(whole ? { whole } : {}) }],
      };
    }
    if (usable) {
      const v = judge('data', { kind: 'reply', reply: r }, { lastHost: c.at >= c.targets.length - 1 });
      if (connectionLevel(v)) return onFailure(c, 'data', { kind: 'reply', reply: r });
      next = { ...next, stop: v, stopText: text, stopReply: replyText(r) };
    }
  }
  if (next.got < group.length) return { go: 'transaction', update: { tx: next }, effects: [] };
  // The group is complete. Without PIPELINING there are further groups unless MAIL was refused.
  if (next.group + 1 < next.groups.length && !(next.stop && cmd.stage === 'mail')) {
    const g = next.groups[next.group + 1] ?? [];
    return { go: 'transaction', update: { tx: { ...next, group: next.group + 1, got: 0 } }, effects: [{ type: 'send', text: g.map((x) => x.line).join('') }] };
  }
  // The transaction ends without data: settle, then RSET (MAIL may stand on the server).
  const settled = settle(c, next, undefined);
  return { go: 'rset', update: { tx: undefined, jobs: settled.jobs }, effects: [...settled.effects, { type: 'send', text: rset() }] };
}

/** The message content has been written (the final dot included): wait for the verdict, sending the next transaction meanwhile if it can go ahead. */
export function onSent(c: Ctx): Step {
  const a = sendAhead(c);
  return { go: 'dot', update: a.update, effects: a.effects };
}

/** The reply after the end of data. */
export function onDot(c: Ctx, r: ServerReply): Step {
  const tx = c.tx as TxState;
  if (!tx.dataAccepted) {
    const settled = settle(c, tx, undefined);
    return { go: 'ready', update: { tx: undefined, jobs: settled.jobs }, effects: [...settled.effects, ...ready({ ...c, tx: undefined, jobs: settled.jobs }).effects] };
  }
  const ok = r.code >= 200 && r.code < 300;
  let final: { accepted: RecipientOutcome };
  if (ok) final = { accepted: { kind: 'delivered', reply: replyText(r) } };
  else {
    const v = judge('dot', { kind: 'reply', reply: r }, { lastHost: c.at >= c.targets.length - 1 });
    if (v.action === 'defer-host' || v.action === 'next-host') {
      // 421 after the data: the message was not taken; everything waiting for this host waits.
      return onFailure(c, 'dot', { kind: 'reply', reply: r });
    }
    final = { accepted: verdictOutcome(v, `SMTP error from remote mail server after end of data: ${replyText(r)} (${who(c)})`, replyText(r)) };
  }
  const settled = settle(c, tx, final.accepted);
  // The next transaction went ahead (ahead.ts): its replies follow this one; nothing more to send.
  if (c.ahead) return { go: 'transaction', update: { tx: c.ahead, ahead: undefined, jobs: settled.jobs, sent: c.sent + 1, dry: false }, effects: settled.effects };
  const after: Ctx = { ...c, tx: undefined, jobs: settled.jobs, sent: c.sent + 1, dry: false };
  const n = ready(after);
  return { go: n.go, update: { tx: undefined, jobs: settled.jobs, sent: after.sent, dry: false, ...n.update }, effects: [...settled.effects, ...n.effects] };
}

/**
 * Timeout or lost connection while the transaction was under way. A server that ends a connection
 * it has already carried messages on, before any reply to the next transaction, has only ended the
 * connection: that job goes on a new one to the same address (on that one it is the first, so a
 * server that always drops it gets it judged as usual).
 */
export function onTxTrouble(c: Ctx, kind: 'timeout' | 'closed', phase: 'transaction' | 'sending' | 'dot'): Step {
  const tx = c.tx;
  // (Nothing has gone ahead here: that happens at the 354, and the phase is 'transaction' only before it.)
  if (kind === 'closed' && phase === 'transaction' && tx && tx.group === 0 && tx.got === 0 && c.sent > 0) {
    const conn = { noTls: c.conn.noTls };
    return {
      go: 'connecting',
      update: { conn, tx: undefined, sent: 0 },
      effects: [{ type: 'close' }, { type: 'log', level: 'debug', msg: `${who(c)} ended the connection before the next transaction: connecting again` }, ...connect({ ...c, conn }).effects],
    };
  }
  const group = tx ? tx.groups[tx.group] ?? [] : [];
  const stage: Stage = phase === 'transaction' ? (group[tx?.got ?? 0]?.stage ?? 'mail') : phase === 'sending' ? 'data' : 'dot';
  return onFailure(c, stage, { kind });
}

/**
 * Results of the job in hand: refused recipients as refused, accepted ones with `accepted` (the
 * end-of-data outcome) or the transaction-wide verdict, and 452-deferred ones into a new job that
 * goes first on this connection.
 */
function settle(c: Ctx, tx: TxState, accepted: RecipientOutcome | undefined): { jobs: DeliveryJob[]; effects: Effect[] } {
  const job = c.jobs[0] as DeliveryJob;
  const rest = new Set(tx.rest ?? []);
  const results: RecipientResult[] = [];
  const again: number[] = [];
  job.recipients.forEach((_, pos) => {
    const decided = tx.outcomes.get(pos);
    if (decided) results.push(resultFor(c, job, pos, decided));
    else if (tx.stop) results.push(resultFor(c, job, pos, verdictOutcome(tx.stop, tx.stopText ?? tx.stop.reason, tx.stopReply)));
    else if (rest.has(pos)) again.push(pos);
    else if (tx.accepted.includes(pos) && accepted) results.push(resultFor(c, job, pos, accepted));
    else results.push(resultFor(c, job, pos, { kind: 'deferred', reason: `no reply for this recipient (${who(c)})` }));
  });
  const jobs = c.jobs.slice(1);
  if (again.length > 0) jobs.unshift({ ...job, recipients: again.map((p) => job.recipients[p] as DeliveryJob['recipients'][number]) });
  const effects: Effect[] = results.length > 0 ? [{ type: 'results', job: { ...job, recipients: job.recipients.filter((_, p) => !again.includes(p)) }, results }] : [];
  return { jobs, effects };
}

/** The reply to RSET between transactions. */
export function onRset(c: Ctx, r: ServerReply): Step {
  if (r.code >= 200 && r.code < 300) return ready(c);
  return { go: 'quit', update: {}, effects: [{ type: 'send', text: quit() }] };
}
