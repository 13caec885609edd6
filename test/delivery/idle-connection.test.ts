// smtp_transport.connection_idle_time: a connection with nothing more to send stays open for the next
// message to the same destination, QUITs when the time is over, gives its slot up to another destination
// that is waiting for one, and does not hold up a shutdown. With 0 it QUITs at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { deliveryFigures, deliverySteps, startDeliveryDaemon, submit, waitEvent } from '../helpers/delivery.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';
import { until } from '../helpers/integration.js';

const T = { timeout: 60_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const quits = (p: SmtpPeer): number => p.commands.filter((c) => c.line === 'QUIT').length;

async function withDaemon(config: Record<string, unknown>, peers: SmtpPeer[], body: (d: DeliveryDaemon) => Promise<void>): Promise<void> {
  const d = await startDeliveryDaemon(config);
  try {
    await body(d);
  } finally {
    await d.stop();
    d.cleanup();
    for (const p of peers) await p.close();
  }
}

test('a message that comes while the connection idles goes over it; the connection QUITs when the idle time is over', T, async () => {
  const peer = await startPeer({});
  await withDaemon({ route_list: [{ domains: 'idle.test', hosts: peer.hostPort }], smtp_transport: { connection_idle_time: '3s' } }, [peer], async (d) => {
    const first = await submit(d, { from: 's@localhost', to: ['a@idle.test'] });
    await waitEvent(d, first.id, 'delivered', 'a@idle.test');
    await sleep(500);
    assert.equal(quits(peer), 0, 'the connection idles instead of quitting');
    const second = await submit(d, { from: 's@localhost', to: ['b@idle.test'] });
    await waitEvent(d, second.id, 'delivered', 'b@idle.test');
    const delivered = Date.now();
    assert.equal(peer.connections, 1, 'the second message used the idle connection');
    assert.equal(peer.commands.filter((c) => c.line.startsWith('EHLO')).length, 1, 'one EHLO for both');
    await until(() => quits(peer) === 1, 10_000);
    const idled = Date.now() - delivered;
    assert.ok(idled >= 2000 && idled < 6000, `QUIT about 3 s after the last message (${idled} ms)`);
  });
});

test('connection_idle_time 0: QUIT after the last message, and the next one opens a new connection', T, async () => {
  const peer = await startPeer({});
  await withDaemon({ route_list: [{ domains: 'noidle.test', hosts: peer.hostPort }], smtp_transport: { connection_idle_time: 0 } }, [peer], async (d) => {
    const first = await submit(d, { from: 's@localhost', to: ['a@noidle.test'] });
    await waitEvent(d, first.id, 'delivered', 'a@noidle.test');
    await until(() => quits(peer) === 1, 5_000);
    const second = await submit(d, { from: 's@localhost', to: ['b@noidle.test'] });
    await waitEvent(d, second.id, 'delivered', 'b@noidle.test');
    assert.equal(peer.connections, 2);
  });
});

test('an idle connection gives its slot to another destination that waits for one; a shutdown does not wait for it', T, async () => {
  const a = await startPeer({});
  const b = await startPeer({});
  const config = {
    route_list: [{ domains: 'a.test', hosts: a.hostPort }, { domains: 'b.test', hosts: b.hostPort }],
    remote_max_parallel: 1,
    smtp_transport: { connection_idle_time: '60s' },
  };
  await withDaemon(config, [a, b], async (d) => {
    const first = await submit(d, { from: 's@localhost', to: ['x@a.test'] });
    await waitEvent(d, first.id, 'delivered', 'x@a.test');
    const started = Date.now();
    const second = await submit(d, { from: 's@localhost', to: ['y@b.test'] });
    try {
      await waitEvent(d, second.id, 'delivered', 'y@b.test', 10_000);
    } catch (e) {
      // Say where the slot is: the queue's figures, and the recorded steps of both messages' connections.
      const figures = await deliveryFigures(d).catch((err: unknown) => `metrics failed: ${String(err)}`);
      const steps = await deliverySteps(d, [first.id, second.id]).catch((err: unknown) => `inspector failed: ${String(err)}`);
      throw new Error(`${(e as Error).message}\ndeliveries: ${JSON.stringify(figures)}\nsteps:\n${steps}`, { cause: e });
    }
    assert.ok(Date.now() - started < 5000, `b.test did not wait for a.test's idle time (${Date.now() - started} ms)`);
    assert.equal(quits(a), 1, 'the idle connection to a.test QUIT to free the slot');
    // b.test's connection now idles for 60 s: stopping the daemon must not wait for it.
    const stopping = Date.now();
    await d.stop();
    assert.ok(Date.now() - stopping < 10_000, `stopped in ${Date.now() - stopping} ms`);
  });
});

test('a destination waiting for a slot takes one idle connection\'s, not every one', T, async () => {
  const a = await startPeer({});
  const b = await startPeer({});
  const c = await startPeer({});
  const config = {
    route_list: [{ domains: 'a.test', hosts: a.hostPort }, { domains: 'b.test', hosts: b.hostPort }, { domains: 'c.test', hosts: c.hostPort }],
    remote_max_parallel: 2,
    smtp_transport: { connection_idle_time: '60s' },
  };
  await withDaemon(config, [a, b, c], async (d) => {
    for (const to of ['x@a.test', 'x@c.test']) {
      const m = await submit(d, { from: 's@localhost', to: [to] });
      await waitEvent(d, m.id, 'delivered', to);
    }
    const m = await submit(d, { from: 's@localhost', to: ['y@b.test'] });
    await waitEvent(d, m.id, 'delivered', 'y@b.test', 10_000);
    await sleep(300);
    assert.equal(quits(a) + quits(c), 1, `one idle connection gave its slot up (a: ${quits(a)}, c: ${quits(c)})`);
  });
});

