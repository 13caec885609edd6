// Bench output: the machine description, live progress, and the markdown table with rates and ratios.

import os from 'node:os';
import { postfixVersion } from './peers/install.js';
import { runCommand } from './peers/process.js';
import type { ScenarioEvent, ScenarioReport, TargetRun } from './scenarios/index.js';

/** The machine a report was measured on: ratios from one run count, absolute numbers do not. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
  readonly postfix: string | undefined;
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
  return run.result && run.result.sent > 0 ? run.result.rate : undefined;
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
 * The tables of all scenarios: inbound ones (rate and latency at the client), then delivery ones
 * (rate at the sink, total time, messages delivered/accepted). A failed system shows its error.
 */
export function markdownTable(scenarios: readonly ScenarioReport[]): string {
  const inbound = scenarios.filter((s) => !isDelivery(s));
  const delivery = scenarios.filter(isDelivery);
  if (delivery.length === 0) return inboundTable(inbound);
  if (inbound.length === 0) return deliveryTable(delivery);
  return `${inboundTable(inbound)}\n\n${deliveryTable(delivery)}`;
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
    '| scenario | system | delivered/s | total s | delivered/accepted | durable before 250 | ratio |',
    '|---|---|---:|---:|---|---|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    const ratios = ratioCells(s.runs);
    s.runs.forEach((run, i) => {
      const d = run.delivery;
      const rate = d && !run.error ? formatRate(d.rate) : `failed: ${escapeCell(run.error ?? 'no result')}`;
      rows.push(
        `| ${s.name} | ${run.system} | ${rate} | ${formatSeconds(d?.emptyMs)} | ${messagesCell(run)} | ` +
          `${run.durable ? 'yes' : 'no'} | ${escapeCell(ratios[i] ?? '')} |`,
      );
    });
  }
  return [...header, ...rows].join('\n');
}

function inboundTable(scenarios: readonly ScenarioReport[]): string {
  const header = [
    '| scenario | system | msgs/s | p50 ms | p99 ms | sent/failed | durable before 250 | ratio |',
    '|---|---|---:|---:|---:|---|---|---|',
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    const ratios = ratioCells(s.runs);
    s.runs.forEach((run, i) => {
      const r = run.result;
      const rate = r ? formatRate(r.rate) : `failed: ${escapeCell(run.error ?? 'no result')}`;
      rows.push(
        `| ${s.name} | ${run.system} | ${rate} | ${formatMs(r?.latencyMs.p50)} | ${formatMs(r?.latencyMs.p99)} | ` +
          `${outcomeCell(run)} | ${run.durable ? 'yes' : 'no'} | ${escapeCell(ratios[i] ?? '')} |`,
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
    m.gitRevision ? `git ${m.gitRevision.slice(0, 12)}${m.gitDirty ? ' (dirty)' : ''}` : 'git unknown',
    `load ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  ];
  return parts.join(', ');
}

// Lines of a system's log quoted after the table; the JSON report has them all.
const DIAGNOSIS_LINES = 12;

/**
 * One line for each failure worth reading after the table: errors, the most frequent refusals, and
 * for delivery runs the figures behind the row and, when it failed, what the system's log said.
 */
export function notes(scenarios: readonly ScenarioReport[]): string[] {
  const out: string[] = [];
  for (const s of scenarios) {
    for (const run of s.runs) {
      const where = `${s.name} ${run.system}`;
      if (run.error) out.push(`${where}: ${run.error}`);
      if (run.stopError) out.push(`${where}: stop failed: ${run.stopError}`);
      for (const e of run.result?.errors ?? []) out.push(`${where}: ${e.count} x ${e.message}`);
      const d = run.delivery;
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

/** The full text printed at the end of a run: machine, table, notes. */
export function renderReport(machine: MachineInfo, scenarios: readonly ScenarioReport[], file?: string): string {
  const lines = [`Machine: ${machineLine(machine)}`, '', markdownTable(scenarios)];
  const n = notes(scenarios);
  if (n.length > 0) lines.push('', ...n.map((l) => `- ${l}`));
  if (file) lines.push('', `Results: ${file}`);
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
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    postfix: await postfixVersion(),
    gitRevision: revision || undefined,
    gitDirty: status === undefined ? undefined : status.length > 0,
    loadAverage: os.loadavg(),
  };
}

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressPrinter {
  onEvent(e: ScenarioEvent): void;
  /** A free-form line (setup steps such as package installs). */
  note(text: string): void;
  /** Clears a pending live line so that what follows starts on a clean line. */
  finish(): void;
}

export function progressPrinter(stream: ProgressStream): ProgressPrinter {
  const tty = stream.isTTY === true;
  let live = false;
  const clear = (): void => {
    if (live) stream.write('\r\x1b[K');
    live = false;
  };
  const line = (text: string): void => {
    clear();
    stream.write(`${text}\n`);
  };
  return {
    onEvent(e) {
      if (e.kind === 'phase') {
        if (e.phase === 'start') line(`${e.scenario} ${e.system}: starting`);
        else if (tty) {
          clear();
          stream.write(`${e.scenario} ${e.system}: ${e.phase}`);
          live = true;
        }
      } else if (e.kind === 'progress') {
        if (!tty) return;
        const p = e.progress;
        const of = e.total > 0 ? `/${e.total}` : '';
        clear();
        stream.write(
          `${e.scenario} ${e.system}: ${formatRate(p.currentRate)} msg/s now, ${p.ok}${of} sent, ` +
            `${p.failed} failed, ${(p.elapsedMs / 1000).toFixed(1)} s`,
        );
        live = true;
      } else if (e.kind === 'delivery') {
        if (!tty) return;
        const p = e.progress;
        clear();
        stream.write(
          `${e.scenario} ${e.system}: ${formatRate(p.currentRate)} delivered/s now, ${p.delivered}/${p.expected} at the sink, ` +
            `${(p.elapsedMs / 1000).toFixed(1)} s`,
        );
        live = true;
      } else {
        const r = e.run.result;
        const d = e.run.delivery;
        let text: string;
        if (d && !e.run.error) {
          text = `${formatRate(d.rate)} delivered/s, ${d.delivered}/${d.expected} at the sink, queue empty after ${formatSeconds(d.emptyMs)} s`;
        } else if (r) text = `${formatRate(r.rate)} msg/s, ${r.sent} sent, ${r.failed} failed`;
        else text = e.run.error ?? 'no result';
        line(`${e.scenario} ${e.run.system}: ${text}`);
      }
    },
    note: line,
    finish: clear,
  };
}
