// Unit tests for the delivery machine (actors/delivery/machine.ts): replies read together are one
// event, stepped exactly as if each had come alone (same effects, same context), in fewer steps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { deliveryMachine } from '../../../actors/delivery/machine.js';
import type { DeliveryInput } from '../../../actors/delivery/machine.js';
import type { DeliveryEvent } from '../../../actors/events.js';
import { ReplyReader } from '../../../protocol/smtp/client/replies.js';
import type { ServerReply } from '../../../protocol/smtp/client/replies.js';

const input = (tls: 'try' | 'avoid'): DeliveryInput => ({
  settings: {
    heloName: 'petrel.test',
    timeouts: { connect: 60_000, command: 60_000, data: 60_000, final: 60_000 },
    tls: () => tls,
    maxMessages: 100,
  },
  dest: { key: 'mx.remote.test', hosts: [{ name: 'mx.remote.test', port: 25, addresses: ['192.0.2.1', '192.0.2.2'] }] },
  first: {
    messageId: '01JABCDEFGHJKMNP',
    sender: 'sender@client.test',
    recipients: ['a', 'b', 'c'].map((l, index) => ({ index, address: `${l}@remote.test` })),
    size: 2048,
    smtputf8: false,
  },
});

/** Replies as a server writes them, parsed by the reader the runner uses. */
function replies(...lines: string[]): ServerReply[] {
  const out: ServerReply[] = [];
  for (const ev of new ReplyReader().push(Buffer.from(lines.map((l) => `${l}\r\n`).join('')))) {
    if (ev.kind === 'reply') out.push(ev.reply);
  }
  assert.equal(out.length, lines.filter((l) => l[3] !== '-').length);
  return out;
}

/** One input per TLS policy, shared by both runs (the settings hold a function, compared by reference). */
const INPUTS = { try: input('try'), avoid: input('avoid') };

type Read = ServerReply[] | DeliveryEvent;

/**
 * Drives one actor with each read as one event, and another with one reply per event; returns both
 * runs' effects, final states and contexts, and how many steps each took.
 */
function both(tls: 'try' | 'avoid', reads: readonly Read[]): { folded: Run; single: Run } {
  const run = (fold: boolean): Run => {
    const actor = createActor(deliveryMachine, { input: INPUTS[tls] });
    const effects: unknown[] = [];
    let steps = 0;
    actor.on('*', (e) => effects.push(e));
    actor.subscribe(() => steps++);
    actor.start();
    for (const r of reads) {
      if (!Array.isArray(r)) actor.send(r);
      else if (fold) actor.send({ type: 'NET.REPLY', replies: r });
      else for (const one of r) actor.send({ type: 'NET.REPLY', replies: [one] });
    }
    const snap = actor.getSnapshot();
    actor.stop(); // its timers too
    return { effects, steps, value: snap.value as string, context: snap.context };
  };
  return { folded: run(true), single: run(false) };
}

interface Run {
  readonly effects: unknown[];
  readonly steps: number;
  readonly value: string;
  readonly context: unknown;
}

/** Both runs sent the same effects and ended in the same state with the same context. */
function assertSame(folded: Run, single: Run): void {
  assert.deepEqual(folded.effects, single.effects);
  assert.deepEqual(folded.context, single.context);
  assert.equal(folded.value, single.value);
}

const CONNECTED: DeliveryEvent = { type: 'NET.CONNECTED' };
const EHLO = replies('250-mx.remote.test', '250-PIPELINING', '250-SIZE 10000000', '250 ENHANCEDSTATUSCODES');
/** Connected, greeted, EHLO answered with PIPELINING: the first transaction's commands are out. */
const OPENING: readonly Read[] = [CONNECTED, replies('220 mx.remote.test ESMTP'), EHLO];

describe('replies read together', () => {
  it('a pipelined MAIL, RCPT and DATA group: the same sending, results and next job as one by one, in fewer steps', () => {
    const { folded, single } = both('avoid', [
      ...OPENING,
      replies('250 2.1.0 ok', '250 2.1.5 ok', '451 4.7.1 greylisted', '250 2.1.5 ok', '354 go ahead'),
      // 2 KB: written whole, so no NET.SENT comes (WHOLE_MESSAGE).
      replies('250 2.0.0 queued as X1'),
      { type: 'JOB.NEXT' },
      replies('221 2.0.0 bye'),
    ]);
    assertSame(folded, single);
    const types = (folded.effects as { type: string; results?: { outcome: { kind: string } }[] }[]).map((e) => e.type);
    assert.ok(types.includes('sendMessage'), types.join(' '));
    const results = (folded.effects as { type: string; results?: { outcome: { kind: string } }[] }[]).find((e) => e.type === 'results');
    assert.deepEqual(results?.results?.map((r) => r.outcome.kind), ['delivered', 'deferred', 'delivered']);
    assert.ok(folded.steps < single.steps, `${folded.steps} steps against ${single.steps}`);
  });

  it('MAIL refused: the rest of the group is read the same way, then RSET', () => {
    const { folded, single } = both('avoid', [
      ...OPENING,
      replies('550 5.7.1 sender refused', '503 5.5.1 no sender', '503 5.5.1 no sender', '503 5.5.1 no sender', '503 5.5.1 no valid recipients'),
      replies('250 2.0.0 reset'),
    ]);
    assertSame(folded, single);
  });

  it('a 421 in the middle ends the connection; replies after it are not read', () => {
    const { folded, single } = both('avoid', [
      ...OPENING,
      replies('250 2.1.0 ok', '421 4.3.2 shutting down', '250 2.1.5 ok', '250 2.1.5 ok', '354 go ahead'),
    ]);
    assertSame(folded, single);
    assert.ok(!(folded.effects as { type: string }[]).some((e) => e.type === 'sendMessage'), 'nothing is sent after the 421');
  });

  it('a reply that came with the 220 to STARTTLS is not read (RFC 3207)', () => {
    const { folded, single } = both('try', [
      CONNECTED,
      replies('220 mx.remote.test ESMTP'),
      replies('250-mx.remote.test', '250-PIPELINING', '250 STARTTLS'),
      replies('220 2.0.0 go ahead', '250 2.1.0 injected'),
    ]);
    assert.equal(folded.value, 'tls');
    assertSame(folded, single);
    assert.equal((folded.effects as { type: string }[]).filter((e) => e.type === 'startTls').length, 1);
  });
});
