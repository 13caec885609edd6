// The registry of benchmark scenarios (SCENARIOS) and their dispatch: one load, run against each selected system in turn, after a short warm-up.
// Inbound scenarios measure accepting; delivery scenarios (delivery.ts) measure relaying to a sink.
// The scenario modules import their types from types.ts and their helpers from common.ts, never from here.

import { BenchError } from '../errors.js';
import type { PeerTarget } from '../peers/types.js';
import { collectProfiles } from '../profile/collect.js';
import { slotEndOf } from './common.js';
import { runDeliveryTarget } from './delivery.js';
import { runInboundTarget } from './inbound.js';
import { INSPECTED_SCENARIOS } from './inspected.js';
import { SIGNING_SCENARIOS } from './signing.js';
import { runIdleTarget } from './idle.js';
import { runQueueScaleTarget } from './queue-scale.js';
import type { ScenarioHooks, ScenarioLoad, ScenarioReport, ScenarioSpec, TargetRun } from './types.js';
import { VERIFY_SCENARIOS } from './verify.js';

export type {
  DeliveryProgress,
  InboundExtras,
  InboundProbe,
  ScenarioEvent,
  ScenarioHooks,
  ScenarioKind,
  ScenarioLoad,
  ScenarioPhase,
  ScenarioReport,
  ScenarioSpec,
  TargetRun,
} from './types.js';
export { MIN_SLOT_MS, slotEndOf, STOP_RESERVE_MS } from './common.js';
export { runInboundTarget } from './inbound.js';

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
    // Its result is a ratio of two Petrel runs, and 5,000 messages last under a second at Petrel's
    // rate: single runs then read 78% and 109% on the same revision. Thirty thousand last about 4 s.
    defaultMessages: 30_000,
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
  },
  ...SIGNING_SCENARIOS,
  ...VERIFY_SCENARIOS,
  ...INSPECTED_SCENARIOS,
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

/** The run with the CPU profiles its system's daemons left (bench --profile), read and drawn. */
async function withProfile(run: TargetRun, target: PeerTarget, scenario: string): Promise<TargetRun> {
  const dirs = target.takeProfiles?.() ?? [];
  if (dirs.length === 0) return run;
  const profile = await collectProfiles(dirs, `${scenario}, ${target.name}`);
  return profile.length > 0 ? { ...run, profile } : run;
}

/**
 * Runs the scenario against each target in turn; each is stopped before the next starts. Scenarios that
 * compare variants of Petrel (spec.run) start the variants' daemons through targets of their own: with
 * --profile, only the plain Petrel's run there has a profile.
 */
export async function runScenario(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  targets: readonly PeerTarget[],
  hooks: ScenarioHooks,
): Promise<ScenarioReport> {
  if (spec.run) {
    const report = await spec.run(spec, load, targets, hooks);
    const runs = [...report.runs];
    for (const target of targets) {
      const at = runs.findIndex((r) => r.system === target.name);
      if (at >= 0) runs[at] = await withProfile(runs[at] as TargetRun, target, spec.name);
    }
    return { ...report, runs };
  }
  const runs: TargetRun[] = [];
  for (const target of targets) {
    if (!appliesTo(spec, target)) continue;
    let run: TargetRun;
    if (spec.kind === 'inbound') run = await runInboundTarget(spec, load, target, hooks);
    else if (spec.kind === 'idle') run = await runIdleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else if (spec.kind === 'queue-scale') run = await runQueueScaleTarget(spec, load, target, hooks, slotEndOf(hooks));
    else run = await runDeliveryTarget(spec, load, target, hooks);
    run = await withProfile(run, target, spec.name);
    runs.push(run);
    hooks.onEvent?.({ kind: 'done', scenario: spec.name, run });
  }
  return { name: spec.name, kind: spec.kind, description: spec.description, load, runs };
}
