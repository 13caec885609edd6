// The load generator's client processes, kept between runs so that a measured run follows its warm-up with clients already warm.

import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LoadgenError } from '../errors.js';
import { planWorkers, resolveLoadOptions, type LoadInput, type ParentMessage, type WorkerMessage, type WorkerResult } from './options.js';
import { mergeResults, type LoadResult } from './stats.js';

/** Running totals, reported a few times a second while the load runs. */
export interface LoadProgress {
  readonly ok: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** Accepted messages per second over roughly the last second. */
  readonly currentRate: number;
}

/** How the client processes are started: the same for every run of one set. */
export interface ClientSpawn {
  /** The compiled worker script; tests may point elsewhere. */
  workerPath?: string;
  /** Node options of the child processes, e.g. ['--cpu-prof'] to profile the client itself. */
  execArgv?: string[];
}

/** What one run is told and tells back. */
export interface RunHooks {
  onProgress?: (p: LoadProgress) => void;
  /** Aborting stops the run like its deadline does: what was measured is still returned. */
  signal?: AbortSignal;
}

// How long a child may take to load, and to report after being told to stop.
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;

/** One client process; its figures are those of the run it was last given. */
class Child {
  readonly proc: ChildProcess;
  /** False once the process is gone, failed, or did not report a run: it is not given another. */
  reusable = true;
  ok = 0;
  failed = 0;
  result: WorkerResult | undefined;
  error: Error | undefined;
  ready: Promise<void> = Promise.resolve();
  finished: Promise<void> = Promise.resolve();
  #onReady: () => void = () => undefined;
  #onFinished: () => void = () => undefined;

  constructor(path: string, execArgv: string[]) {
    // 'advanced' serialization sends the latency arrays as typed arrays, not as JSON text.
    this.proc = fork(path, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'ready') this.#onReady();
      else if (msg.type === 'progress') {
        this.ok = msg.ok;
        this.failed = msg.failed;
      } else if (msg.type === 'done') {
        this.result = msg.result;
        this.#onFinished();
      } else if (msg.type === 'fatal') {
        this.error = new LoadgenError('ERR_LOADGEN_WORKER', msg.message);
        this.reusable = false;
        this.#onFinished();
      }
    });
    this.proc.on('exit', (code, signal) => {
      this.reusable = false;
      if (!this.result && !this.error) {
        this.error = new LoadgenError('ERR_LOADGEN_WORKER', `load worker exited (${signal ?? code}) before reporting`);
      }
      this.#onReady();
      this.#onFinished();
    });
    this.proc.on('error', (err) => {
      this.reusable = false;
      this.error ??= new LoadgenError('ERR_LOADGEN_WORKER', err.message, { cause: err });
      this.#onReady();
      this.#onFinished();
    });
  }

  /** Forget the last run's figures and wait for this one's (only on a reusable process: run() replaces the others first). */
  begin(): void {
    this.ok = 0;
    this.failed = 0;
    this.result = undefined;
    this.error = undefined;
    this.ready = new Promise<void>((resolve) => (this.#onReady = resolve));
    this.finished = new Promise<void>((resolve) => (this.#onFinished = resolve));
  }

  send(msg: ParentMessage): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  kill(): void {
    this.reusable = false;
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

function defaultWorkerPath(): string {
  return fileURLToPath(new URL('./worker.js', import.meta.url));
}

/**
 * A set of client processes for several runs against one system. A fresh process compiles its
 * hot code over its first seconds, as a server does; a measured run on the processes that ran the
 * warm-up is paced by the server, not by the client's own warming (docs/decisions/0015).
 * Processes that failed or did not report are replaced before the next run. close() ends them all.
 */
export class LoadClients {
  #children: Child[] = [];
  #closed = false;

  constructor(private readonly spawn: ClientSpawn = {}) {}

  /** Process ids of the clients now running (for tests and diagnostics). */
  get pids(): number[] {
    return this.#children.flatMap((c) => (c.proc.pid !== undefined && c.reusable ? [c.proc.pid] : []));
  }

  /**
   * Runs one load against host:port and returns the merged measurement. Bounded by `timeoutMs`:
   * on expiry (or abort) the children are told to stop and report, and are killed if they do not.
   */
  async run(input: LoadInput, hooks: RunHooks = {}): Promise<LoadResult> {
    if (this.#closed) throw new LoadgenError('ERR_LOADGEN_WORKER', 'load clients are closed');
    const options = resolveLoadOptions(input);
    const plans = planWorkers(options);
    if (this.#children.length !== plans.length || this.#children.some((c) => !c.reusable)) {
      await this.#retire();
      const path = this.spawn.workerPath ?? defaultWorkerPath();
      this.#children = plans.map(() => new Child(path, this.spawn.execArgv ?? []));
    }
    const children = this.#children;
    let timer: NodeJS.Timeout | undefined;
    let ticker: NodeJS.Timeout | undefined;
    let stopped = false;
    let onStopped: () => void = () => undefined;
    const stoppedThenGrace = new Promise<void>((resolve) => (onStopped = resolve)).then(() => delay(STOP_GRACE_MS));
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      for (const c of children) c.send({ type: 'stop' });
      onStopped();
    };
    const onAbort = (): void => stop();
    try {
      for (const c of children) c.begin();
      children.forEach((c, i) => c.send({ type: 'plan', plan: plans[i] as (typeof plans)[number] }));
      await withTimeout(Promise.all(children.map((c) => c.ready)), READY_TIMEOUT_MS, 'load workers did not start');
      const failedEarly = children.find((c) => c.error);
      if (failedEarly?.error) throw failedEarly.error;

      // One common start time, so per-second buckets of both processes line up.
      const t0 = performance.timeOrigin + performance.now();
      for (const c of children) c.send({ type: 'start', t0 });
      timer = setTimeout(stop, options.timeoutMs);
      if (hooks.signal?.aborted) stop();
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      if (hooks.onProgress) ticker = progressTicker(children, t0, hooks.onProgress);

      const all = Promise.all(children.map((c) => c.finished));
      // After a stop, the children get a grace period to report before they are killed.
      await Promise.race([all, stoppedThenGrace]);
      const results = children.flatMap((c) => (c.result ? [c.result] : []));
      if (results.length === 0) {
        const err = children.find((c) => c.error)?.error;
        throw err ?? new LoadgenError('ERR_LOADGEN_WORKER', 'no load worker reported a result');
      }
      const merged = mergeResults(results, stopped || results.length < children.length);
      // A process that died took its figures with it; say so beside the figures of the others.
      const lost = children.flatMap((c) => (c.error ? [{ message: c.error.message, count: 1 }] : []));
      return lost.length > 0 ? { ...merged, errors: [...lost, ...merged.errors] } : merged;
    } finally {
      clearTimeout(timer);
      clearInterval(ticker);
      hooks.signal?.removeEventListener('abort', onAbort);
      // A child that has not reported may still be sending: it is not used again.
      for (const c of children) if (!c.result) c.kill();
    }
  }

  /** Ends every client process; waits briefly for them to exit, then kills what is left. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#retire();
  }

  async #retire(): Promise<void> {
    const children = this.#children;
    this.#children = [];
    for (const c of children) if (c.proc.connected) c.proc.disconnect();
    await Promise.race([Promise.all(children.map((c) => exited(c.proc))), delay(1000)]);
    for (const c of children) c.kill();
  }
}

function progressTicker(children: readonly Child[], t0: number, report: (p: LoadProgress) => void): NodeJS.Timeout {
  // Seeded with the start, so that the first report already has a span to measure a rate over.
  const history: Array<{ at: number; ok: number }> = [{ at: t0, ok: 0 }];
  return setInterval(() => {
    const at = performance.timeOrigin + performance.now();
    let ok = 0;
    let failed = 0;
    for (const c of children) {
      ok += c.ok;
      failed += c.failed;
    }
    history.push({ at, ok });
    while (history.length > 2 && (history[0]?.at ?? at) < at - 1000) history.shift();
    const first = history[0] ?? { at, ok };
    const span = at - first.at;
    report({ ok, failed, elapsedMs: at - t0, currentRate: span > 0 ? ((ok - first.ok) * 1000) / span : 0 });
  }, 500);
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** An unref'd wait: while children run, their IPC channels keep the process alive anyway, and a
 * leftover grace timer must not hold up the exit of a bench that has finished. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LoadgenError('ERR_LOADGEN_WORKER', `${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
