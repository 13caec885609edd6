// delivery_thread: remote deliveries run in a worker thread. Real daemons, real peers: everything
// accepted arrives exactly once, per-recipient outcomes are recorded as on the main thread, jobs
// the thread held when the daemon stopped stay queued and go after a restart, and a reload reaches
// the thread. DKIM signing and ARC sealing in the thread are tested with the other signing tests
// (test/signing/delivery.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertAllOnceAtSink, queued, startDeliveryDaemon, startSmtpServerSink, submit, waitEvent, waitQueueEmpty, smtpSource } from '../helpers/delivery.js';
import { until } from '../helpers/integration.js';
import { startPeer } from '../helpers/smtp-peer.js';
import { adminBase } from '../helpers/daemon.js';

const MESSAGES = 1000;


test('1,000 messages through the smarthost from the delivery thread arrive exactly once; the spool is empty after', { timeout: 120_000 }, async () => {
  const sink = await startSmtpServerSink();
  const d = await startDeliveryDaemon({ smarthost: sink.hostPort, delivery_thread: true });
  try {
    await d.waitForLog((l) => l.event === 'delivery-thread');
    const src = await smtpSource(d.port, MESSAGES, 'load@client.petrel.test');
    assert.equal(src.code, 0, `smtp-source failed: ${src.stderr}`);
    await assertAllOnceAtSink(d, sink, MESSAGES, 60_000);
    const delivered = d.logs.filter((l) => l.event === 'delivered');
    assert.equal(delivered.length, MESSAGES, 'one "=>" line per message, written on the main thread');
    assert.match(delivered[0]?.msg ?? '', new RegExp(`H=127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]:${sink.port}`));
    assert.equal(d.logs.filter((l) => l.event === 'completed').length, MESSAGES);
    // The thread's own loop is measured: it did the deliveries' work.
    const metrics = await (await fetch(`${adminBase(d)}/metrics`)).text();
    const busy = Number(/^petrel_delivery_thread_busy_seconds_total (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(busy > 0, `delivery thread busy ${busy} s`);
  } finally {
    await d.stop();
    d.cleanup();
    await sink.close();
  }
});

test('per-recipient outcomes from the delivery thread: one delivered, one deferred and kept, one failed', { timeout: 60_000 }, async () => {
  const peer = await startPeer({
    extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
    rcptByAddress: { 'later@relay.example': '451 4.3.0 try again later', 'nobody@relay.example': '550 5.1.1 no such user' },
  });
  const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: true, retry_rules: [{ domains: '*', rules: 'F,1h,30m' }] });
  try {
    const m = await submit(d, { from: 'a@client.petrel.test', to: ['now@relay.example', 'later@relay.example', 'nobody@relay.example'] });
    await waitEvent(d, m.id, 'delivered', 'now@relay.example');
    await waitEvent(d, m.id, 'deferred', 'later@relay.example');
    await waitEvent(d, m.id, 'failed', 'nobody@relay.example');
    await peer.waitForTransactions(1);
    assert.deepEqual(peer.transactions[0]?.rcpts.map((r) => r.address), ['now@relay.example']);
    const entry = await queued(d, m.id);
    assert.ok(entry, 'the message stays queued for its deferred recipient');
    const states = Object.fromEntries(entry.recipients.map((r) => [r.address, r.state]));
    assert.deepEqual(states, { 'now@relay.example': 'delivered', 'later@relay.example': 'deferred', 'nobody@relay.example': 'failed' });
  } finally {
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});

test('a reload reaches the delivery thread: new connections greet with the new helo_data', { timeout: 60_000 }, async () => {
  const peer = await startPeer({ extensions: ['PIPELINING'] });
  // connection_idle_time 0: each message gets a connection of its own, greeted with the settings of its time.
  const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: true, smtp_transport: { helo_data: 'first.petrel.test', connection_idle_time: 0 } });
  try {
    await submit(d, { from: 'a@client.petrel.test', to: ['one@relay.example'] });
    await peer.waitForTransactions(1);
    const cfg = JSON.parse(readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(d.configFile, JSON.stringify({ ...cfg, smtp_transport: { helo_data: 'second.petrel.test', connection_idle_time: 0 } }));
    const n = d.logs.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload' && d.logs.indexOf(l) >= n && /reloaded/.test(String(l.msg)));
    await submit(d, { from: 'a@client.petrel.test', to: ['two@relay.example'] });
    await peer.waitForTransactions(2);
    assert.deepEqual(peer.transactions.map((t) => t.helo), ['first.petrel.test', 'second.petrel.test']);
  } finally {
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});

test('jobs the delivery thread holds when the daemon stops stay queued, and go after a restart', { timeout: 90_000 }, async () => {
  // A smarthost that accepts connections and never sends its banner: every job stays in the thread.
  const silent = await startPeer({ banner: { silent: true } });
  const dir = mkdtempSync(join(tmpdir(), 'petrel-thread-stop-'));
  const d = await startDeliveryDaemon({ smarthost: silent.hostPort, delivery_thread: true, shutdown_timeout: '2s' }, dir);
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) ids.push((await submit(d, { from: 'a@client.petrel.test', to: [`r${i}@relay.example`] })).id);
    await until(() => silent.connections >= 1, 15_000, 'a connection to the silent smarthost');
    const code = await d.stop();
    assert.equal(code, 0, `a clean exit: ${d.stderr()} ${JSON.stringify(d.logs.slice(-8))}`);
  } finally {
    await silent.close();
  }
  const sink = await startSmtpServerSink();
  const again = await startDeliveryDaemon({ smarthost: sink.hostPort }, dir);
  try {
    await until(() => sink.messages.length >= 3, 30_000, `3 messages at the sink after the restart (have ${sink.messages.length})`);
    await waitQueueEmpty(again, 15_000);
    assert.deepEqual(sink.messages.map((m) => m.rcpts[0]).sort(), ['r0@relay.example', 'r1@relay.example', 'r2@relay.example']);
    for (const id of ids) assert.ok(again.logs.some((l) => l.event === 'delivered' && l.msg.startsWith(id)), `${id} delivered after the restart`);
  } finally {
    await again.stop();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deliveries in the thread are recorded there: the inspector lists them and replays a deferred one', { timeout: 60_000 }, async () => {
  const peer = await startPeer({ extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'], rcptByAddress: { 'later@relay.example': '451 4.3.0 try again later' } });
  const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: true, retry_rules: [{ domains: '*', rules: 'F,1h,30m' }] });
  try {
    const ok = await submit(d, { from: 'a@client.petrel.test', to: ['now@relay.example'] });
    await waitEvent(d, ok.id, 'delivered', 'now@relay.example');
    const later = await submit(d, { from: 'a@client.petrel.test', to: ['later@relay.example'] });
    await waitEvent(d, later.id, 'deferred', 'later@relay.example');
    const api = `${adminBase(d)}/inspector/api`;
    type Summary = { id: string; kind: string; outcome?: string; keys: string[]; status: string };
    let list: { live: Summary[]; history: Summary[]; failed: Summary[] } = { live: [], history: [], failed: [] };
    await until(async () => {
      list = (await (await fetch(`${api}/actors`)).json()) as typeof list;
      return list.failed.some((s) => s.keys.includes(later.id));
    }, 10_000, 'the deferred delivery among the failed ones');
    const deferred = list.failed.find((s) => s.keys.includes(later.id)) as Summary;
    assert.match(deferred.id, /^delivery-t\d+$/, 'recorded in the delivery thread');
    assert.equal(deferred.outcome, 'deferred');
    const all = [...list.live, ...list.history];
    assert.ok(all.some((s) => s.kind === 'delivery' && s.keys.includes(ok.id)), 'the delivered one is listed too');
    // The main thread's own actors are still there beside them.
    assert.ok(all.some((s) => s.kind === 'queue'));
    // Opening it replays the tape in the thread: a timeline of steps.
    const detail = (await (await fetch(`${api}/actors/${deferred.id}`)).json()) as { summary: Summary; entries: { event?: { type: string } }[] };
    assert.equal(detail.summary.id, deferred.id);
    assert.ok(detail.entries.length > 3, `${detail.entries.length} entries`);
    assert.equal((await fetch(`${api}/actors/delivery-t999999`)).status, 404);
  } finally {
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});

test('while a viewer watches deliveries live, new ones run on the main thread where it can see them; then the thread again', { timeout: 60_000 }, async () => {
  const sink = await startSmtpServerSink();
  // connection_idle_time 0: every message opens a connection of its own, started where the watch says.
  const d = await startDeliveryDaemon({ smarthost: sink.hostPort, delivery_thread: true, smtp_transport: { connection_idle_time: 0 } });
  const viewer = new AbortController();
  try {
    const api = `${adminBase(d)}/inspector/api`;
    type Summary = { id: string; kind: string; keys: string[] };
    const idOf = async (queueId: string): Promise<string> => {
      let found: Summary | undefined;
      await until(async () => {
        const list = (await (await fetch(`${api}/actors`)).json()) as { live: Summary[]; history: Summary[]; failed: Summary[] };
        found = [...list.live, ...list.history].find((s) => s.kind === 'delivery' && s.keys.includes(queueId));
        return found !== undefined;
      }, 10_000, `the delivery of ${queueId} in the inspector`);
      return (found as Summary).id;
    };
    const first = await submit(d, { from: 'a@client.petrel.test', to: ['one@relay.example'] });
    await waitEvent(d, first.id, 'delivered');
    assert.match(await idOf(first.id), /^delivery-t\d+$/);
    const stream = await fetch(`${api}/stream?kinds=delivery`, { signal: viewer.signal });
    assert.equal(stream.status, 200);
    const watched = await submit(d, { from: 'a@client.petrel.test', to: ['two@relay.example'] });
    await waitEvent(d, watched.id, 'delivered');
    assert.match(await idOf(watched.id), /^delivery-\d+$/, 'watched live: run and recorded on the main thread');
    viewer.abort();
    await new Promise((r) => setTimeout(r, 300));
    const after = await submit(d, { from: 'a@client.petrel.test', to: ['three@relay.example'] });
    await waitEvent(d, after.id, 'delivered');
    assert.match(await idOf(after.id), /^delivery-t\d+$/, 'nobody watching: the thread again');
    await until(() => sink.messages.length >= 3, 5000, 'three messages at the sink');
  } finally {
    viewer.abort();
    await d.stop();
    d.cleanup();
    await sink.close();
  }
});

test('from the delivery thread, a job split by 452 too many recipients reports in parts: every recipient delivered once', { timeout: 60_000 }, async () => {
  const peer = await startPeer({
    extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
    rcpt: (_a: string, _p: string, ctx: { rcpts: readonly unknown[] }) => (ctx.rcpts.length >= 2 ? '452 4.5.3 Error: too many recipients' : undefined),
  });
  const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: true });
  try {
    const rcpts = ['r1', 'r2', 'r3', 'r4', 'r5'].map((r) => `${r}@relay.example`);
    const m = await submit(d, { from: 'a@client.petrel.test', to: rcpts });
    for (const r of rcpts) await waitEvent(d, m.id, 'delivered', r);
    await waitEvent(d, m.id, 'completed');
    const got = peer.transactions.flatMap((t) => t.rcpts.map((r) => r.address)).sort();
    assert.deepEqual(got, rcpts, 'each recipient exactly once');
    assert.ok(peer.transactions.length >= 3, `${peer.transactions.length} transactions`);
    await waitQueueEmpty(d);
  } finally {
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});

test('a server that ends the connection while the thread asks for the next message: that message goes on a new connection at once', { timeout: 60_000 }, async () => {
  // The first connection's server answers the end of data and closes. The connection asks the queue (on the
  // main thread) for the next message meanwhile, and the close comes before the answer. (Before the fix the
  // close was ignored there: the next transaction began on the dead socket and heard nothing until the
  // command timeout, which is long here.)
  const peer = await startPeer({
    extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
    dot: (_content, ctx) => (ctx.connection === 1 ? { reply: '250 2.0.0 ok, and goodbye', delayMs: 800, close: true } : undefined),
  });
  const d = await startDeliveryDaemon({
    smarthost: peer.hostPort, delivery_thread: true, remote_max_parallel_per_host: 1,
    smtp_transport: { command_timeout: '60s' },
  });
  try {
    await d.waitForLog((l) => l.event === 'delivery-thread');
    const first = await submit(d, { from: 'a@client.petrel.test', to: ['one@relay.example'] });
    // The second is queued while the first waits for its reply: it is the first connection's next job.
    const second = await submit(d, { from: 'a@client.petrel.test', to: ['two@relay.example'] });
    await waitEvent(d, first.id, 'delivered', 'one@relay.example', 10_000);
    await waitEvent(d, second.id, 'delivered', 'two@relay.example', 10_000);
    await waitQueueEmpty(d, 10_000);
    assert.equal(peer.connections, 2);
    assert.deepEqual(peer.transactions.map((t) => t.messageId), [first.messageId, second.messageId]);
  } finally {
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});
