// The warm-up before a measured inbound run or queue-scale step: its messages, then more until its time floor has passed (docs/decisions/0015).

import { performance } from 'node:perf_hooks';
import type { LoadClients, LoadInput } from '../loadgen/index.js';
import type { ScenarioHooks, ScenarioLoad, TargetRun } from './types.js';

// Past this much time left of the floor, another warm-up stretch is not worth starting.
const WARMUP_SLACK_MS = 100;

/**
 * The warm-up: its messages, then more for whatever is left of its time floor (load.warmupMs). A
 * JIT-compiled server climbs to its steady rate over its first seconds; the same floor for every
 * system keeps that climb out of the measured run without favouring anyone (docs/decisions/0015).
 * It runs on the client processes the measured run will use, which warm up with the server.
 */
export async function warmUp(
  clients: LoadClients,
  input: LoadInput,
  load: ScenarioLoad,
  left: () => number,
  hooks: ScenarioHooks,
): Promise<NonNullable<TargetRun['warmup']>> {
  const started = performance.now();
  let sent = 0;
  let failed = 0;
  // Each stretch gets at most a quarter of the slot's time left: the measured run must keep most of it.
  const cap = (): number => Math.max(1000, Math.min(30_000 + load.warmupMs, left() / 4));
  if (load.warmupMessages > 0) {
    const w = await clients.run({ ...input, messages: load.warmupMessages, timeoutMs: cap() }, { signal: hooks.signal });
    sent += w.sent;
    failed += w.failed;
  }
  const rest = load.warmupMs - (performance.now() - started);
  if (rest > WARMUP_SLACK_MS && !hooks.signal?.aborted) {
    const w = await clients.run({ ...input, messages: 0, durationMs: Math.round(rest), timeoutMs: Math.round(rest) + cap() }, { signal: hooks.signal });
    sent += w.sent;
    failed += w.failed;
  }
  const ms = performance.now() - started;
  return { sent, failed, rate: ms > 0 ? (sent * 1000) / ms : 0, ms: Math.round(ms) };
}

