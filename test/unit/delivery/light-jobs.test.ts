// The delivery actor holds its jobs without their envelopes (runner.ts): the runner keeps each envelope
// until the job's results, streams the message with it, and the actor's context (which a tape may keep
// for hundreds of steps) stays small. A real spool, a real SMTP peer, the runner as the queue uses it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { AnyActor } from 'xstate';
import { createRunnerFactory } from '../../../actors/delivery/runner.js';
import type { Ctx } from '../../../actors/delivery/steps.js';
import type { DeliveryJob, RecipientResult } from '../../../actors/delivery/types.js';
import { Spool } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';
import { startPeer } from '../../helpers/smtp-peer.js';
import { until } from '../../helpers/integration.js';

test('jobs reach the actor without their envelopes; the messages are streamed whole all the same', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-light-'));
  const spool = Spool.open(dir);
  const peer = await startPeer({ name: 'mx.light.test', extensions: ['PIPELINING'] });
  try {
    const jobs: DeliveryJob[] = [];
    for (const [n, id] of ['01LIGHTAAAAAAAAA', '01LIGHTBBBBBBBBB'].entries()) {
      const body = Buffer.from(`Message-ID: <m${n}@light.test>\r\nSubject: light ${n}\r\n\r\nbody ${n}\r\n`);
      const envelope: Envelope = { ...testDraft({}), format: 1, id, size: body.length, chunks: 1, due: Date.now(), messageIdHeader: `<m${n}@light.test>` };
      await spool.apply([{ kind: 'insert', envelope, data: body }]);
      jobs.push({ messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: `r${n}@light.test` }], size: body.length, smtputf8: false, envelope });
    }
    const contexts: Ctx[] = [];
    const inputs: unknown[] = [];
    const results: RecipientResult[] = [];
    let ended = false;
    const factory = createRunnerFactory({
      spool,
      logger: pino({ level: 'silent' }),
      settings: () => ({ heloName: 'petrel.test', timeouts: { connect: 5000, command: 5000, data: 5000, final: 5000 }, tls: () => 'avoid', maxMessages: 10 }),
      inspection: {
        observer: () => undefined,
        tape: () => ({
          attach: (actor: AnyActor, input: unknown) => {
            inputs.push(input);
            actor.subscribe((s) => contexts.push((s as { context: Ctx }).context));
          },
        }),
      },
    });
    const [first, second] = jobs as [DeliveryJob, DeliveryJob];
    let handed = false;
    factory.start({ key: 'light', hosts: [{ name: 'mx.light.test', port: peer.port, addresses: ['127.0.0.1'] }] }, first, {
      results: (_j, r) => results.push(...r),
      nextJob: () => (handed ? undefined : ((handed = true), second)),
      ended: () => void (ended = true),
    });
    await until(() => ended, 10_000);
    assert.deepEqual(results.map((r) => r.outcome.kind), ['delivered', 'delivered']);
    assert.deepEqual(peer.transactions.map((t) => t.data.toString().split('\r\n')[1]), ['Subject: light 0', 'Subject: light 1']);
    const firstIn = (inputs[0] as { first: DeliveryJob }).first;
    assert.equal(firstIn.envelope, undefined);
    assert.equal(firstIn.messageIdHeader, '<m0@light.test>');
    const held = contexts.flatMap((c) => [...c.jobs, ...(c.later ?? [])]);
    assert.ok(held.some((j) => j.messageId === second.messageId), 'the second job went through the actor');
    assert.ok(held.every((j) => j.envelope === undefined), 'no envelope in the actor');
  } finally {
    await peer.close();
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
