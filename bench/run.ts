// The bench runner: installs peers, runs scenarios against each system, writes JSON, prints the table.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError, describeError } from './errors.js';
import { renderHtml } from './html.js';
import { measureLimits, type MachineLimits } from './limits.js';
import { formatSizeSpec, meanSize, parseSizeSpec } from './loadgen/sizes.js';
import { createTarget, ensurePeers, PEER_NAMES } from './peers/index.js';
import type { PeerTarget } from './peers/types.js';
import { SETTLE_MS } from './peers/inode-settle.js';
import { limitsLine, machineInfo, markdownTable, renderReport, type MachineInfo } from './report.js';
import { progressPrinter, type ProgressStream } from './progress.js';
import {
  appliesTo,
  DEFAULT_SCENARIOS,
  runScenario,
  scenarioSpec,
  type ScenarioLoad,
  type ScenarioReport,
  type ScenarioSpec,
} from './scenarios/index.js';
import { DEFAULT_QUEUE_COUNTS, queueScaleBudgetS } from './scenarios/queue-scale.js';
import type { ScenarioKind } from './scenarios/types.js';

export interface BenchOptions {
  /** Scenario names (see SCENARIOS); empty means all of them. */
  scenarios: string[];
  /** Systems to measure, e.g. ['petrel', 'postfix', 'sink']; the table lists them in that canonical order. */
  peers: string[];
  /** Messages per measured run (default 5000; outbound-drain 20,000); ignored when duration is set. */
  messages?: number;
  /** Seconds per measured run, instead of a message count. */
  duration?: number;
  concurrency?: number;
  /** Message size in octets, or a spec: "2K", "100K", a mix "70%2K,25%20K,5%500K". */
  size?: number | string;
  /** Target rate of the load (messages per second); absent: as fast as the system answers. */
  rate?: number;
  /** Recipients per message (1 to MAX_RECIPIENTS), where the scenario's messages come from the load generator. */
  recipients?: number;
  /** idle-connections: sessions held open (default 10,000). */
  sessions?: number;
  /** queue-scale: queue sizes (default 0, 100000, 1000000). */
  queueCounts?: number[];
  /** Measure the machine's limits (openssl speed, fdatasync, smtp-sink ceiling); default true. */
  limits?: boolean;
  /** Directory of the JSON report (default bench/results/ in the repository). */
  report?: string;
  /** Load generator processes, 1 or 2 (default 1: on two cores a second one costs the server a core). */
  processes?: number;
  /** Warm-up messages before each measured run (default: a tenth of the run, 100 to 1000). */
  warmup?: number;
  /**
   * Inbound scenarios and queue-scale: the warm-up goes on, past its messages, until this many
   * seconds have passed (default 5 unless --warmup is given; 0: messages only). A JIT-compiled
   * server is not at its steady rate for its first few seconds (docs/decisions/0015).
   */
  warmupSeconds?: number;
  /**
   * Run the scenarios this many times over (1 to 9, default 1), each round against every system, one
   * scenario's rounds one after the other: the table then adds each ratio's median over the rounds, a
   * figure the machine's other tenants move less than any one round's.
   */
  rounds?: number;
  /** Deadline of the whole bench in seconds; what was measured by then is reported. */
  timeout?: number;
  /** Install missing Debian packages (default true). */
  install?: boolean;
  /**
   * Profile Petrel's daemons (node --cpu-prof, every thread): the profiles and a flame graph of each go
   * in a directory beside the report, and the reports say where each thread's time went.
   */
  profile?: boolean;
  /**
   * Before starting Postfix, wait until a minute has passed since its previous run's queue files were
   * deleted, where the file system delays reusing their inodes (ext4 without a journal;
   * peers/inode-settle.ts). Default true; false for short runs whose few deleted files do not matter.
   */
  settle?: boolean;
  signal?: AbortSignal;
}

/** Replaceable surroundings, for tests and embedding (the `petrel bench` command). */
export interface BenchEnvironment {
  /** Targets by name, used instead of (or beside) the built-in ones. */
  readonly targets?: Readonly<Record<string, PeerTarget>>;
  /** Where the final text goes (default stdout). */
  readonly out?: (text: string) => void;
  /** Where live progress goes (default stderr). */
  readonly progress?: ProgressStream;
  /** Repository root, for git and the default results directory. */
  readonly root?: string;
  /** Turn SIGINT/SIGTERM into a clean stop while the bench runs (default true). */
  readonly handleSignals?: boolean;
  /** Node options of the load generator processes (e.g. ['--cpu-prof']). */
  readonly loadgenExecArgv?: string[];
}

export interface BenchReport {
  readonly format: 'petrel-bench/1';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  /** The machine's own ceilings, measured before the scenarios (absent with limits: false). */
  readonly limits?: MachineLimits;
  readonly options: Omit<BenchOptions, 'signal'>;
  readonly scenarios: ScenarioReport[];
  /** True when the deadline or an abort cut the bench short. */
  readonly incomplete: boolean;
  readonly table: string;
  /** Path of the JSON file written (absent if writing failed). */
  readonly file?: string;
  /** Path of the HTML report beside it. */
  readonly htmlFile?: string;
  readonly fileError?: string;
}

const DEFAULT_MESSAGES = 5000;
/** RFC 5321 section 4.5.3.1.8: every server must take at least 100 recipients per message. */
export const MAX_RECIPIENTS = 100;
/** The scenario kinds whose envelope is the load generator's, so that --recipients applies. */
const TAKES_RECIPIENTS: ReadonlySet<ScenarioKind> = new Set(['inbound', 'drain', 'relay', 'queue-scale']);
/** Inbound and queue-scale runs warm up for at least this long (docs/decisions/0015). */
export const DEFAULT_WARMUP_SECONDS = 5;
// Time for starting, warming up and stopping one system, beyond the measured run itself.
const OVERHEAD_PER_RUN_S = 60;
const RUN_BUDGET_S = 120;
// A delivery run accepts and delivers every message (at the least 50 per second each way) and may
// wait out a stall before it gives up.
const DELIVERY_BASE_S = 90;
const DELIVERY_MESSAGES_PER_S = 50;

/** Seconds one run of a scenario may take, starting and stopping included. */
export function runBudgetS(spec: ScenarioSpec, load: ScenarioLoad, durationS: number | undefined): number {
  if (spec.kind === 'inbound') return (durationS ?? RUN_BUDGET_S) + Math.ceil(load.warmupMs / 1000) + OVERHEAD_PER_RUN_S;
  // Opening at 100 sessions/s or better, two probes, memory settling, stopping a system of
  // thousands of processes.
  if (spec.kind === 'idle') return Math.ceil((load.sessions ?? 10_000) / 100) + 2 * RUN_BUDGET_S / 2 + OVERHEAD_PER_RUN_S * 2;
  if (spec.kind === 'queue-scale') {
    const counts = load.queueCounts ?? DEFAULT_QUEUE_COUNTS;
    return queueScaleBudgetS(counts) + counts.length * Math.ceil(load.warmupMs / 1000) + OVERHEAD_PER_RUN_S;
  }
  const messages = load.messages + load.warmupMessages;
  // A timed warm-up is accepted for its time, then delivered: up to as long again.
  return DELIVERY_BASE_S + Math.ceil((2 * messages) / DELIVERY_MESSAGES_PER_S) + 2 * Math.ceil(load.warmupMs / 1000) + OVERHEAD_PER_RUN_S;
}

function defaultRoot(): string {
  // Compiled to dist/bench/run.js: the repository root is two levels above this directory.
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
}

function positive(name: string, v: number | undefined, integer = true): void {
  if (v === undefined) return;
  if (!(v > 0) || (integer && !Number.isInteger(v))) {
    throw new BenchError('ERR_BENCH_OPTIONS', `${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  }
}

/** Canonical order: petrel, postfix, sink, then any injected target in the order given. */
function orderPeers(names: readonly string[]): string[] {
  const unique = [...new Set(names)];
  const known = PEER_NAMES.filter((n) => unique.includes(n));
  return [...known, ...unique.filter((n) => !(PEER_NAMES as readonly string[]).includes(n))];
}

export function loadFor(name: string, opts: BenchOptions): ScenarioLoad {
  const spec = scenarioSpec(name);
  // Delivery scenarios count messages: the queue is filled, or the sink must receive them all.
  const timed = spec.kind === 'inbound' || spec.kind === 'queue-scale';
  const durationMs = opts.duration && timed ? Math.round(opts.duration * 1000) : 0;
  // idle-connections: --messages sizes its probes, which stay small (at most 2000 each).
  const messages = opts.messages ?? spec.defaultMessages ?? DEFAULT_MESSAGES;
  // The idle probes are 2 sessions at a time whatever --concurrency says: they time single sessions.
  const concurrency = spec.kind === 'idle' ? spec.concurrency : (opts.concurrency ?? spec.concurrency);
  // outbound-drain has no warm-up: its fill is not measured, and Petrel restarts to release anyway.
  const warmupMessages =
    spec.kind === 'drain'
      ? 0
      : spec.kind === 'idle'
        ? (opts.warmup ?? 200)
        : (opts.warmup ?? Math.min(1000, Math.max(100, concurrency * 2, Math.round((durationMs > 0 ? 5000 : messages) / 10))));
  // The time floor of the warm-up: where an inbound rate is measured, and before relay-through (whose
  // warm-up is delivered too). outbound-drain restarts Petrel to release, so a warm-up would be lost on
  // it. A --warmup count given alone is taken as meant.
  const warmupMs =
    spec.kind !== 'inbound' && spec.kind !== 'queue-scale' && spec.kind !== 'relay'
      ? 0
      : Math.round((opts.warmupSeconds ?? (opts.warmup !== undefined ? 0 : DEFAULT_WARMUP_SECONDS)) * 1000);
  // A size given on the command line applies to every scenario but idle-connections (whose probe is
  // fixed) and inbound-large (whose point is its size).
  const sized = opts.size !== undefined && spec.kind !== 'idle' && spec.name !== 'inbound-large';
  const parts = sized ? parseSizeSpec(opts.size as number | string) : undefined;
  const mix = parts && parts.length > 1 ? parts : undefined;
  return {
    messages,
    durationMs,
    concurrency,
    messagesPerConnection: spec.messagesPerConnection,
    size: parts ? (mix ? meanSize(parts) : (parts[0]?.size ?? spec.size)) : spec.size,
    ...(mix ? { sizes: mix } : {}),
    ...(parts ? { sizeSpec: formatSizeSpec(parts) } : {}),
    ...(opts.rate !== undefined && spec.kind !== 'idle' ? { rate: opts.rate } : {}),
    // Only where the load generator's envelope is the scenario's; the others fix their message.
    recipients: opts.recipients !== undefined && TAKES_RECIPIENTS.has(spec.kind) && spec.run === undefined ? opts.recipients : spec.recipients,
    processes: opts.processes ?? 1,
    warmupMessages,
    warmupMs,
    ...(spec.kind === 'idle' ? { sessions: opts.sessions ?? spec.sessions ?? 10_000 } : {}),
    ...(spec.kind === 'queue-scale' ? { queueCounts: opts.queueCounts ?? [...DEFAULT_QUEUE_COUNTS] } : {}),
  };
}

/**
 * Runs each scenario against each peer (sequentially, one system up at a time), writes the JSON
 * report and prints the markdown table. Every system started is stopped before this returns, also
 * on errors, deadline or abort.
 */
export async function runBench(opts: BenchOptions, env: BenchEnvironment = {}): Promise<BenchReport> {
  const startedAt = new Date();
  const root = env.root ?? defaultRoot();
  const scenarioNames = opts.scenarios.length > 0 ? [...new Set(opts.scenarios)] : [...DEFAULT_SCENARIOS];
  const peerNames = orderPeers(opts.peers);
  if (peerNames.length === 0) throw new BenchError('ERR_BENCH_OPTIONS', 'no peers selected');
  positive('messages', opts.messages);
  positive('duration', opts.duration, false);
  if (opts.warmupSeconds !== undefined && !(opts.warmupSeconds >= 0 && opts.warmupSeconds <= 600)) {
    throw new BenchError('ERR_BENCH_OPTIONS', `warmup-seconds must be a number from 0 to 600, got ${opts.warmupSeconds}`);
  }
  positive('concurrency', opts.concurrency);
  if (typeof opts.size === 'number') positive('size', opts.size);
  if (opts.size !== undefined) {
    try {
      parseSizeSpec(opts.size);
    } catch (err) {
      throw new BenchError('ERR_BENCH_OPTIONS', `size: ${describeError(err)}`, { cause: err });
    }
  }
  positive('rate', opts.rate, false);
  if (opts.recipients !== undefined && !(Number.isInteger(opts.recipients) && opts.recipients >= 1 && opts.recipients <= MAX_RECIPIENTS)) {
    throw new BenchError('ERR_BENCH_OPTIONS', `recipients must be an integer from 1 to ${MAX_RECIPIENTS}, got ${opts.recipients}`);
  }
  positive('sessions', opts.sessions);
  for (const c of opts.queueCounts ?? []) {
    if (!Number.isInteger(c) || c < 0) throw new BenchError('ERR_BENCH_OPTIONS', `queue counts must be integers of 0 or more, got ${c}`);
  }
  positive('timeout', opts.timeout, false);
  if (opts.processes !== undefined && opts.processes !== 1 && opts.processes !== 2) {
    throw new BenchError('ERR_BENCH_OPTIONS', `processes must be 1 or 2, got ${opts.processes}`);
  }
  const rounds = opts.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) throw new BenchError('ERR_BENCH_OPTIONS', `rounds must be a whole number from 1 to 9, got ${rounds}`);
  const loads = scenarioNames.flatMap((n) => {
    const one = { spec: scenarioSpec(n), load: loadFor(n, opts) };
    return Array.from({ length: rounds }, (_, r) => ({ ...one, round: rounds > 1 ? r + 1 : undefined }));
  });
  const stem = reportStem(opts.report ?? join(root, 'bench', 'results'), startedAt);
  const profileDir = opts.profile ? `${stem}-profiles` : undefined;
  const settle = opts.settle !== false;
  const targets = peerNames.map((n) => env.targets?.[n] ?? createTarget(n, { ...(profileDir ? { profileDir } : {}), settle }));

  const builtIn = peerNames.filter((n) => !env.targets?.[n]);
  // The delivery scenarios relay to smtp-sink, whichever systems they measure; the machine's
  // limits use smtp-source and smtp-sink.
  const wantsSink = loads.some(({ spec }) => spec.kind === 'drain' || spec.kind === 'relay') || opts.limits !== false;
  const needs = wantsSink ? [...new Set([...builtIn, 'sink'])] : builtIn;
  const progress = progressPrinter(env.progress ?? process.stderr);
  if (opts.install !== false && needs.length > 0) {
    await ensurePeers(needs, progress.note);
  }
  const machine = await machineInfo(root);
  let limits: MachineLimits | undefined;
  if (opts.limits !== false) {
    progress.note('measuring the machine: openssl speed, fdatasync, smtp-sink ceiling');
    limits = await measureLimits();
    progress.note(limitsLine(limits));
  }

  // Only the pairs that run count: the delivery scenarios skip systems that do not deliver (the sink).
  let runs = 0;
  let budgetS = 0;
  const perRun: number[] = [];
  for (const { spec, load } of loads) {
    const n = spec.runCount ? spec.runCount(targets) : targets.filter((t) => appliesTo(spec, t)).length;
    // A Postfix run may first wait out the file system's delay on the last run's deleted queue files.
    const postfixRuns = settle && !spec.runCount && targets.some((t) => t.name === 'postfix' && appliesTo(spec, t));
    const b = runBudgetS(spec, load, opts.duration) + (postfixRuns ? Math.ceil(SETTLE_MS / 1000) : 0);
    perRun.push(b);
    runs += n;
    budgetS += n * b;
  }
  const deadline = Date.now() + (opts.timeout !== undefined ? opts.timeout * 1000 - (Date.now() - startedAt.getTime()) : budgetS * 1000);
  let budgetLeft = budgetS;

  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  const onOuterAbort = (): void => abort.abort();
  if (opts.signal?.aborted) abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const handleSignals = env.handleSignals !== false;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  const scenarios: ScenarioReport[] = [];
  let runsLeft = runs;
  try {
    for (const [i, { spec, load, round }] of loads.entries()) {
      const mine = perRun[i] ?? 0;
      const report = await runScenario(spec, load, targets, {
        deadline,
        runsLeft: () => runsLeft,
        share: () => (budgetLeft > 0 ? mine / budgetLeft : 1),
        signal: abort.signal,
        execArgv: env.loadgenExecArgv,
        onEvent: (e) => {
          if (e.kind === 'done') {
            runsLeft--;
            budgetLeft = Math.max(0, budgetLeft - mine);
          }
          progress.onEvent(e);
        },
      });
      scenarios.push(round === undefined ? report : { ...report, round });
    }
  } finally {
    progress.finish();
    opts.signal?.removeEventListener('abort', onOuterAbort);
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  const incomplete =
    abort.signal.aborted ||
    scenarios.some((s) =>
      s.runs.some(
        (r) =>
          r.result?.timedOut === true ||
          r.delivery?.timedOut === true ||
          r.error?.startsWith('skipped') === true ||
          r.idle?.openTimedOut === true ||
          r.queueScale?.some((q) => q.fillTimedOut) === true,
      ),
    );
  const { signal: _signal, ...echoed } = opts;
  const report: BenchReport = {
    format: 'petrel-bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    ...(limits ? { limits } : {}),
    options: { ...echoed, scenarios: scenarioNames, peers: peerNames },
    scenarios,
    incomplete,
    table: markdownTable(scenarios),
  };
  const written = await writeReport(report, stem);
  const final: BenchReport = { ...report, ...written };
  (env.out ?? ((t: string) => process.stdout.write(`${t}\n`)))(renderReport(machine, scenarios, final.file, final.htmlFile, limits));
  if (abort.signal.aborted && !opts.signal?.aborted) process.exitCode = 130;
  return final;
}

/** <dir>/<ISO timestamp>, the reports' path without extension; colons become dashes so the names are valid everywhere. */
function reportStem(dir: string, at: Date): string {
  return resolve(dir, at.toISOString().replace(/:/g, '-'));
}

/** Flame graphs are drawn into the HTML report and written beside their profiles: the JSON names the files. */
const withoutFlames = (key: string, value: unknown): unknown => (key === 'flame' ? undefined : value);

/** Writes <stem>.json and the HTML report beside it (<stem>.html). */
async function writeReport(report: BenchReport, stem: string): Promise<{ file?: string; htmlFile?: string; fileError?: string }> {
  const file = `${stem}.json`;
  const htmlFile = `${stem}.html`;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify({ ...report, file, htmlFile }, withoutFlames, 2)}\n`);
    await writeFile(htmlFile, renderHtml({ ...report, file, htmlFile }));
    return { file, htmlFile };
  } catch (err) {
    return { fileError: err instanceof Error ? err.message : String(err) };
  }
}
