// The daemon's Prometheus metrics (prom-client): one registry per daemon, counters the drivers bump.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** One registry's metrics as data (what a session process sends the daemon when it is scraped). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export interface Metrics {
  readonly registry: Registry;
  readonly connections: Counter<'result'>;
  readonly openConnections: Gauge;
  readonly messages: Counter<'outcome'>;
  readonly recipients: Counter<'outcome'>;
  readonly commitSeconds: Histogram;
  readonly commitBatch: Histogram;
  /** DKIM/ARC signing outcomes per message: kind dkim|arc, result signed|skipped|failed. */
  readonly signing: Counter<'kind' | 'result'>;
  /** The queue size is read when scraped. */
  setQueueSize(read: () => number): void;
  /** The crypto worker pool's figures, read when scraped (utilization: busy share since the last scrape). */
  setSignPool(read: () => SignPoolFigures | undefined): void;
  /** The delivery thread's busy milliseconds since it started (delivery_thread), read when scraped. */
  setDeliveryThreadBusy(read: () => number | undefined): void;
  /** What the queue's deliveries are doing now (and how much of it the delivery thread holds), read when scraped. */
  setDeliveries(read: () => DeliveryFigures | undefined): void;
  /** The session processes' metrics (session_processes), asked for when scraped and added to this registry's. */
  setSessionProcesses(read: () => Promise<MetricsJson[]>): void;
  /** The exposition text: this registry, plus the session processes' figures summed in. */
  text(): Promise<string>;
  stop(): void;
}

/** The queue's work in hand: messages, jobs without a connection, connections (all, and idle ones). */
export interface DeliveryFigures {
  readonly inFlight: number;
  readonly waiting: number;
  readonly connections: number;
  readonly idle: number;
  /** With delivery_thread: connections in the thread, and jobs handed to it that it has not reported on yet. */
  readonly thread?: { readonly connections: number; readonly jobs: number };
}

export interface SignPoolFigures {
  readonly utilization: number;
  readonly threads: number;
  readonly queued: number;
  readonly tasks: number;
  readonly failures: number;
  readonly retries: number;
  readonly lost: number;
}

/**
 * Counters are plain increments on hot paths (under a microsecond); anything that needs work to
 * compute (queue size, event-loop delay) is read only when /metrics is scraped.
 */
export function createMetrics(opts: { role?: 'daemon' | 'session' } = {}): Metrics {
  const registry = new Registry();
  let sessionProcesses: (() => Promise<MetricsJson[]>) | undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let queueSize: () => number = () => 0;
  let signPool: () => SignPoolFigures | undefined = () => undefined;
  let threadBusy: () => number | undefined = () => undefined;
  let deliveries: () => DeliveryFigures | undefined = () => undefined;
  const connections = new Counter({ name: 'petrel_connections_total', help: 'SMTP connections, by whether they were admitted', labelNames: ['result'], registers: [registry] });
  const openConnections = new Gauge({ name: 'petrel_connections_open', help: 'SMTP sessions open now', registers: [registry] });
  const messages = new Counter({
    name: 'petrel_messages_total',
    help: 'Messages: accepted (queued after 250) or rejected (refused at any stage after DATA began or a transaction was refused)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const recipients = new Counter({ name: 'petrel_recipients_total', help: 'Recipient outcomes of delivery attempts: delivered, deferred, bounced', labelNames: ['outcome'], registers: [registry] });
  const commitSeconds = new Histogram({
    name: 'petrel_spool_commit_seconds',
    help: 'From the end of data to the message being on disk',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const commitBatch = new Histogram({ name: 'petrel_spool_commit_batch_size', help: 'Messages made durable by one sync (group commit)', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] });
  const signing = new Counter({ name: 'petrel_signing_total', help: 'Messages signed (DKIM) or sealed (ARC) on delivery: signed, skipped (ARC: no A-R of ours...), failed', labelNames: ['kind', 'result'], registers: [registry] });
  new Gauge({
    name: 'petrel_sign_pool_utilization',
    help: 'Crypto worker pool: busy share of its threads since the last scrape (0..1)',
    registers: [registry],
    collect() {
      this.set(signPool()?.utilization ?? 0);
    },
  });
  new Gauge({
    name: 'petrel_sign_pool',
    help: 'Crypto worker pool: threads running, tasks queued, tasks run, failed (worker crash or error), retried, and signatures lost after the retry',
    labelNames: ['figure'],
    registers: [registry],
    collect() {
      const p = signPool();
      for (const figure of ['threads', 'queued', 'tasks', 'failures', 'retries', 'lost'] as const) this.set({ figure }, p?.[figure] ?? 0);
    },
  });
  // Busy time of the main thread: its rate is how saturated the one event loop is (1 = fully), which the
  // process's CPU figure cannot tell apart from the work of GC, LMDB and worker-pool threads.
  let busyMs = performance.eventLoopUtilization().active;
  // A session process's loop is counted apart from the daemon's: summed together, they would hide which one is full.
  new Counter({
    ...(opts.role === 'session'
      ? { name: 'petrel_session_processes_busy_seconds_total', help: 'Time the session processes\' event loops (session_processes) spent running callbacks, summed; its rate over their number is their mean utilisation' }
      : { name: 'petrel_event_loop_busy_seconds_total', help: 'Time the main event loop spent running callbacks rather than waiting for I/O; its rate is the loop utilisation (0..1)' }),
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization().active;
      if (now > busyMs) this.inc((now - busyMs) / 1000);
      busyMs = now;
    },
  });
  // The same for the delivery thread, when deliveries run there: which of the two loops sets the pace.
  let threadBusyMs = 0;
  new Counter({
    name: 'petrel_delivery_thread_busy_seconds_total',
    help: 'Time the delivery thread (delivery_thread) spent running callbacks; its rate is that loop\'s utilisation (0..1)',
    registers: [registry],
    collect() {
      const now = threadBusy();
      if (now === undefined) return;
      // A new thread (after a restart of it) counts from zero again.
      if (now > threadBusyMs) this.inc((now - threadBusyMs) / 1000);
      threadBusyMs = now;
    },
  });
  // What the queue holds in memory: a job that waits with no connection, or a thread that holds jobs it
  // never reports on, shows here rather than only as a message that does not leave.
  new Gauge({
    name: 'petrel_deliveries',
    help: 'Deliveries now: messages in hand (in_flight), jobs waiting for a connection, connections open and idle; with delivery_thread, its connections and the jobs it holds',
    labelNames: ['figure'],
    registers: [registry],
    collect() {
      const f = deliveries();
      const values = { in_flight: f?.inFlight, jobs_waiting: f?.waiting, connections: f?.connections, connections_idle: f?.idle, thread_connections: f?.thread?.connections, thread_jobs: f?.thread?.jobs };
      for (const [figure, v] of Object.entries(values)) this.set({ figure }, v ?? 0);
    },
  });
  new Gauge({ name: 'petrel_queue_messages', help: 'Messages in the queue', registers: [registry], collect() { this.set(queueSize()); } });
  new Gauge({
    name: 'petrel_event_loop_delay_seconds',
    help: 'Event-loop delay since the last scrape (p99 and max; the worst of the daemon and its session processes)',
    labelNames: ['quantile'],
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set({ quantile: '0.99' }, loop.percentile(99) / 1e9);
      this.set({ quantile: 'max' }, loop.max / 1e9);
      loop.reset();
    },
  });
  return {
    registry, connections, openConnections, messages, recipients, commitSeconds, commitBatch, signing,
    setQueueSize(read) {
      queueSize = read;
    },
    setSignPool(read) {
      signPool = read;
    },
    setDeliveryThreadBusy(read) {
      threadBusy = read;
    },
    setDeliveries(read) {
      deliveries = read;
    },
    setSessionProcesses(read) {
      sessionProcesses = read;
    },
    async text() {
      if (!sessionProcesses) return registry.metrics();
      const all = [await registry.getMetricsAsJSON(), ...(await sessionProcesses())];
      return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
    },
    stop() {
      loop.disable();
    },
  };
}
