// The SMTP client conversation of a delivery attempt, step by step: for each thing that happens
// (a reply, a timeout, a closed connection) the next phase, the context update and the effects.
// Pure; trouble.ts decides what failures mean, this module only applies its verdicts.
import { ehlo, helo, quit, starttls } from '../../protocol/smtp/client/commands.js';
import type { RcptToParams } from '../../protocol/smtp/client/commands.js';
import type { Capabilities } from '../../protocol/smtp/client/ehlo.js';
import { heloCapabilities, parseEhlo } from '../../protocol/smtp/client/ehlo.js';
import { needsSmtpUtf8, planTransaction, smtpUtf8Problem } from '../../protocol/smtp/client/pipeline.js';
import type { PlannedCommand } from '../../protocol/smtp/client/pipeline.js';
import type { ServerReply } from '../../protocol/smtp/client/replies.js';
import { judge } from '../../protocol/smtp/client/trouble.js';
import type { Failure, Stage, Verdict } from '../../protocol/smtp/client/trouble.js';
import type { TlsRecord } from '../../store/envelope.js';
import type { DeliveryJob, Destination, JobRecipient, RecipientOutcome, RecipientResult } from './types.js';

export type Phase =
  | 'connecting' | 'greeting' | 'ehlo' | 'helo' | 'starttls' | 'tls' | 'ready' | 'waiting' | 'idle'
  | 'transaction' | 'sending' | 'dot' | 'rset' | 'quit' | 'done';

export interface DeliverySettings {
  readonly heloName: string;
  /**
   * idle: how long a connection with nothing left to send stays open for the next message to the same
   * destination (smtp_transport.connection_idle_time); absent or 0: QUIT at once.
   */
  readonly timeouts: { readonly connect: number; readonly command: number; readonly data: number; readonly final: number; readonly idle?: number };
  /** try: opportunistic STARTTLS; avoid: never; require: no clear-text delivery. */
  tls(host: string, ip: string): 'try' | 'avoid' | 'require';
  readonly maxMessages: number;
}

export interface Target {
  readonly host: string;
  readonly ip: string;
  readonly port: number;
}

export interface ConnState {
  readonly greeting?: string;
  readonly heloResponse?: string;
  readonly caps?: Capabilities;
  readonly tls?: TlsRecord;
  /** Do not ask for TLS on this target (it failed; opportunistic TLS falls back). */
  readonly noTls: boolean;
  /** The server ended the connection while it waited for the queue's answer: a next job needs a new one. */
  readonly lost?: boolean;
}

// TxState and Ctx keep a fixed shape, every key set from creation (undefined until known): they are
// copied with a spread and a few keys changed per reply (docs/decisions/0014).
export interface TxState {
  readonly groups: readonly (readonly PlannedCommand[])[];
  readonly group: number;
  /** Replies of the current group received so far. */
  readonly got: number;
  /** Positions (in the job) of recipients the server accepted. */
  readonly accepted: readonly number[];
  /** Outcomes decided so far, by position in the job. */
  readonly outcomes: ReadonlyMap<number, RecipientOutcome>;
  /** A transaction-wide verdict (MAIL or DATA refused): the rest of the replies are only read. */
  readonly stop: Verdict | undefined;
  readonly stopText: string | undefined;
  /** The server's reply that stopped the transaction (for Diagnostic-Code). */
  readonly stopReply: string | undefined;
  /** Positions that got "too many recipients" (452): they go in a new transaction. */
  readonly rest: readonly number[] | undefined;
  /** The server answered 354 and there was something to send. */
  readonly dataAccepted: boolean | undefined;
}

export interface Ctx {
  readonly settings: DeliverySettings;
  readonly dest: Destination;
  readonly targets: readonly Target[];
  readonly at: number;
  /** Every target tried so far refused service outright (a 5xx greeting or HELO). */
  readonly refusedSoFar: boolean;
  /** Jobs for this connection; the first is the one in hand. */
  readonly jobs: readonly DeliveryJob[];
  readonly conn: ConnState;
  readonly tx: TxState | undefined;
  readonly sent: number;
  /** A wantJob asked while a transaction was under way has not been answered yet (ahead.ts). */
  readonly asked: boolean | undefined;
  /** Jobs the queue handed over when asked ahead, not begun: they go back to the queue if the connection ends. */
  readonly later: readonly DeliveryJob[] | undefined;
  /** The queue had nothing more when asked ahead: not asked again until this message is done. */
  readonly dry: boolean | undefined;
  /**
   * The transaction of `jobs[1]`, its commands sent right after the final dot of `jobs[0]`
   * (RFC 2920 section 3.1): its replies follow the reply to that dot.
   */
  readonly ahead: TxState | undefined;
}

export type Effect =
  | { readonly type: 'connect'; readonly target: Target }
  | { readonly type: 'send'; readonly text: string }
  | { readonly type: 'startTls'; readonly servername: string }
  /**
   * `then`: the next transaction's commands, written right after the final dot (ahead.ts). `whole`:
   * written at once, without waiting for the socket, and not reported (NET.SENT): see WHOLE_MESSAGE.
   */
  | { readonly type: 'sendMessage'; readonly job: DeliveryJob; readonly then?: string; readonly whole?: boolean }
  /** RSET after the server answered 354 to a transaction without accepted recipients: end the data at once. */
  | { readonly type: 'sendEmptyData' }
  | { readonly type: 'results'; readonly job: DeliveryJob; readonly results: readonly RecipientResult[] }
  /** `ahead`: asked while a message is under way, to pipeline the next one (ahead.ts). */
  | { readonly type: 'wantJob'; readonly ahead?: boolean }
  /** Nothing to send now: offer the open connection to the next job for this destination. */
  | { readonly type: 'idle' }
  | { readonly type: 'close' }
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly msg: string };

export interface Step {
  readonly go: Phase;
  readonly update: Partial<Ctx>;
  readonly effects: readonly Effect[];
  /**
   * Ends in the phase it started from, having passed through others (replies read together, such as
   * a verdict, the next transaction's replies and its 354): the phase is entered again, so its timer
   * starts again.
   */
  readonly around?: boolean;
}

const target = (c: Ctx): Target => c.targets[c.at] as Target;
const lastTarget = (c: Ctx): boolean => c.at >= c.targets.length - 1;
const who = (c: Ctx): string => `${target(c).host} [${target(c).ip}]:${target(c).port}`;

export function initialContext(settings: DeliverySettings, dest: Destination, first: DeliveryJob): Ctx {
  const targets: Target[] = [];
  for (const h of dest.hosts) for (const ip of h.addresses) targets.push({ host: h.name, ip, port: h.port });
  return {
    settings, dest, targets, at: 0, refusedSoFar: true, jobs: [first], conn: { noTls: false }, tx: undefined, sent: 0,
    asked: undefined, later: undefined, dry: undefined, ahead: undefined,
  };
}

/** Connect to the current target. */
export function connect(c: Ctx): Step {
  return { go: 'connecting', update: {}, effects: [{ type: 'connect', target: target(c) }] };
}

function result(c: Ctx, job: DeliveryJob, pos: number, outcome: RecipientOutcome): RecipientResult {
  const t = c.targets[c.at];
  const r = job.recipients[pos];
  return {
    index: r?.index ?? -1,
    outcome,
    ...(t ? { host: { name: t.host, ip: t.ip, port: t.port } } : {}),
    ...(c.conn.tls ? { tls: { version: c.conn.tls.version, cipher: c.conn.tls.cipher } } : {}),
    ...(c.conn.greeting ? { greeting: c.conn.greeting } : {}),
    ...(c.conn.heloResponse ? { heloResponse: c.conn.heloResponse } : {}),
    relayed: true,
    ...(c.conn.caps?.dsn ? { dsnPassedOn: true } : {}),
  };
}

function outcomeOf(v: Verdict, text: string, reply?: string): RecipientOutcome {
  switch (v.action) {
    case 'fail-recipient':
    case 'fail-message':
      return { kind: 'failed', status: v.status, reason: text, ...(reply ? { reply } : {}) };
    default:
      return { kind: 'deferred', reason: text, ...(reply ? { reply } : {}), ...('maybeDelivered' in v && v.maybeDelivered ? { maybeDelivered: true } : {}) };
  }
}

const serverWords = (f: Failure): string | undefined => {
  if (f.kind !== 'reply') return undefined;
  const r = f.reply as ServerReply;
  return `${r.code} ${r.enhanced ? `${r.enhanced} ` : ''}${r.text ?? ''}`.trim();
};

/** The words a log line and a report use for a failure at a stage of this connection. */
function describe(c: Ctx, stage: Stage, f: Failure, v: Verdict): string {
  const where = `${who(c)}`;
  switch (f.kind) {
    case 'reply': {
      const r = f.reply as ServerReply;
      return `SMTP error from remote mail server ${stageWords(stage)}: ${r.code} ${r.enhanced ? `${r.enhanced} ` : ''}${r.text ?? ''} (${where})`.trim();
    }
    case 'timeout': return `SMTP timeout ${stageWords(stage)} (${where})`;
    case 'closed': return `Remote host closed connection ${stageWords(stage)} (${where})`;
    case 'network': return `${v.reason} (${where})`;
    default: return `${v.reason} (${where})`;
  }
}

function stageWords(stage: Stage): string {
  switch (stage) {
    case 'connect': return 'while connecting';
    case 'banner': return 'in response to the initial connection';
    case 'dot': return 'after end of data';
    case 'rcpt': return 'after RCPT TO';
    case 'mail': return 'after MAIL FROM';
    default: return `after ${stage.toUpperCase()}`;
  }
}

/** Every job in hand ends with this outcome for its recipients still open; the connection ends. */
function settleAll(c: Ctx, outcome: (job: DeliveryJob) => RecipientOutcome, withTarget: boolean): Effect[] {
  const effects: Effect[] = [];
  c.jobs.forEach((job, n) => {
    const open = job.recipients.map((_, i) => i).filter((i) => !(n === 0 && c.tx?.outcomes.has(i)));
    const results: RecipientResult[] = [];
    if (n === 0 && c.tx) for (const [i, o] of c.tx.outcomes) results.push(result(c, job, i, o));
    for (const i of open) {
      const r = result(c, job, i, outcome(job));
      results.push(withTarget ? r : { index: r.index, outcome: r.outcome });
    }
    effects.push({ type: 'results', job, results });
  });
  return effects;
}

/**
 * The connection failed while a transaction had gone ahead (ahead.ts): that job got no verdict, so it
 * waits again with those not begun (on the next address, or back in the queue when the connection ends).
 */
export function unahead(c: Ctx): { readonly ctx: Ctx; readonly update: Partial<Ctx> } {
  const next = c.jobs[1];
  if (!c.ahead || !next) return { ctx: c, update: {} };
  const update: Partial<Ctx> = { jobs: c.jobs.filter((j) => j !== next), later: [next, ...(c.later ?? [])], ahead: undefined };
  return { ctx: { ...c, ...update }, update };
}

/**
 * Act on a verdict about the connection as a whole: next target, defer everything in hand, or (for
 * a transaction-wide verdict) settle the job in hand and go on with the next. A transaction gone
 * ahead waits again, untried (unahead).
 */
export function onFailure(c0: Ctx, stage: Stage, f: Failure): Step {
  const { ctx: c, update } = unahead(c0);
  const s = judged(c, stage, f, c0.ahead !== undefined);
  return c === c0 ? s : { ...s, update: { ...update, ...s.update } };
}

function judged(c: Ctx, stage: Stage, f: Failure, hadAhead: boolean): Step {
  const v = judge(stage, f, { lastHost: lastTarget(c), earlierHostsRefused: c.refusedSoFar, tlsRequired: c.settings.tls(target(c).host, target(c).ip) === 'require' });
  const text = describe(c, stage, f, v);
  const words = serverWords(f);
  const refused = f.kind === 'reply' && f.reply.code >= 500 && (stage === 'banner' || stage === 'helo');
  switch (v.action) {
    case 'next-host':
      if (!lastTarget(c)) {
        const next: Ctx = { ...c, at: c.at + 1, conn: { noTls: false }, tx: undefined, refusedSoFar: c.refusedSoFar && refused };
        return { go: 'connecting', update: { at: next.at, conn: next.conn, tx: undefined, refusedSoFar: next.refusedSoFar }, effects: [{ type: 'close' }, { type: 'log', level: 'info', msg: `${text}: trying the next host` }, ...connect(next).effects] };
      }
      return { go: 'done', update: { jobs: [], tx: undefined }, effects: [...settleAll(c, () => ({ kind: 'deferred', reason: text, ...(words ? { reply: words } : {}) }), true), { type: 'close' }] };
    case 'defer-host':
      return { go: 'done', update: { jobs: [], tx: undefined }, effects: [...settleAll(c, () => outcomeOf(v, text, words), true), { type: 'close' }] };
    case 'retry-without-tls':
      if (v.sameConnection) {
        const conn = { ...c.conn, noTls: true };
        const r = withConn(conn, ready({ ...c, conn }));
        return { ...r, effects: [{ type: 'log', level: 'info', msg: `${text}: going on without TLS` }, ...r.effects] };
      }
      return { go: 'connecting', update: { conn: { noTls: true }, tx: undefined }, effects: [{ type: 'close' }, { type: 'log', level: 'info', msg: `${text}: reconnecting without TLS` }, { type: 'connect', target: target(c) }] };
    case 'try-helo':
      return { go: 'helo', update: {}, effects: [{ type: 'send', text: helo(c.settings.heloName) }] };
    case 'fail-message':
    case 'defer-message':
    case 'fail-recipient':
    case 'defer-recipient':
    case 'defer-rest': {
      // Outside a transaction these can only be about the job in hand: settle it and go on.
      const job = c.jobs[0];
      if (!job) return { go: 'quit', update: {}, effects: [{ type: 'send', text: quit() }] };
      const results = job.recipients.map((_, i) => result(c, job, i, outcomeOf(v, text, words)));
      // The connection is gone (closed, a network error, no reply in time): nothing more may be written
      // on it, or the next message would wait for replies that never come. The jobs still in hand go
      // back to the queue (the runner hands them back when the actor ends).
      if (f.kind === 'closed' || f.kind === 'network' || f.kind === 'timeout') {
        return { go: 'done', update: { jobs: c.jobs.slice(1), tx: undefined }, effects: [{ type: 'results', job, results }, { type: 'close' }] };
      }
      // The next transaction was already sent on its way: where the server stands is unclear, so the
      // connection ends, and the jobs not tried go back to the queue (the runner hands them back).
      if (hadAhead) return { go: 'quit', update: { jobs: c.jobs.slice(1), tx: undefined }, effects: [{ type: 'results', job, results }, { type: 'send', text: quit() }] };
      return { go: 'ready', update: { jobs: c.jobs.slice(1), tx: undefined }, effects: [{ type: 'results', job, results }] };
    }
    case 'ignore':
      return { go: 'done', update: {}, effects: [{ type: 'close' }] };
  }
}

export function onGreeting(c: Ctx, r: ServerReply): Step {
  if (r.code >= 200 && r.code < 300) {
    return { go: 'ehlo', update: { conn: { ...c.conn, greeting: `${r.code} ${r.lines.join(' ')}` } }, effects: [{ type: 'send', text: ehlo(c.settings.heloName) }] };
  }
  return onFailure({ ...c, conn: { ...c.conn, greeting: `${r.code} ${r.lines.join(' ')}` } }, 'banner', { kind: 'reply', reply: r });
}

export function onEhlo(c: Ctx, r: ServerReply): Step {
  if (r.code !== 250) return onFailure(c, 'ehlo', { kind: 'reply', reply: r });
  const caps = parseEhlo(r);
  const conn: ConnState = { ...c.conn, caps, heloResponse: `${r.code} ${r.lines[0] ?? ''}` };
  const mode = c.settings.tls(target(c).host, target(c).ip);
  if (!conn.tls && caps.starttls && mode !== 'avoid' && !c.conn.noTls) {
    return { go: 'starttls', update: { conn }, effects: [{ type: 'send', text: starttls() }] };
  }
  if (!conn.tls && mode === 'require') {
    return onFailure({ ...c, conn }, 'starttls', { kind: 'tls', reason: 'TLS is required and the server does not offer STARTTLS' });
  }
  return withConn(conn, ready({ ...c, conn }));
}

/** A step taken with a new connection state: the state is part of what the step records. */
function withConn(conn: ConnState, s: Step): Step {
  return { ...s, update: { conn, ...s.update } };
}

export function onHelo(c: Ctx, r: ServerReply): Step {
  if (r.code !== 250) return onFailure(c, 'helo', { kind: 'reply', reply: r });
  const conn: ConnState = { ...c.conn, caps: heloCapabilities(), heloResponse: `${r.code} ${r.lines[0] ?? ''}` };
  if (c.settings.tls(target(c).host, target(c).ip) === 'require') {
    return onFailure({ ...c, conn }, 'starttls', { kind: 'tls', reason: 'TLS is required and the server does not offer STARTTLS' });
  }
  return withConn(conn, ready({ ...c, conn }));
}

export function onStarttls(c: Ctx, r: ServerReply): Step {
  if (r.code === 220) {
    const host = target(c).host;
    return { go: 'tls', update: {}, effects: [{ type: 'startTls', servername: /^[\d.:]+$/.test(host) ? '' : host }] };
  }
  return onFailure(c, 'starttls', { kind: 'reply', reply: r });
}

export function onTlsReady(c: Ctx, tls: TlsRecord): Step {
  // RFC 3207 section 4.2: everything learnt before TLS is forgotten; greet again.
  return { go: 'ehlo', update: { conn: { ...c.conn, tls, caps: undefined } }, effects: [{ type: 'send', text: ehlo(c.settings.heloName) }] };
}

/** Between transactions: start the next job, ask the queue for one, or say goodbye. */
export function ready(c: Ctx): Step {
  const job = c.jobs[0];
  if (job) return begin(c, job);
  const [first, ...rest] = c.later ?? [];
  if (first) {
    const s = begin({ ...c, jobs: [first], later: rest }, first);
    return { ...s, update: { later: rest, ...s.update } };
  }
  if (c.sent >= c.settings.maxMessages) return { go: 'quit', update: {}, effects: [{ type: 'send', text: quit() }] };
  // A job asked for ahead is on its way: wait for that answer rather than ask twice.
  if (c.asked) return { go: 'waiting', update: {}, effects: [] };
  return { go: 'waiting', update: {}, effects: [{ type: 'wantJob' }] };
}

/** The queue answered a wantJob. */
export function onJob(c: Ctx, job: DeliveryJob | undefined): Step {
  if (!job) return (c.settings.timeouts.idle ?? 0) > 0 ? { go: 'idle', update: {}, effects: [{ type: 'idle' }] } : leave();
  return begin({ ...c, jobs: [job] }, job);
}

/**
 * Waiting for the queue's answer to a wantJob, which may take a while (from the delivery thread it comes
 * by message; a job is signed first). The server may end the connection meanwhile: it is closed, and the
 * answer is still taken, since the queue has handed the job over: it goes on a new connection to the same
 * host (it was never tried here), and no job ends the connection. A transaction begun on the dead socket
 * would hear nothing until the command timeout: writing to a closed socket raises no event.
 */
export function onWaiting(c: Ctx, e: { readonly type: string; readonly job?: DeliveryJob }): Step {
  if (e.type === 'JOB.NEXT') {
    if (!c.conn.lost) return answered(onJob(c, e.job));
    if (!e.job) return { go: 'done', update: { asked: false }, effects: [] };
    const next: Ctx = { ...c, jobs: [e.job], conn: { noTls: c.conn.noTls }, tx: undefined, sent: 0 };
    return {
      go: 'connecting',
      update: { jobs: next.jobs, conn: next.conn, tx: undefined, sent: 0, asked: false },
      effects: [{ type: 'log', level: 'debug', msg: `${who(c)} ended the connection while the next message was on its way: connecting again` }, ...connect(next).effects],
    };
  }
  // No answer in time (the queue should always answer): the connection ends; a job that comes later is handed back.
  if (e.type.startsWith('xstate.after')) return c.conn.lost ? { go: 'done', update: {}, effects: [] } : { go: 'quit', update: {}, effects: [{ type: 'send', text: quit() }] };
  const gone = e.type === 'NET.CLOSED' || e.type === 'NET.ERROR' || e.type === 'NET.GARBAGE' || e.type === 'NET.REPLY';
  if (!gone || c.conn.lost) return { go: 'waiting', update: {}, effects: [] };
  return { go: 'waiting', update: { conn: { ...c.conn, lost: true } }, effects: [{ type: 'close' }] };
}

const answered = (s: Step): Step => ({ ...s, update: { asked: false, ...s.update } });

/** An idle connection: a job came (ask for it), the idle time is over or the slot is wanted (QUIT), or the server left. */
export function onIdle(e: { readonly type: string }): Step | undefined {
  switch (e.type) {
    case 'JOB.WAKE': return { go: 'waiting', update: {}, effects: [{ type: 'wantJob' }] };
    case 'JOB.NONE': return leave();
    // A server that gives up on an idle client says 421 and closes (RFC 5321 section 4.5.3.2): nothing was lost.
    case 'NET.REPLY': case 'NET.GARBAGE': case 'NET.CLOSED': case 'NET.ERROR': return { go: 'done', update: {}, effects: [{ type: 'close' }] };
    default: return e.type.startsWith('xstate.after') ? leave() : undefined;
  }
}

const leave = (): Step => ({ go: 'quit', update: {}, effects: [{ type: 'send', text: quit() }] });

/** A recipient's DSN parameters, as literals rather than spreads of optional parts (per recipient, docs/decisions/0014). */
const rcptParams = (r: JobRecipient): RcptToParams =>
  r.notify ? (r.orcpt ? { notify: r.notify, orcpt: r.orcpt } : { notify: r.notify }) : r.orcpt ? { orcpt: r.orcpt } : {};

/** Start a transaction: checks that need no server round trip, then the first command group. */
export function begin(c: Ctx, job: DeliveryJob): Step {
  const caps = c.conn.caps ?? heloCapabilities();
  if (caps.size !== undefined && caps.size > 0 && job.size > caps.size) return onFailure(c, 'mail', { kind: 'too-big', limit: caps.size });
  const need = needsSmtpUtf8(job.sender, job.recipients.map((r) => r.address), job.smtputf8);
  const problem = smtpUtf8Problem(need, caps);
  if (problem.kind === 'message') return onFailure(c, 'mail', { kind: 'utf8-unsupported' });
  const outcomes = new Map<number, RecipientOutcome>();
  if (problem.kind === 'recipients') {
    const v = judge('rcpt', { kind: 'utf8-unsupported' }, { lastHost: lastTarget(c) });
    for (const i of problem.indices) outcomes.set(i, outcomeOf(v, `${v.reason} (${who(c)})`));
  }
  const sendable = job.recipients.map((r, i) => ({ r, i })).filter(({ i }) => !outcomes.has(i));
  if (sendable.length === 0) {
    const rest = c.jobs.filter((j) => j !== job);
    const results = [...outcomes].map(([i, o]) => result(c, job, i, o));
    const next = ready({ ...c, jobs: rest });
    return { go: next.go, update: { jobs: rest, ...next.update }, effects: [{ type: 'results', job, results }, ...next.effects] };
  }
  const groups = planTransaction(caps, {
    sender: job.sender,
    mail: {
      size: job.size,
      ...(job.body === '8BITMIME' && caps.eightBitMime ? { body: '8BITMIME' as const } : {}),
      ...(need.needed ? { smtputf8: true } : {}),
      ...(job.ret ? { ret: job.ret } : {}),
      ...(job.envid ? { envid: job.envid } : {}),
    },
    recipients: sendable.map(({ r }) => ({ address: r.address, params: rcptParams(r) })),
  });
  // Plan positions are among the sendable recipients; map them back to positions in the job.
  const positions = sendable.map(({ i }) => i);
  const mapped = groups.map((g) => g.map((cmd) => (cmd.stage === 'rcpt' ? { ...cmd, rcptIndex: positions[cmd.rcptIndex] as number } : cmd)));
  const tx: TxState = {
    groups: mapped, group: 0, got: 0, accepted: [], outcomes,
    stop: undefined, stopText: undefined, stopReply: undefined, rest: undefined, dataAccepted: undefined,
  };
  // The job in hand is the first of `jobs` (onJob hands one over that is not there yet).
  const jobs = c.jobs[0] === job ? c.jobs : [job, ...c.jobs];
  return { go: 'transaction', update: { tx, jobs }, effects: [{ type: 'send', text: (mapped[0] ?? []).map((cmd) => cmd.line).join('') }] };
}
