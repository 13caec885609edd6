// Inbound scenarios of Petrel variants side by side in one run (inbound-verify, inbound-inspected): each variant is the Petrel target with config keys of its own.

import { petrelTarget } from '../peers/petrel.js';
import type { PeerTarget } from '../peers/types.js';
import { runInboundTarget } from './inbound.js';
import type { InboundExtras, ScenarioHooks, ScenarioLoad, ScenarioSpec, TargetRun } from './types.js';

/** One configuration of Petrel measured by a variant scenario. */
export interface InboundVariant {
  /** Appended to the system's name in the table ('' keeps the name). */
  readonly suffix: string;
  readonly description: string;
  /** Config keys merged last into the inbound config; absent: the Petrel target as given. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** A fixed message to send, a probe attached while it runs. */
  readonly extras?: InboundExtras;
}

/** The Petrel target among those selected (the bench always selects it; a test may not). */
export function petrelOf(targets: readonly PeerTarget[]): PeerTarget | undefined {
  return targets.find((t) => t.name === 'petrel');
}

/** What a variant scenario counts in the bench's time budget: one run per variant, none without Petrel. */
export function variantRunCount(variants: number): (targets: readonly PeerTarget[]) => number {
  return (targets) => (petrelOf(targets) ? variants : 0);
}

/** The target of one variant: named `petrel<suffix>`, started with its config keys. */
export function variantTarget(petrel: PeerTarget, v: InboundVariant): PeerTarget {
  if (v.config === undefined && v.suffix === '') return petrel;
  const config = v.config;
  return {
    ...petrel,
    name: `${petrel.name}${v.suffix}`,
    description: `${petrel.description}; ${v.description}`,
    start: config === undefined ? petrel.start.bind(petrel) : (opts) => petrelTarget({ inboundConfig: config }).start(opts),
  };
}

/**
 * Runs the inbound load against each variant in the order given, one daemon at a time (each is
 * stopped before the next starts), and returns the runs in `display` order (indexes into
 * `variants`): the table's ratio column compares each row with the rows below it. The runner counts
 * one run per variant (variantRunCount), so each variant gets its share of the time left.
 */
export async function runPetrelVariants(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  petrel: PeerTarget,
  hooks: ScenarioHooks,
  variants: readonly InboundVariant[],
  display: readonly number[],
): Promise<TargetRun[]> {
  const measured: TargetRun[] = [];
  for (const v of variants) {
    const target = variantTarget(petrel, v);
    const run = { ...(await runInboundTarget(spec, load, target, hooks, v.extras)), system: target.name };
    measured.push(run);
    hooks.onEvent?.({ kind: 'done', scenario: spec.name, run });
  }
  return display.flatMap((i) => (measured[i] ? [measured[i]] : []));
}

/** The accepted rate of a run that has one and did not fail. */
export function rateOf(run: TargetRun | undefined): number | undefined {
  return run && !run.error && run.result && run.result.sent > 0 ? run.result.rate : undefined;
}

/** A run with more check lines. */
export function withChecks(run: TargetRun, lines: readonly string[]): TargetRun {
  return lines.length === 0 ? run : { ...run, checks: [...(run.checks ?? []), ...lines] };
}

/** "4.2%": how much lower `rate` is than `base` (negative: higher). */
export function costPercent(rate: number, base: number): string {
  return `${(((base - rate) / base) * 100).toFixed(1)}%`;
}
