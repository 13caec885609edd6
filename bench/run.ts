// The bench runner: installs peers, runs scenarios against each system, writes JSON, prints the table.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError } from './errors.js';
import { createTarget, ensurePeers, PEER_NAMES } from './peers/index.js';
import type { PeerTarget } from './peers/types.js';
import {
  machineInfo,
  markdownTable,
  progressPrinter,
  renderReport,
  type MachineInfo,
  type ProgressStream,
} from './report.js';
import {
  appliesTo,
  runScenario,
  scenarioSpec,
  SCENARIOS,
  type ScenarioLoad,
  type ScenarioReport,
  type ScenarioSpec,
} from './scenarios/index.js';

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
  /** Message size in octets. */
  size?: number;
  /** Directory of the JSON report (default bench/results/ in the repository). */
  report?: string;
  /** Load generator processes, 1 or 2 (default 1: on two cores a second one costs the server a core). */
  processes?: number;
  /** Warm-up messages before each measured run (default: a tenth of the run, 100 to 1000). */
  warmup?: number;
  /** Deadline of the whole bench in seconds; what was measured by then is reported. */
  timeout?: number;
  /** Install missing Debian packages (default true). */
  install?: boolean;
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
  readonly options: Omit<BenchOptions, 'signal'>;
  readonly scenarios: ScenarioReport[];
  /** True when the deadline or an abort cut the bench short. */
  readonly incomplete: boolean;
  readonly table: string;
  /** Path of the JSON file written (absent if writing failed). */
  readonly file?: string;
  readonly fileError?: string;
}

const DEFAULT_MESSAGES = 5000;
// Time for starting, warming up and stopping one system, beyond the measured run itself.
const OVERHEAD_PER_RUN_S = 60;
const RUN_BUDGET_S = 120;
// A delivery run accepts and delivers every message (at the least 50 per second each way) and may
// wait out a stall before it gives up.
const DELIVERY_BASE_S = 90;
const DELIVERY_MESSAGES_PER_S = 50;

/** Seconds one run of a scenario may take, starting and stopping included. */
export function runBudgetS(spec: ScenarioSpec, load: ScenarioLoad, durationS: number | undefined): number {
  if (spec.kind === 'inbound') return (durationS ?? RUN_BUDGET_S) + OVERHEAD_PER_RUN_S;
  const messages = load.messages + load.warmupMessages;
  return DELIVERY_BASE_S + Math.ceil((2 * messages) / DELIVERY_MESSAGES_PER_S) + OVERHEAD_PER_RUN_S;
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

function loadFor(name: string, opts: BenchOptions): ScenarioLoad {
  const spec = scenarioSpec(name);
  // Delivery scenarios count messages: the queue is filled, or the sink must receive them all.
  const durationMs = opts.duration && spec.kind === 'inbound' ? Math.round(opts.duration * 1000) : 0;
  const messages = opts.messages ?? spec.defaultMessages ?? DEFAULT_MESSAGES;
  const concurrency = opts.concurrency ?? spec.concurrency;
  // outbound-drain has no warm-up: its fill is not measured, and Petrel restarts to release anyway.
  const warmupMessages =
    spec.kind === 'drain'
      ? 0
      : (opts.warmup ?? Math.min(1000, Math.max(100, concurrency * 2, Math.round((durationMs > 0 ? 5000 : messages) / 10))));
  return {
    messages,
    durationMs,
    concurrency,
    messagesPerConnection: spec.messagesPerConnection,
    size: opts.size ?? spec.size,
    recipients: spec.recipients,
    processes: opts.processes ?? 1,
    warmupMessages,
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
  const scenarioNames = opts.scenarios.length > 0 ? [...new Set(opts.scenarios)] : Object.keys(SCENARIOS);
  const peerNames = orderPeers(opts.peers);
  if (peerNames.length === 0) throw new BenchError('ERR_BENCH_OPTIONS', 'no peers selected');
  positive('messages', opts.messages);
  positive('duration', opts.duration, false);
  positive('concurrency', opts.concurrency);
  positive('size', opts.size);
  positive('timeout', opts.timeout, false);
  if (opts.processes !== undefined && opts.processes !== 1 && opts.processes !== 2) {
    throw new BenchError('ERR_BENCH_OPTIONS', `processes must be 1 or 2, got ${opts.processes}`);
  }
  const loads = scenarioNames.map((n) => ({ spec: scenarioSpec(n), load: loadFor(n, opts) }));
  const targets = peerNames.map((n) => env.targets?.[n] ?? createTarget(n));

  const builtIn = peerNames.filter((n) => !env.targets?.[n]);
  // The delivery scenarios relay to smtp-sink, whichever systems they measure.
  const needs = loads.some(({ spec }) => spec.kind !== 'inbound') ? [...new Set([...builtIn, 'sink'])] : builtIn;
  const progress = progressPrinter(env.progress ?? process.stderr);
  if (opts.install !== false && needs.length > 0) {
    await ensurePeers(needs, progress.note);
  }
  const machine = await machineInfo(root);

  // Only the pairs that run count: the delivery scenarios skip systems that do not deliver (the sink).
  let runs = 0;
  let budgetS = 0;
  for (const { spec, load } of loads) {
    const n = targets.filter((t) => appliesTo(spec, t)).length;
    runs += n;
    budgetS += n * runBudgetS(spec, load, opts.duration);
  }
  const deadline = startedAt.getTime() + (opts.timeout ?? budgetS) * 1000;

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
    for (const { spec, load } of loads) {
      scenarios.push(
        await runScenario(spec, load, targets, {
          deadline,
          runsLeft: () => runsLeft,
          signal: abort.signal,
          execArgv: env.loadgenExecArgv,
          onEvent: (e) => {
            if (e.kind === 'done') runsLeft--;
            progress.onEvent(e);
          },
        }),
      );
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
        (r) => r.result?.timedOut === true || r.delivery?.timedOut === true || r.error?.startsWith('skipped') === true,
      ),
    );
  const { signal: _signal, ...echoed } = opts;
  const report: BenchReport = {
    format: 'petrel-bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    options: { ...echoed, scenarios: scenarioNames, peers: peerNames },
    scenarios,
    incomplete,
    table: markdownTable(scenarios),
  };
  const written = await writeReport(report, opts.report ?? join(root, 'bench', 'results'), startedAt);
  const final: BenchReport = { ...report, ...written };
  (env.out ?? ((t: string) => process.stdout.write(`${t}\n`)))(renderReport(machine, scenarios, final.file));
  if (abort.signal.aborted && !opts.signal?.aborted) process.exitCode = 130;
  return final;
}

/** Writes <dir>/<ISO timestamp>.json; colons become dashes so the name is valid everywhere. */
async function writeReport(
  report: BenchReport,
  dir: string,
  at: Date,
): Promise<{ file?: string; fileError?: string }> {
  const file = resolve(dir, `${at.toISOString().replace(/:/g, '-')}.json`);
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify({ ...report, file }, null, 2)}\n`);
    return { file };
  } catch (err) {
    return { fileError: err instanceof Error ? err.message : String(err) };
  }
}
