// Latency percentiles and the merge of per-process results into one load result.

import type { OutcomeCounts, WorkerResult } from './options.js';

/** An append-only list of latencies in a typed array: no boxing, cheap to send between processes. */
export class LatencyLog {
  #values = new Float64Array(4096);
  #length = 0;

  add(ms: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = ms;
  }

  get length(): number {
    return this.#length;
  }

  /** A copy holding exactly the recorded values. */
  toArray(): Float64Array {
    return this.#values.slice(0, this.#length);
  }
}

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

export function summarize(values: Float64Array): LatencySummary {
  const sorted = values.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: round3(percentile(sorted, 50)),
    p90: round3(percentile(sorted, 90)),
    p99: round3(percentile(sorted, 99)),
    max: round3(sorted.length ? (sorted[sorted.length - 1] ?? NaN) : NaN),
    mean: round3(sorted.length ? sum / sorted.length : NaN),
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** What a load run measured, merged over its processes. */
export interface LoadResult {
  /** Messages accepted with a 2xx after end of data. */
  readonly sent: number;
  /** Messages refused (4xx/5xx) or lost to a connection error. */
  readonly failed: number;
  readonly outcomes: OutcomeCounts;
  readonly aborted: number;
  /** From the first connection attempt to the last completed message (ms). */
  readonly elapsedMs: number;
  /** Epoch ms of the first connection attempt and of the last completed message (0 when none). */
  readonly startedAt: number;
  readonly endedAt: number;
  /** Accepted messages per second over elapsedMs. */
  readonly rate: number;
  readonly latencyMs: LatencySummary;
  /** Connect to banner (ms), per connection. */
  readonly bannerLatencyMs?: LatencySummary;
  /** A whole one-message session, connect to the reply to QUIT (ms); absent when sessions carry more. */
  readonly sessionLatencyMs?: LatencySummary;
  /** Accepted messages in each whole second of the run; the last second is usually partial. */
  readonly perSecond: number[];
  readonly connections: number;
  readonly pipelinedSessions: number;
  readonly processes: number;
  /** True when the deadline (or an abort) stopped the run before its work was done. */
  readonly timedOut: boolean;
  readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
}

export function mergeResults(results: readonly WorkerResult[], timedOut: boolean): LoadResult {
  const outcomes: OutcomeCounts = { ok: 0, temp: 0, perm: 0, error: 0 };
  const perSecond: number[] = [];
  const errors = new Map<string, number>();
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  let connections = 0;
  let pipelinedSessions = 0;
  let aborted = 0;
  for (const r of results) {
    outcomes.ok += r.outcomes.ok;
    outcomes.temp += r.outcomes.temp;
    outcomes.perm += r.outcomes.perm;
    outcomes.error += r.outcomes.error;
    r.perSecond.forEach((n, i) => (perSecond[i] = (perSecond[i] ?? 0) + (n ?? 0)));
    for (const e of r.errors) errors.set(e.message, (errors.get(e.message) ?? 0) + e.count);
    firstStart = Math.min(firstStart, r.firstStart);
    lastEnd = Math.max(lastEnd, r.lastEnd);
    connections += r.connections;
    pipelinedSessions += r.pipelinedSessions;
    aborted += r.aborted;
  }
  const concat = (pick: (r: WorkerResult) => Float64Array | undefined): Float64Array => {
    const parts = results.map(pick).filter((a): a is Float64Array => a !== undefined);
    const out = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of parts) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  const all = concat((r) => r.latencies);
  const banners = concat((r) => r.bannerLatencies);
  const sessions = concat((r) => r.sessionLatencies);
  // Sparse buckets (a second with no completion) must read as 0, not as holes.
  for (let i = 0; i < perSecond.length; i++) perSecond[i] ??= 0;
  const elapsedMs = Number.isFinite(firstStart) && lastEnd > firstStart ? lastEnd - firstStart : 0;
  return {
    sent: outcomes.ok,
    failed: outcomes.temp + outcomes.perm + outcomes.error,
    outcomes,
    aborted,
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    startedAt: Number.isFinite(firstStart) ? Math.round(firstStart) : 0,
    endedAt: Number.isFinite(lastEnd) ? Math.round(lastEnd) : 0,
    rate: elapsedMs > 0 ? Math.round((outcomes.ok / elapsedMs) * 1000 * 10) / 10 : 0,
    latencyMs: summarize(all),
    ...(banners.length > 0 ? { bannerLatencyMs: summarize(banners) } : {}),
    ...(sessions.length > 0 ? { sessionLatencyMs: summarize(sessions) } : {}),
    perSecond,
    connections,
    pipelinedSessions,
    processes: results.length,
    timedOut,
    errors: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([message, count]) => ({ message, count })),
  };
}

/** Counts failure texts without letting a flood of distinct texts grow the table without bound. */
export class ErrorTally {
  readonly #counts = new Map<string, number>();

  add(message: string): void {
    const n = this.#counts.get(message);
    if (n !== undefined) this.#counts.set(message, n + 1);
    else if (this.#counts.size < 50) this.#counts.set(message, 1);
  }

  top(n: number): Array<{ message: string; count: number }> {
    return [...this.#counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([message, count]) => ({ message, count }));
  }
}
