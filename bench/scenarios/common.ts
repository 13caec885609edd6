// Helpers the scenario modules share: the time slot of a run and the margins kept in it.

import type { ScenarioHooks } from './types.js';

/** When the slot of the run starting now ends: its share of the time left before the deadline. */
export function slotEndOf(hooks: ScenarioHooks): number {
  const now = Date.now();
  const share = hooks.share ? Math.min(1, Math.max(0, hooks.share())) : 1 / Math.max(1, hooks.runsLeft());
  return now + (hooks.deadline - now) * share;
}

// The smallest slice of time still worth starting a system for.
export const MIN_SLOT_MS = 5_000;
// Kept free at the end of a slot for stopping the system (Postfix drains its queue first).
export const STOP_RESERVE_MS = 3_000;
