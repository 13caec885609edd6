// Samples a daemon's Prometheus /metrics (Petrel's admin listener) during a run, and turns the
// counters into rates and per-interval means for the report.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** Samples of the text exposition format: `name{label="v",...} value` -> value, keyed by the whole series text. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // The value follows the last space outside the label set (label values may hold spaces).
    const close = line.lastIndexOf('}');
    const space = line.indexOf(' ', close >= 0 ? close : 0);
    if (space < 0) continue;
    const key = line.slice(0, space);
    const value = Number(line.slice(space + 1).trim().split(/\s+/)[0]);
    if (key && !Number.isNaN(value)) out.set(key, value);
  }
  return out;
}

/** The series the report keeps: Petrel's own metrics only (bucket lines are dropped, sums and counts kept). */
export function keepSeries(key: string): boolean {
  return key.startsWith('petrel_') && !key.includes('_bucket{');
}

export interface MetricsSample {
  /** ms since the sampler started. */
  readonly t: number;
  readonly values: Readonly<Record<string, number>>;
}

export interface MetricsSeries {
  readonly url: string;
  readonly intervalMs: number;
  readonly startedAt: number;
  readonly samples: MetricsSample[];
  /** Scrapes that failed (the daemon restarting, or too busy to answer within the timeout). */
  readonly failures: number;
  readonly lastError?: string;
}

function get(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Fetches /metrics every `intervalMs` (one scrape at a time) until stopped. */
export class MetricsSampler {
  readonly #url: () => string | undefined;
  readonly #intervalMs: number;
  readonly #startedAt = Date.now();
  readonly #t0 = performance.now();
  readonly #samples: MetricsSample[] = [];
  #failures = 0;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #inFlight: Promise<void> = Promise.resolve();
  #lastUrl = '';

  /** `url` is asked at each scrape: a daemon restarted on another admin port is followed. */
  constructor(url: () => string | undefined, intervalMs = 1000) {
    this.#url = url;
    this.#intervalMs = intervalMs;
  }

  start(): this {
    this.#running = true;
    this.#tick();
    return this;
  }

  #tick(): void {
    if (!this.#running) return;
    this.#inFlight = this.scrape().finally(() => {
      if (!this.#running) return;
      this.#timer = setTimeout(() => this.#tick(), this.#intervalMs);
      this.#timer.unref();
    });
  }

  /** One scrape now (also used for a last one at the end of a phase). */
  async scrape(): Promise<void> {
    const url = this.#url();
    if (!url) return;
    this.#lastUrl = url;
    try {
      const text = await get(url, Math.max(2000, this.#intervalMs * 2));
      const values: Record<string, number> = {};
      for (const [k, v] of parsePrometheus(text)) if (keepSeries(k)) values[k] = v;
      const sample = { t: Math.round(performance.now() - this.#t0), values };
      // A scrape asked for at a phase's start can finish after a periodic one begun before it: keep time order.
      let i = this.#samples.length;
      while (i > 0 && (this.#samples[i - 1] as MetricsSample).t > sample.t) i--;
      this.#samples.splice(i, 0, sample);
    } catch (err) {
      this.#failures++;
      this.#lastError = err instanceof Error ? err.message : String(err);
    }
  }

  async stop(): Promise<MetricsSeries> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#inFlight;
    return {
      url: this.#lastUrl,
      intervalMs: this.#intervalMs,
      startedAt: this.#startedAt,
      samples: this.#samples,
      failures: this.#failures,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }
}

/** A derived series for a chart: (seconds since start, value) points. */
export interface DerivedSeries {
  readonly name: string;
  readonly unit: string;
  readonly points: Array<[number, number]>;
}

function value(s: MetricsSample, key: string): number | undefined {
  return s.values[key];
}

/** Per second between consecutive samples of a counter (or of the sum of several). */
function rateOf(samples: readonly MetricsSample[], keys: readonly string[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as MetricsSample;
    const b = samples[i] as MetricsSample;
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    let d = 0;
    let seen = false;
    for (const k of keys) {
      const va = value(a, k) ?? 0;
      const vb = value(b, k);
      if (vb === undefined) continue;
      seen = true;
      d += vb - va;
    }
    if (seen) out.push([b.t / 1000, Math.max(0, d) / dt]);
  }
  return out;
}

/** Mean of a histogram over each interval: Δsum / Δcount (skipped where nothing was observed). */
function intervalMean(samples: readonly MetricsSample[], base: string, scale: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as MetricsSample;
    const b = samples[i] as MetricsSample;
    const dc = (value(b, `${base}_count`) ?? 0) - (value(a, `${base}_count`) ?? 0);
    const ds = (value(b, `${base}_sum`) ?? 0) - (value(a, `${base}_sum`) ?? 0);
    if (dc > 0) out.push([b.t / 1000, (ds / dc) * scale]);
  }
  return out;
}

function gauge(samples: readonly MetricsSample[], key: string, scale = 1): Array<[number, number]> {
  return samples.flatMap((s) => {
    const v = value(s, key);
    return v === undefined ? [] : [[s.t / 1000, v * scale] as [number, number]];
  });
}

function keysLike(samples: readonly MetricsSample[], prefix: string, label: string): string[] {
  const keys = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.values)) if (k.startsWith(prefix) && k.includes(label)) keys.add(k);
  return [...keys];
}

/** The charts the report draws from Petrel's metrics. */
export function deriveMetrics(m: MetricsSeries): DerivedSeries[] {
  const s = m.samples;
  const out: DerivedSeries[] = [
    { name: 'messages accepted', unit: '/s', points: rateOf(s, ['petrel_messages_total{outcome="accepted"}']) },
    { name: 'messages rejected', unit: '/s', points: rateOf(s, ['petrel_messages_total{outcome="rejected"}']) },
    { name: 'connections admitted', unit: '/s', points: rateOf(s, keysLike(s, 'petrel_connections_total{', 'admitted')) },
    { name: 'sessions open', unit: '', points: gauge(s, 'petrel_connections_open') },
    { name: 'recipients delivered', unit: '/s', points: rateOf(s, ['petrel_recipients_total{outcome="delivered"}']) },
    { name: 'recipients deferred', unit: '/s', points: rateOf(s, ['petrel_recipients_total{outcome="deferred"}']) },
    { name: 'recipients bounced', unit: '/s', points: rateOf(s, ['petrel_recipients_total{outcome="bounced"}']) },
    { name: 'queue size', unit: 'messages', points: gauge(s, 'petrel_queue_messages') },
    { name: 'spool commit latency (mean)', unit: 'ms', points: intervalMean(s, 'petrel_spool_commit_seconds', 1000) },
    { name: 'group commit batch (mean)', unit: 'messages', points: intervalMean(s, 'petrel_spool_commit_batch_size', 1) },
    { name: 'main event loop busy', unit: '%', points: rateOf(s, [LOOP_BUSY]).map(([t, v]) => [t, v * 100] as [number, number]) },
    { name: 'delivery thread busy', unit: '%', points: rateOf(s, [THREAD_BUSY]).map(([t, v]) => [t, v * 100] as [number, number]) },
    { name: 'session processes busy (sum)', unit: '%', points: rateOf(s, [SESSIONS_BUSY]).map(([t, v]) => [t, v * 100] as [number, number]) },
    { name: 'event-loop delay p99', unit: 'ms', points: gauge(s, 'petrel_event_loop_delay_seconds{quantile="0.99"}', 1000) },
    { name: 'event-loop delay max', unit: 'ms', points: gauge(s, 'petrel_event_loop_delay_seconds{quantile="max"}', 1000) },
  ];
  return out.filter((d) => d.points.length > 0);
}

const LOOP_BUSY = 'petrel_event_loop_busy_seconds_total';
const THREAD_BUSY = 'petrel_delivery_thread_busy_seconds_total';
const SESSIONS_BUSY = 'petrel_session_processes_busy_seconds_total';

/**
 * The share of wall time the daemon's main event loop was busy between `from` and `to` (epoch ms),
 * from its busy-seconds counter (`key`; `loops` caps the share). The counter is read at `from` and
 * at `to` by linear interpolation between the samples around each, so a run of two seconds, which
 * one-second scrapes may sample only once inside, still gets a figure (the spans around the ends
 * can hold a moment of idleness, such as the load generator starting, so it may read a few points
 * low). Without samples on both sides of the window, the first and last samples inside it are
 * used. Undefined when neither works or the daemon does not export the counter.
 */
export function loopBusyShare(m: MetricsSeries | undefined, from: number, to: number, key = LOOP_BUSY, loops = 1): number | undefined {
  if (!m || !(to > from)) return undefined;
  const points: [number, number][] = [];
  for (const x of m.samples) {
    const v = x.values[key];
    if (v !== undefined) points.push([m.startedAt + x.t, v]);
  }
  const share = (t0: number, v0: number, t1: number, v1: number): number | undefined =>
    t1 > t0 ? Math.min(loops, Math.max(0, (v1 - v0) / ((t1 - t0) / 1000))) : undefined;
  const a = counterAt(points, from);
  const b = counterAt(points, to);
  if (a !== undefined && b !== undefined) return share(from, a, to, b);
  const inside = points.filter(([t]) => t >= from && t <= to);
  const first = inside[0];
  const last = inside[inside.length - 1];
  return first && last ? share(first[0], first[1], last[0], last[1]) : undefined;
}

/** A counter's value at `t`, interpolated between the samples on either side; undefined outside them. */
function counterAt(points: readonly (readonly [number, number])[], t: number): number | undefined {
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1] as readonly [number, number];
    const [t1, v1] = points[i] as readonly [number, number];
    if (t0 <= t && t <= t1) return t1 === t0 ? v1 : v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
  }
  return undefined;
}

/** The same for the delivery thread (delivery_thread); undefined when deliveries ran on the main thread. */
export function threadBusyShare(m: MetricsSeries | undefined, from: number, to: number): number | undefined {
  const share = loopBusyShare(m, from, to, THREAD_BUSY);
  return share === 0 ? undefined : share;
}

/** The session processes' loops together (session_processes), as a share of one loop: 1.5 is one and a half loops busy. */
export function sessionsBusyShare(m: MetricsSeries | undefined, from: number, to: number): number | undefined {
  const share = loopBusyShare(m, from, to, SESSIONS_BUSY, 64);
  return share === 0 ? undefined : share;
}

/** Totals over the series: what a table row can say about a whole run. */
export function metricsSummary(m: MetricsSeries): Record<string, number> {
  const first = m.samples[0];
  const last = m.samples[m.samples.length - 1];
  if (!first || !last) return {};
  const delta = (k: string): number => (last.values[k] ?? 0) - (first.values[k] ?? 0);
  const commits = delta('petrel_spool_commit_seconds_count');
  const batches = delta('petrel_spool_commit_batch_size_count');
  const out: Record<string, number> = {
    accepted: delta('petrel_messages_total{outcome="accepted"}'),
    rejected: delta('petrel_messages_total{outcome="rejected"}'),
    delivered: delta('petrel_recipients_total{outcome="delivered"}'),
    deferred: delta('petrel_recipients_total{outcome="deferred"}'),
    bounced: delta('petrel_recipients_total{outcome="bounced"}'),
  };
  if (commits > 0) out.commitMeanMs = Math.round((delta('petrel_spool_commit_seconds_sum') / commits) * 1e6) / 1000;
  if (batches > 0) out.batchMean = Math.round((delta('petrel_spool_commit_batch_size_sum') / batches) * 10) / 10;
  const loop = m.samples.map((x) => x.values['petrel_event_loop_delay_seconds{quantile="max"}'] ?? 0);
  out.loopDelayMaxMs = Math.round(Math.max(0, ...loop) * 1e4) / 10;
  const busy = loopBusyShare(m, m.startedAt + first.t, m.startedAt + last.t);
  if (busy !== undefined) out.loopBusyPct = Math.round(busy * 1000) / 10;
  return out;
}
