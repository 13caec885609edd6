// CPU per message from a run's resource samples (bench/efficiency.ts): only the measured window counts,
// partly covered sample intervals count in part, and the table shows it for each system. Likewise the
// machine's busy share and the load generator's CPU, in the notes under the table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuMsPerMessage, formatCpuMs, runCpuMsPerMessage, runLoadCpu, runMachineBusy, windowAverage } from '../../bench/efficiency.js';
import { markdownTable, notes } from '../../bench/report.js';
import type { ResourceSeries } from '../../bench/resources.js';
import type { ScenarioReport, TargetRun } from '../../bench/scenarios/index.js';

const T0 = 1_700_000_000_000;

/** Samples every 250 ms from T0; cpu[i] is the share (percent of one core) during the interval ending at sample i. */
function series(cpu: readonly number[]): ResourceSeries {
  return {
    intervalMs: 250,
    startedAt: T0,
    samples: cpu.map((c, i) => ({ t: i * 250, cpu: c, rssKb: 1000, processes: 1 })),
    marks: [],
    cpuSeconds: 0,
    peakRssKb: 1000,
  };
}

describe('CPU per message', () => {
  it('counts the CPU used inside the window only', () => {
    // 0-250 ms idle (warm-up), 250-1250 ms at 150%, then idle again.
    const s = series([0, 0, 150, 150, 150, 150, 0, 0]);
    // 1,000 ms at 1.5 cores = 1,500 CPU ms over 1,000 messages.
    assert.equal(cpuMsPerMessage(s, T0 + 250, T0 + 1250, 1000), 1.5);
    // Half of the busy second: 750 CPU ms over 500 messages.
    assert.equal(cpuMsPerMessage(s, T0 + 250, T0 + 750, 500), 1.5);
    // A window that starts inside an interval takes its share of it.
    assert.equal(cpuMsPerMessage(s, T0 + 375, T0 + 1250, 100), (1.5 * 875) / 100);
  });

  it('scales a window the samples cover in part, and gives nothing without samples or messages', () => {
    const s = series([0, 100, 100]);
    // Samples cover 0-500 ms of a 0-1,000 ms window: 500 CPU ms seen there, 1,000 assumed for the whole.
    assert.equal(cpuMsPerMessage(s, T0, T0 + 1000, 10), 100);
    assert.equal(cpuMsPerMessage(s, T0 + 5000, T0 + 6000, 10), undefined);
    assert.equal(cpuMsPerMessage(undefined, T0, T0 + 1000, 10), undefined);
    assert.equal(cpuMsPerMessage(s, T0, T0 + 500, 0), undefined);
  });

  it('appears in the table per system, "-" where a run has no samples', () => {
    const result = {
      sent: 1000, failed: 0, outcomes: { ok: 1000, temp: 0, perm: 0, error: 0 }, aborted: 0, elapsedMs: 1000,
      startedAt: T0 + 250, endedAt: T0 + 1250, rate: 1000, latencyMs: { p50: 1, p90: 2, p99: 3, max: 4, mean: 1 },
      perSecond: [], connections: 1000, pipelinedSessions: 1000, processes: 1, timedOut: false, errors: [],
    };
    const measured: TargetRun = { system: 'petrel', description: '', durable: true, durability: 'yes', result, resources: series([0, 0, 150, 150, 150, 150, 0]) };
    const bare: TargetRun = { system: 'other', description: '', durable: false, durability: 'no', result };
    assert.equal(runCpuMsPerMessage(measured), 1.5);
    assert.equal(runCpuMsPerMessage({ ...measured, error: 'failed' }), undefined);
    const scenario: ScenarioReport = {
      name: 'inbound-reuse', kind: 'inbound', description: '',
      load: { messages: 1000, durationMs: 0, concurrency: 20, messagesPerConnection: 100, size: 2048, recipients: 1, processes: 1, warmupMessages: 0, warmupMs: 0 },
      runs: [measured, bare],
    };
    const lines = markdownTable([scenario]).split('\n');
    assert.match(lines[2] ?? '', /^\| inbound-reuse \| petrel \| 1,000 \| .* \| 1000\/0 \| 1\.50 \| - \| yes \|/);
    assert.match(lines[3] ?? '', /^\| inbound-reuse \| other \| 1,000 \| .* \| 1000\/0 \| - \| - \| no \|/);
    assert.equal(formatCpuMs(12.345), '12.3');
  });

  it('averages the machine and the load generator over the measured window only, and says so under the table', () => {
    const result = {
      sent: 1000, failed: 0, outcomes: { ok: 1000, temp: 0, perm: 0, error: 0 }, aborted: 0, elapsedMs: 1000,
      startedAt: T0 + 250, endedAt: T0 + 1250, rate: 1000, latencyMs: { p50: 1, p90: 2, p99: 3, max: 4, mean: 1 },
      perSecond: [], connections: 1000, pipelinedSessions: 1000, processes: 1, timedOut: false, errors: [],
    };
    // Two cores: 60% of one core before the window, 190% (95% of the machine) inside it, 40% after it.
    const own = series([0, 60, 150, 150, 150, 150, 0]);
    const resources: ResourceSeries = {
      ...own,
      cores: 2,
      samples: own.samples.map((x, i) => (i === 0 ? x : { ...x, machine: i === 1 ? 60 : i <= 5 ? 190 : 40 })),
    };
    const loadResources = series([0, 10, 50, 50, 40, 40, 5]);
    const run: TargetRun = { system: 'petrel', description: '', durable: true, durability: 'yes', result, resources, loadResources };
    assert.equal(runMachineBusy(run), 0.95);
    assert.equal(runLoadCpu(run), 45);
    assert.equal(windowAverage(loadResources, T0 + 250, T0 + 750, (x) => x.cpu), 50);
    // Samples without the figure (the first of a series) count for nothing.
    assert.equal(windowAverage(resources, T0, T0 + 250, (x) => x.machine), 60);
    // Without the cores (an older report) or without a window, nothing is claimed.
    assert.equal(runMachineBusy({ ...run, resources: own }), undefined);
    assert.equal(runMachineBusy({ ...run, error: 'failed' }), undefined);
    assert.equal(runLoadCpu({ ...run, loadResources: undefined }), undefined);
    const scenario: ScenarioReport = {
      name: 'inbound-1conn', kind: 'inbound', description: '',
      load: { messages: 1000, durationMs: 0, concurrency: 20, messagesPerConnection: 1, size: 2048, recipients: 1, processes: 1, warmupMessages: 0, warmupMs: 0 },
      runs: [run, { ...run, system: 'other', loadResources: undefined }, { ...run, system: 'bare', resources: undefined }],
    };
    const n = notes([scenario]);
    assert.ok(n.includes("inbound-1conn petrel: while measured, the machine's 2 cores were 95% busy, the load generator taking 45% of one core"), n.join('\n'));
    assert.ok(n.includes("inbound-1conn other: while measured, the machine's 2 cores were 95% busy"), n.join('\n'));
    assert.ok(!n.some((l) => l.startsWith('inbound-1conn bare:')), n.join('\n'));
    // A load generator that sent nothing in the window (outbound-drain's release) is not mentioned.
    const idle = notes([{ ...scenario, runs: [{ ...run, loadResources: series([0, 0, 0, 0, 0, 0, 0]) }] }]);
    assert.ok(idle.includes("inbound-1conn petrel: while measured, the machine's 2 cores were 95% busy"), idle.join('\n'));
  });
});
