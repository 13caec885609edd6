// Delivery scenarios: the MTA relays every message to a counting smtp-sink on its own port.
// outbound-drain: fill the queue while delivery is held, release, time until the queue is empty.
// relay-through: load the MTA, which relays at once; time from the first connection to the last
// message at the sink.

import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../errors.js';
import { LoadClients, type LoadInput, type LoadResult } from '../loadgen/index.js';
import { warmUp } from './warmup.js';
import { startCountingSink, type CountingSink } from '../peers/sink.js';
import type { PeerTarget, RelayDiagnosis, RunningRelay } from '../peers/types.js';
import { slotEndOf, withStartNotes } from './common.js';
import { observe } from './observe.js';
import { DeliverySampler, deliveryFigures, emptyFields, mismatch, POLL_MS, QUEUE_SETTLE_MS, waitQueued, watchDrain } from './follow.js';
import type { DeliveryProgress, DeliveryResult, ScenarioHooks, ScenarioLoad, ScenarioPhase, ScenarioSpec, TargetRun } from './types.js';

export type { DeliveryResult } from './types.js';

// The counter output of smtp-sink crosses a pipe: a moment for the last update to arrive.
const COUNTER_SETTLE_MS = 300;
const FILL_TIMEOUT_MS = 600_000;
const MIN_SLOT_MS = 5_000;
const STOP_RESERVE_MS = 10_000;

/** Runs one delivery scenario against one target; never throws, always stops what it started. */
export async function runDeliveryTarget(
  spec: ScenarioSpec,
  load: ScenarioLoad,
  target: PeerTarget,
  hooks: ScenarioHooks,
): Promise<TargetRun> {
  let base: TargetRun = {
    system: target.name,
    description: target.description,
    durable: target.durable,
    durability: target.durability,
  };
  const slotEnd = slotEndOf(hooks);
  const left = (): number => slotEnd - Date.now();
  if (hooks.signal?.aborted) return { ...base, error: 'skipped: aborted' };
  if (left() < MIN_SLOT_MS) return { ...base, error: 'skipped: bench deadline reached' };
  if (!target.startRelay) return { ...base, error: `${target.name} does not relay` };
  let watch: ReturnType<typeof observe> | undefined;
  const phase = (p: ScenarioPhase): void => hooks.onEvent?.({ kind: 'phase', scenario: spec.name, system: target.name, phase: p });
  const onProgress = (progress: DeliveryProgress): void =>
    hooks.onEvent?.({ kind: 'delivery', scenario: spec.name, system: target.name, progress });

  let sink: CountingSink | undefined;
  let relay: RunningRelay | undefined;
  let outcome: TargetRun;
  // One set of client processes for the system's turn: relay-through's warm-up and measured load
  // share them, so both sides are warm when measuring; the machine's samples watch them.
  const clients = new LoadClients({ execArgv: hooks.execArgv });
  try {
    phase('start');
    sink = await startCountingSink();
    relay = await target.startRelay({ sinkPort: sink.port, hold: spec.kind === 'drain', ...(hooks.signal ? { signal: hooks.signal } : {}) });
    const running = relay;
    watch = observe(() => running, () => clients.pids);
    base = { ...base, description: relay.info.description, version: relay.version };
    const input: LoadInput = {
      host: relay.host,
      port: relay.port,
      concurrency: load.concurrency,
      messagesPerConnection: load.messagesPerConnection,
      size: load.size,
      ...(load.sizes ? { sizes: load.sizes } : {}),
      recipients: load.recipients,
      processes: load.processes,
    };
    const w = watch;
    const marked = (p: ScenarioPhase): void => {
      w.mark(p);
      phase(p);
    };
    const run = { spec, load, hooks, relay, sink, clients, input, left, phase: marked, onProgress };
    outcome = { ...base, ...(spec.kind === 'drain' ? await drain(run) : await relayThrough(run)) };
  } catch (err) {
    outcome = { ...base, error: describeError(err) };
  }
  if (watch) outcome = { ...outcome, ...(await watch.finish()) };
  outcome = withStartNotes(outcome, relay);
  await clients.close();
  // A failure is a finding: what the system said goes into the report (its files are kept). An
  // abort is not, and leaves nothing behind.
  if (outcome.error && relay && !outcome.diagnosis && !hooks.signal?.aborted) {
    const d = await relay.diagnose().catch((e: unknown): RelayDiagnosis => ({ lines: [`diagnosis failed: ${describeError(e)}`] }));
    // The sink's side of it: smtp-sink warns on stderr when it drops a connection.
    const said = sink?.said().split('\n').filter(Boolean).slice(-10).map((l) => `smtp-sink: ${l}`) ?? [];
    outcome = { ...outcome, diagnosis: { ...d, lines: [...said, ...d.lines] } };
  }
  phase('stop');
  for (const s of [relay, sink]) {
    if (!s) continue;
    try {
      await s.stop();
    } catch (err) {
      outcome = { ...outcome, stopError: [outcome.stopError, describeError(err)].filter(Boolean).join('; ') };
    }
  }
  return outcome;
}

interface Run {
  spec: ScenarioSpec;
  load: ScenarioLoad;
  hooks: ScenarioHooks;
  relay: RunningRelay;
  sink: CountingSink;
  clients: LoadClients;
  input: LoadInput;
  left: () => number;
  phase: (p: ScenarioPhase) => void;
  onProgress: (p: DeliveryProgress) => void;
}

type Measured = Pick<TargetRun, 'delivery' | 'diagnosis' | 'error'>;

function acceptPart(r: LoadResult): Omit<LoadResult, 'perSecond'> {
  const { perSecond: _perSecond, ...rest } = r;
  return rest;
}

/** Fill while held, check it is all queued and nothing left, release, follow until empty. */
async function drain(r: Run): Promise<Measured> {
  const { relay, sink, hooks } = r;
  r.phase('fill');
  const fill = await r.clients.run(
    { ...r.input, messages: r.load.messages, timeoutMs: Math.max(1000, Math.min(FILL_TIMEOUT_MS, r.left() - STOP_RESERVE_MS)) },
    {
      signal: hooks.signal,
      onProgress: (progress) => hooks.onEvent?.({ kind: 'progress', scenario: r.spec.name, system: relay.info.name, progress, total: r.load.messages }),
    },
  );
  if (fill.sent === 0) {
    const why = fill.errors[0]?.message ?? 'nothing accepted';
    return { error: `fill: no message accepted (${why})` };
  }
  const queued = await waitQueued(relay, fill.sent, Math.min(QUEUE_SETTLE_MS, Math.max(1000, r.left() - STOP_RESERVE_MS)));
  const early = sink.counter.messages;
  if (early > 0) return { error: `delivery was not held: ${early} messages reached the sink during the fill` };
  if (queued !== fill.sent) return { error: `after the fill the queue holds ${queued} messages, ${fill.sent} were accepted` };

  r.phase('drain');
  const baseCount = sink.counter.mark();
  const startedAt = await relay.release();
  const releaseMs = Date.now() - startedAt;
  const sampler = new DeliverySampler(startedAt);
  const watch = await watchDrain({
    relay,
    sink,
    base: baseCount,
    expected: fill.sent,
    sampler,
    deadline: Date.now() + Math.max(1000, r.left() - STOP_RESERVE_MS),
    signal: hooks.signal,
    onProgress: r.onProgress,
  });
  await sleep(COUNTER_SETTLE_MS);
  const delivered = sink.counter.messages - baseCount;
  sampler.tick(Date.now(), delivered);
  const delivery: DeliveryResult = {
    expected: fill.sent,
    delivered,
    startedAt,
    ...deliveryFigures({ startedAt, delivered, firstAt: sink.counter.firstAt, lastAt: sink.counter.lastAt }),
    ...(await emptyFields(relay, startedAt, watch.emptyAt)),
    ...(watch.queueLeft !== undefined ? { queueLeft: watch.queueLeft } : {}),
    queuedAtRelease: queued,
    releaseMs,
    perSecond: sampler.perSecond,
    probes: watch.probes,
    accept: acceptPart(fill),
    timedOut: watch.timedOut,
  };
  // Refusals during the fill are listed in the notes (accept.errors); what was accepted must arrive.
  const problem = watch.problem ?? mismatch(delivered, fill.sent);
  return { delivery, ...(problem ? { error: problem } : {}) };
}

/** Warm up (delivered and drained too), then the measured load, followed until the queue is empty. */
async function relayThrough(r: Run): Promise<Measured> {
  const { relay, sink, hooks, clients } = r;
  let warmup: DeliveryResult['warmup'];
  if (r.load.warmupMessages > 0 || r.load.warmupMs > 0) {
    r.phase('warmup');
    const before = sink.counter.mark();
    // Its messages, then more until the time floor has passed (decision 0015), all delivered before the measured load.
    const w = await warmUp(clients, r.input, r.load, r.left, hooks);
    const watch = await watchDrain({
      relay,
      sink,
      base: before,
      expected: w.sent,
      sampler: new DeliverySampler(Date.now()),
      deadline: Date.now() + Math.max(1000, Math.min(60_000, r.left() / 3)),
      signal: hooks.signal,
    });
    await sleep(COUNTER_SETTLE_MS);
    const got = sink.counter.messages - before;
    warmup = { sent: w.sent, delivered: got, failed: w.failed, ms: w.ms, rate: w.rate };
    const problem = watch.problem ?? (w.sent === 0 ? 'nothing accepted' : mismatch(got, w.sent));
    if (problem) return { error: `warm-up: ${problem}` };
  }

  r.phase('measure');
  const baseCount = sink.counter.mark();
  const sampler = new DeliverySampler(Date.now());
  // The sink is sampled while the load runs too, for the per-second figures and the live line.
  let sampling = true;
  const sampleLoop = (async () => {
    while (sampling) {
      await sleep(POLL_MS);
      const now = Date.now();
      const got = sink.counter.messages - baseCount;
      sampler.tick(now, got);
      r.onProgress({ delivered: got, expected: r.load.messages, elapsedMs: now - sampler.startedAt, currentRate: sampler.recentRate(now) });
    }
  })();
  let load: LoadResult;
  try {
    load = await clients.run(
      { ...r.input, messages: r.load.messages, timeoutMs: Math.max(1000, Math.min(FILL_TIMEOUT_MS, r.left() - STOP_RESERVE_MS)) },
      { signal: hooks.signal },
    );
  } finally {
    sampling = false;
    await sampleLoop;
  }
  if (load.sent === 0) return { error: `load: no message accepted (${load.errors[0]?.message ?? 'nothing accepted'})` };
  const watch = await watchDrain({
    relay,
    sink,
    base: baseCount,
    expected: load.sent,
    sampler,
    deadline: Date.now() + Math.max(1000, r.left() - STOP_RESERVE_MS),
    signal: hooks.signal,
    onProgress: r.onProgress,
  });
  await sleep(COUNTER_SETTLE_MS);
  const delivered = sink.counter.messages - baseCount;
  sampler.tick(Date.now(), delivered);
  const startedAt = load.startedAt;
  const delivery: DeliveryResult = {
    expected: load.sent,
    delivered,
    startedAt,
    ...deliveryFigures({ startedAt, delivered, firstAt: sink.counter.firstAt, lastAt: sink.counter.lastAt }),
    ...(await emptyFields(relay, startedAt, watch.emptyAt)),
    ...(watch.queueLeft !== undefined ? { queueLeft: watch.queueLeft } : {}),
    perSecond: sampler.perSecond,
    probes: watch.probes,
    accept: acceptPart(load),
    ...(warmup ? { warmup } : {}),
    timedOut: watch.timedOut || load.timedOut,
  };
  const problem = watch.problem ?? mismatch(delivered, load.sent);
  return { delivery, ...(problem ? { error: problem } : {}) };
}
