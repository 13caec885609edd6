// The queue and a connection that reports "idle" a moment late (as one in the delivery thread does: a message
// away): a job queued meanwhile for its destination must wake it, not wait for the next job to be queued.
// Real spool in a temporary directory; the runners are scripted (the SMTP side is not what is tested here).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { buildConfig } from '../../../config/load.js';
import { compilePolicy } from '../../../actors/supervisor/policy.js';
import { compileDelivery } from '../../../actors/supervisor/delivery-config.js';
import { QueueService } from '../../../actors/queue/service.js';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/service.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import type { DnsPort } from '../../../routing/routers.js';
import { Spool } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';
import { until } from '../../helpers/integration.js';

test('a job queued while a connection is on its way to idle wakes it once it says so', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-idle-wake-'));
  const spool = Spool.open(dir);
  const config = buildConfig({ spool_directory: dir, smarthost: '192.0.2.1:2525', queue_run_interval: 0, log_level: 'silent' }, 'test', dir);
  const settings = compileDelivery(config, compilePolicy(config)).queue({} as DnsPort, () => new Set());
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
  const queue = new QueueService({
    spool,
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    runners,
    local: { deliver: () => Promise.reject(new Error('no local delivery here')) },
    newId: () => 'unused',
  });
  queue.start();
  const message = async (id: string): Promise<void> => {
    const envelope: Envelope = { ...testDraft({ recipients: [{ address: `r@${id.toLowerCase()}.example`, state: 'pending' }] }), format: 1, id, size: 0, chunks: 0, due: Date.now() };
    await spool.apply([{ kind: 'insert', envelope, data: Buffer.from('Subject: x\r\n\r\nbody\r\n') }]);
    queue.submit(id, spool.envelope(id));
  };
  try {
    await message('01AAAAAAAAAAAAAA');
    await until(() => delivered.length === 1, 5000, 'the first message delivered');
    // Queued while the connection is between its last job and its "idle".
    await message('01BBBBBBBBBBBBBB');
    await until(() => idleReported >= 1, 5000, 'the connection said it is idle');
    await until(() => delivered.length === 2, 2000, `the second message delivered on the same connection (delivered: ${delivered.join(' ')})`);
    assert.equal(connections, 1, 'no second connection was needed');
  } finally {
    await queue.stop(1000);
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
