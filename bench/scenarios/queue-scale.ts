// queue-scale: Petrel's inbound rate and its restart-to-serving time with 0, 100k and 1M messages
// already queued. The spool is filled through Petrel's store/ API (a bulk filler process) while the
// daemon is stopped, then the daemon starts on it (timed until its banner) and takes the
// inbound-reuse load. Steps share one spool and grow it; each is bounded in time and reports what
// it reached.

import { describeError } from '../errors.js';
import { LoadClients, type LoadInput } from '../loadgen/index.js';
import type { PeerTarget, QueueScaleHandle, RunningPeer } from '../peers/types.js';
import { observe } from './observe.js';
import { warmUp } from './warmup.js';
import type { QueueScaleStep, ScenarioHooks, ScenarioLoad, ScenarioPhase, ScenarioSpec, TargetRun } from './types.js';

export const DEFAULT_QUEUE_COUNTS = [0, 100_000, 1_000_000] as const;
// The filler writes some 20,000 messages per second here; the budget assumes 5,000 to stay safe.
export const FILL_RATE_FLOOR = 5_000;
// Time of one step beyond its fill: starting, warming up, measuring, stopping.
export const STEP_OVERHEAD_S = 150;
const STOP_RESERVE_MS = 10_000;
const MIN_SLOT_MS = 5_000;

/** Seconds the whole scenario may take for these counts (what the runner budgets for it). */
export function queueScaleBudgetS(counts: readonly number[]): number {
  let s = 0;
  let prev = 0;
  for (const c of counts) {
    s += Math.ceil(Math.max(0, c - prev) / FILL_RATE_FLOOR) + STEP_OVERHEAD_S;
    prev = Math.max(prev, c);
  }
  return s;
}

export async function runQueueScaleTarget(spec: ScenarioSpec, load: ScenarioLoad, target: PeerTarget, hooks: ScenarioHooks, slotEnd: number): Promise<TargetRun> {
  const base = { system: target.name, description: target.description, durable: target.durable, durability: target.durability };
  const left = (): number => slotEnd - Date.now();
  if (hooks.signal?.aborted) return { ...base, error: 'skipped: aborted' };
  if (left() < MIN_SLOT_MS) return { ...base, error: 'skipped: bench deadline reached' };
  if (!target.openQueueScale) return { ...base, error: `${target.name} has no spool the bench can fill` };
  const phase = (p: ScenarioPhase): void => hooks.onEvent?.({ kind: 'phase', scenario: spec.name, system: target.name, phase: p });
  const counts = [...(load.queueCounts ?? DEFAULT_QUEUE_COUNTS)].sort((a, b) => a - b);
  const steps: QueueScaleStep[] = [];
  let handle: QueueScaleHandle | undefined;
  let version: string | undefined;
  let error: string | undefined;
  try {
    phase('start');
    handle = await target.openQueueScale();
    for (let i = 0; i < counts.length; i++) {
      const count = counts[i] as number;
      if (hooks.signal?.aborted) {
        error = 'aborted';
        break;
      }
      // What is left is shared by the steps still to come, weighted by their budgets.
      const rest = counts.slice(i);
      const stepBudget = queueScaleBudgetS([steps[steps.length - 1]?.queued ?? 0, count]) - STEP_OVERHEAD_S;
      const share = (stepBudget + STEP_OVERHEAD_S) / queueScaleBudgetS([steps[steps.length - 1]?.queued ?? 0, ...rest]);
      const stepEnd = Date.now() + Math.max(0, left() - STOP_RESERVE_MS) * Math.min(1, share);
      if (stepEnd - Date.now() < MIN_SLOT_MS) {
        error = `deadline reached before the step of ${count} queued`;
        break;
      }
      const step = await runStep(spec, load, handle, count, stepEnd, hooks, phase);
      version ??= step.version;
      steps.push(step.step);
      if (step.step.error) {
        error = `${count} queued: ${step.step.error}`;
        break;
      }
    }
  } catch (err) {
    error = describeError(err);
  }
  let stopError: string | undefined;
  if (handle) {
    phase('stop');
    try {
      await handle.close();
    } catch (err) {
      stopError = describeError(err);
    }
  }
  const first = steps[0]?.result;
  const lastOk = [...steps].reverse().find((s) => s.result && s.result.sent > 0);
  return {
    ...base,
    ...(version ? { version } : {}),
    queueScale: steps,
    // The row's figures are those of the largest queue reached.
    ...(lastOk?.result ? { result: lastOk.result } : first ? { result: first } : {}),
    ...(error ? { error } : {}),
    ...(stopError ? { stopError } : {}),
  };
}

async function runStep(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  handle: QueueScaleHandle,
  count: number,
  stepEnd: number,
  hooks: ScenarioHooks,
  phase: (p: ScenarioPhase) => void,
): Promise<{ step: QueueScaleStep; version?: string }> {
  const left = (): number => stepEnd - Date.now();
  phase('fill');
  // The fill may use what the measurement does not need.
  const fillDeadline = Date.now() + Math.max(1000, left() - STEP_OVERHEAD_S * 1000);
  const fillStarted = Date.now();
  const fill = await handle.fill(count, {
    deadline: fillDeadline,
    onProgress: (queued) =>
      hooks.onEvent?.({
        kind: 'progress',
        scenario: spec.name,
        system: 'petrel',
        total: count,
        progress: { ok: queued, failed: 0, elapsedMs: Date.now() - fillStarted, currentRate: 0 },
      }),
  });
  const base = { target: count, queued: fill.queued, added: fill.added, fillMs: fill.ms, fillTimedOut: fill.timedOut };
  let peer: RunningPeer | undefined;
  let watch: ReturnType<typeof observe> | undefined;
  // The warm-up and the measured run share client processes: both sides are warm when measuring.
  const clients = new LoadClients({ execArgv: hooks.execArgv });
  try {
    phase('start');
    const started = await handle.start();
    peer = started.peer;
    const running = peer;
    watch = observe(() => running, () => clients.pids);
    const input: LoadInput = {
      host: peer.host,
      port: peer.port,
      concurrency: load.concurrency,
      messagesPerConnection: load.messagesPerConnection,
      size: load.size,
      ...(load.sizes ? { sizes: load.sizes } : {}),
      recipients: load.recipients,
      processes: load.processes,
    };
    let warmup: QueueScaleStep['warmup'];
    if (load.warmupMessages > 0 || load.warmupMs > 0) {
      phase('warmup');
      watch.mark('warm-up');
      warmup = await warmUp(clients, input, load, left, hooks);
    }
    phase('measure');
    watch.mark('measure');
    const total = load.durationMs > 0 ? 0 : load.messages;
    const result = await clients.run(
      { ...input, messages: load.messages, durationMs: load.durationMs, timeoutMs: Math.max(1000, Math.min(load.durationMs > 0 ? load.durationMs + 15_000 : 120_000, left() - STOP_RESERVE_MS)) },
      {
        signal: hooks.signal,
        onProgress: (progress) => hooks.onEvent?.({ kind: 'progress', scenario: spec.name, system: 'petrel', progress, total }),
      },
    );
    const observed = await watch.finish();
    await peer.stop();
    return { step: { ...base, readyMs: Math.round(started.readyMs), warmup, result, ...observed }, version: peer.version };
  } catch (err) {
    const observed = watch ? await watch.finish() : {};
    await peer?.stop().catch(() => undefined);
    return { step: { ...base, ...observed, error: describeError(err) } };
  } finally {
    await clients.close();
  }
}
