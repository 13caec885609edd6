// Benchmark scenarios: one load, run against each selected system in turn, after a short warm-up.
// Inbound scenarios measure accepting; delivery scenarios (delivery.ts) measure relaying to a sink.

import { BenchError, describeError } from '../errors.js';
import { runLoad, type LoadInput, type LoadProgress, type LoadResult } from '../loadgen/index.js';
import type { SizePart } from '../loadgen/sizes.js';
import type { MetricsSeries } from '../metrics.js';
import type { PeerTarget, RelayDiagnosis, RunningPeer } from '../peers/types.js';
import type { ResourceSeries } from '../resources.js';
import { runDeliveryTarget, type DeliveryResult } from './delivery.js';
import { SIGNING_SCENARIOS } from './signing.js';
import { runIdleTarget, type IdleResult } from './idle.js';
import { observe } from './observe.js';
import { runQueueScaleTarget, type QueueScaleStep } from './queue-scale.js';

/**
 * inbound: the load against the MTA, measured at the client. drain: a queue filled while delivery is
 * held, then released and timed until empty. relay: the load against the MTA, measured at the sink.
 * idle: many sessions held open, memory per session and the latency of a new one. queue-scale: the
 * inbound load beside a queue of 0, 100k, 1M messages, and the restart time on it.
 */
export type ScenarioKind = 'inbound' | 'drain' | 'relay' | 'idle' | 'queue-scale';

/** The shape of the load of a scenario; counts and sizes may be overridden per run. */
export interface ScenarioSpec {
  readonly name: string;
  readonly description: string;
  readonly kind: ScenarioKind;
  /** Messages per run when --messages is not given (default: the runner's, 5000). */
  readonly defaultMessages?: number;
  readonly messagesPerConnection: number;
  readonly size: number;
  readonly concurrency: number;
  readonly recipients: number;
  /** idle-connections: sessions held open (default 10,000). */
  readonly sessions?: number;
  /** A scenario that runs its targets itself (signing.ts: variants of one system). */
  readonly run?: (spec: ScenarioSpec, load: ScenarioLoad, targets: readonly PeerTarget[], hooks: ScenarioHooks) => Promise<ScenarioReport>;
}

export const SCENARIOS: Readonly<Record<string, ScenarioSpec>> = {
  'inbound-1conn': {
    name: 'inbound-1conn',
    kind: 'inbound',
    description: 'inbound, one message per connection (connect, EHLO, MAIL/RCPT/DATA, QUIT)',
    messagesPerConnection: 1,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  'inbound-reuse': {
    name: 'inbound-reuse',
    kind: 'inbound',
    // 100 rather than unlimited: servers commonly cap messages per connection, and at 100 the
    // connection cost is already negligible.
    description: 'inbound, up to 100 messages per connection',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  'inbound-large': {
    name: 'inbound-large',
    kind: 'inbound',
    description: 'inbound, 100 KB messages, up to 100 per connection',
    defaultMessages: 2000,
    messagesPerConnection: 100,
    size: 100 * 1024,
    concurrency: 20,
    recipients: 1,
  },
  'outbound-drain': {
    name: 'outbound-drain',
    kind: 'drain',
    description:
      'delivery: a queue filled while delivery is held (loadgen as in inbound-reuse), released, timed until empty; all to smtp-sink',
    defaultMessages: 20_000,
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  'relay-through': {
    name: 'relay-through',
    kind: 'relay',
    description: 'delivery: accept (loadgen as in inbound-reuse) and relay at once to smtp-sink, timed at the sink',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  'idle-connections': {
    name: 'idle-connections',
    kind: 'idle',
    description:
      'N sessions opened (banner, EHLO) and left idle: RSS (and PSS) of the process tree per session; ' +
      'whole one-message sessions (2 at a time) timed before and while they are open',
    // Messages of each probe (before, and while the sessions are open).
    defaultMessages: 500,
    messagesPerConnection: 1,
    size: 2048,
    concurrency: 2,
    recipients: 1,
    sessions: 10_000,
  },
  'queue-scale': {
    name: 'queue-scale',
    kind: 'queue-scale',
    description:
      'Petrel: spool filled with 0, 100k, 1M deferred messages (bulk filler through store/), daemon restarted on it ' +
      '(time to its banner), then the inbound-reuse load',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  ...SIGNING_SCENARIOS,
};

/** The scenarios `petrel bench` runs when none is named (npm run bench). */
export const DEFAULT_SCENARIOS = Object.keys(SCENARIOS);

/**
 * Whether a scenario runs against a target: inbound ones against all, delivery ones only against
 * systems that deliver (not smtp-sink: it is their destination, and no ceiling of delivering).
 */
export function appliesTo(spec: ScenarioSpec, target: PeerTarget): boolean {
  switch (spec.kind) {
    case 'inbound':
    case 'idle':
      return true;
    case 'relay':
      return typeof target.startRelay === 'function';
    case 'drain':
      return typeof target.startRelay === 'function' && target.canHold !== false;
    case 'queue-scale':
      return typeof target.openQueueScale === 'function';
  }
}

export function scenarioSpec(name: string): ScenarioSpec {
  const s = SCENARIOS[name];
  if (!s) throw new BenchError('ERR_BENCH_SCENARIO', `unknown scenario "${name}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  return s;
}

/** The load of one scenario run, after overrides. */
export interface ScenarioLoad {
  readonly messages: number;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly messagesPerConnection: number;
  readonly size: number;
  /** A size mix (--size 70%2K,25%20K,5%500K) used instead of `size`. */
  readonly sizes?: readonly SizePart[];
  /** The size spec as given, for the report. */
  readonly sizeSpec?: string;
  /** Target rate of the load in messages per second; absent: as fast as the system answers. */
  readonly rate?: number;
  readonly recipients: number;
  readonly processes: number;
  readonly warmupMessages: number;
  /** idle-connections: sessions to hold open. */
  readonly sessions?: number;
  /** queue-scale: queue sizes to measure at. */
  readonly queueCounts?: readonly number[];
}

/** One system's part of a scenario: its figures, or why there are none. */
export interface TargetRun {
  readonly system: string;
  readonly description: string;
  readonly durable: boolean;
  readonly durability: string;
  readonly version?: string;
  readonly warmup?: { readonly sent: number; readonly failed: number; readonly rate: number };
  /** Inbound scenarios: what the load generator measured. */
  readonly result?: LoadResult;
  /** Delivery scenarios: what the sink received, and when. */
  readonly delivery?: DeliveryResult;
  /** Delivery scenarios that failed: what the system's logs or queue said, and where its files are. */
  readonly diagnosis?: RelayDiagnosis;
  /** idle-connections: memory per session and the probes. */
  readonly idle?: IdleResult;
  /** queue-scale: one entry per queue size. */
  readonly queueScale?: QueueScaleStep[];
  /** CPU and RSS of the system's process tree, every 250 ms. */
  readonly resources?: ResourceSeries;
  /** Its Prometheus metrics, every second (Petrel). */
  readonly metrics?: MetricsSeries;
  readonly error?: string;
  /** Stopping failed (the figures stand, but something may have been left behind). */
  readonly stopError?: string;
}

export interface ScenarioReport {
  readonly name: string;
  readonly kind: ScenarioKind;
  readonly description: string;
  readonly load: ScenarioLoad;
  readonly runs: TargetRun[];
}

export interface ScenarioHooks {
  /** Epoch ms after which nothing new starts and running loads are cut short. */
  readonly deadline: number;
  /** Runs (scenario x system) not yet finished, this one included: the time left is shared among them. */
  readonly runsLeft: () => number;
  /**
   * The share of the time left that the next run gets (0..1), when runs differ in size: its budget
   * over the budgets of all runs left. Without it, every run left gets an equal share.
   */
  readonly share?: () => number;
  readonly signal?: AbortSignal;
  readonly execArgv?: string[];
  /** Called as phases change and a few times a second while the load runs. */
  readonly onEvent?: (e: ScenarioEvent) => void;
}

export type ScenarioPhase = 'start' | 'warmup' | 'measure' | 'fill' | 'drain' | 'stop';

/** When the slot of the run starting now ends: its share of the time left before the deadline. */
export function slotEndOf(hooks: ScenarioHooks): number {
  const now = Date.now();
  const share = hooks.share ? Math.min(1, Math.max(0, hooks.share())) : 1 / Math.max(1, hooks.runsLeft());
  return now + (hooks.deadline - now) * share;
}

/** Deliveries seen at the sink so far in a delivery scenario. */
export interface DeliveryProgress {
  readonly delivered: number;
  readonly expected: number;
  readonly elapsedMs: number;
  /** Deliveries per second over roughly the last second. */
  readonly currentRate: number;
}

export type ScenarioEvent =
  | { kind: 'phase'; scenario: string; system: string; phase: ScenarioPhase }
  | { kind: 'progress'; scenario: string; system: string; progress: LoadProgress; total: number }
  | { kind: 'delivery'; scenario: string; system: string; progress: DeliveryProgress }
  | { kind: 'done'; scenario: string; run: TargetRun };

// The smallest slice of time still worth starting a system for.
export const MIN_SLOT_MS = 5_000;
// A measured run by message count gets this long before it is cut short (unless its slot is shorter).
const RUN_TIMEOUT_MS = 120_000;
// Kept free at the end of a slot for stopping the system (Postfix drains its queue first).
export const STOP_RESERVE_MS = 3_000;

/** Runs the scenario against each target in turn; each is stopped before the next starts. */
export async function runScenario(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  targets: readonly PeerTarget[],
  hooks: ScenarioHooks,
): Promise<ScenarioReport> {
  if (spec.run) return spec.run(spec, load, targets, hooks);
  const runs: TargetRun[] = [];
  for (const target of targets) {
    if (!appliesTo(spec, target)) continue;
    let run: TargetRun;
    if (spec.kind === 'inbound') run = await runTarget(spec, load, target, hooks);
    else if (spec.kind === 'idle') run = await runIdleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else if (spec.kind === 'queue-scale') run = await runQueueScaleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else run = await runDeliveryTarget(spec, load, target, hooks);
    runs.push(run);
    hooks.onEvent?.({ kind: 'done', scenario: spec.name, run });
  }
  return { name: spec.name, kind: spec.kind, description: spec.description, load, runs };
}

async function runTarget(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  target: PeerTarget,
  hooks: ScenarioHooks,
): Promise<TargetRun> {
  const base = {
    system: target.name,
    description: target.description,
    durable: target.durable,
    durability: target.durability,
  };
  // Each run gets its share of the time left, so that a slow first system cannot use up the
  // time of the systems it is compared with.
  const slotEnd = slotEndOf(hooks);
  const left = (): number => slotEnd - Date.now();
  if (hooks.signal?.aborted) return { ...base, error: 'skipped: aborted' };
  if (left() < MIN_SLOT_MS) return { ...base, error: 'skipped: bench deadline reached' };
  const phase = (p: ScenarioPhase): void =>
    hooks.onEvent?.({ kind: 'phase', scenario: spec.name, system: target.name, phase: p });

  let peer: RunningPeer | undefined;
  let warmup: TargetRun['warmup'];
  let outcome: TargetRun;
  let watch: ReturnType<typeof observe> | undefined;
  try {
    phase('start');
    peer = await target.start();
    const running = peer;
    watch = observe(() => running);
    const input: LoadInput = {
      host: peer.host,
      port: peer.port,
      concurrency: load.concurrency,
      messagesPerConnection: load.messagesPerConnection,
      size: load.size,
      ...(load.sizes ? { sizes: load.sizes } : {}),
      ...(load.rate ? { rate: load.rate } : {}),
      recipients: load.recipients,
      processes: load.processes,
    };
    if (load.warmupMessages > 0) {
      phase('warmup');
      watch.mark('warm-up');
      const w = await runLoad(
        { ...input, messages: load.warmupMessages, timeoutMs: Math.max(1000, Math.min(30_000, left() / 4)) },
        { signal: hooks.signal, execArgv: hooks.execArgv },
      );
      warmup = { sent: w.sent, failed: w.failed, rate: w.rate };
    }
    phase('measure');
    watch.mark('measure');
    const budget = load.durationMs > 0 ? load.durationMs + 15_000 : RUN_TIMEOUT_MS;
    const total = load.durationMs > 0 ? 0 : load.messages;
    const result = await runLoad(
      {
        ...input,
        messages: load.messages,
        durationMs: load.durationMs,
        timeoutMs: Math.max(1000, Math.min(budget, left() - STOP_RESERVE_MS)),
      },
      {
        signal: hooks.signal,
        execArgv: hooks.execArgv,
        onProgress: (progress) =>
          hooks.onEvent?.({ kind: 'progress', scenario: spec.name, system: target.name, progress, total }),
      },
    );
    outcome = { ...base, version: peer.version, warmup, result, ...(await watch.finish()) };
  } catch (err) {
    outcome = { ...base, version: peer?.version, warmup, ...(watch ? await watch.finish() : {}), error: describeError(err) };
  }
  // Nothing above throws past its catch, so this always runs: the system never outlives its turn.
  if (peer) {
    phase('stop');
    try {
      await peer.stop();
    } catch (err) {
      outcome = { ...outcome, stopError: describeError(err) };
    }
  }
  return outcome;
}
