// Tests of the harness's parts: size specs, /proc parsing and sampling, Prometheus parsing and
// sampling, openssl output, the fdatasync measurement, the progress bar, the SVG charts.

import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { measureLimits, parseOpensslSpeed } from '../../bench/limits.js';
import { formatSizeSpec, meanSize, parseSize, parseSizeSpec, pickPart } from '../../bench/loadgen/sizes.js';
import { deriveMetrics, keepSeries, loopBusyShare, MetricsSampler, metricsSummary, parsePrometheus } from '../../bench/metrics.js';
import type { MetricsSeries } from '../../bench/metrics.js';
import { formatShare, loopCell, runLoopBusy } from '../../bench/efficiency.js';
import type { TargetRun } from '../../bench/scenarios/types.js';
import { observe } from '../../bench/scenarios/observe.js';
import { hardFdLimit, withFdLimit } from '../../bench/peers/process.js';
import type { RunningPeer } from '../../bench/peers/types.js';
import { envConfig, petrelTarget } from '../../bench/peers/petrel.js';
import { progressBar } from '../../bench/progress.js';
import { descendants, parseMachineTicks, parseProcStat, ResourceSampler, statusKb, treePssKb, treeUsage } from '../../bench/resources.js';
import { barChart, lineChart, niceStep, tickLabel } from '../../bench/svg.js';

describe('size specs', () => {
  it('parses one size with or without a unit', () => {
    assert.equal(parseSize('2048'), 2048);
    assert.equal(parseSize('2K'), 2048);
    assert.equal(parseSize('100kb'), 102_400);
    assert.equal(parseSize('1.5M'), 1_572_864);
    assert.throws(() => parseSize('2Q'), { code: 'ERR_LOADGEN_OPTIONS' });
    assert.throws(() => parseSize('0'), { code: 'ERR_LOADGEN_OPTIONS' });
  });

  it('parses a mix whose weights add up to 100%', () => {
    assert.deepEqual(parseSizeSpec('70%2K,25%20K,5%500K'), [
      { size: 2048, share: 0.7 },
      { size: 20_480, share: 0.25 },
      { size: 512_000, share: 0.05 },
    ]);
    assert.deepEqual(parseSizeSpec('100K'), [{ size: 102_400, share: 1 }]);
    assert.deepEqual(parseSizeSpec(4096), [{ size: 4096, share: 1 }]);
    assert.throws(() => parseSizeSpec('70%2K,20%20K'), /add up to 90%/);
    assert.throws(() => parseSizeSpec('2K,20K'), /needs a weight/);
    assert.equal(formatSizeSpec(parseSizeSpec('70%2K,25%20K,5%500K')), '70%2K,25%20K,5%500K');
    assert.equal(meanSize(parseSizeSpec('50%1K,50%3K')), 2048);
  });

  it('meets the shares of a mix over a few hundred messages, without randomness', () => {
    const parts = parseSizeSpec('70%2K,25%20K,5%500K');
    const counts = [0, 0, 0];
    for (let seq = 0; seq < 1000; seq++) counts[pickPart(parts, seq)] = (counts[pickPart(parts, seq)] ?? 0) + 1;
    assert.ok(Math.abs((counts[0] ?? 0) - 700) <= 10, `70%: ${counts[0]}`);
    assert.ok(Math.abs((counts[1] ?? 0) - 250) <= 10, `25%: ${counts[1]}`);
    assert.ok(Math.abs((counts[2] ?? 0) - 50) <= 10, `5%: ${counts[2]}`);
    assert.equal(pickPart(parts, 17), pickPart(parts, 17));
  });
});

describe('/proc sampling', () => {
  it('parses /proc/PID/stat, command names with spaces and parentheses included', () => {
    const line = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 30 7 3 20 0 11 0 500 1000000 2500 18446744073709551615';
    assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 1, ticks: 150 + 30 + 7 + 3, rssKb: 2500 * 4 });
    assert.equal(parseProcStat('garbage'), undefined);
    assert.equal(statusKb('Name:\tnode\nVmRSS:\t  123456 kB\n', 'VmRSS'), 123_456);
  });

  it('parses /proc/stat: busy and total ticks of all cores, and how many cores', () => {
    const text = 'cpu  100 5 50 800 20 0 25 9 30 0\ncpu0 50 2 25 400 10 0 12 4 15 0\ncpu1 50 3 25 400 10 0 13 5 15 0\nintr 123\n';
    // Guest time (30) is inside user already; idle and iowait are not busy; steal (9) is in neither figure.
    assert.deepEqual(parseMachineTicks(text), { busy: 100 + 5 + 50 + 25, total: 100 + 5 + 50 + 800 + 20 + 25, cores: 2 });
    assert.equal(parseMachineTicks('intr 1 2 3\n'), undefined);
  });

  it('finds a tree of processes from the parent links', () => {
    const p = (pid: number, ppid: number) => ({ pid, ppid, ticks: 0, rssKb: 1 });
    const tree = descendants([p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(20, 1)], [10]);
    assert.deepEqual(tree.map((s) => s.pid).sort(), [10, 11, 12]);
  });

  it('samples this process: CPU and RSS over time, and its PSS', async () => {
    const sampler = new ResourceSampler(() => [process.pid], 50).start();
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    await new Promise((r) => setTimeout(r, 150));
    sampler.mark('done');
    const s = sampler.stop();
    assert.ok(x > 0);
    assert.ok(s.samples.length >= 3, `${s.samples.length} samples`);
    assert.ok(s.samples.every((x) => x.rssKb > 10_000 && x.processes >= 1));
    assert.ok(s.cpuSeconds > 0.1, `cpu ${s.cpuSeconds}`);
    assert.ok(s.samples.some((x) => x.cpu > 30));
    // This process kept a core busy, so the machine was at least that busy (percent of one core).
    assert.ok(s.samples.some((x) => (x.machine ?? 0) > 30), s.samples.map((x) => x.machine).join(' '));
    assert.equal(s.cores, parseMachineTicks(readFileSync('/proc/stat', 'latin1'))?.cores);
    assert.equal(s.marks[0]?.label, 'done');
    assert.ok((treePssKb([process.pid]) ?? 0) > 1000);
    assert.ok(treeUsage([process.pid]).rssKb > 10_000);
  });

  it('raises the open-files limit with prlimit only when the hard limit is too low', () => {
    assert.equal(hardFdLimit('Max open files            1024                 524288               files\n'), 524_288);
    const hard = hardFdLimit() ?? 0;
    assert.deepEqual(withFdLimit('/bin/true', ['x'], Math.max(1, hard - 1)), { cmd: '/bin/true', args: ['x'] });
    assert.deepEqual(withFdLimit('/bin/true', ['x'], undefined), { cmd: '/bin/true', args: ['x'] });
    if (process.getuid?.() === 0) {
      assert.deepEqual(withFdLimit('/bin/true', ['x'], hard + 10), { cmd: '/usr/bin/prlimit', args: [`--nofile=${hard + 10}:${hard + 10}`, '--', '/bin/true', 'x'] });
    }
  });
});

const EXPOSITION = (accepted: number, commits: number, sum: number, queue: number): string => `
# HELP petrel_messages_total Messages
# TYPE petrel_messages_total counter
petrel_messages_total{outcome="accepted"} ${accepted}
petrel_messages_total{outcome="rejected"} 1
petrel_connections_total{result="admitted"} ${accepted}
petrel_connections_open 3
petrel_queue_messages ${queue}
petrel_spool_commit_seconds_bucket{le="0.001"} 2
petrel_spool_commit_seconds_sum ${sum}
petrel_spool_commit_seconds_count ${commits}
petrel_spool_commit_batch_size_sum ${commits}
petrel_spool_commit_batch_size_count ${commits / 2}
petrel_event_loop_delay_seconds{quantile="0.99"} 0.004
petrel_event_loop_delay_seconds{quantile="max"} 0.012
other_metric{label="with space } inside"} 7
`;

describe('Prometheus metrics', () => {
  it('parses the text format and keeps Petrel series without buckets', () => {
    const m = parsePrometheus(EXPOSITION(10, 10, 0.05, 4));
    assert.equal(m.get('petrel_messages_total{outcome="accepted"}'), 10);
    assert.equal(m.get('petrel_queue_messages'), 4);
    assert.equal(m.get('other_metric{label="with space } inside"}'), 7);
    assert.equal(keepSeries('petrel_spool_commit_seconds_bucket{le="0.001"}'), false);
    assert.equal(keepSeries('petrel_spool_commit_seconds_sum'), true);
    assert.equal(keepSeries('process_cpu_seconds_total'), false);
  });

  it('samples /metrics over HTTP and derives rates and means', async () => {
    let n = 0;
    const server = http.createServer((_req, res) => {
      n++;
      res.end(EXPOSITION(n * 100, n * 10, n * 0.02, n));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const sampler = new MetricsSampler(() => `http://127.0.0.1:${port}/metrics`, 50).start();
      await new Promise((r) => setTimeout(r, 400));
      const series = await sampler.stop();
      assert.ok(series.samples.length >= 3, `${series.samples.length} samples`);
      assert.equal(series.failures, 0);
      const derived = deriveMetrics(series);
      const names = derived.map((d) => d.name);
      for (const want of ['messages accepted', 'queue size', 'spool commit latency (mean)', 'group commit batch (mean)', 'event-loop delay p99']) {
        assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
      }
      const latency = derived.find((d) => d.name === 'spool commit latency (mean)');
      assert.ok(latency?.points.every(([, v]) => Math.abs(v - 2) < 1e-6), 'Δsum/Δcount = 0.002 s = 2 ms');
      const sum = metricsSummary(series);
      assert.equal(sum.accepted, (series.samples.length - 1) * 100);
      assert.equal(sum.commitMeanMs, 2);
      assert.equal(sum.batchMean, 2);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('tells how busy the main event loop was over a window, from its busy-seconds counter', () => {
    const busy = 'petrel_event_loop_busy_seconds_total';
    const series: MetricsSeries = {
      url: 'http://127.0.0.1:1/metrics', intervalMs: 1000, startedAt: 1_000_000, failures: 0,
      samples: [0, 0.5, 1.4, 2.3].map((v, i) => ({ t: i * 1000, values: { [busy]: v } })),
    };
    // The counter at the window's ends: 1.8 busy seconds over 2 s.
    assert.ok(Math.abs((loopBusyShare(series, 1_001_000, 1_003_000) ?? 0) - 0.9) < 1e-9);
    // A window with one sample inside is read between the samples around its ends (0.95 and 1.85).
    assert.ok(Math.abs((loopBusyShare(series, 1_001_500, 1_002_500) ?? 0) - 0.9) < 1e-9);
    assert.ok(Math.abs((loopBusyShare(series, 1_000_200, 1_000_700) ?? 0) - 0.5) < 1e-9, 'within one interval: its rate');
    // Past the samples on either side, the first and last samples inside it count.
    assert.ok(Math.abs((loopBusyShare(series, 0, Infinity) ?? 0) - 2.3 / 3) < 1e-9);
    assert.ok(Math.abs((loopBusyShare(series, 1_001_500, 1_009_000) ?? 0) - 0.9) < 1e-9);
    assert.equal(loopBusyShare(series, 1_002_500, 1_009_000), undefined, 'one sample and nothing after the end is no interval');
    assert.equal(loopBusyShare({ ...series, samples: series.samples.map((x) => ({ t: x.t, values: {} })) }, 0, Infinity), undefined);
    assert.equal(metricsSummary(series).loopBusyPct, 76.7);
    assert.ok(deriveMetrics(series).find((d) => d.name === 'main event loop busy')?.points.some(([, v]) => Math.abs(v - 90) < 1e-9));
    // A run's figure covers its measured load; a peer without the counter shows "-".
    const run = (metrics?: MetricsSeries): TargetRun => ({
      system: 'petrel', description: 'p', durable: true, durability: 'yes', metrics,
      result: { startedAt: 1_001_000, endedAt: 1_003_000 } as TargetRun['result'],
    });
    assert.equal(formatShare(runLoopBusy(run(series))), '90%');
    assert.equal(formatShare(runLoopBusy(run())), '-');
    // With a delivery thread, its own loop is shown beside the main one.
    const thread = 'petrel_delivery_thread_busy_seconds_total';
    const both: MetricsSeries = { ...series, samples: series.samples.map((x, i) => ({ t: x.t, values: { ...x.values, [thread]: i * 0.95 } })) };
    assert.equal(loopCell(run(both)), '90%, thread 95%');
    assert.equal(loopCell(run(series)), '90%');
    // Session processes' loops are summed, so their share may pass 100%.
    const sessions = 'petrel_session_processes_busy_seconds_total';
    const three: MetricsSeries = { ...series, samples: both.samples.map((x, i) => ({ t: x.t, values: { ...x.values, [sessions]: i * 1.5 } })) };
    assert.equal(loopCell(run(three)), '90%, sessions 150%, thread 95%');
    assert.ok(deriveMetrics(three).find((d) => d.name === 'session processes busy (sum)')?.points.some(([, v]) => Math.abs(v - 150) < 1e-9));
  });

  it('scrapes once more as the measured load begins, so that a short run has two samples in its window', async () => {
    const busy = 'petrel_event_loop_busy_seconds_total';
    let n = 0;
    const server = http.createServer((_req, res) => {
      n++;
      res.end(`${busy} ${n * 0.45}\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const peer = { pids: () => [], metricsUrl: () => `http://127.0.0.1:${port}/metrics` } as unknown as RunningPeer;
      const watch = observe(() => peer);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(n, 1, 'the first periodic scrape; the next is a second away');
      const from = Date.now();
      watch.mark('measure');
      await new Promise((r) => setTimeout(r, 300));
      const to = Date.now();
      assert.equal(n, 2, 'a scrape at the mark');
      const { metrics } = await watch.finish();
      assert.ok(metrics);
      assert.deepEqual(metrics.samples.map((x) => x.t), [...metrics.samples.map((x) => x.t)].sort((a, b) => a - b), 'samples in time order');
      // The sample at the mark and the last one at the end bracket a window of 0.3 s.
      assert.notEqual(loopBusyShare(metrics, from, Math.max(to, metrics.startedAt + (metrics.samples.at(-1)?.t ?? 0))), undefined);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('counts failed scrapes instead of throwing', async () => {
    const sampler = new MetricsSampler(() => 'http://127.0.0.1:9/metrics', 20).start();
    await new Promise((r) => setTimeout(r, 100));
    const s = await sampler.stop();
    assert.equal(s.samples.length, 0);
    assert.ok(s.failures >= 1);
  });
});

describe('machine limits', () => {
  it('reads the rates from the summary of openssl speed -multi', () => {
    const out = [
      'Got: +F2:2:2048:3034.000000:47239.000000 from 0',
      '                  sign    verify    sign/s verify/s',
      'rsa 2048 bits 0.000162s 0.000010s   6171.0 104231.0',
      '                              sign    verify    sign/s verify/s',
      ' 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  46451.0  16045.0',
    ].join('\n');
    assert.deepEqual(parseOpensslSpeed(out), {
      rsa2048SignPerS: 6171,
      rsa2048VerifyPerS: 104_231,
      ed25519SignPerS: 46_451,
      ed25519VerifyPerS: 16_045,
    });
  });

  it('measures fdatasync rates from one and four writers', async () => {
    const l = await measureLimits({ skipOpenssl: true, skipSink: true, syncMs: 200 });
    assert.deepEqual(l.errors, []);
    assert.ok((l.fdatasync?.oneWriterPerS ?? 0) > 10, JSON.stringify(l.fdatasync));
    assert.ok((l.fdatasync?.fourWritersPerS ?? 0) > 10);
    assert.equal(l.fdatasync?.appendBytes, 2048);
  });
});

describe('output helpers', () => {
  it('draws a progress bar', () => {
    assert.equal(progressBar(0.5, 10), '[#####.....]  50%');
    assert.equal(progressBar(2, 4), '[####] 100%');
    assert.equal(progressBar(Number.NaN, 4), '[....]   0%');
  });

  it('draws SVG charts with round ticks, escaped text and no outside reference', () => {
    assert.equal(niceStep(930), 200);
    assert.equal(niceStep(0.9), 0.2);
    assert.equal(tickLabel(12_000), '12k');
    assert.equal(tickLabel(1_500_000), '1.5M');
    const line = lineChart({ title: 'a <b> & c', xLabel: 's', yLabel: '/s', series: [{ name: 'petrel', points: [[0, 1], [1, 3], [2, 2]] }], marks: [{ x: 1, label: 'measure' }] });
    assert.match(line, /^<svg [^>]*viewBox="0 0 640 260"/);
    assert.match(line, /a &lt;b&gt; &amp; c/);
    assert.match(line, /<polyline [^>]*stroke="#1f6fb4"/);
    assert.doesNotMatch(line, /href|url\(|https?:/);
    assert.match(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }), /no data/);
    const bars = barChart({ title: 'b', yLabel: 'ms', categories: ['petrel', 'postfix'], groups: [{ name: 'p50', values: [1, 2] }, { name: 'p99', values: [3, undefined] }] });
    assert.equal((bars.match(/<rect x="[\d.]+" y/g) ?? []).length, 1 + 3 + 2, 'background, three bars, two legend boxes');

    // A target's label keeps clear of the values: above its line at the right, unless a bar's value is written there.
    const labelOf = (svg: string): { y: number; anchor: string } => {
      const m = /<text x="[\d.]+" y="([\d.]+)" text-anchor="(\w+)" fill="#b00">target 25 KB<\/text>/.exec(svg);
      assert.ok(m, svg);
      return { y: Number(m[1]), anchor: m[2] as string };
    };
    const lineY = (svg: string): number => Number(/<line [^>]*y1="([\d.]+)"[^>]*stroke="#b00"/.exec(svg)?.[1]);
    const four = ['a', 'b', 'c', 'd'];
    const free = barChart({ title: 'm', yLabel: 'KB', categories: four, groups: [{ name: 'rss', values: [5, 5, 5, 5] }], reference: { value: 25, label: 'target 25 KB' } });
    assert.ok(labelOf(free).y < lineY(free) && labelOf(free).anchor === 'end', 'nothing in the way: above, at the right');
    const taken = barChart({ title: 'm', yLabel: 'KB', categories: four, groups: [{ name: 'rss', values: [5, 5, 5, 25] }], reference: { value: 25, label: 'target 25 KB' } });
    assert.ok(labelOf(taken).y > lineY(taken), `a value at the right, on the line: the label goes below it (${JSON.stringify(labelOf(taken))} vs ${lineY(taken)})`);
  });
});

describe('PETREL_BENCH_CONFIG', () => {
  it('merges config keys into the Petrel daemons and names them in the description', () => {
    const saved = process.env.PETREL_BENCH_CONFIG;
    try {
      delete process.env.PETREL_BENCH_CONFIG;
      assert.deepEqual(envConfig(), {});
      assert.equal(petrelTarget().description, 'Petrel daemon: session actors, spool with group commit');
      process.env.PETREL_BENCH_CONFIG = '{"delivery_thread":true}';
      assert.deepEqual(envConfig(), { delivery_thread: true });
      assert.match(petrelTarget().description, /; with \{"delivery_thread":true\}$/);
      process.env.PETREL_BENCH_CONFIG = '[1]';
      assert.throws(() => envConfig(), /PETREL_BENCH_CONFIG: a JSON object/);
    } finally {
      if (saved === undefined) delete process.env.PETREL_BENCH_CONFIG;
      else process.env.PETREL_BENCH_CONFIG = saved;
    }
  });
});
