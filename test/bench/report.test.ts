// Tests of the bench report: number and ratio formatting, the markdown table, percentiles and merging.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerResult } from '../../bench/loadgen/options.js';
import { mergeResults, percentile, type LoadResult } from '../../bench/loadgen/stats.js';
import { formatMs, formatRate, formatRatio, markdownTable, ratioCells, renderReport } from '../../bench/report.js';
import type { ScenarioLoad, ScenarioReport, TargetRun } from '../../bench/scenarios/index.js';

function result(rate: number, p50 = 1, p99 = 2): LoadResult {
  return {
    sent: 5000,
    failed: 0,
    outcomes: { ok: 5000, temp: 0, perm: 0, error: 0 },
    aborted: 0,
    elapsedMs: (5000 / rate) * 1000,
    startedAt: 1_000_000,
    endedAt: 1_000_000 + (5000 / rate) * 1000,
    rate,
    latencyMs: { p50, p90: p99, p99, max: p99, mean: p50 },
    perSecond: [],
    connections: 5000,
    pipelinedSessions: 5000,
    processes: 1,
    timedOut: false,
    errors: [],
  };
}

function run(system: string, durable: boolean, r?: LoadResult, error?: string): TargetRun {
  return { system, description: system, durable, durability: durable ? 'yes' : 'no', result: r, error };
}

const LOAD: ScenarioLoad = {
  messages: 5000,
  durationMs: 0,
  concurrency: 20,
  messagesPerConnection: 1,
  size: 2048,
  recipients: 1,
  processes: 1,
  warmupMessages: 500,
  warmupMs: 5000,
};

describe('formatting', () => {
  it('formats rates with thousands separators', () => {
    assert.equal(formatRate(17_432.4), '17,432');
    assert.equal(formatRate(812.6), '813');
    assert.equal(formatRate(0.44), '0.4');
    assert.equal(formatRate(1_234_567), '1,234,567');
  });

  it('formats ratios to two significant digits', () => {
    assert.equal(formatRatio(2.4321), '2.4x');
    assert.equal(formatRatio(17.4), '17x');
    assert.equal(formatRatio(1), '1.0x');
    assert.equal(formatRatio(0.04632), '0.046x');
    assert.equal(formatRatio(0.5), '0.5x');
    assert.equal(formatRatio(0.996), '1.0x');
    assert.equal(formatRatio(Infinity), 'n/a');
    assert.equal(formatRatio(0), 'n/a');
  });

  it('formats latencies', () => {
    assert.equal(formatMs(0.4567), '0.46');
    assert.equal(formatMs(12.345), '12.3');
    assert.equal(formatMs(1234.5), '1,235');
    assert.equal(formatMs(NaN), 'n/a');
    assert.equal(formatMs(null), 'n/a');
  });
});

describe('ratios and table', () => {
  const scenario: ScenarioReport = {
    name: 'inbound-1conn',
    kind: 'inbound',
    description: 'test',
    load: LOAD,
    runs: [
      run('petrel', true, result(2000, 3.2, 9.87)),
      run('postfix', true, result(800, 11.7, 31.3)),
      run('sink', false, result(16_000, 0.5, 3.3)),
    ],
  };

  it('compares each system with every one listed after it', () => {
    assert.deepEqual(ratioCells(scenario.runs), ['petrel/postfix = 2.5x, petrel/sink = 0.13x', 'postfix/sink = 0.05x', '']);
  });

  it('renders one row per scenario and system with rate, latency, durability and ratio', () => {
    const lines = markdownTable([scenario]).split('\n');
    assert.equal(lines.length, 5);
    assert.equal(lines[0], '| scenario | system | msgs/s | p50 ms | p99 ms | sent/failed | CPU ms/msg | loop busy | durable before 250 | ratio |');
    assert.equal(lines[2], '| inbound-1conn | petrel | 2,000 | 3.20 | 9.87 | 5000/0 | - | - | yes | petrel/postfix = 2.5x, petrel/sink = 0.13x |');
    assert.equal(lines[3], '| inbound-1conn | postfix | 800 | 11.7 | 31.3 | 5000/0 | - | - | yes | postfix/sink = 0.05x |');
    assert.equal(lines[4], '| inbound-1conn | sink | 16,000 | 0.50 | 3.30 | 5000/0 | - | - | no |  |');
    for (const l of lines) assert.equal(l.split('|').length, 12, `10 cells in ${l}`);
  });

  it('shows a failed system in place of its figures, and n/a in ratios with it', () => {
    const failed: ScenarioReport = {
      ...scenario,
      runs: [run('petrel', true, undefined, 'ERR_PEER_START: no banner | at all'), run('postfix', true, result(800))],
    };
    const lines = markdownTable([failed]).split('\n');
    assert.equal(lines[2], '| inbound-1conn | petrel | failed: ERR_PEER_START: no banner \\| at all | n/a | n/a | - | - | - | yes | petrel/postfix = n/a |');
    const text = renderReport(
      {
        cpuModel: 'Test CPU',
        cores: 2,
        node: 'v20.20.2',
        platform: 'linux',
        postfix: '3.7.11',
        gitRevision: '0123456789abcdef',
        gitDirty: false,
        loadAverage: [0.5, 0.25, 0],
      },
      [failed],
      '/tmp/x.json',
    );
    assert.match(text, /^Machine: Test CPU x 2, Node v20\.20\.2, Postfix 3\.7\.11, git 0123456789ab, load 0\.50 0\.25 0\.00$/m);
    assert.match(text, /^- inbound-1conn petrel: ERR_PEER_START/m);
    assert.match(text, /^Results: \/tmp\/x\.json$/m);
  });
});

describe('statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 50), 50);
    assert.equal(percentile(sorted, 99), 99);
    assert.equal(percentile(sorted, 100), 100);
    assert.equal(percentile(new Float64Array([7]), 99), 7);
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 50)));
  });

  it('merges the results of two processes', () => {
    const w = (id: number, lat: number[], perSecond: number[], start: number, end: number): WorkerResult => ({
      id,
      outcomes: { ok: lat.length, temp: id, perm: 0, error: 0 },
      latencies: Float64Array.from(lat),
      perSecond,
      firstStart: start,
      lastEnd: end,
      connections: 2,
      pipelinedSessions: 2,
      aborted: 0,
      errors: [{ message: 'RCPT: 451 later', count: id }],
    });
    const m = mergeResults([w(0, [1, 2, 3], [2, 1], 1000, 2500), w(1, [10, 20], [0, 1, 1], 1100, 3000)], false);
    assert.equal(m.sent, 5);
    assert.equal(m.failed, 1);
    assert.equal(m.elapsedMs, 2000);
    assert.equal(m.rate, 2.5);
    assert.deepEqual(m.perSecond, [2, 2, 1]);
    assert.equal(m.latencyMs.p50, 3);
    assert.equal(m.latencyMs.max, 20);
    assert.equal(m.connections, 4);
    assert.deepEqual(m.errors, [{ message: 'RCPT: 451 later', count: 1 }]);
  });
});
