// Helpers the scenario modules share: the time slot of a run, the margins kept in it, and the start's notes.

import type { RunningPeer } from '../peers/types.js';
import type { ScenarioHooks, TargetRun } from './types.js';

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

/** The run with what its system said about its start (a wait for the file system) first among its checks. */
export function withStartNotes(run: TargetRun, peer: RunningPeer | undefined): TargetRun {
  const notes = peer?.startNotes ?? [];
  return notes.length === 0 ? run : { ...run, checks: [...notes, ...(run.checks ?? [])] };
}
