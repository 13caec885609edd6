// CPU and memory of a system under test, from /proc: its whole process tree, and how busy the whole machine was, sampled every 250 ms.

import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// Linux reports CPU times in clock ticks of 1/100 s (USER_HZ) on every architecture Node runs on.
const CLK_TCK = 100;
const PAGE_KB = 4;

/** Fields of /proc/PID/stat this harness uses. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks: what the process and its reaped children used. */
  readonly ticks: number;
  readonly rssKb: number;
}

/** Parses /proc/PID/stat; the command name may hold spaces and parentheses, so fields count from its last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  if (close < 0 || !Number.isInteger(pid)) return undefined;
  // After ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ... rss(24).
  const f = text.slice(close + 2).trim().split(/\s+/);
  const n = (i: number): number => Number(f[i - 3] ?? NaN);
  const ticks = n(14) + n(15) + n(16) + n(17);
  if (!Number.isFinite(ticks)) return undefined;
  return { pid, ppid: n(4), ticks, rssKb: n(24) * PAGE_KB };
}

/** A field of /proc/PID/status in kB ("VmRSS:   1234 kB"); undefined when absent. */
export function statusKb(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

function readStatus(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
}

/** Every process now running with its parent, from /proc/<pid>/stat. */
function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** The roots and all their descendants, from one snapshot of the process table. */
export function descendants(stats: readonly ProcStat[], roots: readonly number[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  const byPid = new Map<number, ProcStat>();
  for (const s of stats) {
    byPid.set(s.pid, s);
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const seen = new Set<number>();
  const stack = roots.map((p) => byPid.get(p)).filter((s): s is ProcStat => s !== undefined);
  while (stack.length > 0) {
    const s = stack.pop() as ProcStat;
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    out.push(s);
    for (const c of children.get(s.pid) ?? []) stack.push(c);
  }
  return out;
}

/** Clock ticks of all cores together, from the first line of /proc/stat. */
export interface MachineTicks {
  /** Ticks not spent idle or waiting for I/O. */
  readonly busy: number;
  readonly total: number;
  /** Cores counted (the per-core "cpuN" lines). */
  readonly cores: number;
}

/**
 * Parses /proc/stat: "cpu  user nice system idle iowait irq softirq steal guest guest_nice". Guest time
 * is already counted in user and nice. Steal (a virtual machine's time given to other guests) was
 * neither ours to use nor idle, so it counts in neither figure.
 */
export function parseMachineTicks(text: string): MachineTicks | undefined {
  const m = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!m) return undefined;
  const f = (m[1] ?? '').trim().split(/\s+/).slice(0, 7).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const cores = (text.match(/^cpu\d+\s/gm) ?? []).length;
  return { busy: total - idle, total, cores: Math.max(1, cores) };
}

function readMachineTicks(): MachineTicks | undefined {
  try {
    return parseMachineTicks(readFileSync('/proc/stat', 'latin1'));
  } catch {
    return undefined;
  }
}

/** One sample of a process tree. */
export interface ResourceSample {
  /** ms since the sampler started. */
  readonly t: number;
  /** CPU used since the previous sample, in percent of one core (200 = two cores busy). */
  readonly cpu: number;
  /** Resident memory of the tree, in kB (shared pages counted once per process). */
  readonly rssKb: number;
  readonly processes: number;
  /**
   * How busy the whole machine was since the previous sample (every process, the kernel's own work
   * included), in percent of one core like `cpu`: 200 = two cores busy.
   */
  readonly machine?: number;
}

/** What a run's sampler saw. */
export interface ResourceSeries {
  readonly intervalMs: number;
  /** Epoch ms of t = 0. */
  readonly startedAt: number;
  readonly samples: ResourceSample[];
  /** Phases of the run (warm-up, measure...) by the time they began, for the charts. */
  readonly marks: Array<{ readonly t: number; readonly label: string }>;
  /** CPU seconds the tree used over the whole series. */
  readonly cpuSeconds: number;
  readonly peakRssKb: number;
  /** Cores of the machine, the scale of the samples' `machine` figure. */
  readonly cores?: number;
}

/** Sum of RSS and CPU ticks of a tree right now (one read of the process table). */
export function treeUsage(roots: readonly number[]): { ticks: number; rssKb: number; processes: number } {
  const stats = descendants(allStats(), roots);
  let ticks = 0;
  let rssKb = 0;
  for (const s of stats) {
    ticks += s.ticks;
    // VmRSS of /proc/PID/status for a single process (exact), the stat's page count for a tree.
    if (stats.length === 1) rssKb += statusKb(readStatus(s.pid) ?? '', 'VmRSS') ?? s.rssKb;
    else rssKb += s.rssKb;
  }
  return { ticks, rssKb, processes: stats.length };
}

/**
 * Proportional set size of a tree in kB (/proc/PID/smaps_rollup): shared pages divided among the
 * processes that share them. The fair figure for a system of many processes (Postfix), and costly
 * to read, so it is read at chosen moments, not every 250 ms.
 */
export function treePssKb(roots: readonly number[]): number | undefined {
  let total = 0;
  let any = false;
  for (const s of descendants(allStats(), roots)) {
    try {
      const v = statusKb(readFileSync(`/proc/${s.pid}/smaps_rollup`, 'latin1'), 'Pss');
      if (v !== undefined) {
        total += v;
        any = true;
      }
    } catch {
      // Gone, or not readable: it counts for nothing.
    }
  }
  return any ? total : undefined;
}

/**
 * Samples a process tree every `intervalMs` until stopped. The roots are asked for at each sample,
 * so a system that restarts (a new daemon on the same spool) is followed. A sample that takes long
 * (thousands of processes) stretches the interval rather than piling up.
 */
export class ResourceSampler {
  readonly #roots: () => readonly number[];
  readonly #intervalMs: number;
  readonly #startedAt = Date.now();
  readonly #t0 = performance.now();
  readonly #samples: ResourceSample[] = [];
  readonly #marks: Array<{ t: number; label: string }> = [];
  #timer: NodeJS.Timeout | undefined;
  #last: { at: number; ticks: number; roots: string } | undefined;
  #machine: MachineTicks | undefined;
  #cpuTicks = 0;
  #peak = 0;

  readonly #withMachine: boolean;

  /** `machine`: also sample the whole machine's busy share (one sampler per run is enough). */
  constructor(roots: () => readonly number[], intervalMs = 250, opts: { machine?: boolean } = {}) {
    this.#roots = roots;
    this.#intervalMs = intervalMs;
    this.#withMachine = opts.machine ?? true;
  }

  start(): this {
    this.#sample();
    this.#schedule(this.#intervalMs);
    return this;
  }

  mark(label: string): void {
    this.#marks.push({ t: Math.round(performance.now() - this.#t0), label });
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      const began = performance.now();
      this.#sample();
      const took = performance.now() - began;
      this.#schedule(Math.max(this.#intervalMs, took * 4));
    }, ms);
    this.#timer.unref();
  }

  #sample(): void {
    const roots = this.#roots().filter((p) => Number.isInteger(p) && p > 0);
    if (roots.length === 0) return;
    const now = performance.now();
    const u = treeUsage(roots);
    if (u.processes === 0) return;
    const key = roots.join(',');
    let cpu = 0;
    if (this.#last && this.#last.roots === key) {
      const dt = (now - this.#last.at) / 1000;
      const dTicks = Math.max(0, u.ticks - this.#last.ticks);
      this.#cpuTicks += dTicks;
      cpu = dt > 0 ? Math.round(((dTicks / CLK_TCK / dt) * 100) * 10) / 10 : 0;
    }
    this.#last = { at: now, ticks: u.ticks, roots: key };
    this.#peak = Math.max(this.#peak, u.rssKb);
    const machine = this.#withMachine ? this.#machineSince() : undefined;
    this.#samples.push({ t: Math.round(now - this.#t0), cpu, rssKb: u.rssKb, processes: u.processes, ...(machine !== undefined ? { machine } : {}) });
  }

  /** The machine's busy share since the last sample, scaled to percent of one core; undefined at the first. */
  #machineSince(): number | undefined {
    const m = readMachineTicks();
    const last = this.#machine;
    if (m) this.#machine = m;
    if (!m || !last || m.total <= last.total) return undefined;
    const share = Math.max(0, m.busy - last.busy) / (m.total - last.total);
    return Math.round(share * m.cores * 1000) / 10;
  }

  /** Takes a last sample and returns the series. */
  stop(): ResourceSeries {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sample();
    return {
      intervalMs: this.#intervalMs,
      startedAt: this.#startedAt,
      samples: this.#samples,
      marks: this.#marks,
      cpuSeconds: Math.round((this.#cpuTicks / CLK_TCK) * 100) / 100,
      peakRssKb: this.#peak,
      ...(this.#machine ? { cores: this.#machine.cores } : {}),
    };
  }
}
