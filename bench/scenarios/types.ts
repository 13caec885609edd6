// The types the scenario modules share: specs, loads, hooks and events, and the shape of each system's figures in the report.

import type { LatencySummary, LoadProgress, LoadResult } from '../loadgen/index.js';
import type { SizePart } from '../loadgen/sizes.js';
import type { MetricsSeries } from '../metrics.js';
import type { PeerTarget, RelayDiagnosis, RunningPeer } from '../peers/types.js';
import type { ResourceSeries } from '../resources.js';
import type { ThreadProfile } from '../profile/collect.js';

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
  /** Inbound and queue-scale: the warm-up lasts at least this long (ms), sending past its messages if need be; 0: messages only. */
  readonly warmupMs: number;
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
  /** The warm-up before the measured run: messages sent and failed, their rate, and how long it took (ms). */
  readonly warmup?: { readonly sent: number; readonly failed: number; readonly rate: number; readonly ms?: number };
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
  /** Inbound and delivery scenarios: CPU and RSS of the load generator's processes, sampled like `resources`. */
  readonly loadResources?: ResourceSeries;
  /**
   * What the scenario checked on the system while or after it ran, one line each (the bytes a viewer
   * received, the Authentication-Results of a queued message); the notes under the table list them.
   */
  readonly checks?: readonly string[];
  /** bench --profile: where each thread of the system's daemons spent its time (Petrel only). */
  readonly profile?: readonly ThreadProfile[];
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
  /** With --rounds above 1: which round this is (1-based). */
  readonly round?: number;
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

/** Something a scenario attaches to the running system for the whole run (a viewer of its inspector). */
export interface InboundProbe {
  /**
   * Called after the measured run, before the system stops: what was checked, one line each. A
   * throw fails the run: its figures stay in the report, but its row says why it failed.
   */
  finish(): Promise<readonly string[]>;
}

/** What an inbound scenario may add to the plain load against one system. */
export interface InboundExtras {
  /** One fixed message sent instead of generated ones (see LoadOptions.message). */
  readonly message?: string;
  /** Started once the system is up, before the warm-up. */
  readonly probe?: (peer: RunningPeer) => Promise<InboundProbe>;
}

// The figures of the delivery scenarios (delivery.ts).

/** What a delivery run measured at the sink, and around it. */
export interface DeliveryResult {
  /** Messages the MTA accepted in the measured part (the fill, or the load): what the sink must get. */
  readonly expected: number;
  /** Messages the sink received in the measured part. */
  readonly delivered: number;
  /** Epoch ms the clock started: the release (drain), or the load's first connection (relay). */
  readonly startedAt: number;
  /** ms from the start to the first and to the last message at the sink (absent: none arrived). */
  readonly firstDeliveryMs?: number;
  readonly lastDeliveryMs?: number;
  /**
   * ms from the start until the queue was empty (absent: it never was, within the run): the time
   * of the system's own log line for the last message leaving the queue when it has one (Petrel),
   * else when a queue count first said 0 (Postfix: `postqueue -j` every 200 ms near the end).
   */
  readonly emptyMs?: number;
  /** Where emptyMs comes from. */
  readonly emptySource?: 'log' | 'count';
  /** ms from the start until a queue count first said 0. */
  readonly emptySeenMs?: number;
  /** Delivered per second, from the start to the last message at the sink. */
  readonly rate: number;
  /** Queue count last seen: 0 when the queue emptied. */
  readonly queueLeft?: number;
  /** Messages in the queue just before the release (drain only). */
  readonly queuedAtRelease?: number;
  /** ms the release itself took (Petrel: start of the daemon until its banner; Postfix: postsuper, postqueue). */
  readonly releaseMs?: number;
  /** Deliveries at the sink in each whole second from the start (sampled every 200 ms). */
  readonly perSecond: number[];
  /** Queue counts taken (each one is a `petrel queue count` or `postqueue -j` run). */
  readonly probes: number;
  /** The accepting side: the fill (drain) or the measured load (relay), as the load generator saw it. */
  readonly accept: Omit<LoadResult, 'perSecond'>;
  /** The warm-up before the measured load (relay): accepted, then delivered and drained; ms and rate of its accepting side. */
  readonly warmup?: { readonly sent: number; readonly delivered: number; readonly failed?: number; readonly ms?: number; readonly rate?: number };
  /** True when the deadline or an abort ended the run before the queue was empty. */
  readonly timedOut: boolean;
}

// The figures of idle-connections (idle.ts).

/** The probe: whole one-message sessions, a few at a time, timed from connect to the reply to QUIT. */
export interface IdleProbe {
  readonly sent: number;
  readonly failed: number;
  readonly rate: number;
  /** Connect to the 220 banner. */
  readonly bannerMs?: LatencySummary;
  /** Connect to the reply to QUIT, one message in between. */
  readonly sessionMs?: LatencySummary;
  /** End of data to its reply. */
  readonly dataMs: LatencySummary;
  readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
}

export interface IdleResult {
  readonly requested: number;
  /** Sessions actually attempted, when the system caps them (see PeerTarget.maxIdleSessions). */
  readonly cappedAt?: number;
  readonly opened: number;
  readonly failed: number;
  /** ms to open them all. */
  readonly openMs: number;
  readonly openTimedOut: boolean;
  readonly openErrors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
  /** Sessions still open when the probe ended (the server may drop idle ones). */
  readonly stillOpen?: number;
  readonly rssBeforeKb: number;
  readonly rssIdleKb: number;
  /** (rssIdle - rssBefore) / opened, kB. */
  readonly rssPerSessionKb?: number;
  readonly pssBeforeKb?: number;
  readonly pssIdleKb?: number;
  readonly pssPerSessionKb?: number;
  readonly processesBefore: number;
  readonly processesIdle: number;
  /** The probe before the idle sessions were opened, and while they were open. */
  readonly probeBefore?: IdleProbe;
  readonly probeDuring?: IdleProbe;
}

// The figures of queue-scale (queue-scale.ts).

/** One step of queue-scale: the queue filled to a size, the daemon restarted on it, the load against it. */
export interface QueueScaleStep {
  /** Messages the step asked to have queued. */
  readonly target: number;
  /** Messages in the spool when the daemon started. */
  readonly queued: number;
  /** Messages the filler added for this step, and how long it took (ms). */
  readonly added: number;
  readonly fillMs: number;
  /** The fill was cut by its time limit: `queued` is what was reached. */
  readonly fillTimedOut: boolean;
  /** From spawning the daemon to its first 220 banner (ms). */
  readonly readyMs?: number;
  /** The warm-up after the start, before the measured load (it adds to the queue too). */
  readonly warmup?: TargetRun['warmup'];
  readonly result?: LoadResult;
  readonly resources?: ResourceSeries;
  readonly metrics?: MetricsSeries;
  /** The load generator's processes, as for an inbound run. */
  readonly loadResources?: ResourceSeries;
  readonly error?: string;
}
