// Pipelining across messages (actors/delivery/ahead.ts): when the next job is asked for, when its
// commands go behind the final dot, and what a failure does to a transaction gone ahead.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { absorb, planAhead, withPrefetch } from '../../../actors/delivery/ahead.js';
import { initialContext, unahead } from '../../../actors/delivery/steps.js';
import type { Ctx, DeliverySettings, Step } from '../../../actors/delivery/steps.js';
import { onDot, onTxReply, onTxTrouble } from '../../../actors/delivery/transaction.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { heloCapabilities, parseEhlo } from '../../../protocol/smtp/client/ehlo.js';
import type { ServerReply } from '../../../protocol/smtp/client/replies.js';

const settings: DeliverySettings = { heloName: 'petrel.test', timeouts: { connect: 1000, command: 1000, data: 1000, final: 1000, idle: 1000 }, tls: () => 'try', maxMessages: 100 };
const job = (id: string): DeliveryJob => ({ messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: `${id}@d.test` }], size: 10, smtputf8: false });
const dest = { key: 'k', hosts: [{ name: 'mx.test', port: 2525, addresses: ['127.0.0.2'] }] };
const reply = (code: number, text = 'ok'): ServerReply => ({ code, lines: [text], text } as unknown as ServerReply);
const pipelining = parseEhlo({ code: 250, lines: ['mx.test', 'PIPELINING'], text: 'mx.test' } as unknown as ServerReply);

/** A connection that has sent MAIL, RCPT and DATA for `first` (one message sent before it). */
function underWay(caps = pipelining, extra: Partial<Ctx> = {}): Ctx {
  const c = initialContext(settings, dest, job('first'));
  const tx = { groups: [[{ stage: 'mail' as const, line: 'MAIL FROM:<a@b.test>\r\n' }, { stage: 'rcpt' as const, line: 'RCPT TO:<first@d.test>\r\n', rcptIndex: 0 }, { stage: 'data' as const, line: 'DATA\r\n' }]], group: 0, got: 0, accepted: [], outcomes: new Map(), stop: undefined, stopText: undefined, stopReply: undefined, rest: undefined, dataAccepted: undefined };
  return { ...c, sent: 1, conn: { noTls: false, caps }, tx, ...extra };
}

/** The context after a step. */
const after = (c: Ctx, s: Step): Ctx => ({ ...c, ...s.update });

test('the next job is asked for while a message is under way, once, and only from a server that pipelines', () => {
  const c = underWay();
  const s = withPrefetch(c, { go: 'transaction', update: {}, effects: [] });
  assert.deepEqual(s.effects, [{ type: 'wantJob', ahead: true }]);
  assert.equal(s.update.asked, true);
  // Already asked, already one waiting, the queue was dry, or no PIPELINING: no question.
  assert.deepEqual(withPrefetch(after(c, s), { go: 'sending', update: {}, effects: [] }).effects, []);
  assert.deepEqual(withPrefetch({ ...c, later: [job('x')] }, { go: 'sending', update: {}, effects: [] }).effects, []);
  assert.deepEqual(withPrefetch({ ...c, dry: true }, { go: 'sending', update: {}, effects: [] }).effects, []);
  assert.deepEqual(withPrefetch(underWay(heloCapabilities()), { go: 'transaction', update: {}, effects: [] }).effects, []);
  // The connection's last message (connection_max_messages): nothing more to ask for.
  assert.deepEqual(withPrefetch({ ...c, sent: 99 }, { go: 'transaction', update: {}, effects: [] }).effects, []);
  // Between messages the ordinary question (wantJob in ready()) is asked instead.
  assert.deepEqual(withPrefetch(c, { go: 'waiting', update: {}, effects: [] }).effects, []);
});

test('a job in hand at the 354 leaves behind the final dot; its replies then follow the verdict without a new write', () => {
  let c = after(underWay(), absorb(underWay(), 'transaction', job('next')));
  assert.deepEqual(c.later?.map((j) => j.messageId), ['next']);
  c = after(c, onTxReply(c, reply(250)));
  c = after(c, onTxReply(c, reply(250)));
  const s = onTxReply(c, reply(354, 'go ahead'));
  // Small: written whole, the final dot too, so the verdict is awaited at once.
  assert.equal(s.go, 'dot');
  const send = s.effects.find((e) => e.type === 'sendMessage');
  assert.ok(send && send.type === 'sendMessage');
  assert.equal(send.then, 'MAIL FROM:<a@b.test>\r\nRCPT TO:<next@d.test>\r\nDATA\r\n');
  c = after(c, s);
  assert.deepEqual(c.jobs.map((j) => j.messageId), ['first', 'next']);
  assert.ok(c.ahead);
  // The verdict on the first: its results, then the next transaction, already sent, waits for its replies.
  const dot = onDot(c, reply(250, 'queued'));
  assert.equal(dot.go, 'transaction');
  assert.deepEqual(dot.effects.map((e) => e.type), ['results']);
  assert.equal(dot.update.ahead, undefined);
  assert.deepEqual(dot.update.jobs?.map((j) => j.messageId), ['next']);
});

test('a job that comes once the dot is written goes ahead at once; none comes: the queue is dry until this message ends', () => {
  const c = { ...underWay(), tx: { ...(underWay().tx as NonNullable<Ctx['tx']>), got: 3, dataAccepted: true }, asked: true };
  const s = absorb(c, 'dot', job('next'));
  assert.deepEqual(s.effects, [{ type: 'send', text: 'MAIL FROM:<a@b.test>\r\nRCPT TO:<next@d.test>\r\nDATA\r\n' }]);
  assert.equal(s.update.asked, false);
  assert.ok(s.update.ahead);
  // While the data is still going out, it only waits its turn.
  assert.deepEqual(absorb(c, 'sending', job('next')).effects, []);
  assert.deepEqual(absorb(c, 'dot', undefined).update, { asked: false, dry: true });
  // A message refused in part (452: a recipient waits for a transaction of its own) lets nothing go ahead of it.
  assert.equal(planAhead({ ...c, later: [job('next')], tx: { ...(c.tx as NonNullable<Ctx['tx']>), rest: [0] } }), undefined);
});

test('a transaction gone ahead when the connection fails waits again, untried, with the jobs not begun', () => {
  const base = underWay();
  const ahead = { ...(base.tx as NonNullable<Ctx['tx']>) };
  const c: Ctx = { ...base, tx: { ...ahead, got: 3, dataAccepted: true }, jobs: [job('first'), job('next')], ahead, later: [job('third')] };
  const u = unahead(c);
  assert.deepEqual(u.ctx.jobs.map((j) => j.messageId), ['first']);
  assert.deepEqual(u.ctx.later?.map((j) => j.messageId), ['next', 'third']);
  assert.equal(u.ctx.ahead, undefined);
  // A 421 at the end of data: only the message in hand is reported (deferred); the others stay with the actor, which hands them back.
  const s = onDot(c, reply(421, 'closing'));
  assert.equal(s.go, 'done');
  const reported = s.effects.flatMap((e) => (e.type === 'results' ? [e.job.messageId] : []));
  assert.deepEqual(reported, ['first']);
  assert.deepEqual(s.update.later?.map((j) => j.messageId), ['next', 'third']);
});

test('a server that ends a connection it carried messages on, before any reply to the next transaction, only ended the connection', () => {
  const c = underWay();
  const s = onTxTrouble(c, 'closed', 'transaction');
  assert.equal(s.go, 'connecting');
  assert.deepEqual(s.effects.filter((e) => e.type === 'connect'), [{ type: 'connect', target: { host: 'mx.test', ip: '127.0.0.2', port: 2525 } }]);
  assert.equal(s.update.sent, 0);
  // On a new connection (nothing sent on it yet) the same loss is judged as usual: the job is settled.
  const fresh = onTxTrouble({ ...c, sent: 0 }, 'closed', 'transaction');
  assert.ok(fresh.effects.some((e) => e.type === 'results'));
});
