// Tests of runBench end to end with injected targets, and of the Petrel target's start/stop contract.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { parseBenchArgs } from '../../bench/main.js';
import { petrelTarget } from '../../bench/peers/petrel.js';
import { waitPortClosed } from '../../bench/peers/process.js';
import type { PeerTarget, RunningPeer } from '../../bench/peers/types.js';
import { DEFAULT_WARMUP_SECONDS, loadFor, runBench } from '../../bench/run.js';
import { formatCount, formatRatio } from '../../bench/report.js';

/** A target backed by an in-process smtp-server: lets runBench run without Postfix. */
function smtpServerTarget(name: string, durable: boolean, onMessage?: (recipients: string[]) => void): PeerTarget & { starts: number; stops: number } {
  const t = {
    name,
    description: `smtp-server stand-in ${name}`,
    durable,
    durability: durable ? 'claims yes' : 'no',
    starts: 0,
    stops: 0,
    async start(): Promise<RunningPeer> {
      t.starts++;
      const server = new SMTPServer({
        logger: false,
        disabledCommands: ['AUTH', 'STARTTLS'],
        authOptional: true,
        onData(stream, session, cb) {
          onMessage?.(session.envelope.rcptTo.map((r) => r.address));
          stream.resume();
          stream.on('end', () => cb());
        },
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const port = (server.server.address() as AddressInfo).port;
      return {
        info: t,
        host: '127.0.0.1',
        port,
        version: 'test',
        stop: async () => {
          t.stops++;
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
  };
  return t;
}

describe('runBench with injected targets', { timeout: 60_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-bench-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs each scenario against each target, writes JSON and prints the table', async () => {
    const a = smtpServerTarget('alpha', true);
    const b = smtpServerTarget('beta', false);
    let printed = '';
    const progress: string[] = [];
    const report = await runBench(
      { scenarios: ['inbound-reuse', 'inbound-1conn'], peers: ['alpha', 'beta'], messages: 60, concurrency: 4, warmup: 8, report: dir },
      {
        targets: { alpha: a, beta: b },
        out: (t) => (printed += t),
        progress: { isTTY: false, write: (t) => progress.push(t) },
        handleSignals: false,
      },
    );
    assert.equal(a.starts, 2);
    assert.equal(a.stops, 2, 'every started target is stopped');
    assert.equal(b.stops, 2);
    assert.deepEqual(
      report.scenarios.map((s) => s.name),
      ['inbound-reuse', 'inbound-1conn'],
    );
    for (const s of report.scenarios) {
      assert.deepEqual(
        s.runs.map((r) => [r.system, r.result?.sent, r.warmup?.sent]),
        [
          ['alpha', 60, 8],
          ['beta', 60, 8],
        ],
      );
    }
    assert.equal(report.incomplete, false);
    assert.match(printed, /\| inbound-reuse \| alpha \| [\d,.]+ \| [\d.]+ \| [\d.]+ \| 60\/0 \| ([\d.]+|-) \| - \| yes \| alpha\/beta = [\d.]+x \|/);
    assert.match(printed, /\| inbound-1conn \| beta \| [\d,.]+ \| [\d.]+ \| [\d.]+ \| 60\/0 \| ([\d.]+|-) \| - \| no \| {2}\|/);
    assert.ok(report.file);
    // One JSON and one HTML report, named by the run's start time.
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 2, files.join(' '));
    assert.match(files[0] ?? '', /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.html$/);
    assert.equal(files[1], (files[0] ?? '').replace(/\.html$/, '.json'));
    const json = JSON.parse(await readFile(join(dir, files[1] ?? ''), 'utf8')) as { machine: { cores: number }; table: string };
    assert.ok(json.machine.cores >= 1);
    assert.equal(json.table, report.table);
    assert.ok(progress.every((l) => l.endsWith('\n') && !l.includes('\r')), 'no live line when not a TTY');
    const html = await readFile(join(dir, files[0] ?? ''), 'utf8');
    assert.match(html, /60 messages, concurrency 4/);
  });

  it('a run timed by --duration is described by its time, not by a message count', async () => {
    const a = smtpServerTarget('alpha', true);
    const timedDir = await mkdtemp(join(tmpdir(), 'petrel-bench-timed-'));
    try {
      const report = await runBench(
        { scenarios: ['inbound-reuse'], peers: ['alpha'], duration: 1, concurrency: 2, warmup: 0, report: timedDir },
        { targets: { alpha: a }, out: () => undefined, progress: { isTTY: false, write: () => undefined }, handleSignals: false },
      );
      assert.ok((report.scenarios[0]?.runs[0]?.result?.sent ?? 0) > 0);
      const html = await readFile(join(timedDir, (await readdir(timedDir)).find((f) => f.endsWith('.html')) ?? ''), 'utf8');
      assert.match(html, /for 1 s, concurrency 2/);
      assert.doesNotMatch(html, /\d+ messages, concurrency/);
    } finally {
      await rm(timedDir, { recursive: true, force: true });
    }
  });

  it('an inbound warm-up goes on past its messages until its time floor has passed', async () => {
    const a = smtpServerTarget('alpha', true);
    const warmDir = await mkdtemp(join(tmpdir(), 'petrel-bench-warm-'));
    try {
      let printed = '';
      const report = await runBench(
        { scenarios: ['inbound-1conn'], peers: ['alpha'], messages: 30, concurrency: 2, warmup: 8, warmupSeconds: 1, limits: false, report: warmDir },
        { targets: { alpha: a }, out: (t) => (printed += t), progress: { isTTY: false, write: () => undefined }, handleSignals: false },
      );
      const run = report.scenarios[0]?.runs[0];
      const w = run?.warmup;
      assert.ok(w, 'a warm-up was recorded');
      assert.ok((w.ms ?? 0) >= 950, `the warm-up lasted ${w.ms} ms`);
      assert.ok(w.sent > 8, `it sent past its 8 messages: ${w.sent}`);
      assert.equal(w.failed, 0);
      assert.equal(run?.result?.sent, 30, 'the measured run is unchanged');
      assert.match(printed, new RegExp(`inbound-1conn alpha: warm-up ${formatCount(w.sent)} messages in 1\\.\\d+ s \\([\\d,]+/s\\)`));
      const html = await readFile(join(warmDir, (await readdir(warmDir)).find((f) => f.endsWith('.html')) ?? ''), 'utf8');
      assert.match(html, /warm-up 8 messages and at least 1 s/);
    } finally {
      await rm(warmDir, { recursive: true, force: true });
    }
  });

  it('inbound, queue-scale and relay-through runs warm up for a time floor by default; a warm-up count given alone, outbound-drain or idle-connections has none', () => {
    assert.equal(loadFor('inbound-1conn', { scenarios: [], peers: [] }).warmupMs, DEFAULT_WARMUP_SECONDS * 1000);
    assert.equal(loadFor('inbound-reuse', { scenarios: [], peers: [], duration: 10 }).warmupMs, DEFAULT_WARMUP_SECONDS * 1000);
    assert.equal(loadFor('inbound-1conn', { scenarios: [], peers: [], warmup: 50 }).warmupMs, 0);
    assert.equal(loadFor('inbound-1conn', { scenarios: [], peers: [], warmup: 50, warmupSeconds: 2 }).warmupMs, 2000);
    assert.equal(loadFor('inbound-1conn', { scenarios: [], peers: [], warmupSeconds: 0 }).warmupMs, 0);
    assert.equal(loadFor('relay-through', { scenarios: [], peers: [] }).warmupMs, DEFAULT_WARMUP_SECONDS * 1000);
    assert.equal(loadFor('relay-through', { scenarios: [], peers: [], warmup: 50 }).warmupMs, 0);
    assert.equal(loadFor('queue-scale', { scenarios: [], peers: [] }).warmupMs, DEFAULT_WARMUP_SECONDS * 1000);
    assert.equal(loadFor('outbound-drain', { scenarios: [], peers: [] }).warmupMs, 0);
    assert.equal(loadFor('idle-connections', { scenarios: [], peers: [] }).warmupMs, 0);
  });

  it('rejects a warm-up time that is negative or not a number', async () => {
    await assert.rejects(runBench({ scenarios: ['inbound-reuse'], peers: ['sink'], install: false, warmupSeconds: -1 }), { code: 'ERR_BENCH_OPTIONS' });
    assert.throws(() => parseBenchArgs(['--warmup-seconds', 'soon']), { code: 'ERR_BENCH_OPTIONS' });
    assert.equal(parseBenchArgs(['inbound-1conn', '--warmup-seconds', '0'])?.warmupSeconds, 0);
  });

  it('--rounds runs each scenario that many times over and adds the median ratio', async () => {
    const a = smtpServerTarget('alpha', true);
    const b = smtpServerTarget('beta', false);
    const roundsDir = await mkdtemp(join(tmpdir(), 'petrel-bench-rounds-'));
    try {
      let printed = '';
      const report = await runBench(
        { scenarios: ['inbound-reuse'], peers: ['alpha', 'beta'], messages: 30, concurrency: 2, warmup: 0, rounds: 3, report: roundsDir },
        { targets: { alpha: a, beta: b }, out: (t) => (printed += t), progress: { isTTY: false, write: () => undefined }, handleSignals: false },
      );
      assert.equal(a.starts, 3, 'one start per round');
      assert.equal(b.stops, 3);
      assert.deepEqual(report.scenarios.map((s) => [s.name, s.round]), [
        ['inbound-reuse', 1],
        ['inbound-reuse', 2],
        ['inbound-reuse', 3],
      ]);
      for (const n of [1, 2, 3]) assert.match(printed, new RegExp(`\\| inbound-reuse #${n} \\| alpha \\|`));
      // The median of the three rounds' ratios, each round's ratio from its own two rates.
      const ratios = report.scenarios.map((s) => (s.runs[0]?.result?.rate ?? 0) / (s.runs[1]?.result?.rate ?? 1));
      const median = [...ratios].sort((x, y) => x - y)[1] ?? 0;
      const row = /\| inbound-reuse \| alpha\/beta \| ([^|]+) \| ([^|]+) \|/.exec(printed);
      assert.ok(row, printed);
      assert.equal(row[1]?.split(',').length, 3, 'one ratio per round');
      assert.equal(row[2]?.trim(), formatRatio(median));
      const html = await readFile(join(roundsDir, (await readdir(roundsDir)).find((f) => f.endsWith('.html')) ?? ''), 'utf8');
      assert.match(html, /<section id="inbound-reuse-3"><h2>inbound-reuse #3<\/h2>/);
    } finally {
      await rm(roundsDir, { recursive: true, force: true });
    }
  });

  it('--recipients gives every message that many recipients, where the load generator makes the envelope', async () => {
    const seen: number[] = [];
    const t = smtpServerTarget('gamma', true, (rcpts) => seen.push(new Set(rcpts).size));
    const report = await runBench(
      { scenarios: ['inbound-reuse'], peers: ['gamma'], messages: 30, concurrency: 3, warmup: 0, recipients: 4, limits: false, report: dir },
      { targets: { gamma: t }, out: () => undefined, progress: { write: () => true }, handleSignals: false },
    );
    assert.equal(report.scenarios[0]?.runs[0]?.result?.sent, 30);
    assert.equal(report.scenarios[0]?.load.recipients, 4);
    assert.equal(seen.length, 30);
    assert.ok(seen.every((n) => n === 4), `recipients per message: ${[...new Set(seen)].join(', ')}`);
    const html = await readFile(report.file?.replace(/\.json$/, '.html') ?? '', 'utf8');
    assert.match(html, /4 recipients per message/);
    // Scenarios whose messages are fixed (idle probes, the signing and verifying variants) keep one.
    for (const name of ['inbound-1conn', 'outbound-drain', 'relay-through', 'queue-scale']) assert.equal(loadFor(name, { scenarios: [], peers: [], recipients: 7 }).recipients, 7, name);
    for (const name of ['idle-connections', 'dkim-sign-relay', 'inbound-verify', 'inbound-inspected']) assert.equal(loadFor(name, { scenarios: [], peers: [], recipients: 7 }).recipients, 1, name);
    assert.equal(loadFor('inbound-reuse', { scenarios: [], peers: [] }).recipients, 1);
  });

  it('rejects a number of recipients outside 1 to 100', async () => {
    for (const recipients of [0, 101, 2.5]) {
      await assert.rejects(runBench({ scenarios: ['inbound-reuse'], peers: ['sink'], install: false, recipients }), { code: 'ERR_BENCH_OPTIONS', message: /recipients must be an integer from 1 to 100/ });
    }
    assert.equal(parseBenchArgs(['inbound-reuse', '--recipients', '3'])?.recipients, 3);
    assert.throws(() => parseBenchArgs(['--recipients', 'some']), { code: 'ERR_BENCH_OPTIONS' });
  });

  it('rejects a number of rounds outside 1 to 9', async () => {
    await assert.rejects(runBench({ scenarios: ['inbound-reuse'], peers: ['sink'], install: false, rounds: 0 }), { code: 'ERR_BENCH_OPTIONS' });
    await assert.rejects(runBench({ scenarios: ['inbound-reuse'], peers: ['sink'], install: false, rounds: 1.5 }), { code: 'ERR_BENCH_OPTIONS' });
  });

  it('reports a target that fails to start and still runs the others', async () => {
    const good = smtpServerTarget('good', false);
    const broken: PeerTarget = {
      name: 'broken',
      description: 'never starts',
      durable: true,
      durability: 'n/a',
      start: () => Promise.reject(Object.assign(new Error('no banner'), { code: 'ERR_PEER_START' })),
    };
    const report = await runBench(
      { scenarios: ['inbound-reuse'], peers: ['broken', 'good'], messages: 20, concurrency: 2, warmup: 0, report: dir },
      { targets: { broken, good }, out: () => undefined, progress: { write: () => true }, handleSignals: false },
    );
    const [first, second] = report.scenarios[0]?.runs ?? [];
    assert.equal(first?.error, 'ERR_PEER_START: no banner');
    assert.equal(second?.result?.sent, 20);
    assert.match(report.table, /\| broken \| failed: ERR_PEER_START: no banner \|/);
  });

  it('rejects unknown scenarios and peers before starting anything', async () => {
    await assert.rejects(runBench({ scenarios: ['nope'], peers: ['sink'], install: false }), { code: 'ERR_BENCH_SCENARIO' });
    await assert.rejects(runBench({ scenarios: [], peers: ['exim'], install: false }), { code: 'ERR_PEER_UNKNOWN' });
  });

  it('parses the command line of bench/main', () => {
    assert.deepEqual(parseBenchArgs(['inbound-1conn', '--peers', 'postfix,sink', '--messages', '5000', '--size', '4096']), {
      scenarios: ['inbound-1conn'],
      peers: ['petrel', 'postfix', 'sink'],
      messages: 5000,
      size: 4096,
    });
    assert.deepEqual(parseBenchArgs(['--size', '70%2K,25%20K,5%500K', '--queue-counts', '0,100k,1M', '--no-limits']), {
      scenarios: [],
      peers: ['petrel', 'postfix', 'haraka', 'sink'],
      size: '70%2K,25%20K,5%500K',
      queueCounts: [0, 100_000, 1_000_000],
      limits: false,
    });
    assert.deepEqual(parseBenchArgs(['inbound-1conn', '--rounds', '3']), { scenarios: ['inbound-1conn'], peers: ['petrel', 'postfix', 'haraka', 'sink'], rounds: 3 });
    assert.deepEqual(parseBenchArgs(['inbound-reuse', '--peers', 'postfix', '--no-settle']), { scenarios: ['inbound-reuse'], peers: ['petrel', 'postfix'], settle: false });
    assert.equal(parseBenchArgs(['--help']), undefined);
    assert.throws(() => parseBenchArgs(['--messages', 'many']), { code: 'ERR_BENCH_OPTIONS' });
  });
});

// A stand-in daemon written to a temporary "repository": it checks the contract (argv, config keys),
// greets on the configured port and exits on SIGTERM. It is test scaffolding, not Petrel.
const STAND_IN = `
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
const i = process.argv.indexOf('--config');
const config = JSON.parse(readFileSync(process.argv[i + 1], 'utf8'));
writeFileSync(process.env.STAND_IN_RECORD, JSON.stringify({ argv: process.argv.slice(2), config }));
if (process.env.STAND_IN_MODE === 'crash') { console.error('stand-in: cannot open spool'); process.exit(3); }
const [host, port] = config.listen[0].split(':');
const server = net.createServer((s) => { s.write('220 ' + config.primary_hostname + ' ESMTP\\r\\n'); s.on('data', () => { s.end('221 bye\\r\\n'); }); s.on('error', () => {}); });
server.listen(Number(port), host);
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;

describe('petrel target contract', { timeout: 30_000 }, () => {
  let root = '';
  let record = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'petrel-target-test-'));
    await mkdir(join(root, 'dist', 'cli'), { recursive: true });
    await writeFile(join(root, 'dist', 'cli', 'petrel.js'), STAND_IN);
    await writeFile(join(root, 'package.json'), '{"type":"module","version":"9.8.7"}');
    record = join(root, 'record.json');
    process.env.STAND_IN_RECORD = record;
  });
  after(async () => {
    delete process.env.STAND_IN_RECORD;
    delete process.env.STAND_IN_MODE;
    await rm(root, { recursive: true, force: true });
  });

  it('starts `petrel daemon --config` with the agreed keys, waits for the banner, stops and cleans up', async () => {
    const peer = await petrelTarget({ root }).start();
    const seen = JSON.parse(await readFile(record, 'utf8')) as { argv: string[]; config: Record<string, unknown> };
    assert.equal(seen.argv[0], 'daemon');
    assert.equal(seen.argv[1], '--config');
    const configPath = seen.argv[2] ?? '';
    assert.match(configPath, /petrel\.config\.json$/);
    const tmp = join(configPath, '..');
    const { admin_listen: admin, ...rest } = seen.config;
    assert.match(String(admin), /^127\.0\.0\.1:\d+$/, 'metrics on a loopback port of its own');
    assert.equal(peer.metricsUrl?.(), `http://${String(admin)}/metrics`);
    assert.deepEqual(peer.pids?.().length, 1);
    assert.deepEqual(rest, {
      listen: [`127.0.0.1:${peer.port}`],
      spool_directory: join(tmp, 'spool'),
      primary_hostname: 'bench.petrel.test',
      relay_to_domains: ['example.com'],
      log_level: 'warn',
      maildir_directory: join(tmp, 'mail'),
      queue_only: true,
      queue_run_interval: 0,
    });
    assert.equal(peer.version, '9.8.7');
    assert.equal(peer.info.durable, true);
    await peer.stop();
    assert.equal(existsSync(tmp), false, 'temporary directory removed');
    assert.equal(await waitPortClosed('127.0.0.1', peer.port, 100), true);
    await peer.stop();
  });

  it('fails fast with the daemon output when the daemon exits during start', async () => {
    process.env.STAND_IN_MODE = 'crash';
    const started = Date.now();
    await assert.rejects(petrelTarget({ root }).start(), (err: unknown) => {
      const e = err as { code?: string; message?: string };
      return e.code === 'ERR_PEER_START' && /exited/.test(e.message ?? '') && /cannot open spool/.test(e.message ?? '');
    });
    assert.ok(Date.now() - started < 10_000);
    delete process.env.STAND_IN_MODE;
  });
});
