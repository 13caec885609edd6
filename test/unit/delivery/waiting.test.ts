// The delivery actor's wait for the queue's answer (actors/delivery/steps.ts onWaiting): the server may
// end the connection meanwhile, and the answer is still taken (a job the queue handed over is not lost).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialContext, onWaiting } from '../../../actors/delivery/steps.js';
import type { Ctx, DeliverySettings } from '../../../actors/delivery/steps.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { heloCapabilities } from '../../../protocol/smtp/client/ehlo.js';

const settings: DeliverySettings = { heloName: 'petrel.test', timeouts: { connect: 1000, command: 1000, data: 1000, final: 1000, idle: 1000 }, tls: () => 'try', maxMessages: 100 };
const job = (id: string): DeliveryJob => ({ messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: 'c@d.test' }], size: 10, smtputf8: false });
const dest = { key: 'k', hosts: [{ name: 'mx.test', port: 2525, addresses: ['127.0.0.2', '127.0.0.3'] }] };

function afterFirst(): Ctx {
  const c = initialContext(settings, dest, job('first'));
  // Connected to the second address, one message sent, TLS given up on this host, nothing in hand.
  return { ...c, at: 1, jobs: [], sent: 1, conn: { noTls: true, greeting: '220 mx.test', caps: heloCapabilities() } };
}

test('an answer while the connection is open: the next transaction begins (or the connection idles)', () => {
  const s = onWaiting(afterFirst(), { type: 'JOB.NEXT', job: job('next') });
  assert.equal(s.go, 'transaction');
  assert.equal(onWaiting(afterFirst(), { type: 'JOB.NEXT' }).go, 'idle');
});

for (const type of ['NET.CLOSED', 'NET.ERROR', 'NET.REPLY', 'NET.GARBAGE']) {
  test(`${type} while waiting: the connection is closed, the wait goes on; a job then goes on a new connection to the same address`, () => {
    const c = afterFirst();
    const lost = onWaiting(c, { type });
    assert.equal(lost.go, 'waiting');
    assert.deepEqual(lost.effects, [{ type: 'close' }]);
    const after = { ...c, ...lost.update };
    assert.equal(after.conn.lost, true);
    // Another event about the dead connection changes nothing.
    assert.deepEqual(onWaiting(after, { type: 'NET.CLOSED' }), { go: 'waiting', update: {}, effects: [] });
    const next = onWaiting(after, { type: 'JOB.NEXT', job: job('next') });
    assert.equal(next.go, 'connecting');
    assert.deepEqual(next.effects.filter((e) => e.type === 'connect'), [{ type: 'connect', target: { host: 'mx.test', ip: '127.0.0.3', port: 2525 } }]);
    assert.deepEqual(next.update.jobs?.map((j) => j.messageId), ['next']);
    // A new connection: its own count of messages, nothing learnt from the old one but that TLS failed here.
    assert.equal(next.update.sent, 0);
    assert.deepEqual(next.update.conn, { noTls: true });
    // No job: nothing more to do, and nothing to say to a server that is gone.
    assert.deepEqual(onWaiting(after, { type: 'JOB.NEXT' }), { go: 'done', update: { asked: false }, effects: [] });
  });
}

test('no answer within the command timeout: QUIT on an open connection, nothing on a lost one', () => {
  const timeout = { type: 'xstate.after.commandTimeout.delivery.waiting' };
  const open = onWaiting(afterFirst(), timeout);
  assert.equal(open.go, 'quit');
  assert.deepEqual(open.effects, [{ type: 'send', text: 'QUIT\r\n' }]);
  const c = afterFirst();
  const lost = { ...c, conn: { ...c.conn, lost: true } };
  assert.deepEqual(onWaiting(lost, timeout), { go: 'done', update: {}, effects: [] });
});
