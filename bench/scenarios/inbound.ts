// The inbound load against one system (inbound-1conn, inbound-reuse, and the Petrel variant scenarios): start, warm up, measure, stop.

import { describeError } from '../errors.js';
import { LoadClients, type LoadInput, type LoadResult } from '../loadgen/index.js';
import type { PeerTarget, RunningPeer } from '../peers/types.js';
import { MIN_SLOT_MS, slotEndOf, STOP_RESERVE_MS, withStartNotes } from './common.js';
import { observe } from './observe.js';
import { warmUp } from './warmup.js';
import type { InboundExtras, InboundProbe, ScenarioHooks, ScenarioLoad, ScenarioPhase, ScenarioSpec, TargetRun } from './types.js';

// A measured run by message count gets this long before it is cut short (unless its slot is shorter).
const RUN_TIMEOUT_MS = 120_000;

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
  // The warm-up and the measured run share client processes: both sides are warm when measuring.
  const clients = new LoadClients({ execArgv: hooks.execArgv });
  try {
    phase('start');
    peer = await target.start(hooks.signal ? { signal: hooks.signal } : {});
    const running = peer;
    watch = observe(() => running, () => clients.pids);
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
    if (load.warmupMessages > 0 || load.warmupMs > 0) {
      phase('warmup');
      watch.mark('warm-up');
      warmup = await warmUp(clients, input, load, left, hooks);
    }
    phase('measure');
    watch.mark('measure');
    const budget = load.durationMs > 0 ? load.durationMs + 15_000 : RUN_TIMEOUT_MS;
    const total = load.durationMs > 0 ? 0 : load.messages;
    result = await clients.run(
      {
        ...input,
        messages: load.messages,
        durationMs: load.durationMs,
        timeoutMs: Math.max(1000, Math.min(budget, left() - STOP_RESERVE_MS)),
      },
      {
        signal: hooks.signal,
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
  outcome = withStartNotes(outcome, peer);
  // Nothing above throws past its catch, so this always runs: the system never outlives its turn.
  await clients.close();
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
