// Bench output: the machine description and the markdown table with rates and ratios (live progress: progress.ts).

import os from 'node:os';
import { formatCpuMs, loopCell, runCpuMsPerMessage } from './efficiency.js';
import type { MachineLimits } from './limits.js';
import { percentile } from './loadgen/stats.js';
import { harakaVersion } from './peers/haraka.js';
import { postfixVersion } from './peers/install.js';
import { runCommand } from './peers/process.js';
import type { ScenarioReport, TargetRun } from './scenarios/index.js';
import type { ThreadProfile } from './profile/collect.js';
import { groupsLine } from './profile/cpuprofile.js';

/** The machine a report was measured on: ratios from one run count, absolute numbers do not. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
  readonly postfix: string | undefined;
  /** Haraka of the bench's cache, when installed. */
  readonly haraka?: string;
  readonly openssl?: string;
  readonly memoryMb?: number;
  readonly gitRevision: string | undefined;
  readonly gitDirty: boolean | undefined;
  readonly loadAverage: readonly number[];
}

/** 12345.6 -> "12,346"; small rates keep one decimal so that 0.4/s does not read as 0. */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return 'n/a';
  if (rate < 10) return rate.toFixed(1);
  return groupThousands(String(Math.round(rate)));
}

/** 12345 -> "12,345": a count of messages. */
export function formatCount(n: number): string {
  return groupThousands(String(Math.round(n)));
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Latency in ms: three significant digits are plenty given the noise of a shared machine. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms >= 100) return groupThousands(String(Math.round(ms)));
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** 2.43 -> "2.4x", 17.2 -> "17x", 0.0463 -> "0.046x". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio) || ratio <= 0) return 'n/a';
  if (ratio >= 10) return `${Math.round(ratio)}x`;
  if (ratio >= 1) return `${ratio.toFixed(1)}x`;
  // 0.996 rounds up to 1.0: written like the ratios of 1 and above.
  const rounded = Number(ratio.toPrecision(2));
  return rounded >= 1 ? `${rounded.toFixed(1)}x` : `${rounded}x`;
}

/** Seconds to three significant digits at most: "4.21", "17.3", "123". */
export function formatSeconds(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return 'n/a';
  const s = ms / 1000;
  if (s >= 100) return groupThousands(String(Math.round(s)));
  if (s >= 10) return s.toFixed(1);
  return s.toFixed(2);
}

/**
 * A run that produced a rate worth comparing: it accepted something (inbound), or it delivered
 * everything it accepted without a problem (delivery: a system that lost mail has no rate to compare).
 */
function rateOf(run: TargetRun): number | undefined {
  if (run.delivery) return !run.error && run.delivery.delivered > 0 ? run.delivery.rate : undefined;
  // An inbound run with figures and an error failed a check after the load (scenarios/verify.ts).
  return !run.error && run.result && run.result.sent > 0 ? run.result.rate : undefined;
}

/**
 * Ratios of one run against every run listed after it ("petrel/postfix = 2.4x"), so each pair of
 * systems appears exactly once and the system under test, listed first, is compared to all others.
 */
export function ratioCells(runs: readonly TargetRun[]): string[] {
  return runs.map((run, i) => {
    const mine = rateOf(run);
    const parts: string[] = [];
    for (const other of runs.slice(i + 1)) {
      const theirs = rateOf(other);
      const value = mine !== undefined && theirs !== undefined ? formatRatio(mine / theirs) : 'n/a';
      parts.push(`${run.system}/${other.system} = ${value}`);
    }
    return parts.join(', ');
  });
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

function outcomeCell(run: TargetRun): string {
  const r = run.result;
  if (!r) return '-';
  const notes: string[] = [];
  if (r.timedOut) notes.push('cut short');
  if (r.aborted > 0) notes.push(`${r.aborted} in flight`);
  return `${r.sent}/${r.failed}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

function isDelivery(s: ScenarioReport): boolean {
  return s.kind === 'drain' || s.kind === 'relay';
}

/** A scenario's name as the tables and charts show it: with its round when the bench ran several. */
export function scenarioLabel(s: Pick<ScenarioReport, 'name' | 'round'>): string {
  return s.round === undefined ? s.name : `${s.name} #${s.round}`;
}

/**
 * With --rounds: for each scenario, Petrel's ratio against each other system in every round (each
 * round's two rates measured minutes apart at most), and the median of those ratios (nearest rank,
 * as for latencies). A round where either rate is missing counts as n/a and is left out of it.
 */
function roundsTable(scenarios: readonly ScenarioReport[]): string | undefined {
  const byName = new Map<string, ScenarioReport[]>();
  for (const s of scenarios) if (s.round !== undefined) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  if (byName.size === 0) return undefined;
  const rows: string[] = [];
  for (const [name, rounds] of byName) {
    const systems = [...new Set(rounds.flatMap((r) => r.runs.map((run) => run.system)))];
    const [first, ...others] = systems;
    if (first === undefined) continue;
    for (const other of others) {
      const ratios = rounds.map((r) => {
        const mine = r.runs.find((run) => run.system === first);
        const theirs = r.runs.find((run) => run.system === other);
        const a = mine && rateOf(mine);
        const b = theirs && rateOf(theirs);
        return a !== undefined && b !== undefined ? a / b : undefined;
      });
      const known = ratios.filter((x): x is number => x !== undefined);
      rows.push(`| ${name} | ${first}/${other} | ${ratios.map((x) => (x === undefined ? 'n/a' : formatRatio(x))).join(', ')} | ${known.length > 0 ? formatRatio(percentile([...known].sort((x, y) => x - y), 50)) : 'n/a'} |`);
    }
  }
  return ['| scenario | ratio | by round | median |', '|---|---|---|---:|', ...rows].join('\n');
}

/**
 * The tables of all scenarios: inbound ones (rate and latency at the client), delivery ones (rate
 * at the sink, total time, messages delivered/accepted), idle-connections (memory per session,
 * latency of a new session) and queue-scale (rate and restart time by queue size). A failed
 * system shows its error.
 */
export function markdownTable(scenarios: readonly ScenarioReport[]): string {
  const inbound = scenarios.filter((s) => s.kind === 'inbound');
  const delivery = scenarios.filter(isDelivery);
  const idle = scenarios.filter((s) => s.kind === 'idle');
  const scale = scenarios.filter((s) => s.kind === 'queue-scale');
  const tables: string[] = [];
  if (inbound.length > 0 || scenarios.length === 0) tables.push(inboundTable(inbound));
  if (delivery.length > 0) tables.push(deliveryTable(delivery));
  if (idle.length > 0) tables.push(idleTable(idle));
  if (scale.length > 0) tables.push(queueScaleTable(scale));
  const rounds = roundsTable(scenarios);
  if (rounds) tables.push(rounds);
  return tables.join('\n\n');
}

/** kB with one decimal below 100, whole above. */
export function formatKb(kb: number | undefined): string {
  if (kb === undefined || !Number.isFinite(kb)) return 'n/a';
  return kb >= 100 ? groupThousands(String(Math.round(kb))) : kb.toFixed(1);
}

function idleTable(scenarios: readonly ScenarioReport[]): string {
  const header = [
    '| scenario | system | sessions open | RSS per session KB | PSS per session KB | RSS idle MB | new session p50/p99 ms (before) | new session p50/p99 ms (while open) | banner p99 ms (while open) | target <= 25 KB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    for (const run of s.runs) {
      const d = run.idle;
      if (!d) {
        rows.push(`| ${scenarioLabel(s)} | ${run.system} | failed: ${escapeCell(run.error ?? 'no result')} | | | | | | | |`);
        continue;
      }
      const lat = (p: typeof d.probeBefore): string =>
        p?.sessionMs ? `${formatMs(p.sessionMs.p50)} / ${formatMs(p.sessionMs.p99)}` : 'n/a';
      const verdict = run.system !== 'petrel' || d.rssPerSessionKb === undefined ? '' : d.rssPerSessionKb <= 25 ? 'met' : 'MISSED';
      rows.push(
        `| ${scenarioLabel(s)} | ${run.system} | ${d.opened}/${d.cappedAt ?? d.requested}${d.cappedAt !== undefined ? ` (capped: a process per session)` : ''}${run.error ? ` (${escapeCell(run.error)})` : ''} | ${formatKb(d.rssPerSessionKb)} | ` +
          `${formatKb(d.pssPerSessionKb)} | ${(d.rssIdleKb / 1024).toFixed(1)} | ${lat(d.probeBefore)} | ${lat(d.probeDuring)} | ` +
          `${formatMs(d.probeDuring?.bannerMs?.p99)} | ${verdict} |`,
      );
    }
  }
  return [...header, ...rows].join('\n');
}

function queueScaleTable(scenarios: readonly ScenarioReport[]): string {
  const header = [
    '| scenario | system | queued at start | fill s | restart to banner s | msgs/s | p50 ms | p99 ms | vs empty queue | target >= 80% at 1M |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    for (const run of s.runs) {
      const steps = run.queueScale ?? [];
      if (steps.length === 0) rows.push(`| ${scenarioLabel(s)} | ${run.system} | failed: ${escapeCell(run.error ?? 'no result')} | | | | | | | |`);
      const empty = steps.find((q) => q.target === 0)?.result?.rate;
      for (const q of steps) {
        const r = q.result;
        const vs = empty && r && r.sent > 0 ? `${Math.round((r.rate / empty) * 100)}%` : 'n/a';
        const verdict =
          q.target >= 1_000_000 && empty && r ? (r.rate >= 0.8 * empty ? 'met' : 'MISSED') : q.target >= 1_000_000 ? 'n/a' : '';
        const queued = `${groupThousands(String(q.queued))}${q.fillTimedOut ? ` (of ${groupThousands(String(q.target))}: fill cut short)` : ''}`;
        rows.push(
          `| ${scenarioLabel(s)} | ${run.system} | ${queued} | ${formatSeconds(q.fillMs)} | ${formatSeconds(q.readyMs)} | ` +
            `${r ? formatRate(r.rate) : `failed: ${escapeCell(q.error ?? 'no result')}`} | ${formatMs(r?.latencyMs.p50)} | ${formatMs(r?.latencyMs.p99)} | ${vs} | ${verdict} |`,
        );
      }
    }
  }
  return [...header, ...rows].join('\n');
}

/** Delivered/accepted, with the mismatch spelt out. */
function messagesCell(run: TargetRun): string {
  const d = run.delivery;
  if (!d) return '-';
  const notes: string[] = [];
  if (d.delivered !== d.expected) notes.push('MISMATCH');
  if (d.timedOut) notes.push('cut short');
  return `${d.delivered}/${d.expected}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

function deliveryTable(scenarios: readonly ScenarioReport[]): string {
  const header = [
    '| scenario | system | delivered/s | total s | delivered/accepted | CPU ms/msg | loop busy | durable before 250 | ratio |',
    '|---|---|---:|---:|---|---:|---:|---|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    const ratios = ratioCells(s.runs);
    s.runs.forEach((run, i) => {
      const d = run.delivery;
      const rate = d && !run.error ? formatRate(d.rate) : `failed: ${escapeCell(run.error ?? 'no result')}`;
      rows.push(
        `| ${scenarioLabel(s)} | ${run.system} | ${rate} | ${formatSeconds(d?.emptyMs)} | ${messagesCell(run)} | ${formatCpuMs(runCpuMsPerMessage(run))} | ` +
          `${loopCell(run)} | ` +
          `${run.durable ? 'yes' : 'no'} | ${escapeCell(ratios[i] ?? '')} |`,
      );
    });
  }
  return [...header, ...rows].join('\n');
}

function inboundTable(scenarios: readonly ScenarioReport[]): string {
  const header = [
    '| scenario | system | msgs/s | p50 ms | p99 ms | sent/failed | CPU ms/msg | loop busy | durable before 250 | ratio |',
    '|---|---|---:|---:|---:|---|---:|---:|---|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    const ratios = ratioCells(s.runs);
    s.runs.forEach((run, i) => {
      const r = run.result;
      const rate = r && !run.error ? formatRate(r.rate) : `failed: ${escapeCell(run.error ?? 'no result')}`;
      rows.push(
        `| ${scenarioLabel(s)} | ${run.system} | ${rate} | ${formatMs(r?.latencyMs.p50)} | ${formatMs(r?.latencyMs.p99)} | ` +
          `${outcomeCell(run)} | ${formatCpuMs(runCpuMsPerMessage(run))} | ${loopCell(run)} | ${run.durable ? 'yes' : 'no'} | ${escapeCell(ratios[i] ?? '')} |`,
      );
    });
  }
  return [...header, ...rows].join('\n');
}

/** One line describing the machine, printed above the table. */
export function machineLine(m: MachineInfo): string {
  const parts = [
    `${m.cpuModel} x ${m.cores}`,
    `Node ${m.node}`,
    m.postfix ? `Postfix ${m.postfix}` : 'Postfix absent',
    ...(m.haraka ? [`Haraka ${m.haraka}`] : []),
    m.gitRevision ? `git ${m.gitRevision.slice(0, 12)}${m.gitDirty ? ' (dirty)' : ''}` : 'git unknown',
    `load ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  ];
  return parts.join(', ');
}

// Lines of a system's log quoted after the table; the JSON report has them all.
const DIAGNOSIS_LINES = 12;

/**
 * One line for each failure worth reading after the table: errors, the most frequent refusals, the
 * warm-ups of inbound runs, queue-scale steps and relay-through runs, and for delivery runs the figures behind the row
 * and, when it failed, what the system's log said.
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
      for (const q of run.queueScale ?? []) warmupNote(out, `${where}, ${formatCount(q.queued)} queued`, q.warmup);
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

/** The machine's limits in one line. */
export function limitsLine(l: MachineLimits): string {
  const parts: string[] = [];
  const o = l.openssl;
  if (o) {
    parts.push(
      `RSA-2048 sign ${o.rsa2048SignPerS !== undefined ? formatRate(o.rsa2048SignPerS) : 'n/a'}/s, ` +
        `ed25519 sign ${o.ed25519SignPerS !== undefined ? formatRate(o.ed25519SignPerS) : 'n/a'}/s (openssl, ${o.processes} processes)`,
    );
  }
  if (l.fdatasync) {
    parts.push(`2 KB append + fdatasync ${formatRate(l.fdatasync.oneWriterPerS)}/s (1 writer), ${formatRate(l.fdatasync.fourWritersPerS)}/s (4 writers)`);
  }
  if (l.sinkCeiling) {
    parts.push(`smtp-sink ceiling ${formatRate(l.sinkCeiling.oneConnPerS)}/s (1 per connection), ${formatRate(l.sinkCeiling.reusePerS)}/s (reused)`);
  }
  for (const e of l.errors) parts.push(`not measured: ${e}`);
  return `Limits: ${parts.join('; ')}`;
}

/** The full text printed at the end of a run: machine, limits, table, notes. */
export function renderReport(
  machine: MachineInfo,
  scenarios: readonly ScenarioReport[],
  file?: string,
  htmlFile?: string,
  limits?: MachineLimits,
): string {
  const lines = [`Machine: ${machineLine(machine)}`];
  if (limits) lines.push(limitsLine(limits));
  lines.push('', markdownTable(scenarios));
  const n = notes(scenarios);
  if (n.length > 0) lines.push('', ...n.map((l) => `- ${l}`));
  if (file) lines.push('', `Results: ${file}`);
  if (htmlFile) lines.push(`Report: ${htmlFile}`);
  return lines.join('\n');
}

async function git(root: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await runCommand('git', args, { cwd: root, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

export async function machineInfo(root: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const revision = await git(root, ['rev-parse', 'HEAD']);
  const status = revision ? await git(root, ['status', '--porcelain']) : undefined;
  const haraka = await harakaVersion();
  let openssl: string | undefined;
  try {
    const r = await runCommand('openssl', ['version'], { timeoutMs: 10_000 });
    openssl = r.code === 0 ? r.stdout.trim() : undefined;
  } catch {
    openssl = undefined;
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    postfix: await postfixVersion(),
    ...(haraka ? { haraka } : {}),
    ...(openssl ? { openssl } : {}),
    memoryMb: Math.round(os.totalmem() / 1048576),
    gitRevision: revision || undefined,
    gitDirty: status === undefined ? undefined : status.length > 0,
    loadAverage: os.loadavg(),
  };
}
