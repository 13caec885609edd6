// idle-connections: N sessions opened (banner, EHLO) and left idle; the system's memory per idle
// session (RSS of its process tree, and PSS for systems of many processes), and the latency of a
// new session while they are open, against the same probe before they were opened.

import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../errors.js';
import { holdIdleSessions } from '../loadgen/idle.js';
import { runLoad, type LoadInput, type LoadResult } from '../loadgen/index.js';
import { fdsFor, withFdLimit } from '../peers/process.js';
import type { PeerTarget, RunningPeer } from '../peers/types.js';
import { treePssKb, treeUsage } from '../resources.js';
import { withStartNotes } from './common.js';
import { observe } from './observe.js';
import type { IdleProbe, IdleResult, ScenarioHooks, ScenarioLoad, ScenarioPhase, ScenarioSpec, TargetRun } from './types.js';

const PROBE_CONCURRENCY = 2;
// Memory is read once it has been steady this long (or after SETTLE_MAX_MS).
const SETTLE_STEADY_MS = 2000;
const SETTLE_MAX_MS = 15_000;
const MIN_SLOT_MS = 5_000;

function probeOf(r: LoadResult): IdleProbe {
  return {
    sent: r.sent,
    failed: r.failed,
    rate: r.rate,
    ...(r.bannerLatencyMs ? { bannerMs: r.bannerLatencyMs } : {}),
    ...(r.sessionLatencyMs ? { sessionMs: r.sessionLatencyMs } : {}),
    dataMs: r.latencyMs,
    errors: r.errors,
  };
}

/** Waits until the tree's RSS has not moved by more than 1% for SETTLE_STEADY_MS (bounded). */
async function settle(pids: () => number[]): Promise<void> {
  const until = Date.now() + SETTLE_MAX_MS;
  let last = treeUsage(pids()).rssKb;
  let steadySince = Date.now();
  while (Date.now() < until) {
    await sleep(250);
    const now = treeUsage(pids()).rssKb;
    if (Math.abs(now - last) > last * 0.01) {
      last = now;
      steadySince = Date.now();
    } else if (Date.now() - steadySince >= SETTLE_STEADY_MS) return;
  }
}

export async function runIdleTarget(spec: ScenarioSpec, load: ScenarioLoad, target: PeerTarget, hooks: ScenarioHooks, slotEnd: number): Promise<TargetRun> {
  const base = { system: target.name, description: target.description, durable: target.durable, durability: target.durability };
  const left = (): number => slotEnd - Date.now();
  if (hooks.signal?.aborted) return { ...base, error: 'skipped: aborted' };
  if (left() < MIN_SLOT_MS) return { ...base, error: 'skipped: bench deadline reached' };
  const phase = (p: ScenarioPhase): void => hooks.onEvent?.({ kind: 'phase', scenario: spec.name, system: target.name, phase: p });
  const requested = load.sessions ?? 10_000;
  const sessions = Math.min(requested, target.maxIdleSessions ?? requested);
  const probeMessages = Math.max(20, Math.min(load.messages, 2000));

  let peer: RunningPeer | undefined;
  let outcome: TargetRun;
  let watch: ReturnType<typeof observe> | undefined;
  try {
    phase('start');
    peer = await target.start({ maxSessions: sessions, ...(hooks.signal ? { signal: hooks.signal } : {}) });
    const running = peer;
    watch = observe(() => running);
    const pids = (): number[] => running.pids?.() ?? [];
    const input: LoadInput = {
      host: peer.host,
      port: peer.port,
      concurrency: PROBE_CONCURRENCY,
      messagesPerConnection: 1,
      size: 2048,
      recipients: 1,
      processes: 1,
    };
    const probe = async (): Promise<IdleProbe> =>
      probeOf(
        await runLoad(
          { ...input, messages: probeMessages, timeoutMs: Math.max(1000, Math.min(120_000, left() / 4)) },
          { signal: hooks.signal, execArgv: hooks.execArgv },
        ),
      );
    if (load.warmupMessages > 0) {
      phase('warmup');
      watch.mark('warm-up');
      await runLoad({ ...input, concurrency: 4, messages: load.warmupMessages, timeoutMs: Math.max(1000, Math.min(30_000, left() / 8)) }, { signal: hooks.signal, execArgv: hooks.execArgv });
    }
    watch.mark('probe before');
    const probeBefore = await probe();
    await settle(pids);
    const before = treeUsage(pids());
    const pssBefore = treePssKb(pids());

    phase('fill');
    watch.mark(`opening ${sessions}`);
    const holder = holdIdleSessions(
      { host: peer.host, port: peer.port, sessions, parallel: 50, timeoutMs: Math.max(5000, Math.min(300_000, left() / 3)) },
      {
        command: (cmd, args) => withFdLimit(cmd, args, fdsFor(sessions)),
        onProgress: (opened, failed) =>
          hooks.onEvent?.({
            kind: 'progress',
            scenario: spec.name,
            system: target.name,
            total: sessions,
            progress: { ok: opened, failed, elapsedMs: 0, currentRate: 0 },
          }),
      },
    );
    let idle: IdleResult;
    try {
      const opened = await holder.opened;
      watch.mark('idle');
      await settle(pids);
      const after = treeUsage(pids());
      const pssAfter = treePssKb(pids());
      phase('measure');
      watch.mark('probe during');
      const probeDuring = await probe();
      const closed = await holder.close();
      watch.mark('closed');
      const per = (a: number | undefined, b: number | undefined): number | undefined =>
        a !== undefined && b !== undefined && opened.opened > 0 ? Math.round(((b - a) / opened.opened) * 100) / 100 : undefined;
      const rssPer = per(before.rssKb, after.rssKb);
      const pssPer = per(pssBefore, pssAfter);
      idle = {
        requested,
        ...(sessions < requested ? { cappedAt: sessions } : {}),
        opened: opened.opened,
        failed: opened.failed,
        openMs: opened.ms,
        openTimedOut: opened.timedOut,
        openErrors: opened.errors,
        stillOpen: closed.stillOpen,
        rssBeforeKb: before.rssKb,
        rssIdleKb: after.rssKb,
        ...(rssPer !== undefined ? { rssPerSessionKb: rssPer } : {}),
        ...(pssBefore !== undefined ? { pssBeforeKb: pssBefore } : {}),
        ...(pssAfter !== undefined ? { pssIdleKb: pssAfter } : {}),
        ...(pssPer !== undefined ? { pssPerSessionKb: pssPer } : {}),
        processesBefore: before.processes,
        processesIdle: after.processes,
        probeBefore,
        probeDuring,
      };
    } catch (err) {
      await holder.close().catch(() => undefined);
      throw err;
    }
    const observed = await watch.finish();
    outcome = {
      ...base,
      version: peer.version,
      idle,
      ...observed,
      ...(idle.opened < sessions ? { error: `opened ${idle.opened} of ${sessions} sessions (${idle.openErrors[0]?.message ?? (idle.openTimedOut ? 'time up' : 'refused')})` } : {}),
    };
  } catch (err) {
    const observed = watch ? await watch.finish() : {};
    outcome = { ...base, version: peer?.version, ...observed, error: describeError(err) };
  }
  outcome = withStartNotes(outcome, peer);
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
