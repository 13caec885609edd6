// The queue and a job handed back after its connection ended (a late answer: the connection stopped waiting
// for it, or the delivery thread reported the job open after the end): it goes to a new connection, even
// when the destination's state went with its last connection. Real spool in a temporary directory; the
// runners are scripted.
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

test('a job given back after its connection ended goes on a new connection', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-give-back-'));
  const spool = Spool.open(dir);
  const config = buildConfig({ spool_directory: dir, smarthost: '192.0.2.1:2525', queue_run_interval: 0, log_level: 'silent' }, 'test', dir);
  const settings = compileDelivery(config, compilePolicy(config)).queue({} as DnsPort, () => new Set());
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
  const queue = new QueueService({
    spool,
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    runners,
    local: { deliver: () => Promise.reject(new Error('no local delivery here')) },
    newId: () => 'unused',
  });
  queue.start();
  try {
    const id = '01CCCCCCCCCCCCCC';
    const envelope: Envelope = { ...testDraft({ recipients: [{ address: 'r@given-back.example', state: 'pending' }] }), format: 1, id, size: 0, chunks: 0, due: Date.now() };
    await spool.apply([{ kind: 'insert', envelope, data: Buffer.from('Subject: x\r\n\r\nbody\r\n') }]);
    queue.submit(id, spool.envelope(id));
    await until(() => delivered.length === 1, 3000, `the message delivered by a second connection (connections: ${connections})`);
    assert.deepEqual(delivered, [id]);
    assert.equal(connections, 2);
  } finally {
    await queue.stop(1000);
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
