// The crypto worker pool (piscina): signatures run off the main thread, batched per key, and a task
// lost to a crashed worker is tried once more before its callers hear of the failure (never lost,
// never silently dropped). Piscina replaces a worker that died; the runtime starts and stops the pool.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { PreparedSeal, SealedSet } from '../../protocol/arc/index.js';
import type { SealTask, SignTask } from '../../workers/sign.js';

/** workers/sign.ts's TASK_ERROR_PREFIX (not imported: that module is for the worker threads). */
const TASK_ERROR_PREFIX = 'sign task: ';

export class PoolError extends Error {
  readonly code = 'POOL_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoolError';
  }
}

interface Pending {
  readonly input: Uint8Array;
  resolve(signature: string): void;
  reject(e: Error): void;
}

/** Requests for one key and hash collected during one turn of the event loop. */
interface Batch {
  readonly keyPem: string;
  readonly hash: SignTask['hash'];
  readonly items: Pending[];
}

export interface PoolOptions {
  /** Most worker threads (default: the CPUs). */
  readonly threads?: number;
  /** Threads kept while idle (default 0: threads start with the first task). */
  readonly minThreads?: number;
  /** The task file (default workers/sign.js); tests pass one that crashes. */
  readonly filename?: string | URL;
  readonly idleTimeout?: number;
}

export interface PoolStats {
  /** Tasks dispatched (a retry counts again), those that failed (crash or error), those retried. */
  readonly tasks: number;
  readonly failures: number;
  readonly retries: number;
  /** Signatures (or seals) whose callers got an error after the retry. */
  readonly lost: number;
  readonly threads: number;
  readonly maxThreads: number;
  readonly queued: number;
  /** Busy share of the threads' capacity since the pool started (piscina's measure), 0..1. */
  readonly utilization: number;
  /** Since the pool started: its age and the threads' summed busy time (what a window's share is taken from). */
  readonly durationMs: number;
  readonly busyMs: number;
}

/** Busy and available thread-milliseconds of a pool over a window. */
export interface PoolSpan {
  readonly busyMs: number;
  readonly capacityMs: number;
}

/** Turns a pool's running totals into what happened since the previous reading. */
export class PoolWindow {
  #last = { durationMs: 0, busyMs: 0 };

  advance(now: Pick<PoolStats, 'durationMs' | 'busyMs' | 'maxThreads'>): PoolSpan {
    // A pool started again (the delivery thread's, after a restart) begins its totals at zero.
    if (now.durationMs < this.#last.durationMs) this.#last = { durationMs: 0, busyMs: 0 };
    const span = now.durationMs - this.#last.durationMs;
    const busy = now.busyMs - this.#last.busyMs;
    this.#last = { durationMs: now.durationMs, busyMs: now.busyMs };
    return { busyMs: Math.max(0, busy), capacityMs: Math.max(0, span) * now.maxThreads };
  }
}

/** The counts of pools taken together (the daemon's own and the delivery thread's). */
export function addCounts(a: PoolStats, b: PoolStats | undefined): Pick<PoolStats, 'threads' | 'queued' | 'tasks' | 'failures' | 'retries' | 'lost'> {
  const sum = (k: 'threads' | 'queued' | 'tasks' | 'failures' | 'retries' | 'lost'): number => a[k] + (b ? b[k] : 0);
  return { threads: sum('threads'), queued: sum('queued'), tasks: sum('tasks'), failures: sum('failures'), retries: sum('retries'), lost: sum('lost') };
}

/** The busy share (0..1) of several pools' spans taken together. */
export function shareOf(spans: readonly PoolSpan[]): number {
  let busy = 0;
  let capacity = 0;
  for (const s of spans) {
    busy += s.busyMs;
    capacity += s.capacityMs;
  }
  return capacity > 0 ? Math.max(0, Math.min(1, busy / capacity)) : 0;
}

// Dispatch costs about 100 us (DESIGN.md): an Ed25519 signature (~45 us here) is worth sending only in
// company, so its batches grow to 32. An RSA-2048 signature (~0.3 ms) pays for its dispatch alone: its
// batches are cut so that every thread gets a share, at most 8 a task.
const BATCH_MAX = 32;
const RSA_BATCH_MAX = 8;
// Tasks in flight per thread before new requests wait for one to finish. While the threads are busy,
// requests made meanwhile gather into the next batches, so batches grow with the load and the
// main thread's share per signature falls; with idle threads a request goes out in the next turn.
const DEPTH_PER_THREAD = 2;

export class CryptoPool {
  readonly #pool: Piscina;
  readonly #threads: number;
  // By hash, then by the key's PEM: the PEM string comes from the config each time, so its hash is computed once
  // (a joined "hash + PEM" key would be a new 1.7 KB string to build and hash per signature).
  readonly #batches = new Map<SignTask['hash'], Map<string, Batch>>();
  #scheduled = false;
  /** Sign tasks dispatched and not yet answered. */
  #inFlight = 0;
  #tasks = 0;
  #failures = 0;
  #retries = 0;
  #lost = 0;
  readonly #window = new PoolWindow();

  constructor(opts: PoolOptions = {}) {
    this.#threads = Math.max(1, opts.threads ?? availableParallelism());
    const filename = opts.filename ?? new URL('../../workers/sign.js', import.meta.url);
    this.#pool = new Piscina({
      filename: typeof filename === 'string' ? filename : filename.href,
      minThreads: Math.min(this.#threads, Math.max(0, opts.minThreads ?? 0)),
      maxThreads: this.#threads,
      idleTimeout: opts.idleTimeout ?? 30_000,
      // A worker holds its next tasks in its port while it signs: it never waits for the main thread to hand it
      // the next one (with one at a time the threads idled ~40% under load and the pool gave ~58% of openssl).
      concurrentTasksPerWorker: 4,
    });
  }

  /** Sign `input` with the key; resolves with the base64 signature. */
  sign(keyPem: string, hash: SignTask['hash'], input: Uint8Array): Promise<string> {
    return new Promise((resolve, reject) => {
      let byKey = this.#batches.get(hash);
      if (!byKey) {
        byKey = new Map();
        this.#batches.set(hash, byKey);
      }
      let b = byKey.get(keyPem);
      if (!b) {
        b = { keyPem, hash, items: [] };
        byKey.set(keyPem, b);
      }
      b.items.push({ input, resolve, reject });
      if (b.items.length >= BATCH_MAX) {
        byKey.delete(keyPem);
        // An empty entry would read as requests waiting (see #run's finally).
        if (byKey.size === 0) this.#batches.delete(hash);
        this.#dispatch(b);
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** The two signatures of an ARC set (AMS, then AS over it) in one task; resolves with the finished set. */
  async seal(keyPem: string, prepared: PreparedSeal): Promise<SealedSet> {
    const task: SealTask = { keyPem, prepared };
    try {
      return await this.#attempt(() => this.#pool.run(task, { name: 'seal' }) as Promise<SealedSet>);
    } catch (e) {
      this.#lost++;
      throw new PoolError(`sealing failed: ${(e as Error).message}`, { cause: e });
    }
  }

  #flush(): void {
    this.#scheduled = false;
    // The threads have enough queued: what waits goes with the next batch, when a task finishes.
    if (this.#inFlight >= this.#threads * DEPTH_PER_THREAD) return;
    const batches = [...this.#batches.values()].flatMap((byKey) => [...byKey.values()]);
    this.#batches.clear();
    for (const b of batches) this.#dispatch(b);
  }

  /** One task per slice of the batch: RSA slices spread over the threads, Ed25519 ones stay whole. */
  #dispatch(b: Batch): void {
    const per = b.hash === null ? BATCH_MAX : Math.min(RSA_BATCH_MAX, Math.ceil(b.items.length / this.#threads));
    for (let i = 0; i < b.items.length; i += per) void this.#run({ keyPem: b.keyPem, hash: b.hash, items: b.items.slice(i, i + per) });
  }

  async #run(b: Batch): Promise<void> {
    this.#inFlight++;
    try {
      const task: SignTask = { keyPem: b.keyPem, hash: b.hash, inputs: b.items.map((i) => i.input) };
      const out = await this.#attempt(() => this.#pool.run(task) as Promise<string[]>);
      b.items.forEach((item, i) => item.resolve(out[i] as string));
    } catch (e) {
      this.#lost += b.items.length;
      const err = new PoolError(`signing failed: ${(e as Error).message}`, { cause: e });
      for (const item of b.items) item.reject(err);
    } finally {
      this.#inFlight--;
      // Requests held back while the threads were full: the callers just resolved may add to them this turn.
      if (this.#batches.size > 0 && !this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    }
  }

  /** Runs a task; a failure the task did not report itself (a worker that died) gets one more try. */
  async #attempt<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.#tasks++;
      try {
        return await run();
      } catch (e) {
        this.#failures++;
        if (attempt > 0 || isTaskError(e)) throw e;
        this.#retries++;
      }
    }
  }

  /** For metrics: tasks run, failures, and how busy the threads are. */
  stats(): PoolStats {
    const durationMs = this.#pool.duration;
    const utilization = this.#pool.utilization;
    return {
      tasks: this.#tasks,
      failures: this.#failures,
      retries: this.#retries,
      lost: this.#lost,
      threads: this.#pool.threads.length,
      maxThreads: this.#threads,
      queued: this.#pool.queueSize,
      utilization,
      durationMs,
      busyMs: utilization * durationMs * this.#threads,
    };
  }

  /** Busy and available thread time since the previous call: a gauge read at each scrape. */
  spanSinceLastRead(): PoolSpan {
    return this.#window.advance(this.stats());
  }

  async stop(): Promise<void> {
    await this.#pool.destroy();
  }
}

/** An error the task threw (a key it cannot use, a bad input): the same again on any worker. */
function isTaskError(e: unknown): boolean {
  return String((e as Error | undefined)?.message ?? '').startsWith(TASK_ERROR_PREFIX);
}
