// The inbound load against one system (inbound-1conn, inbound-reuse, and the Petrel variant scenarios): start, warm up, measure, stop.

// Runtime imports from index.ts are avoided here: index.ts lists the scenarios, whose modules use
// this one, so importing it back would leave SCENARIOS uninitialized when a scenario module loads first.

import { describeError } from '../errors.js';
import { runLoad, type LoadInput, type LoadResult } from '../loadgen/index.js';
import type { PeerTarget, RunningPeer } from '../peers/types.js';
import type { ScenarioHooks, ScenarioLoad, ScenarioPhase, ScenarioSpec, TargetRun } from './index.js';
import { observe } from './observe.js';

/** When the slot of the run starting now ends: its share of the time left before the deadline. */
export function slotEndOf(hooks: ScenarioHooks): number {
  const now = Date.now();
  const share = hooks.share ? Math.min(1, Math.max(0, hooks.share())) : 1 / Math.max(1, hooks.runsLeft());
  return now + (hooks.deadline - now) * share;
}

// The smallest slice of time still worth starting a system for.
export const MIN_SLOT_MS = 5_000;
// A measured run by message count gets this long before it is cut short (unless its slot is shorter).
const RUN_TIMEOUT_MS = 120_000;
// Kept free at the end of a slot for stopping the system (Postfix drains its queue first).
export const STOP_RESERVE_MS = 3_000;

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

/** The inbound load against one system: start, warm up, measure, stop. */
export async function runInboundTarget(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  target: PeerTarget,
  hooks: ScenarioHooks,
  extras: InboundExtras = {},
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
  let probe: InboundProbe | undefined;
  let result: LoadResult | undefined;
  try {
    phase('start');
    peer = await target.start();
    const running = peer;
    watch = observe(() => running);
    if (extras.probe) probe = await extras.probe(running);
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
      ...(extras.message !== undefined ? { message: extras.message } : {}),
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
    result = await runLoad(
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
    const checks = probe ? await probe.finish() : undefined;
    outcome = { ...base, version: peer.version, warmup, result, ...(checks ? { checks } : {}), ...(await watch.finish()) };
  } catch (err) {
    // A probe that did not finish (the load failed first) is finished here; its lines still tell something.
    const checks = probe && !result ? await probe.finish().catch((e: unknown) => [`probe: ${describeError(e)}`]) : undefined;
    outcome = {
      ...base,
      version: peer?.version,
      warmup,
      ...(result ? { result } : {}),
      ...(checks ? { checks } : {}),
      ...(watch ? await watch.finish() : {}),
      error: describeError(err),
    };
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
