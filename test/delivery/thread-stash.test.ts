// The delivery thread's host (actors/delivery/thread/host.ts) driven over a real MessageChannel, with a
// real spool and a real SMTP peer: a job that answers an earlier question after the connection went
// idle (the queue's answers cross threads late) wakes that connection from the host's stash.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { buildConfig } from '../../config/load.js';
import { serve } from '../../actors/delivery/thread/host.js';
import type { FromThread, ToThread } from '../../actors/delivery/thread/messages.js';
import type { DeliveryJob, Destination } from '../../actors/delivery/types.js';
import { Spool } from '../../store/spool.js';
import type { Envelope } from '../../store/envelope.js';
import { testDraft } from '../helpers/envelope.js';
import { until } from '../helpers/integration.js';
import { startPeer } from '../helpers/smtp-peer.js';

test('delivery thread: a job answering an earlier question after its connection went idle wakes it; delivered on the same connection', { timeout: 30_000 }, async (t) => {
  const peer = await startPeer({ extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'] });
  const dir = mkdtempSync(join(tmpdir(), 'petrel-thread-stash-'));
  const spool = Spool.open(dir);
  const { port1, port2 } = new MessageChannel();
  t.after(async () => {
    port2.postMessage([{ op: 'stop', rid: 1 } satisfies ToThread]);
    await until(() => seen.some((m) => m.op === 'ended'), 5000, 'the connection ended').catch(() => undefined);
    port1.close();
    port2.close();
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
    await peer.close();
  });
  // An idle connection stays 30 s: within the test's waits only a wake can give it the second job.
  const config = buildConfig(
    { spool_directory: dir, smarthost: peer.hostPort, queue_run_interval: 0, log_level: 'silent', smtp_transport: { connection_idle_time: '30s' } }, 'test', dir,
  );
  const job = async (id: string): Promise<DeliveryJob> => {
    const envelope: Envelope = { ...testDraft({ recipients: [{ address: `r@${id.toLowerCase()}.example`, state: 'pending' }] }), format: 1, id, size: 0, chunks: 0, due: Date.now() };
    await spool.apply([{ kind: 'insert', envelope, data: Buffer.from(`Subject: ${id}\r\n\r\nbody\r\n`) }]);
    const stored = spool.envelope(id) as Envelope;
    return { messageId: id, sender: stored.sender, recipients: [{ index: 0, address: stored.recipients[0]?.address ?? '' }], size: stored.size, smtputf8: false, envelope: stored };
  };
  const a = await job('01AAAAAAAAAAAAAA');
  const b = await job('01BBBBBBBBBBBBBB');
  const [host, portText] = peer.hostPort.split(':') as [string, string];
  const dest: Destination = { key: 'smarthost', hosts: [{ name: host, port: Number(portText), addresses: [host] }] };

  // The queue's side: each batch that asks gets one answer of "none" (the others wait), until the
  // connection says it is idle; then one question still open is answered with the second job.
  const seen: FromThread[] = [];
  let open = 0;
  let idleAt = -1;
  let handed = false;
  port2.on('message', (batch: FromThread[]) => {
    seen.push(...batch);
    open += batch.filter((m) => m.op === 'want').length;
    if (batch.some((m) => m.op === 'idle') && idleAt < 0) idleAt = open;
    const answers: ToThread[] = [];
    if (idleAt >= 0 && !handed && open > 0) {
      handed = true;
      open--;
      answers.push({ op: 'next', rid: 1, job: b });
    } else if (idleAt < 0 && batch.some((m) => m.op === 'want') && open > 0) {
      open--;
      answers.push({ op: 'next', rid: 1 });
    }
    if (answers.length > 0) port2.postMessage(answers);
  });
  serve(port1);
  port2.postMessage([{ op: 'init', config, spoolDir: dir }, { op: 'start', rid: 1, dest, job: a }] satisfies ToThread[]);

  await until(() => idleAt >= 0, 10_000, 'the connection said it is idle');
  assert.ok(idleAt > 0, `a question was still open when the connection went idle (open: ${idleAt})`);
  await until(() => seen.some((m) => m.op === 'results' && m.messageId === b.messageId), 5000, 'the second message reported on');
  const results = seen.filter((m): m is Extract<FromThread, { op: 'results' }> => m.op === 'results');
  assert.deepEqual(results.map((r) => [r.messageId, r.results[0]?.outcome.kind]), [[a.messageId, 'delivered'], [b.messageId, 'delivered']]);
  assert.equal(peer.connections, 1, 'the idle connection carried it');
  assert.deepEqual(peer.transactions.map((x) => x.rcpts.map((r) => r.address)), [['r@01aaaaaaaaaaaaaa.example'], ['r@01bbbbbbbbbbbbbb.example']]);
  assert.ok(seen.some((m) => m.op === 'unidle'), 'the queue was told the connection is busy again');
});
