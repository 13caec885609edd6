// Jobs a delivery actor still holds when its connection ends go back to the queue, untried
// (actors/delivery/runner.ts): here a recipient deferred by 452 waits for a transaction of its own,
// and the server then refuses the RSET that should have come before it, so the connection ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeliveryDaemon, submit, waitEvent, waitQueueEmpty } from '../helpers/delivery.js';
import { startPeer } from '../helpers/smtp-peer.js';

for (const thread of [false, true]) {
  test(`${thread ? 'in the delivery thread' : 'on the main thread'}: a recipient left for a later transaction when the connection ends is delivered on a new one`, { timeout: 60_000 }, async () => {
    const peer = await startPeer({
      extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
      // First connection: one recipient refused, one told "too many recipients", so no DATA; then RSET refused.
      rcpt: (address, _params, ctx) => {
        if (ctx.connection !== 1) return undefined;
        return address === 'gone@relay.example' ? '550 5.1.1 no such user' : '452 4.5.3 too many recipients';
      },
      data: (ctx) => (ctx.connection === 1 ? '554 5.5.1 no valid recipients' : undefined),
      rset: (ctx) => (ctx.connection === 1 ? '500 5.5.1 RSET not understood' : undefined),
    });
    const d = await startDeliveryDaemon({ smarthost: peer.hostPort, delivery_thread: thread, remote_max_parallel_per_host: 1 });
    try {
      const m = await submit(d, { from: 'a@client.petrel.test', to: ['gone@relay.example', 'later@relay.example'] });
      await waitEvent(d, m.id, 'failed', 'gone@relay.example', 15_000);
      // Before, on the main thread, the job for "later" stayed with the ended actor: never tried again, the
      // message stuck in flight. (From the delivery thread the main thread took back what was not reported on.)
      await waitEvent(d, m.id, 'delivered', 'later@relay.example', 15_000);
      await waitQueueEmpty(d, 10_000);
      assert.equal(peer.connections >= 2, true, 'a new connection carried it');
      const delivered = peer.transactions.filter((t) => t.messageId === m.messageId);
      assert.deepEqual(delivered.map((t) => t.rcpts.map((r) => r.address)), [['later@relay.example']]);
    } finally {
      await d.stop();
      d.cleanup();
      await peer.close();
    }
  });
}
