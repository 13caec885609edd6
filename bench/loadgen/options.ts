// Options of the SMTP load generator, their defaults, and the messages its child processes exchange.

import { LoadgenError } from '../errors.js';
import type { SizePart } from './sizes.js';

/** What the load generator sends, and how hard. */
export interface LoadOptions {
  host: string;
  port: number;
  /** Total messages to attempt; ignored when durationMs is set. */
  messages: number;
  /** Run for this long instead of a message count (ms); 0 = use messages. */
  durationMs: number;
  /** Simultaneous SMTP sessions, split between the processes. */
  concurrency: number;
  /** 1 = a new connection per message; N = at most N per connection; 0 = as many as it can. */
  messagesPerConnection: number;
  /** Size of each RFC 5322 message in octets (headers + body, without the final dot). */
  size: number;
  /** A mix of sizes (see sizes.ts) used instead of `size` when given. */
  sizes?: readonly SizePart[];
  /**
   * One fixed message (latin1 octets: header, empty line, body, CRLF-ended lines, no line starting
   * with a dot) sent as it is every time instead of generated ones; `size` and `sizes` are then
   * ignored. For messages prepared once, such as DKIM-signed ones (scenarios/verify.ts).
   */
  message?: string;
  /** Target rate in messages per second over all processes; 0 = open throttle (as fast as replies come). */
  rate: number;
  recipients: number;
  senderDomain: string;
  recipientDomain: string;
  /** Group MAIL/RCPT/DATA in one write when the server offers PIPELINING (RFC 2920). */
  pipelining: boolean;
  /** Child processes generating the load: 1 or 2. */
  processes: number;
  ehloName: string;
  /** Longest wait for any one reply (or for connect) before the session gives up (ms). */
  replyTimeoutMs: number;
  /** Deadline of the whole run (ms): on expiry it stops and reports what it measured. */
  timeoutMs: number;
}

export const LOAD_DEFAULTS: Readonly<Omit<LoadOptions, 'host' | 'port'>> = {
  messages: 1000,
  durationMs: 0,
  concurrency: 20,
  messagesPerConnection: 1,
  size: 2048,
  rate: 0,
  recipients: 1,
  senderDomain: 'loadgen.bench.test',
  recipientDomain: 'example.com',
  pipelining: true,
  processes: 1,
  ehloName: 'loadgen.bench.test',
  replyTimeoutMs: 30_000,
  timeoutMs: 120_000,
};

export type LoadInput = Partial<LoadOptions> & { host: string; port: number };

export function resolveLoadOptions(input: LoadInput): LoadOptions {
  const o: LoadOptions = { ...LOAD_DEFAULTS, ...dropUndefined(input), host: input.host, port: input.port };
  const bad = (what: string): never => {
    throw new LoadgenError('ERR_LOADGEN_OPTIONS', `invalid load option ${what}`);
  };
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) bad(`port=${o.port}`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) bad(`concurrency=${o.concurrency}`);
  if (!Number.isInteger(o.messagesPerConnection) || o.messagesPerConnection < 0) {
    bad(`messagesPerConnection=${o.messagesPerConnection}`);
  }
  if (!Number.isInteger(o.size) || o.size < 1) bad(`size=${o.size}`);
  if (o.sizes !== undefined) {
    const shares = o.sizes.reduce((a, p) => a + p.share, 0);
    if (o.sizes.length === 0 || o.sizes.some((p) => !Number.isInteger(p.size) || p.size < 1 || !(p.share > 0)) || Math.abs(shares - 1) > 1e-6) {
      bad('sizes (a mix needs positive sizes whose shares add up to 1)');
    }
  }
  if (o.message !== undefined) {
    const m = o.message;
    if (/[\u0100-\uffff]/.test(m) || !m.endsWith('\r\n') || m.startsWith('.') || m.includes('\r\n.') || /\r(?!\n)|(?<!\r)\n/.test(m) || !m.includes('\r\n\r\n')) {
      bad('message (CRLF lines ending with CRLF, a header and a body, no line starting with a dot)');
    }
  }
  if (!(o.rate >= 0)) bad(`rate=${o.rate}`);
  if (!Number.isInteger(o.recipients) || o.recipients < 1) bad(`recipients=${o.recipients}`);
  if (o.processes !== 1 && o.processes !== 2) bad(`processes=${o.processes} (1 or 2)`);
  if (!(o.durationMs >= 0)) bad(`durationMs=${o.durationMs}`);
  if (o.durationMs === 0 && (!Number.isInteger(o.messages) || o.messages < 1)) bad(`messages=${o.messages}`);
  if (!(o.timeoutMs > 0) || !(o.replyTimeoutMs > 0)) bad('timeout');
  if (!/^[A-Za-z0-9.-]+$/.test(o.senderDomain) || !/^[A-Za-z0-9.-]+$/.test(o.recipientDomain)) bad('domain');
  return o;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The part of the load one child process runs. */
export interface WorkerPlan {
  readonly id: number;
  readonly options: LoadOptions;
  /** Sessions this process keeps open at once. */
  readonly sessions: number;
  /** Messages this process attempts (message-count mode). */
  readonly messages: number;
}

/** Split sessions and messages between processes as evenly as integers allow. */
export function planWorkers(o: LoadOptions): WorkerPlan[] {
  const procs = Math.min(o.processes, o.concurrency);
  const plans: WorkerPlan[] = [];
  let sessionsLeft = o.concurrency;
  let messagesLeft = o.durationMs > 0 ? 0 : o.messages;
  for (let i = 0; i < procs; i++) {
    const sessions = Math.ceil(sessionsLeft / (procs - i));
    // Messages follow sessions so that both processes finish at about the same time.
    const messages = i === procs - 1 ? messagesLeft : Math.round((messagesLeft * sessions) / sessionsLeft);
    plans.push({ id: i, options: o, sessions, messages });
    sessionsLeft -= sessions;
    messagesLeft -= messages;
  }
  return plans;
}

/** Outcome counts of attempted messages. */
export interface OutcomeCounts {
  ok: number;
  temp: number;
  perm: number;
  error: number;
}

/** What one process measured; latencies are end-of-data-to-reply times of accepted messages (ms). */
export interface WorkerResult {
  readonly id: number;
  readonly outcomes: OutcomeCounts;
  readonly latencies: Float64Array;
  /** Connect (attempt start) to the 220 banner, per connection that got one (ms). */
  readonly bannerLatencies?: Float64Array;
  /** Whole sessions of one message: connect to the reply to QUIT (ms); only when messagesPerConnection is 1. */
  readonly sessionLatencies?: Float64Array;
  /** Accepted messages per whole second since the common start time. */
  readonly perSecond: number[];
  /** Epoch ms (sub-ms precision) of the first connection attempt and the last completion. */
  readonly firstStart: number;
  readonly lastEnd: number;
  readonly connections: number;
  /** Sessions in which the server offered PIPELINING and the client used it. */
  readonly pipelinedSessions: number;
  /** Messages in flight when the run was stopped: neither counted as sent nor as failed. */
  readonly aborted: number;
  /** The most frequent failure texts, with counts. */
  readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
}

export type ParentMessage =
  | { type: 'plan'; plan: WorkerPlan }
  | { type: 'start'; t0: number }
  | { type: 'stop' };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; ok: number; failed: number }
  | { type: 'done'; result: WorkerResult }
  | { type: 'fatal'; message: string };
