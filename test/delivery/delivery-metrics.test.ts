// /metrics shows the queue's work in hand (petrel_deliveries): messages in flight, jobs waiting for a
// connection, connections open and idle, and with delivery_thread the jobs the thread holds. A real
// daemon delivers to a scripted peer that holds its reply to the final dot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { deliveryFigures as deliveries, startDeliveryDaemon, submit, waitQueueEmpty } from '../helpers/delivery.js';
import { until } from '../helpers/integration.js';
import { startPeer } from '../helpers/smtp-peer.js';

for (const thread of [false, true]) {
  test(`petrel_deliveries while one connection holds a message and two wait, then idle (${thread ? 'delivery thread' : 'main thread'})`, { timeout: 60_000 }, async () => {
    const peer = await startPeer({ extensions: ['PIPELINING'], dot: { reply: '250 2.0.0 ok', delayMs: 1500 } });
    const d = await startDeliveryDaemon({
      smarthost: peer.hostPort, delivery_thread: thread, remote_max_parallel_per_host: 1,
      smtp_transport: { connection_idle_time: '30s' },
    });
    try {
      for (let i = 0; i < 3; i++) await submit(d, { from: 'a@client.petrel.test', to: [`r${i}@relay.example`] });
      // The first message is out; the other two wait for the one connection the limit allows.
      const busy = { in_flight: 3, jobs_waiting: 2, connections: 1, connections_idle: 0, thread_connections: thread ? 1 : 0, thread_jobs: thread ? 1 : 0 };
      let seen: Record<string, number> = {};
      await until(async () => {
        seen = await deliveries(d);
        return isDeepStrictEqual(seen, busy);
      }, 5000, 'the busy figures').catch(() => assert.deepEqual(seen, busy));
      await waitQueueEmpty(d, 20_000);
      assert.equal(peer.transactions.length, 3);
      // All delivered over the one connection, which now idles for the next message.
      const idle = { in_flight: 0, jobs_waiting: 0, connections: 1, connections_idle: 1, thread_connections: thread ? 1 : 0, thread_jobs: 0 };
      await until(async () => {
        seen = await deliveries(d);
        return isDeepStrictEqual(seen, idle);
      }, 5000, 'the idle figures').catch(() => assert.deepEqual(seen, idle));
    } finally {
      await d.stop();
      d.cleanup();
      await peer.close();
    }
  });
}
