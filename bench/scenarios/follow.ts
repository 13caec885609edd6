// Following a delivery run: the sink's count and the queue until it is empty, and the figures made of
// them (the rate, the moment the queue emptied, a count that does not match).

import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../errors.js';
import type { CountingSink } from '../peers/sink.js';
import type { RunningRelay } from '../peers/types.js';
import type { DeliveryProgress, DeliveryResult } from './types.js';

// How often the sink's count is looked at, and the queue when it is due.
export const POLL_MS = 200;
// The queue is counted often only near the end (the sink has everything, or has been idle for
// IDLE_PROBE_MS); otherwise every SLOW_PROBE_MS. `petrel queue count` is a Node process of about
// 0.35 s of CPU: counted every 200 ms throughout, it would take a core from the system measured.
const IDLE_PROBE_MS = 1_000;
const SLOW_PROBE_MS = 5_000;
// Nothing reached the sink and the queue did not change for this long: the system is stuck.
const STALL_MS = 30_000;
// The fill must show up in the queue within this long.
export const QUEUE_SETTLE_MS = 60_000;

/** Whether the queue should be counted now (see IDLE_PROBE_MS, SLOW_PROBE_MS). */
export function probeDue(s: {
  now: number;
  delivered: number;
  expected: number;
  lastChangeAt: number;
  lastProbeAt: number;
}): boolean {
  if (s.now - s.lastProbeAt < POLL_MS) return false;
  return s.delivered >= s.expected || s.now - s.lastChangeAt >= IDLE_PROBE_MS || s.now - s.lastProbeAt >= SLOW_PROBE_MS;
}

/** Deliveries per whole second from a start time, from cumulative counts sampled now and then. */
export class DeliverySampler {
  readonly perSecond: number[] = [];
  #last = 0;

  constructor(readonly startedAt: number) {}

  /** `delivered` is the cumulative count at epoch ms `now`; what is new goes to the current second. */
  tick(now: number, delivered: number): void {
    const second = Math.max(0, Math.floor((now - this.startedAt) / 1000));
    for (let i = this.perSecond.length; i <= second; i++) this.perSecond[i] = 0;
    this.perSecond[second] = (this.perSecond[second] ?? 0) + Math.max(0, delivered - this.#last);
    this.#last = Math.max(this.#last, delivered);
  }

  /** Deliveries per second over roughly the last second (for the live line). */
  recentRate(now: number): number {
    const second = Math.floor((now - this.startedAt) / 1000);
    const frac = (now - this.startedAt) / 1000 - second;
    const cur = this.perSecond[second] ?? 0;
    const prev = this.perSecond[second - 1] ?? 0;
    return cur + prev * (1 - frac);
  }
}

/** The figures of a run from the sink's timestamps: rate up to the last delivery, times relative to the start. */
export function deliveryFigures(t: {
  startedAt: number;
  delivered: number;
  firstAt: number;
  lastAt: number;
}): Pick<DeliveryResult, 'rate' | 'firstDeliveryMs' | 'lastDeliveryMs'> {
  const span = t.lastAt - t.startedAt;
  return {
    rate: t.delivered > 0 && t.lastAt > 0 && span > 0 ? Math.round((t.delivered / span) * 1000 * 10) / 10 : 0,
    ...(t.firstAt > 0 ? { firstDeliveryMs: t.firstAt - t.startedAt } : {}),
    ...(t.lastAt > 0 ? { lastDeliveryMs: t.lastAt - t.startedAt } : {}),
  };
}

/** A sentence for a run whose sink count does not match what the MTA accepted; undefined when it does. */
export function mismatch(delivered: number, expected: number): string | undefined {
  if (delivered === expected) return undefined;
  return delivered < expected
    ? `sink count mismatch: ${delivered} of ${expected} accepted messages reached the sink (${expected - delivered} missing)`
    : `sink count mismatch: ${delivered} messages reached the sink for ${expected} accepted (${delivered - expected} extra: duplicates)`;
}

/**
 * The moment the queue emptied: the log's time of the last message leaving it when that lies
 * between the start and the count that said 0 (else the log is about something else), or that count.
 */
export function emptyMoment(startedAt: number, seenAt: number | undefined, logged: number | undefined): { at?: number; source?: 'log' | 'count' } {
  if (seenAt === undefined) return {};
  if (logged !== undefined && logged >= startedAt && logged <= seenAt) return { at: logged, source: 'log' };
  return { at: seenAt, source: 'count' };
}

/** Refines the end of a drain with the system's log, and adds the timing fields. */
export async function emptyFields(relay: RunningRelay, startedAt: number, seenAt: number | undefined): Promise<Partial<DeliveryResult>> {
  const logged = seenAt !== undefined && relay.lastDequeuedAt ? await relay.lastDequeuedAt().catch(() => undefined) : undefined;
  const m = emptyMoment(startedAt, seenAt, logged);
  if (m.at === undefined || seenAt === undefined) return {};
  return { emptyMs: m.at - startedAt, ...(m.source ? { emptySource: m.source } : {}), emptySeenMs: seenAt - startedAt };
}

export interface WatchOutcome {
  emptyAt?: number;
  queueLeft?: number;
  probes: number;
  timedOut: boolean;
  problem?: string;
}

/**
 * Follows a drain until the queue is empty: the sink's count every 200 ms, the queue when due.
 * Ends at the first empty count, at the deadline, on abort, when the system or the sink dies, or
 * when nothing moves for STALL_MS.
 */
export async function watchDrain(w: {
  relay: RunningRelay;
  sink: CountingSink;
  base: number;
  expected: number;
  sampler: DeliverySampler;
  deadline: number;
  signal?: AbortSignal;
  onProgress?: (p: DeliveryProgress) => void;
}): Promise<WatchOutcome> {
  let lastGot = -1;
  let lastChangeAt = Date.now();
  let lastProbeAt = 0;
  let lastQueue: number | undefined;
  let probes = 0;
  for (;;) {
    await sleep(POLL_MS);
    const now = Date.now();
    const got = w.sink.counter.messages - w.base;
    if (got !== lastGot) {
      lastGot = got;
      lastChangeAt = now;
    }
    w.sampler.tick(now, got);
    w.onProgress?.({ delivered: got, expected: w.expected, elapsedMs: now - w.sampler.startedAt, currentRate: w.sampler.recentRate(now) });
    const dead = w.relay.dead() ?? w.sink.dead();
    if (dead) return { probes, queueLeft: lastQueue, timedOut: false, problem: dead };
    if (w.signal?.aborted) return { probes, queueLeft: lastQueue, timedOut: true, problem: `aborted: ${got} of ${w.expected} delivered` };
    if (now >= w.deadline) {
      return { probes, queueLeft: lastQueue, timedOut: true, problem: `deadline reached: ${got} of ${w.expected} delivered, ${lastQueue ?? '?'} queued` };
    }
    if (probeDue({ now, delivered: got, expected: w.expected, lastChangeAt, lastProbeAt })) {
      lastProbeAt = now;
      let q: number;
      try {
        q = await w.relay.queued();
      } catch (err) {
        return { probes, queueLeft: lastQueue, timedOut: false, problem: `queue count failed: ${describeError(err)}` };
      }
      probes++;
      if (q === 0) return { emptyAt: Date.now(), queueLeft: 0, probes, timedOut: false };
      if (q !== lastQueue) {
        lastQueue = q;
        lastChangeAt = Date.now();
      }
    }
    if (Date.now() - lastChangeAt >= STALL_MS) {
      return {
        probes,
        queueLeft: lastQueue,
        timedOut: false,
        problem: `stuck: ${got} of ${w.expected} at the sink, ${lastQueue ?? '?'} still queued, nothing moved for ${STALL_MS / 1000} s`,
      };
    }
  }
}

/** Waits until the queue holds `n` messages (the fill is all there) or the time is up. */
export async function waitQueued(relay: RunningRelay, n: number, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const q = await relay.queued();
    if (q === n || Date.now() >= until) return q;
    await sleep(500);
  }
}
