// The notes printed under the bench's table: errors, refusals, warm-ups, the machine's busy share,
// delivery figures, profiles and what a failing system's log said.

import { runLoadCpu, runMachineBusy, type MeasuredRun } from './efficiency.js';
import { formatCount, formatRate, formatSeconds, scenarioLabel } from './format.js';
import type { ThreadProfile } from './profile/collect.js';
import { groupsLine } from './profile/cpuprofile.js';
import type { ScenarioReport, TargetRun } from './scenarios/index.js';

// Lines of a system's log quoted after the table; the JSON report has them all.
const DIAGNOSIS_LINES = 12;

/**
 * One line for each thing worth reading after the table: errors, the most frequent refusals, the
 * warm-ups of inbound runs, queue-scale steps and relay-through runs, how busy the machine was while
 * each was measured, and for delivery runs the figures behind the row and, when it failed, what the
 * system's log said.
 */
export function notes(scenarios: readonly ScenarioReport[]): string[] {
  const out: string[] = [];
  for (const s of scenarios) {
    for (const run of s.runs) {
      const where = `${scenarioLabel(s)} ${run.system}`;
      if (run.error) out.push(`${where}: ${run.error}`);
      if (run.stopError) out.push(`${where}: stop failed: ${run.stopError}`);
      if (run.error && run.result && run.result.sent > 0) out.push(`${where}: measured ${formatRate(run.result.rate)} msgs/s before it failed`);
      for (const c of run.checks ?? []) out.push(`${where}: ${c}`);
      for (const e of run.result?.errors ?? []) out.push(`${where}: ${e.count} x ${e.message}`);
      // The rate while warming up stays in view: it is what a freshly started system does.
      warmupNote(out, where, run.warmup);
      const share = shareNote(run);
      if (share) out.push(`${where}: ${share}`);
      for (const q of run.queueScale ?? []) {
        warmupNote(out, `${where}, ${formatCount(q.queued)} queued`, q.warmup);
        const stepShare = shareNote(q);
        if (stepShare) out.push(`${where}, ${formatCount(q.queued)} queued: ${stepShare}`);
      }
      const d = run.delivery;
      const dw = d?.warmup;
      if (dw?.ms !== undefined) warmupNote(out, where, { sent: dw.sent, failed: dw.failed ?? 0, rate: dw.rate ?? 0, ms: dw.ms });
      if (d) {
        const parts = [
          `accepted ${d.accept.sent} at ${formatRate(d.accept.rate)}/s`,
          `first at the sink after ${formatSeconds(d.firstDeliveryMs)} s, last after ${formatSeconds(d.lastDeliveryMs)} s`,
          `queue empty after ${formatSeconds(d.emptyMs)} s${d.emptySource === 'log' ? ` (its log; a count said 0 after ${formatSeconds(d.emptySeenMs)} s)` : ''}`,
        ];
        if (d.releaseMs !== undefined) parts.splice(1, 0, `release took ${formatSeconds(d.releaseMs)} s`);
        out.push(`${where}: ${parts.join(', ')}`);
        for (const e of d.accept.errors) out.push(`${where}: ${e.count} x ${e.message}`);
      }
      for (const t of run.profile ?? []) out.push(`${where}: ${profileLine(t)}`);
      const g = run.diagnosis;
      if (g) {
        if (g.keptDir) out.push(`${where}: files kept in ${g.keptDir}`);
        if (g.deliveredLogged !== undefined) out.push(`${where}: its log counts ${g.deliveredLogged} deliveries`);
        for (const line of g.lines.slice(0, DIAGNOSIS_LINES)) out.push(`${where}: log: ${line}`);
        if (g.lines.length > DIAGNOSIS_LINES) out.push(`${where}: (${g.lines.length - DIAGNOSIS_LINES} more lines in the JSON report)`);
      }
    }
  }
  return out;
}

/**
 * How busy the machine was while the run was measured, and what the load generator took of it: a
 * system whose rate is bounded by the machine shows it here (both figures are in the JSON samples).
 * The load generator is left out where it sent nothing in the window (outbound-drain's release).
 */
export function shareNote(run: MeasuredRun): string | undefined {
  const busy = runMachineBusy(run);
  if (busy === undefined) return undefined;
  const load = runLoadCpu(run);
  const cores = run.resources?.cores ?? 0;
  return `while measured, the machine's ${cores} cores were ${Math.round(busy * 100)}% busy` + (load === undefined || load < 1 ? '' : `, the load generator taking ${Math.round(load)}% of one core`);
}

/** One line for a warm-up that ran: its messages, duration and rate. */
function warmupNote(out: string[], at: string, w: TargetRun['warmup']): void {
  if (!w || w.ms === undefined || w.sent === 0) return;
  out.push(`${at}: warm-up ${formatCount(w.sent)} messages in ${formatSeconds(w.ms)} s (${formatRate(w.rate)}/s)${w.failed > 0 ? `, ${w.failed} failed` : ''}`);
}

/** Where one profiled thread's time went: its largest layers and functions, and the flame graph's file. */
export function profileLine(t: ThreadProfile): string {
  const s = t.summary;
  const daemon = t.daemon > 1 ? ` (daemon start ${t.daemon})` : '';
  const fns = s.top.slice(0, 3).map((f) => `${f.name}${f.where ? ` ${f.where}` : ''} ${Math.round(f.share * 100)}%`).join(', ');
  return `profile of the ${t.thread}${daemon}: ${formatRate(s.busyMs)} ms busy; ${groupsLine(s)}; own time first: ${fns}` + (t.flameFile ? `; flame graph ${t.flameFile}` : '');
}
