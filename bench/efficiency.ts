// CPU cost per message of one system in one run, from its resource samples over the measured window:
// how much of the machine each system spends on a message, beside how many messages it moves (a
// system spread over several processes can be faster and still cost more per message).
import type { ResourceSeries } from './resources.js';
import { loopBusyShare, sessionsBusyShare, threadBusyShare } from './metrics.js';
import type { TargetRun } from './scenarios/index.js';

/**
 * The average of one figure of the samples between `from` and `to` (epoch ms). Each sample gives the
 * figure since the previous one; the part of that interval inside the window counts, weighted by its
 * length. Undefined when the samples that carry the figure cover none of the window.
 */
export function windowAverage(
  series: ResourceSeries | undefined,
  from: number,
  to: number,
  pick: (s: ResourceSeries['samples'][number]) => number | undefined,
): number | undefined {
  if (!series || !(to > from)) return undefined;
  let sum = 0;
  let covered = 0;
  let previous: number | undefined;
  for (const s of series.samples) {
    const at = series.startedAt + s.t;
    const v = pick(s);
    if (previous !== undefined && v !== undefined) {
      const start = Math.max(previous, from);
      const end = Math.min(at, to);
      if (end > start) {
        sum += v * (end - start);
        covered += end - start;
      }
    }
    previous = at;
  }
  return covered === 0 ? undefined : sum / covered;
}

/**
 * CPU milliseconds (every core, the system's whole process tree) per message between `from` and `to`
 * (epoch ms). A window the samples cover only in part is scaled up from what they cover; undefined
 * when they cover none of it.
 */
export function cpuMsPerMessage(series: ResourceSeries | undefined, from: number, to: number, messages: number): number | undefined {
  if (messages <= 0) return undefined;
  const cpu = windowAverage(series, from, to, (s) => s.cpu);
  return cpu === undefined ? undefined : ((cpu / 100) * (to - from)) / messages;
}

/** What the window and share figures read of a run: a TargetRun, or one step of queue-scale. */
export type MeasuredRun = Pick<TargetRun, 'error' | 'result' | 'delivery' | 'resources' | 'loadResources'>;

/** The measured window of a run (epoch ms) and the messages in it: its load (inbound), or release to an empty queue (delivery). */
function measuredWindow(run: MeasuredRun): { from: number; to: number; messages: number } | undefined {
  if (run.error) return undefined;
  const r = run.result;
  if (r) return { from: r.startedAt, to: r.endedAt, messages: r.sent - r.failed };
  const d = run.delivery;
  if (d?.emptyMs !== undefined) return { from: d.startedAt, to: d.startedAt + d.emptyMs, messages: d.delivered };
  return undefined;
}

/** The CPU per message of a run over its measured window. */
export function runCpuMsPerMessage(run: TargetRun): number | undefined {
  const w = measuredWindow(run);
  return w && cpuMsPerMessage(run.resources, w.from, w.to, w.messages);
}

/**
 * How busy the whole machine was over the measured window, as a share of all its cores: near 1, the
 * system and the load generator were competing for the cores, and the rate is the machine's as much
 * as the system's.
 */
export function runMachineBusy(run: MeasuredRun): number | undefined {
  const w = measuredWindow(run);
  const cores = run.resources?.cores;
  if (!w || !cores) return undefined;
  const v = windowAverage(run.resources, w.from, w.to, (s) => s.machine);
  return v === undefined ? undefined : v / 100 / cores;
}

/** The load generator's CPU over the measured window, in percent of one core. */
export function runLoadCpu(run: MeasuredRun): number | undefined {
  const w = measuredWindow(run);
  return w && windowAverage(run.loadResources, w.from, w.to, (s) => s.cpu);
}

/** How busy Petrel's main event loop was over the same window as the CPU figure (Petrel only: the peers export no such counter). */
export function runLoopBusy(run: TargetRun): number | undefined {
  const w = measuredWindow(run);
  return w && loopBusyShare(run.metrics, w.from, w.to);
}

/** How busy the delivery thread was over that window, when deliveries ran in it (delivery_thread). */
export function runThreadBusy(run: TargetRun): number | undefined {
  const w = measuredWindow(run);
  return w && threadBusyShare(run.metrics, w.from, w.to);
}

/** How busy the session processes' loops were together over that window (session_processes). */
export function runSessionsBusy(run: TargetRun): number | undefined {
  const w = measuredWindow(run);
  return w && sessionsBusyShare(run.metrics, w.from, w.to);
}

/**
 * The "loop busy" cell: the main loop, then the session processes' loops summed and the delivery thread
 * when there were any ("45%, sessions 130%, thread 97%").
 */
export function loopCell(run: TargetRun): string {
  const thread = runThreadBusy(run);
  const sessions = runSessionsBusy(run);
  return `${formatShare(runLoopBusy(run))}${sessions === undefined ? '' : `, sessions ${formatShare(sessions)}`}${thread === undefined ? '' : `, thread ${formatShare(thread)}`}`;
}

/** "94%", "-" when unknown. */
export function formatShare(share: number | undefined): string {
  return share === undefined || !Number.isFinite(share) ? '-' : `${Math.round(share * 100)}%`;
}

/** "1.62" ms, "-" when unknown. */
export function formatCpuMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
