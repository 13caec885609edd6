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
  return `${Number(ratio.toPrecision(2))}x`;
}

/** A run that produced a rate worth comparing (it ran, and it accepted something). */
function rateOf(run: TargetRun): number | undefined {
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

/** The table of all scenarios; a failed system shows its error in place of its figures. */
export function markdownTable(scenarios: readonly ScenarioReport[]): string {
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

/** One line for each failure worth reading after the table (errors and the most frequent refusals). */
export function notes(scenarios: readonly ScenarioReport[]): string[] {
  const out: string[] = [];
  for (const s of scenarios) {
    for (const run of s.runs) {
      const where = `${s.name} ${run.system}`;
      if (run.error) out.push(`${where}: ${run.error}`);
      if (run.stopError) out.push(`${where}: stop failed: ${run.stopError}`);
      for (const e of run.result?.errors ?? []) out.push(`${where}: ${e.count} x ${e.message}`);
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
      } else {
        const r = e.run.result;
        line(
          r
            ? `${e.scenario} ${e.run.system}: ${formatRate(r.rate)} msg/s, ${r.sent} sent, ${r.failed} failed`
            : `${e.scenario} ${e.run.system}: ${e.run.error ?? 'no result'}`,
        );
      }
    },
    note: line,
    finish: clear,
  };
}
