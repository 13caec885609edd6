// Benchmark scenarios: one load, run against each selected system in turn, after a short warm-up.
// Inbound scenarios measure accepting; delivery scenarios (delivery.ts) measure relaying to a sink.

import { BenchError, describeError } from '../errors.js';
import { runLoad, type LoadInput, type LoadProgress, type LoadResult } from '../loadgen/index.js';
import type { PeerTarget, RelayDiagnosis, RunningPeer } from '../peers/types.js';
import { runDeliveryTarget, type DeliveryResult } from './delivery.js';

/**
 * inbound: the load against the MTA, measured at the client. drain: a queue filled while delivery is
 * held, then released and timed until empty. relay: the load against the MTA, measured at the sink.
 */
export type ScenarioKind = 'inbound' | 'drain' | 'relay';

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
};

/**
 * Whether a scenario runs against a target: inbound ones against all, delivery ones only against
 * systems that deliver (not smtp-sink: it is their destination, and no ceiling of delivering).
 */
export function appliesTo(spec: ScenarioSpec, target: PeerTarget): boolean {
  return spec.kind === 'inbound' || typeof target.startRelay === 'function';
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
  readonly recipients: number;
  readonly processes: number;
  readonly warmupMessages: number;
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
  const runs: TargetRun[] = [];
  for (const target of targets) {
    if (!appliesTo(spec, target)) continue;
    const run =
      spec.kind === 'inbound' ? await runTarget(spec, load, target, hooks) : await runDeliveryTarget(spec, load, target, hooks);
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
  // Each run gets an equal share of the time left, so that a slow first system cannot use up the
  // time of the systems it is compared with.
  const slotEnd = Date.now() + (hooks.deadline - Date.now()) / Math.max(1, hooks.runsLeft());
  const left = (): number => slotEnd - Date.now();
  if (hooks.signal?.aborted) return { ...base, error: 'skipped: aborted' };
  if (left() < MIN_SLOT_MS) return { ...base, error: 'skipped: bench deadline reached' };
  const phase = (p: ScenarioPhase): void =>
    hooks.onEvent?.({ kind: 'phase', scenario: spec.name, system: target.name, phase: p });

  let peer: RunningPeer | undefined;
  let warmup: TargetRun['warmup'];
  let outcome: TargetRun;
  try {
    phase('start');
    peer = await target.start();
    const input: LoadInput = {
      host: peer.host,
      port: peer.port,
      concurrency: load.concurrency,
      messagesPerConnection: load.messagesPerConnection,
      size: load.size,
      recipients: load.recipients,
      processes: load.processes,
    };
    if (load.warmupMessages > 0) {
      phase('warmup');
      const w = await runLoad(
        { ...input, messages: load.warmupMessages, timeoutMs: Math.max(1000, Math.min(30_000, left() / 4)) },
        { signal: hooks.signal, execArgv: hooks.execArgv },
      );
      warmup = { sent: w.sent, failed: w.failed, rate: w.rate };
    }
    phase('measure');
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
    outcome = { ...base, version: peer.version, warmup, result };
  } catch (err) {
    outcome = { ...base, version: peer?.version, warmup, error: describeError(err) };
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
