// Tests of the delivery scenarios' parts: sink counters, queue counts, the hold/release config
// builders, daemon log reading, figures and tables; and both scenarios end to end against a
// stand-in relay (smtp-server in, nodemailer out) and the real smtp-sink.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { lastEventTime, parseQueueCount, petrelConfig, petrelRelayConfig, summarizeDaemonLog } from '../../bench/peers/petrel.js';
import { parsePostqueueJson, PostqueueJsonCounter, postfixReleaseCommands, postfixSettings } from '../../bench/peers/postfix.js';
import { sinkArgs, SinkCounter } from '../../bench/peers/sink.js';
import type { PeerTarget, RelayStartOptions, RunningRelay } from '../../bench/peers/types.js';
import { formatSeconds, markdownTable, notes } from '../../bench/report.js';
import { runBench, runBudgetS } from '../../bench/run.js';
import type { DeliveryResult } from '../../bench/scenarios/delivery.js';
import { deliveryFigures, DeliverySampler, emptyMoment, mismatch, probeDue } from '../../bench/scenarios/follow.js';
import { appliesTo, scenarioSpec, type ScenarioLoad, type ScenarioReport, type TargetRun } from '../../bench/scenarios/index.js';

describe('smtp-sink counters', () => {
  it('follows -c output split anywhere, counting only complete updates', () => {
    const c = new SinkCounter();
    c.push('sess=0 quit=0 mesg=1\rsess=0 quit=0 me', 1000);
    assert.equal(c.messages, 1);
    assert.equal(c.firstAt, 1000);
    c.push('sg=2\rsess=1 quit=1 mesg=2\r', 1200);
    assert.equal(c.messages, 2);
    assert.equal(c.sessions, 1);
    assert.equal(c.lastAt, 1200, 'lastAt moves only when the message count grows');
    c.push('sess=2 quit=2 mesg=2\r', 1500);
    assert.equal(c.lastAt, 1200);
    c.push('sess=2 quit=2 mesg=5', 1600);
    assert.equal(c.messages, 2, 'an update without its terminator is not counted yet');
    c.push('\n', 1700);
    assert.equal(c.messages, 5);
    assert.equal(c.lastAt, 1700);
  });

  it('mark() starts a new part: first and last refer to what follows', () => {
    const c = new SinkCounter();
    c.push('sess=0 quit=0 mesg=3\r', 1000);
    assert.equal(c.mark(), 3);
    assert.equal(c.firstAt, 0);
    assert.equal(c.lastAt, 0);
    c.push('sess=0 quit=0 mesg=4\rsess=0 quit=0 mesg=6\r', 2000);
    assert.equal(c.firstAt, 2000);
    assert.equal(c.messages, 6);
  });

  it('runs smtp-sink with -c only when counting, and -u postfix only as root', () => {
    assert.deepEqual(sinkArgs(2525, { count: true, root: true }), ['-u', 'postfix', '-c', '127.0.0.1:2525', '1000']);
    assert.deepEqual(sinkArgs(2525, { root: false }), ['127.0.0.1:2525', '1000']);
  });
});

describe('queue counts', () => {
  it('reads `petrel queue count`', () => {
    assert.equal(parseQueueCount('20000\n'), 20000);
    assert.equal(parseQueueCount('0\n'), 0);
    assert.throws(() => parseQueueCount(''), { code: 'ERR_PEER_COMMAND' });
    assert.throws(() => parseQueueCount('petrel: no spool\n'), { code: 'ERR_PEER_COMMAND' });
  });

  it('counts the messages of `postqueue -j`', () => {
    const line = (id: string, queue: string): string =>
      JSON.stringify({ queue_name: queue, queue_id: id, arrival_time: 1, message_size: 2200, sender: 's@x', recipients: [{ address: 'user@example.com' }] });
    assert.equal(parsePostqueueJson(''), 0);
    assert.equal(parsePostqueueJson(`${line('4Xa1', 'hold')}\n${line('4Xa2', 'deferred')}\n${line('4Xa3', 'active')}\n`), 3);
    assert.throws(() => parsePostqueueJson('Mail queue is empty\n'), { code: 'ERR_PEER_COMMAND' });
    // A large listing streams in chunks that split lines anywhere.
    const text = Array.from({ length: 500 }, (_, i) => line(`ID${i}`, 'deferred')).join('\n') + '\n';
    const c = new PostqueueJsonCounter();
    for (let i = 0; i < text.length; i += 777) c.push(text.slice(i, i + 777));
    assert.equal(c.end(), 500);
  });
});

describe('hold and release configuration', () => {
  it('Petrel holds with queue_only and no queue runs (released by SIGUSR1, not by a new config)', () => {
    const held = petrelRelayConfig('/tmp/x', 2600, { sinkPort: 2700, hold: true });
    assert.deepEqual(held, {
      ...petrelConfig('/tmp/x', 2600),
      log_level: 'info',
      smarthost: '127.0.0.1:2700',
      queue_only: true,
      queue_run_interval: 0,
    });
    const released = petrelRelayConfig('/tmp/x', 2600, { sinkPort: 2700, hold: true, released: true });
    assert.deepEqual(released, { ...held, queue_only: false });
    assert.equal(released.spool_directory, '/tmp/x/spool', 'the same spool');
  });

  it('Petrel relays at once without hold; experiments may add keys', () => {
    const c = petrelRelayConfig('/tmp/x', 2600, { sinkPort: 2700, hold: false, logLevel: 'warn' }, { smtp_transport: { connection_max_messages: 1 } });
    assert.equal(c.queue_only, false);
    assert.equal('queue_run_interval' in c, false);
    assert.equal(c.log_level, 'warn');
    assert.deepEqual(c.smtp_transport, { connection_max_messages: 1 });
  });

  it('Postfix: store (inbound), relay, relay on hold; every mode sets the same keys', () => {
    const keys = (lines: string[]): string[] => lines.map((l) => l.split('=')[0]?.trim() ?? '');
    const store = postfixSettings();
    const relay = postfixSettings({ kind: 'relay', sinkPort: 2700, hold: false });
    const hold = postfixSettings({ kind: 'relay', sinkPort: 2700, hold: true });
    assert.deepEqual(keys(relay), keys(store));
    assert.deepEqual(keys(hold), keys(store));
    assert.deepEqual(postfixSettings({ kind: 'store' }), store);
    // Inbound: every accepted message is held, so no queue manager or delivery runs while measured.
    assert.ok(store.includes('smtpd_recipient_restrictions = check_client_access inline:{ 127.0.0.1=HOLD }'));
    assert.ok(relay.includes('transport_maps = inline:{ example.com=smtp:[127.0.0.1]:2700 }'));
    assert.ok(relay.includes('smtpd_recipient_restrictions ='));
    assert.ok(hold.includes('smtpd_recipient_restrictions = check_client_access inline:{ 127.0.0.1=HOLD }'));
    for (const s of [store, relay, hold]) {
      assert.ok(s.includes('hash_queue_names = deferred, defer, hold'));
      assert.ok(s.includes('smtp_destination_concurrency_limit = 20'));
      assert.ok(s.includes('defer_transports ='));
      assert.ok(s.includes('default_process_limit = 100'));
    }
  });

  it('Postfix releases with postsuper -H ALL, then postqueue -f', () => {
    assert.deepEqual(postfixReleaseCommands(), [
      ['/usr/sbin/postsuper', ['-H', 'ALL']],
      ['/usr/sbin/postqueue', ['-f']],
    ]);
  });
});

describe('daemon log', () => {
  const log = [
    '{"level":30,"time":"t","event":"spool-open","msg":"spool open: 2 messages queued"}',
    '{"level":30,"time":"t","event":"arrival","id":"A","msg":"<= A sender@loadgen.bench.test"}',
    '{"level":30,"time":"t","event":"delivered","id":"A","recipient":"user@example.com","msg":"A => user@example.com"}',
    '{"level":30,"time":"t","event":"completed","id":"A","msg":"A Completed"}',
    '{"level":30,"time":"t","event":"deferred","id":"B","msg":"B == user@example.com defer: connection refused"}',
    '{"level":50,"time":"t","event":"delivery-error","msg":"delivery actor failed"}',
    'TypeError: Cannot read properties of undefined (reading \'messageId\')',
    '    at #stream (file:///x/runner.js:136:51)',
    '',
  ].join('\n');

  it('counts deliveries and keeps the lines that are not routine', () => {
    const s = summarizeDaemonLog(log);
    assert.equal(s.arrivals, 1);
    assert.equal(s.delivered, 1);
    assert.equal(s.completed, 1);
    assert.equal(s.deferred, 1);
    assert.deepEqual(
      s.notable.map((l) => l.slice(0, 40)),
      [
        '{"level":30,"time":"t","event":"deferred',
        '{"level":50,"time":"t","event":"delivery',
        "TypeError: Cannot read properties of und",
        '    at #stream (file:///x/runner.js:136:',
      ],
    );
    assert.equal(summarizeDaemonLog(log, 2).notable.length, 2);
  });
});

describe('delivery figures', () => {
  it('rates up to the last delivery; times from the start', () => {
    assert.deepEqual(deliveryFigures({ startedAt: 10_000, delivered: 5000, firstAt: 10_400, lastAt: 14_000 }), {
      rate: 1250,
      firstDeliveryMs: 400,
      lastDeliveryMs: 4000,
    });
    assert.deepEqual(deliveryFigures({ startedAt: 10_000, delivered: 0, firstAt: 0, lastAt: 0 }), { rate: 0 });
  });

  it('takes the end of the drain from the log when it lies between the start and the empty count', () => {
    assert.deepEqual(emptyMoment(10_000, 14_900, 14_310), { at: 14_310, source: 'log' });
    assert.deepEqual(emptyMoment(10_000, 14_900, undefined), { at: 14_900, source: 'count' });
    assert.deepEqual(emptyMoment(10_000, 14_900, 9_000), { at: 14_900, source: 'count' }, 'a line from before the start');
    assert.deepEqual(emptyMoment(10_000, 14_900, 15_000), { at: 14_900, source: 'count' }, 'a line from after the count');
    assert.deepEqual(emptyMoment(10_000, undefined, 14_000), {}, 'never seen empty');
  });

  it('finds the time of the last "completed" line of a daemon log', () => {
    const text = [
      '{"level":30,"time":"2026-11-22T06:24:16.141Z","event":"completed","id":"A"}',
      '{"level":30,"time":"2026-11-22T06:24:17.250Z","event":"completed","id":"B"}',
      '{"level":30,"time":"2026-11-22T06:24:18.000Z","event":"signal"}',
      'Error: "event":"completed" quoted in a trace',
      '',
    ].join('\n');
    assert.equal(lastEventTime(text, 'completed'), Date.parse('2026-11-22T06:24:17.250Z'));
    assert.equal(lastEventTime(text, 'delivered'), undefined);
    assert.equal(lastEventTime('{"time":"2026-11-22T06:24:16.141Z","event":"completed"}', 'completed'), Date.parse('2026-11-22T06:24:16.141Z'));
  });

  it('names a sink count that does not match', () => {
    assert.equal(mismatch(5000, 5000), undefined);
    assert.match(mismatch(20, 5000) ?? '', /20 of 5000 .*4980 missing/);
    assert.match(mismatch(5001, 5000) ?? '', /1 extra/);
  });

  it('counts the queue often only near the end', () => {
    const base = { now: 10_000, delivered: 100, expected: 5000, lastChangeAt: 9_900, lastProbeAt: 9_000 };
    assert.equal(probeDue(base), false, 'still delivering: no count');
    assert.equal(probeDue({ ...base, delivered: 5000 }), true, 'the sink has them all');
    assert.equal(probeDue({ ...base, lastChangeAt: 8_900 }), true, 'idle for a second');
    assert.equal(probeDue({ ...base, lastProbeAt: 4_900 }), true, 'every 5 s anyway');
    assert.equal(probeDue({ ...base, delivered: 5000, lastProbeAt: 9_900 }), false, 'never twice within 200 ms');
  });

  it('samples deliveries per second', () => {
    const s = new DeliverySampler(1000);
    s.tick(1200, 10);
    s.tick(1900, 30);
    s.tick(3100, 70);
    s.tick(3300, 70);
    assert.deepEqual(s.perSecond, [30, 0, 40]);
  });

  it('formats seconds', () => {
    assert.equal(formatSeconds(4213), '4.21');
    assert.equal(formatSeconds(17_340), '17.3');
    assert.equal(formatSeconds(123_400), '123');
    assert.equal(formatSeconds(undefined), 'n/a');
  });
});

const LOAD: ScenarioLoad = {
  messages: 5000,
  durationMs: 0,
  concurrency: 20,
  messagesPerConnection: 100,
  size: 2048,
  recipients: 1,
  processes: 1,
  warmupMessages: 0,
  warmupMs: 0,
};

function delivery(rate: number, delivered = 5000, expected = 5000): DeliveryResult {
  return {
    expected,
    delivered,
    startedAt: 0,
    firstDeliveryMs: 50,
    lastDeliveryMs: (delivered / rate) * 1000,
    emptyMs: (delivered / rate) * 1000 + 200,
    rate,
    queueLeft: 0,
    perSecond: [],
    probes: 3,
    accept: {
      sent: expected,
      failed: 0,
      outcomes: { ok: expected, temp: 0, perm: 0, error: 0 },
      aborted: 0,
      elapsedMs: 2000,
      startedAt: 0,
      endedAt: 2000,
      rate: 2500,
      latencyMs: { p50: 1, p90: 2, p99: 3, max: 4, mean: 1 },
      connections: 50,
      pipelinedSessions: 50,
      processes: 1,
      timedOut: false,
      errors: [],
    },
    timedOut: false,
  };
}

function drun(system: string, d?: DeliveryResult, error?: string, extra: Partial<TargetRun> = {}): TargetRun {
  return { system, description: system, durable: true, durability: 'yes', delivery: d, error, ...extra };
}

describe('delivery table', () => {
  const drain: ScenarioReport = {
    name: 'outbound-drain',
    kind: 'drain',
    description: 'test',
    load: LOAD,
    runs: [drun('petrel', delivery(2500)), drun('postfix', delivery(1250))],
  };

  it('shows rate, total time, delivered/accepted, durability and the ratio', () => {
    const lines = markdownTable([drain]).split('\n');
    assert.equal(lines[0], '| scenario | system | delivered/s | total s | delivered/accepted | CPU ms/msg | loop busy | durable before 250 | ratio |');
    assert.equal(lines[2], '| outbound-drain | petrel | 2,500 | 2.20 | 5000/5000 | - | - | yes | petrel/postfix = 2.0x |');
    assert.equal(lines[3], '| outbound-drain | postfix | 1,250 | 4.20 | 5000/5000 | - | - | yes |  |');
  });

  it('a system that lost mail fails its row, with no ratio, and its log and kept files in the notes', () => {
    const lost: ScenarioReport = {
      ...drain,
      runs: [
        drun('petrel', delivery(900, 20, 5000), 'petrel daemon exited (1)', {
          diagnosis: { lines: ['TypeError: boom', '    at #stream'], keptDir: '/tmp/petrel-bench-x', deliveredLogged: 20 },
        }),
        drun('postfix', delivery(1250)),
      ],
    };
    const lines = markdownTable([lost]).split('\n');
    assert.equal(lines[2], '| outbound-drain | petrel | failed: petrel daemon exited (1) | 0.22 | 20/5000 (MISMATCH) | - | - | yes | petrel/postfix = n/a |');
    const n = notes([lost]);
    assert.ok(n.includes('outbound-drain petrel: files kept in /tmp/petrel-bench-x'));
    assert.ok(n.includes('outbound-drain petrel: its log counts 20 deliveries'));
    assert.ok(n.includes('outbound-drain petrel: log: TypeError: boom'));
  });

  it('puts the inbound table first when both kinds ran', () => {
    const inbound: ScenarioReport = { name: 'inbound-reuse', kind: 'inbound', description: 'x', load: LOAD, runs: [] };
    const text = markdownTable([drain, inbound]);
    const [first, second] = text.split('\n\n');
    assert.match(first ?? '', /^\| scenario \| system \| msgs\/s \|/);
    assert.match(second ?? '', /^\| scenario \| system \| delivered\/s \|/);
  });
});

describe('delivery scenarios in the runner', () => {
  it('run only against systems that deliver, with their own message count and no warm-up for the drain', async () => {
    const inboundOnly: PeerTarget = { name: 'plain', description: 'x', durable: false, durability: 'no', start: () => Promise.reject(new Error('not used')) };
    assert.equal(appliesTo(scenarioSpec('outbound-drain'), inboundOnly), false);
    assert.equal(appliesTo(scenarioSpec('inbound-1conn'), inboundOnly), true);
    const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-test-'));
    try {
      const report = await runBench(
        { scenarios: ['outbound-drain', 'relay-through'], peers: ['plain'], report: dir, install: false },
        { targets: { plain: inboundOnly }, out: () => undefined, progress: { write: () => true }, handleSignals: false },
      );
      const [d, r] = report.scenarios;
      assert.equal(d?.runs.length, 0);
      assert.equal(d?.load.messages, 20_000);
      assert.equal(d?.load.warmupMessages, 0);
      assert.equal(r?.load.messages, 5000);
      assert.ok((r?.load.warmupMessages ?? 0) > 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('budgets a delivery run by its messages', () => {
    assert.ok(runBudgetS(scenarioSpec('outbound-drain'), { ...LOAD, messages: 20_000 }, undefined) >= 800);
    assert.equal(runBudgetS(scenarioSpec('inbound-1conn'), LOAD, undefined), 180);
  });
});

/**
 * A stand-in relaying MTA: smtp-server accepts into a memory queue; nodemailer sends on to the sink,
 * at once or after release(). `lose` drops that many messages silently (a broken MTA).
 */
function standInRelay(opts: { lose?: number } = {}): PeerTarget & { released: number } {
  const t = {
    name: 'standin',
    description: 'smtp-server in, nodemailer out',
    durable: false,
    durability: 'no',
    released: 0,
    start: () => Promise.reject(new Error('inbound not supported')),
    async startRelay(o: RelayStartOptions): Promise<RunningRelay> {
      const queue: Buffer[] = [];
      let held = o.hold;
      let lose = opts.lose ?? 0;
      let inFlight = 0;
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: o.sinkPort, pool: true, maxConnections: 4, secure: false, ignoreTLS: true });
      const pump = (): void => {
        while (!held && queue.length > 0 && inFlight < 8) {
          const raw = queue.shift() as Buffer;
          if (lose > 0) {
            lose--;
            continue;
          }
          inFlight++;
          transport
            .sendMail({ envelope: { from: 'sender@loadgen.bench.test', to: ['user@example.com'] }, raw })
            .catch(() => queue.push(raw))
            .finally(() => {
              inFlight--;
              pump();
            });
        }
      };
      const server = new SMTPServer({
        logger: false,
        disabledCommands: ['AUTH', 'STARTTLS'],
        authOptional: true,
        onData(stream, _s, cb) {
          const parts: Buffer[] = [];
          stream.on('data', (d: Buffer) => parts.push(d));
          stream.on('end', () => {
            queue.push(Buffer.concat(parts));
            pump();
            cb();
          });
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
          transport.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
        release: async () => {
          t.released++;
          held = false;
          const at = Date.now();
          pump();
          return at;
        },
        queued: async () => queue.length + inFlight,
        dead: () => undefined,
        diagnose: async () => ({ lines: [`queue ${queue.length}`] }),
      };
    },
  };
  return t;
}

describe('delivery scenarios end to end (stand-in relay, real smtp-sink)', { timeout: 120_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-bench-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('drains a held queue and relays through, counting at the sink', async () => {
    const standin = standInRelay();
    const report = await runBench(
      { scenarios: ['outbound-drain', 'relay-through'], peers: ['standin'], messages: 300, warmup: 40, concurrency: 4, report: dir },
      { targets: { standin }, out: () => undefined, progress: { write: () => true }, handleSignals: false },
    );
    const [d, r] = report.scenarios.map((s) => s.runs[0]);
    assert.equal(d?.error, undefined);
    assert.equal(standin.released, 1);
    assert.equal(d?.delivery?.delivered, 300);
    assert.equal(d?.delivery?.queuedAtRelease, 300);
    assert.ok((d?.delivery?.rate ?? 0) > 0);
    assert.ok((d?.delivery?.emptyMs ?? -1) >= (d?.delivery?.lastDeliveryMs ?? Infinity) - 50);
    assert.equal(r?.error, undefined);
    assert.equal(r?.delivery?.delivered, 300);
    // A warm-up count given alone: exactly those messages, no time floor.
    assert.equal(r?.delivery?.warmup?.sent, 40);
    assert.equal(r?.delivery?.warmup?.delivered, 40);
    assert.equal(r?.delivery?.warmup?.failed, 0);
    assert.equal(
      r?.delivery?.perSecond.reduce((a, b) => a + b, 0),
      300,
      'per-second samples add up to the deliveries',
    );
    assert.match(report.table, /\| outbound-drain \| standin \| [\d,.]+ \| [\d.]+ \| 300\/300 \| ([\d.]+|-) \| - \| no \| {2}\|/);
  });

  it('warms relay-through up past its messages until its time floor has passed, all delivered', async () => {
    let printed = '';
    const report = await runBench(
      { scenarios: ['relay-through'], peers: ['standin'], messages: 100, warmup: 20, warmupSeconds: 1, concurrency: 4, report: dir },
      { targets: { standin: standInRelay() }, out: (t) => (printed += t), progress: { write: () => true }, handleSignals: false },
    );
    const r = report.scenarios[0]?.runs[0];
    assert.equal(r?.error, undefined);
    const w = r?.delivery?.warmup;
    assert.ok(w, 'a warm-up was recorded');
    assert.ok((w.ms ?? 0) >= 950, `the warm-up lasted ${w.ms} ms`);
    assert.ok(w.sent > 20, `it sent past its 20 messages: ${w.sent}`);
    assert.equal(w.delivered, w.sent, 'every warm-up message reached the sink before the measured load');
    assert.equal(r?.delivery?.delivered, 100, 'the measured load is unchanged');
    // The warm-up and the measured load ran on client processes the harness watched.
    assert.ok((r?.loadResources?.samples.length ?? 0) >= 4, `load generator samples: ${r?.loadResources?.samples.length}`);
    assert.ok(r?.loadResources?.samples.some((x) => x.cpu > 0), 'the load generator used some CPU');
    assert.match(printed, /relay-through standin: warm-up [\d,]+ messages in 1\.\d+ s \([\d,]+\/s\)/);
  });

  it('reports a mismatch when messages never reach the sink', async () => {
    const report = await runBench(
      { scenarios: ['outbound-drain'], peers: ['standin'], messages: 50, concurrency: 2, report: dir },
      { targets: { standin: standInRelay({ lose: 3 }) }, out: () => undefined, progress: { write: () => true }, handleSignals: false },
    );
    const run = report.scenarios[0]?.runs[0];
    assert.match(run?.error ?? '', /sink count mismatch: 47 of 50/);
    assert.deepEqual(run?.diagnosis?.lines, ['queue 0']);
    assert.match(report.table, /failed: sink count mismatch.*\| 47\/50 \(MISMATCH\) \|/);
  });
});
