// Pipelining across messages (RFC 2920 section 3.1, actors/delivery/ahead.ts): on a connection to a
// server that offers PIPELINING, the next message's MAIL, RCPT and DATA follow the final dot in the
// same write, on the main thread and in the delivery thread; nothing is lost or sent twice, and a
// refusal of the message before still leaves the next one to its own verdict.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeliveryDaemon, submit, waitEvent, waitQueueEmpty } from '../helpers/delivery.js';
import { startPeer } from '../helpers/smtp-peer.js';

for (const thread of [false, true]) {
  const where = thread ? 'in the delivery thread' : 'on the main thread';

  test(`${where}: queued messages go down one connection, each next one pipelined behind the dot before it`, { timeout: 60_000 }, async () => {
    // The first message's verdict is held back, so that the rest are queued while it is under way.
    const peer = await startPeer({
      extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
      dot: (_content, ctx) => (ctx.connection === 1 && ctx.accepted === 0 ? { reply: '250 2.0.0 ok', delayMs: 700 } : undefined),
    });
    const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: thread, remote_max_parallel_per_host: 1 });
    try {
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(await submit(d, { from: 'a@client.petrel.test', to: [`r${i}@relay.example`] }));
      for (const [i, m] of ids.entries()) await waitEvent(d, m.id, 'delivered', `r${i}@relay.example`, 15_000);
      await waitQueueEmpty(d, 10_000);
      assert.equal(peer.connections, 1, 'one connection carried them all');
      assert.deepEqual(peer.transactions.map((t) => t.messageId), ids.map((m) => m.messageId), 'each once, in the order queued');
      // Messages 3 to 6 were in hand before the message ahead of them ended (the second may have had to wait for the queue).
      assert.ok(peer.pipelinedAfterDot >= 3, `next MAIL read together with the dot ${peer.pipelinedAfterDot} times`);
    } finally {
      await d.stop();
      d.cleanup();
      await peer.close();
    }
  });

  test(`${where}: a message refused at its end of data does not take the one pipelined behind it down with it`, { timeout: 60_000 }, async () => {
    const peer = await startPeer({
      extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
      dot: (_content, ctx) => {
        if (ctx.connection === 1 && ctx.accepted === 0) return { reply: '250 2.0.0 ok', delayMs: 700 };
        return ctx.rcpts.some((r) => r.address === 'r1@relay.example') ? '554 5.7.1 content refused' : undefined;
      },
    });
    const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: thread, remote_max_parallel_per_host: 1 });
    try {
      const first = await submit(d, { from: 'a@client.petrel.test', to: ['r0@relay.example'] });
      const bad = await submit(d, { from: 'a@client.petrel.test', to: ['r1@relay.example'] });
      const next = await submit(d, { from: 'a@client.petrel.test', to: ['r2@relay.example'] });
      const last = await submit(d, { from: 'a@client.petrel.test', to: ['r3@relay.example'] });
      await waitEvent(d, first.id, 'delivered', 'r0@relay.example', 15_000);
      await waitEvent(d, bad.id, 'failed', 'r1@relay.example', 15_000);
      await waitEvent(d, next.id, 'delivered', 'r2@relay.example', 15_000);
      await waitEvent(d, last.id, 'delivered', 'r3@relay.example', 15_000);
      assert.equal(peer.connections, 1);
      // The peer records only what it accepted (the bounce to the sender goes there too, after them).
      const ours = new Set([first, bad, next, last].map((m) => m.messageId));
      assert.deepEqual(peer.transactions.map((t) => t.messageId).filter((id) => id !== undefined && ours.has(id)), [first.messageId, next.messageId, last.messageId]);
      assert.ok(peer.pipelinedAfterDot >= 1, 'the message after the refused one went ahead of its verdict');
    } finally {
      await d.stop();
      d.cleanup();
      await peer.close();
    }
  });
}
