// Child-process entry of the load generator: runs its share of the sessions and reports over IPC.

import { performance } from 'node:perf_hooks';
import type { SmtpConnection } from './connection.js';
import { envelope, FixedMessage, MessageFactory, type MessageSource } from './message.js';
import { pickPart } from './sizes.js';
import type { OutcomeCounts, ParentMessage, WorkerMessage, WorkerPlan, WorkerResult } from './options.js';
import { runSession, type FailureKind, type SessionContext } from './session.js';
import { ErrorTally, LatencyLog } from './stats.js';

const PROGRESS_EVERY_MS = 250;

/** Epoch time with sub-millisecond precision; comparable between the processes of one run. */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The state one process shares between its sessions. */
class WorkerContext implements SessionContext {
  readonly options;
  readonly factories: MessageSource[];
  readonly sender;
  readonly recipients;
  stopped = false;
  readonly outcomes: OutcomeCounts = { ok: 0, temp: 0, perm: 0, error: 0 };
  readonly latencies = new LatencyLog();
  readonly bannerLatencies = new LatencyLog();
  readonly sessionLatencies = new LatencyLog();
  readonly perSecond: number[] = [];
  readonly errors = new ErrorTally();
  readonly open = new Set<SmtpConnection>();
  connections = 0;
  pipelinedSessions = 0;
  aborted = 0;
  firstStart = Infinity;
  lastEnd = -Infinity;
  #left: number;
  #seq = 0;
  #t0 = 0;
  #endAt = Infinity;
  /** ms between two messages of this process at the target rate (0: open throttle). */
  readonly #interval: number;
  #claimed = 0;

  constructor(readonly plan: WorkerPlan) {
    this.options = plan.options;
    const env = envelope(plan.options.senderDomain, plan.options.recipientDomain, plan.options.recipients);
    this.sender = env.sender;
    this.recipients = env.recipients;
    const sizes = plan.options.sizes ?? [{ size: plan.options.size, share: 1 }];
    const fixed = plan.options.message;
    this.factories = fixed !== undefined ? [new FixedMessage(fixed)] : sizes.map(
      (p) =>
        new MessageFactory({
          size: p.size,
          sender: env.sender,
          recipients: env.recipients,
          worker: plan.id,
          hostname: plan.options.ehloName,
        }),
    );
    const procs = Math.min(plan.options.processes, plan.options.concurrency);
    this.#interval = plan.options.rate > 0 ? (1000 * procs) / plan.options.rate : 0;
    this.#left = plan.options.durationMs > 0 ? Infinity : plan.messages;
  }

  begin(t0: number): void {
    this.#t0 = t0;
    if (this.options.durationMs > 0) this.#endAt = t0 + this.options.durationMs;
  }

  claim(): number | undefined {
    if (this.stopped || this.#left <= 0) return undefined;
    const now = epochNow();
    if (now >= this.#endAt) return undefined;
    if (now < this.firstStart) this.firstStart = now;
    this.#left--;
    this.#claimed++;
    return this.#seq++;
  }

  factoryFor(seq: number): MessageSource {
    if (this.factories.length === 1) return this.factories[0] as MessageSource;
    // Each process picks with its own sequence; offsetting by the process id keeps two processes
    // from sending the same sizes in lockstep.
    return this.factories[pickPart(this.options.sizes ?? [], seq + this.plan.id * 7919)] ?? (this.factories[0] as MessageSource);
  }

  /** At a target rate: how long to wait before the message just claimed may start (ms). */
  paceMs(): number {
    if (this.#interval === 0) return 0;
    const due = this.#t0 + (this.#claimed - 1) * this.#interval;
    return Math.max(0, due - epochNow());
  }

  recordBanner(ms: number): void {
    this.bannerLatencies.add(ms);
  }

  recordSession(ms: number): void {
    this.sessionLatencies.add(ms);
  }

  recordOk(latencyMs: number): void {
    this.outcomes.ok++;
    this.latencies.add(latencyMs);
    const now = epochNow();
    this.lastEnd = now;
    const second = Math.max(0, Math.floor((now - this.#t0) / 1000));
    this.perSecond[second] = (this.perSecond[second] ?? 0) + 1;
  }

  recordFailure(kind: FailureKind, reason: string): void {
    this.outcomes[kind]++;
    this.lastEnd = epochNow();
    this.errors.add(reason);
  }

  recordAborted(): void {
    this.aborted++;
  }

  opened(conn: SmtpConnection): void {
    this.open.add(conn);
    this.connections++;
  }

  pipelined(): void {
    this.pipelinedSessions++;
  }

  closed(conn: SmtpConnection): void {
    this.open.delete(conn);
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.open) c.destroy();
  }

  result(): WorkerResult {
    const perSecond = Array.from(this.perSecond, (n) => n ?? 0);
    return {
      id: this.plan.id,
      outcomes: this.outcomes,
      latencies: this.latencies.toArray(),
      bannerLatencies: this.bannerLatencies.toArray(),
      sessionLatencies: this.sessionLatencies.toArray(),
      perSecond,
      firstStart: this.firstStart,
      lastEnd: this.lastEnd,
      connections: this.connections,
      pipelinedSessions: this.pipelinedSessions,
      aborted: this.aborted,
      errors: this.errors.top(5),
    };
  }
}

function send(msg: WorkerMessage): void {
  process.send?.(msg);
}

async function run(ctx: WorkerContext, t0: number): Promise<void> {
  ctx.begin(t0);
  const progress = setInterval(() => {
    const o = ctx.outcomes;
    send({ type: 'progress', ok: o.ok, failed: o.temp + o.perm + o.error });
  }, PROGRESS_EVERY_MS);
  try {
    const sessions: Promise<void>[] = [];
    for (let i = 0; i < ctx.plan.sessions; i++) sessions.push(runSession(ctx));
    await Promise.all(sessions);
  } finally {
    clearInterval(progress);
  }
  send({ type: 'done', result: ctx.result() });
}

/** Wires the IPC channel; only does anything when this file is the entry of a forked process. */
function main(): void {
  if (!process.send) {
    process.stderr.write('loadgen worker: must be started with child_process.fork\n');
    process.exitCode = 2;
    return;
  }
  let ctx: WorkerContext | undefined;
  process.on('message', (msg: ParentMessage) => {
    if (msg.type === 'plan') {
      ctx = new WorkerContext(msg.plan);
      send({ type: 'ready' });
    } else if (msg.type === 'start' && ctx) {
      run(ctx, msg.t0).catch((err: unknown) => send({ type: 'fatal', message: String(err) }));
    } else if (msg.type === 'stop') {
      ctx?.stop();
    }
  });
  // A parent that dies or lets go must not leave this process generating load.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group; the parent turns it into a stop, after which this
  // process still reports what it measured. Dying here would lose those figures.
  process.on('SIGINT', () => undefined);
}

main();
