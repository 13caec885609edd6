// A destination held for want of a slot (remote_max_parallel) takes no step of the queue actor for
// each further job queued for it, and still gets a connection as soon as one ends. Real spool in a
// temporary directory; the runners are scripted; the queue actor's steps are counted by its observer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InspectionEvent } from 'xstate';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { until } from '../../helpers/integration.js';
import { startScriptedQueue } from '../../helpers/queue.js';

test('jobs queued while their destination is held cost the queue actor no step each; the slot, once free, serves them', { timeout: 20_000 }, async () => {
  const open: { first: DeliveryJob; hooks: RunnerHooks }[] = [];
  const delivered: string[] = [];
  const runners: DeliveryRunnerFactory = {
    start(_dest, first, hooks) {
      open.push({ first, hooks });
      return { stop: () => hooks.ended() };
    },
  };
  const wanted: string[] = [];
  const inspection = {
    observer: () => (e: InspectionEvent) => {
      if (e.type === '@xstate.event' && e.event.type === 'DELIVERY.WANTED') wanted.push(e.event.type);
    },
  };
  const q = startScriptedQueue(runners, 'held', { remote_max_parallel: 1 }, inspection);
  try {
    await q.message('01HELDAAAAAAAAAA', 'held.example');
    await until(() => open.length === 1, 3000, 'the first connection');
    for (let i = 0; i < 30; i++) await q.message(`01HELDB${String(i).padStart(9, '0')}`, 'held.example');
    // One question for the first connection, one that found the destination full; none per job after that.
    assert.ok(wanted.length <= 3, `${wanted.length} DELIVERY.WANTED steps for 31 jobs`);
    // The connection delivers its job and ends: the next one opens for the jobs that waited, and takes them one by one.
    const deliver = (c: { first: DeliveryJob; hooks: RunnerHooks }): void => {
      let job: DeliveryJob | undefined = c.first;
      while (job) {
        delivered.push(job.messageId);
        c.hooks.results(job, job.recipients.map((r) => ({ index: r.index, outcome: { kind: 'delivered' as const, reply: '250 2.0.0 Ok' } })));
        job = c.hooks.nextJob();
      }
      c.hooks.ended();
    };
    open[0]?.hooks.ended();
    await until(() => open.length === 2, 3000, 'a connection for the held jobs once the slot is free');
    deliver(open[1] as { first: DeliveryJob; hooks: RunnerHooks });
    assert.equal(delivered.length, 30);
  } finally {
    await q.close();
  }
});
