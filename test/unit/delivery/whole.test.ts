// Unit tests for small messages written whole (actors/delivery/transaction.ts, WHOLE_MESSAGE): the
// attempt waits for the verdict straight after the 354, while a large message is streamed and reported.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor } from 'xstate';
import { deliveryMachine } from '../../../actors/delivery/machine.js';
import { WHOLE_MESSAGE } from '../../../actors/delivery/transaction.js';
import type { DeliveryEvent } from '../../../actors/events.js';
import { ReplyReader } from '../../../protocol/smtp/client/replies.js';
import type { ServerReply } from '../../../protocol/smtp/client/replies.js';

function replies(...lines: string[]): DeliveryEvent {
  const out: ServerReply[] = [];
  for (const ev of new ReplyReader().push(Buffer.from(lines.map((l) => `${l}\r\n`).join('')))) if (ev.kind === 'reply') out.push(ev.reply);
  return { type: 'NET.REPLY', replies: out };
}

interface Effect {
  readonly type: string;
  readonly whole?: boolean;
  readonly results?: readonly { readonly outcome: { readonly kind: string; readonly reason?: string; readonly maybeDelivered?: boolean } }[];
}

/** An attempt for one message of `size` octets, driven through connect, banner, EHLO and the pipelined group. */
function attempt(size: number) {
  const actor = createActor(deliveryMachine, {
    input: {
      settings: { heloName: 'petrel.test', timeouts: { connect: 60_000, command: 60_000, data: 60_000, final: 60_000 }, tls: () => 'avoid', maxMessages: 1 },
      dest: { key: 'mx.remote.test', hosts: [{ name: 'mx.remote.test', port: 25, addresses: ['192.0.2.1'] }] },
      first: { messageId: '01JWHOLE', sender: 's@client.test', recipients: [{ index: 0, address: 'a@remote.test' }], size, smtputf8: false },
    },
  });
  const effects: Effect[] = [];
  actor.on('*', (e) => effects.push(e as Effect));
  actor.start();
  for (const e of [{ type: 'NET.CONNECTED' } as const, replies('220 mx ESMTP'), replies('250-mx', '250 PIPELINING'), replies('250 ok', '250 ok', '354 go ahead')]) actor.send(e);
  const state = (): string => actor.getSnapshot().value as string;
  const outcome = () => effects.find((e) => e.type === 'results')?.results?.[0]?.outcome;
  return { actor, effects, state, outcome, sendMessage: effects.find((e) => e.type === 'sendMessage') };
}

describe('messages written whole', () => {
  it('a small message is written whole and the verdict is awaited at once, without a NET.SENT', () => {
    const a = attempt(2048);
    assert.equal(a.sendMessage?.whole, true);
    assert.equal(a.state(), 'dot');
    a.actor.send(replies('250 2.0.0 queued'));
    assert.equal(a.outcome()?.kind, 'delivered');
    a.actor.stop();
  });

  it('the limit itself is still whole; one octet more is streamed, and waits for NET.SENT before the verdict', () => {
    assert.equal(attempt(WHOLE_MESSAGE).sendMessage?.whole, true);
    const a = attempt(WHOLE_MESSAGE + 1);
    assert.equal(a.sendMessage?.whole, undefined);
    assert.equal(a.state(), 'sending');
    a.actor.send({ type: 'NET.SENT' });
    assert.equal(a.state(), 'dot');
    a.actor.send(replies('250 2.0.0 queued'));
    assert.equal(a.outcome()?.kind, 'delivered');
    a.actor.stop();
  });

  it('a message that could not be read (NET.UNSENT) is deferred as not delivered; a connection lost after it was written may have delivered it', () => {
    const unsent = attempt(2048);
    unsent.actor.send({ type: 'NET.UNSENT' });
    unsent.actor.send({ type: 'NET.CLOSED' });
    assert.equal(unsent.outcome()?.kind, 'deferred');
    assert.equal(unsent.outcome()?.maybeDelivered, undefined, unsent.outcome()?.reason);
    assert.equal(unsent.state(), 'done');

    const lost = attempt(2048);
    lost.actor.send({ type: 'NET.CLOSED' });
    assert.equal(lost.outcome()?.kind, 'deferred');
    assert.equal(lost.outcome()?.maybeDelivered, true);
  });
});

describe('timers across a pipelined group', () => {
  it('a group that leaves the phase and comes back to it (verdict, next transaction, its 354) starts the phase timer again', () => {
    const clock = new SimulatedClock();
    const job = (id: string) => ({ messageId: id, sender: 's@client.test', recipients: [{ index: 0, address: 'a@remote.test' }], size: 100, smtputf8: false });
    const actor = createActor(deliveryMachine, {
      clock,
      input: {
        settings: { heloName: 'petrel.test', timeouts: { connect: 60_000, command: 60_000, data: 60_000, final: 60_000 }, tls: () => 'avoid', maxMessages: 10 },
        dest: { key: 'mx.remote.test', hosts: [{ name: 'mx.remote.test', port: 25, addresses: ['192.0.2.1'] }] },
        first: job('01JFIRST'),
      },
    });
    const results: string[] = [];
    actor.on('*', (e) => {
      const r = e as Effect;
      if (r.type === 'results') results.push(...(r.results ?? []).map((x) => x.outcome.kind));
    });
    actor.start();
    for (const e of [{ type: 'NET.CONNECTED' } as const, replies('220 mx ESMTP'), replies('250-mx', '250 PIPELINING'), replies('250 ok', '250 ok', '354 go ahead')]) actor.send(e);
    assert.equal(actor.getSnapshot().value, 'dot');
    // The next job comes while the verdict is awaited: its commands go at once (ahead.ts).
    actor.send({ type: 'JOB.NEXT', job: job('01JSECOND') });
    clock.increment(50_000);
    // One read: the verdict on the first, and the replies that start the second, up to its 354.
    actor.send(replies('250 queued', '250 ok', '250 ok', '354 go ahead'));
    assert.equal(actor.getSnapshot().value, 'dot');
    // 70 s after the first dot, 20 s after the second: the second's wait has its own 60 s.
    clock.increment(20_000);
    assert.equal(actor.getSnapshot().value, 'dot');
    assert.deepEqual(results, ['delivered']);
    actor.send(replies('250 queued'));
    assert.deepEqual(results, ['delivered', 'delivered']);
    actor.stop();
  });
});
