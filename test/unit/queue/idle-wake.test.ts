// The queue and a connection that reports "idle" a moment late (as one in the delivery thread does: a message
// away): a job queued meanwhile for its destination must wake it, not wait for the next job to be queued,
// and a destination held meanwhile for want of a slot must get that connection's slot.
// Real spool in a temporary directory; the runners are scripted (the SMTP side is not what is tested here).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { until } from '../../helpers/integration.js';
import { startScriptedQueue } from '../../helpers/queue.js';

/** What the scripted connections did. */
interface Seen {
  readonly delivered: string[];
  /** Destinations, one per connection opened. */
  readonly started: string[];
  idleReported: number;
  released: number;
}

/**
 * Scripted connections: each job is delivered at once; with nothing more to send, a connection says it
 * is idle only 200 ms later (as one in the delivery thread does, a message away).
 */
function lateIdleRunners(seen: Seen): DeliveryRunnerFactory {
  return {
    start(dest, first: DeliveryJob, hooks: RunnerHooks) {
      seen.started.push(dest.key);
      let ended = false;
      const end = (): void => {
        if (!ended) {
          ended = true;
          hooks.ended();
        }
      };
      const run = (job: DeliveryJob): void => {
        seen.delivered.push(job.messageId);
        hooks.results(job, job.recipients.map((r) => ({ index: r.index, outcome: { kind: 'delivered' as const, reply: '250 2.0.0 Ok' } })));
        const next = hooks.nextJob();
        if (next) return run(next);
        setTimeout(() => {
          seen.idleReported++;
          hooks.idle?.({
            wake: () => (setImmediate(() => { const j = hooks.nextJob(); if (j) run(j); }), true),
            release: () => (seen.released++, setImmediate(end), true),
          });
        }, 200);
      };
      setImmediate(() => run(first));
      return { stop: end };
    },
  };
}

const newSeen = (): Seen => ({ delivered: [], started: [], idleReported: 0, released: 0 });

test('a job queued while a connection is on its way to idle wakes it once it says so', { timeout: 20_000 }, async () => {
  const seen = newSeen();
  const q = startScriptedQueue(lateIdleRunners(seen), 'idle-wake');
  try {
    await q.message('01AAAAAAAAAAAAAA');
    await until(() => seen.delivered.length === 1, 5000, 'the first message delivered');
    // Queued while the connection is between its last job and its "idle".
    await q.message('01BBBBBBBBBBBBBB');
    await until(() => seen.idleReported >= 1, 5000, 'the connection said it is idle');
    await until(() => seen.delivered.length === 2, 2000, `the second message delivered on the same connection (delivered: ${seen.delivered.join(' ')})`);
    assert.equal(seen.started.length, 1, 'no second connection was needed');
  } finally {
    await q.close();
  }
});

test('a destination held for want of a slot while a connection is on its way to idle gets that slot once it says so', { timeout: 20_000 }, async () => {
  const seen = newSeen();
  // One connection in all; the two domains are two destinations.
  const q = startScriptedQueue(lateIdleRunners(seen), 'idle-held', {
    remote_max_parallel: 1,
    route_list: [{ domains: 'a.example', hosts: '192.0.2.1:2525' }, { domains: 'b.example', hosts: '192.0.2.2:2525' }],
    smtp_transport: { connection_idle_time: '60s' },
  });
  try {
    await q.message('01AAAAAAAAAAAAAA', 'a.example');
    await until(() => seen.delivered.length === 1, 5000, 'the first message delivered');
    // Wanted while a.example's connection holds the only slot and has not said it idles yet: held.
    await q.message('01BBBBBBBBBBBBBB', 'b.example');
    await until(() => seen.idleReported >= 1, 5000, 'the connection said it is idle');
    await until(() => seen.delivered.length === 2, 2000, `the held destination got the slot (started: ${seen.started.join(' ')}, released: ${seen.released})`);
    assert.equal(seen.released, 1, 'the idle connection gave its slot up');
    assert.equal(seen.started.length, 2);
  } finally {
    await q.close();
  }
});
