// The queue's side of the delivery thread (delivery_thread): a runner factory whose runners live in a
// worker thread, so that SMTP client work leaves the main event loop. Jobs, results and idling cross by
// message; a job sent to the thread and never reported on (the connection ended first, or the thread
// died) goes back to the queue, so nothing handed over is lost.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../../../config/load.js';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../queue/ports.js';
import type { DeliveryJob, Destination } from '../types.js';
import type { FromThread, ToThread } from './messages.js';
import type { RecordingQuery } from '../../inspection.js';
import { Asks } from '../../asks.js';
import type { PoolStats } from '../../supervisor/pool.js';

interface Remote {
  readonly hooks: RunnerHooks;
  unidle?: () => void;
  /**
   * Jobs sent to the thread that it has not reported on in full yet, in the order sent (one message may have
   * several), with the recipients still open: a job split by a 452 reports in parts.
   */
  readonly pending: Pending[];
}

interface Pending {
  readonly job: DeliveryJob;
  readonly open: Set<number>;
}

const pendingOf = (job: DeliveryJob): Pending => ({ job, open: new Set(job.recipients.map((r) => r.index)) });

export class ThreadRunners implements DeliveryRunnerFactory {
  readonly #spoolDir: string;
  readonly #logger: Logger;
  readonly #fallback: DeliveryRunnerFactory;
  #config: Config;
  #worker: Worker | undefined;
  /** The thread failed: connections from then on run on the main thread (no respawn loop). */
  #failed = false;
  #next = 1;
  readonly #remotes = new Map<number, Remote>();
  readonly #asked = new Asks<unknown>();
  readonly #signed: (kind: 'dkim' | 'arc', result: 'signed' | 'skipped' | 'failed') => void;

  readonly #entry: URL | undefined;
  #signPool: PoolStats | undefined;

  /**
   * `signed` counts what the thread's own signer did (DKIM/ARC signing runs in the thread). `entry` is the
   * thread's entry file when it is not the plain one (the daemon's records the deliveries for its inspector).
   */
  constructor(
    config: Config, spoolDir: string, logger: Logger, fallback: DeliveryRunnerFactory,
    signed: (kind: 'dkim' | 'arc', result: 'signed' | 'skipped' | 'failed') => void = () => undefined, entry?: URL,
  ) {
    this.#entry = entry;
    this.#config = config;
    this.#fallback = fallback;
    this.#spoolDir = spoolDir;
    this.#logger = logger;
    this.#signed = signed;
  }

  /** The thread's signing pool as of the last message it signed; undefined before the first. */
  get signPool(): PoolStats | undefined {
    return this.#signPool;
  }

  /** Set by the runtime: while it says so, new connections run on the main thread (a viewer watches deliveries live there). */
  onMainThread: () => boolean = () => false;

  start(dest: Destination, first: DeliveryJob, hooks: RunnerHooks): { stop(): void } {
    if (this.#failed || this.onMainThread()) return this.#fallback.start(dest, first, hooks);
    const rid = this.#next++;
    this.#remotes.set(rid, { hooks, pending: [pendingOf(first)] });
    this.#post({ op: 'start', rid, dest, job: first });
    return { stop: () => this.#worker && this.#post({ op: 'stop', rid }) };
  }

  /**
   * Ask the thread about the deliveries it recorded (the inspector's list or one timeline); undefined when
   * there is no thread, or it does not answer within a second.
   */
  query(q: RecordingQuery): Promise<unknown> {
    if (!this.#worker) return Promise.resolve(undefined);
    return this.#asked.ask((seq) => this.#post({ op: 'query', seq, q }), 1000, undefined);
  }

  /** Busy milliseconds of the thread's event loop since it started; undefined while there is no thread. */
  busyMs(): number | undefined {
    return this.#worker?.performance.eventLoopUtilization().active;
  }

  /** Connections in the thread, and the jobs handed to it that it has not reported on in full (for /metrics). */
  figures(): { connections: number; jobs: number } {
    let jobs = 0;
    for (const r of this.#remotes.values()) jobs += r.pending.length;
    return { connections: this.#remotes.size, jobs };
  }

  /** New connections take the new settings; those open keep theirs. */
  reload(config: Config): void {
    this.#config = config;
    if (this.#worker) this.#post({ op: 'reload', config });
  }

  /** After the queue has stopped: the thread goes, and any connection it still had ends. */
  async stop(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
    this.#endAll();
  }

  /** Messages of this turn, sent together (in order) when it ends. */
  #out: ToThread[] = [];

  #post(m: ToThread): void {
    if (!this.#worker) this.#spawn();
    if (this.#out.push(m) === 1) setImmediate(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#out;
    this.#out = [];
    this.#worker?.postMessage(batch);
  }

  #spawn(): Worker {
    const w = new Worker(this.#entry ?? new URL('./entry.js', import.meta.url));
    this.#worker = w;
    w.postMessage([{ op: 'init', config: this.#config, spoolDir: this.#spoolDir }] satisfies ToThread[]);
    w.on('message', (batch: readonly FromThread[]) => {
      for (const m of batch) this.#receive(m);
    });
    const lost = (why: string): void => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      this.#failed = true;
      this.#logger.error(
        { event: 'delivery-thread', err: why },
        `the delivery thread stopped (${why}); its connections' jobs go back to the queue, and deliveries run on the main thread until restart`,
      );
      this.#endAll();
      // Its pool went with it: what it did still counts, but it has no threads and nothing queued now.
      if (this.#signPool) this.#signPool = { ...this.#signPool, threads: 0, queued: 0 };
    };
    w.on('error', (e) => lost(e.stack ?? e.message));
    w.on('exit', (code) => lost(`exit ${code}`));
    // The daemon's lifetime is the main thread's: an idle delivery thread does not hold the process.
    w.unref();
    return w;
  }

  /** Every connection ends: jobs not reported on go back to the queue. */
  #endAll(): void {
    for (const rid of [...this.#remotes.keys()]) this.#ended(rid);
  }

  #ended(rid: number): void {
    const r = this.#remotes.get(rid);
    if (!r) return;
    this.#remotes.delete(rid);
    r.unidle?.();
    // Only the recipients not reported on go back.
    for (const p of r.pending.reverse()) r.hooks.giveBack?.({ ...p.job, recipients: p.job.recipients.filter((x) => p.open.has(x.index)) });
    r.hooks.ended();
  }

  #receive(m: FromThread): void {
    if (m.op === 'log') {
      this.#logger[m.level](m.fields, m.msg);
      return;
    }
    if (m.op === 'signed') {
      this.#signed(m.kind, m.result);
      if (m.pool) this.#signPool = m.pool;
      return;
    }
    if (m.op === 'answer') {
      this.#asked.answer(m.seq, m.answer);
      return;
    }
    const r = this.#remotes.get(m.rid);
    if (!r) return;
    switch (m.op) {
      case 'results': {
        const p = r.pending.find((x) => x.job.messageId === m.messageId && m.results.some((res) => x.open.has(res.index)));
        if (!p) return;
        for (const res of m.results) p.open.delete(res.index);
        if (p.open.size === 0) r.pending.splice(r.pending.indexOf(p), 1);
        r.hooks.results(p.job, m.results);
        return;
      }
      case 'want': {
        const job = r.hooks.nextJob();
        if (job) r.pending.push(pendingOf(job));
        this.#post({ op: 'next', rid: m.rid, ...(job ? { job } : {}) });
        return;
      }
      case 'idle':
        // The answers are optimistic: a wake the connection can no longer take leaves the job queued,
        // and the connection's end asks for another.
        r.unidle = r.hooks.idle?.({
          wake: () => (this.#post({ op: 'wake', rid: m.rid }), true),
          release: () => (this.#post({ op: 'release', rid: m.rid }), true),
        });
        return;
      case 'unidle':
        r.unidle?.();
        r.unidle = undefined;
        return;
      case 'ended':
        this.#ended(m.rid);
        return;
    }
  }
}
