// Benchmark scenarios: one load, run against each selected system in turn, after a short warm-up.
// Inbound scenarios measure accepting; delivery scenarios (delivery.ts) measure relaying to a sink.

import { BenchError } from '../errors.js';
import type { LoadProgress, LoadResult } from '../loadgen/index.js';
import type { SizePart } from '../loadgen/sizes.js';
import type { MetricsSeries } from '../metrics.js';
import type { PeerTarget, RelayDiagnosis } from '../peers/types.js';
import type { ResourceSeries } from '../resources.js';
import { runDeliveryTarget, type DeliveryResult } from './delivery.js';
import { runInboundTarget, slotEndOf } from './inbound.js';
import { INSPECTED_SCENARIOS } from './inspected.js';
import { SIGNING_SCENARIOS } from './signing.js';
import { runIdleTarget, type IdleResult } from './idle.js';
import { runQueueScaleTarget, type QueueScaleStep } from './queue-scale.js';
import { VERIFY_SCENARIOS } from './verify.js';

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
  /**
   * Runs it makes among these targets, for the time budget, when that is not one per target it
   * applies to (a scenario of Petrel variants: the number of variants, or 0 without Petrel).
   */
  readonly runCount?: (targets: readonly PeerTarget[]) => number;
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
  ...VERIFY_SCENARIOS,
  ...INSPECTED_SCENARIOS,
};

export { MIN_SLOT_MS, runInboundTarget, slotEndOf, STOP_RESERVE_MS, type InboundExtras, type InboundProbe } from './inbound.js';

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
  /**
   * What the scenario checked on the system while or after it ran, one line each (the bytes a viewer
   * received, the Authentication-Results of a queued message); the notes under the table list them.
   */
  readonly checks?: readonly string[];
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
    if (spec.kind === 'inbound') run = await runInboundTarget(spec, load, target, hooks);
    else if (spec.kind === 'idle') run = await runIdleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else if (spec.kind === 'queue-scale') run = await runQueueScaleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else run = await runDeliveryTarget(spec, load, target, hooks);
    runs.push(run);
    hooks.onEvent?.({ kind: 'done', scenario: spec.name, run });
  }
  return { name: spec.name, kind: spec.kind, description: spec.description, load, runs };
}
