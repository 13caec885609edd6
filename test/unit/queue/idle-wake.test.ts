// The queue and a connection that reports "idle" a moment late (as one in the delivery thread does: a message
// away): a job queued meanwhile for its destination must wake it, not wait for the next job to be queued.
// Real spool in a temporary directory; the runners are scripted (the SMTP side is not what is tested here).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { until } from '../../helpers/integration.js';
import { startScriptedQueue } from '../../helpers/queue.js';

test('a job queued while a connection is on its way to idle wakes it once it says so', { timeout: 20_000 }, async () => {
  const delivered: string[] = [];
  let connections = 0;
  let idleReported = 0;
  const runners: DeliveryRunnerFactory = {
    start(_dest, first: DeliveryJob, hooks: RunnerHooks) {
      connections++;
      const run = (job: DeliveryJob): void => {
        delivered.push(job.messageId);
        hooks.results(job, job.recipients.map((r) => ({ index: r.index, outcome: { kind: 'delivered' as const, reply: '250 2.0.0 Ok' } })));
        const next = hooks.nextJob();
        if (next) return run(next);
        // Nothing to send: the connection says it is idle, but only 200 ms later.
        setTimeout(() => {
          idleReported++;
          hooks.idle?.({ wake: () => (setImmediate(() => { const j = hooks.nextJob(); if (j) run(j); }), true), release: () => (hooks.ended(), true) });
        }, 200);
      };
      setImmediate(() => run(first));
      return { stop: () => hooks.ended() };
    },
  };
  const q = startScriptedQueue(runners, 'idle-wake');
  try {
    await q.message('01AAAAAAAAAAAAAA');
    await until(() => delivered.length === 1, 5000, 'the first message delivered');
    // Queued while the connection is between its last job and its "idle".
    await q.message('01BBBBBBBBBBBBBB');
    await until(() => idleReported >= 1, 5000, 'the connection said it is idle');
    await until(() => delivered.length === 2, 2000, `the second message delivered on the same connection (delivered: ${delivered.join(' ')})`);
    assert.equal(connections, 1, 'no second connection was needed');
  } finally {
    await q.close();
  }
});
