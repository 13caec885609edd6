// The queue and a job handed back after its connection ended (a late answer: the connection stopped waiting
// for it, or the delivery thread reported the job open after the end): it goes to a new connection, even
// when the destination's state went with its last connection. Real spool in a temporary directory; the
// runners are scripted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { until } from '../../helpers/integration.js';
import { startScriptedQueue } from '../../helpers/queue.js';

test('a job given back after its connection ended goes on a new connection', { timeout: 20_000 }, async () => {
  const delivered: string[] = [];
  let connections = 0;
  const runners: DeliveryRunnerFactory = {
    start(_dest, first: DeliveryJob, hooks: RunnerHooks) {
      connections++;
      if (connections === 1) {
        // The first connection ends without trying its job, and hands it back only afterwards.
        setImmediate(() => {
          hooks.ended();
          setImmediate(() => hooks.giveBack?.(first));
        });
      } else {
        setImmediate(() => {
          delivered.push(first.messageId);
          hooks.results(first, first.recipients.map((r) => ({ index: r.index, outcome: { kind: 'delivered' as const, reply: '250 2.0.0 Ok' } })));
          hooks.ended();
        });
      }
      return { stop: () => hooks.ended() };
    },
  };
  const q = startScriptedQueue(runners, 'give-back');
  try {
    const id = '01CCCCCCCCCCCCCC';
    await q.message(id);
    await until(() => delivered.length === 1, 3000, `the message delivered by a second connection (connections: ${connections})`);
    assert.deepEqual(delivered, [id]);
    assert.equal(connections, 2);
  } finally {
    await q.close();
  }
});
