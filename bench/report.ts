// Bench output: the machine description and the markdown table with rates and ratios (live progress: progress.ts).

import os from 'node:os';
import { formatCpuMs, loopCell, runCpuMsPerMessage } from './efficiency.js';
import { formatKb, formatMs, formatRate, formatRatio, formatSeconds, groupThousands, scenarioLabel } from './format.js';
import type { MachineLimits } from './limits.js';
import { percentile } from './loadgen/stats.js';
import { harakaVersion } from './peers/haraka.js';
import { postfixVersion } from './peers/install.js';
import { runCommand } from './peers/process.js';
import type { ScenarioReport, TargetRun } from './scenarios/index.js';
import { notes } from './notes.js';

// Callers read the formatting helpers and the notes from here as well.
export { formatCount, formatKb, formatMs, formatRate, formatRatio, formatSeconds, scenarioLabel } from './format.js';
export { notes, profileLine, shareNote } from './notes.js';

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
