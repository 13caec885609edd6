// A connection lost during a message (actors/delivery/steps.ts onFailure): the message is deferred and
// nothing more goes on that connection; the jobs still in hand go back. A refusal by reply keeps the connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialContext, onFailure } from '../../../actors/delivery/steps.js';
import type { Ctx, DeliverySettings } from '../../../actors/delivery/steps.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { heloCapabilities } from '../../../protocol/smtp/client/ehlo.js';

const settings: DeliverySettings = { heloName: 'petrel.test', timeouts: { connect: 1000, command: 1000, data: 1000, final: 1000, idle: 1000 }, tls: () => 'try', maxMessages: 100 };
const job = (id: string): DeliveryJob => ({ messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: 'c@d.test' }], size: 10, smtputf8: false });
const dest = { key: 'k', hosts: [{ name: 'mx.test', port: 2525, addresses: ['127.0.0.2'] }] };

/** Connected, a message under way, another job in hand behind it. */
function sendingWithMore(): Ctx {
  const c = initialContext(settings, dest, job('first'));
  return { ...c, jobs: [job('first'), job('second')], sent: 1, conn: { noTls: false, greeting: '220 mx.test', caps: heloCapabilities() } };
}

for (const f of [{ kind: 'closed' as const }, { kind: 'network' as const, code: 'ECONNRESET' }, { kind: 'timeout' as const }]) {
  for (const stage of ['data', 'dot', 'rcpt'] as const) {
    test(`${f.kind} at ${stage}: the message is deferred, the connection ends, the next job goes back untried`, () => {
      const s = onFailure(sendingWithMore(), stage, f);
      assert.equal(s.go, 'done', 'nothing more is written on a lost connection');
      assert.deepEqual(s.effects.map((e) => e.type), ['results', 'close']);
      const results = s.effects[0]?.type === 'results' ? s.effects[0].results : [];
      assert.equal(results.length, 1);
      assert.equal(results[0]?.outcome.kind, 'deferred');
      assert.deepEqual(s.update.jobs?.map((j) => j.messageId), ['second'], 'handed back when the actor ends');
      assert.ok(!s.effects.some((e) => e.type === 'send' || e.type === 'sendMessage'));
    });
  }
}

test('a 451 after the data is a refusal by reply: the connection goes on with the next job', () => {
  const s = onFailure(sendingWithMore(), 'dot', { kind: 'reply', reply: { code: 451, enhanced: '4.3.0' } });
  assert.notEqual(s.go, 'done');
  assert.ok(!s.effects.some((e) => e.type === 'close'));
});
