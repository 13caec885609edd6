// Deferred deliveries in the inspector, end to end: one recorded on tape (nobody watching, the default
// record_always) and one observed live (a viewer on the stream) give the same timeline, step for step.
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import type { ActorDetail, ActorsResponse } from '../../inspector/wire.js';
import type { DeliveryDaemon, Submitted } from '../helpers/delivery.js';
import { startDeliveryDaemon, submit, waitEvent } from '../helpers/delivery.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';
import { until } from '../helpers/integration.js';

const T = { timeout: 90_000 };

async function api<R>(origin: string, path: string): Promise<R> {
  const res = await fetch(`${origin}/inspector/api/${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as R;
}

/** Open the live stream for deliveries: while it is open, new deliveries are observed, not taped. */
function watch(origin: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get(`${origin}/inspector/api/stream?kinds=delivery`, (res) => {
      res.once('data', () => resolve(res)); // the hello message: the capture now counts the viewer
      res.on('error', () => undefined);
    }).on('error', reject);
  });
}

/** The deferred delivery of one message, opened as the page opens it. */
async function deferredTimeline(origin: string, m: Submitted): Promise<ActorDetail> {
  let id: string | undefined;
  await until(async () => {
    const list = await api<ActorsResponse>(origin, 'actors');
    id = list.failed.find((s) => s.kind === 'delivery' && s.outcome === 'deferred' && s.keys.includes(m.id))?.id;
    return id !== undefined;
  }, 10_000);
  return api<ActorDetail>(origin, `actors/${id as string}`);
}

/**
 * What a timeline says, independent of how the peer's replies were split into reads (replies read
 * together are one step): the states passed through, every effect, every reply code, and the
 * context at the end; the message's own ids replaced, to compare two messages'.
 */
function shape(d: ActorDetail, m: Submitted): { states: string[]; out: string[]; codes: string[]; ctx: unknown } {
  const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x).split(m.id).join('ID').split(m.messageId.replace(/[<>]/g, '')).join('MID'));
  // The queue's answer to the question asked ahead for a next message (actors/delivery/ahead.ts) comes
  // whenever it comes: before or after the server's replies (from the delivery thread it crosses
  // threads). So whether the connection asks again at the end is timing, not behaviour: the answers
  // taken in passing (no change of state) and the questions are left out of what is compared.
  const entries = d.entries.filter((e) => !(e.event === 'JOB.NEXT' && JSON.stringify(e.from) === JSON.stringify(e.to)));
  const states = entries.map((e) => String(e.to)).filter((s, i, all) => s !== all[i - 1]);
  const codes = entries.flatMap((e) => {
    const x = e.detail as { code?: number; codes?: string } | undefined;
    return x?.codes !== undefined ? x.codes.split(' ') : x?.code !== undefined ? [String(x.code)] : [];
  });
  const out = entries.flatMap((e) => e.out).filter((o) => !o.startsWith('wantJob'));
  return { states, out: plain(out) as string[], codes, ctx: plain(d.entries[d.entries.length - 1]?.ctx) };
}

test('a deferred delivery recorded on tape replays to the timeline a live observer records', T, async () => {
  const peer: SmtpPeer = await startPeer({
    extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
    rcpt: (address) => (address.startsWith('later@') ? '451 4.3.0 <later@remote.test>: greylisted, try again later' : undefined),
  });
  const d: DeliveryDaemon = await startDeliveryDaemon({
    route_list: [{ domains: 'remote.test', hosts: peer.hostPort }],
    retry_rules: [{ domains: '*', rules: 'F,1h,30m' }],
    queue_run_interval: 0,
    // Each message gets its own connection, so each delivery actor has one message.
    smtp_transport: { connection_idle_time: '0s' },
  });
  let stream: IncomingMessage | undefined;
  try {
    const admin = d.logs.find((l) => l.event === 'ready')?.admin as { host: string; port: number } | undefined;
    assert.ok(admin);
    const origin = `http://${admin.host}:${admin.port}`;
    const send = async (): Promise<Submitted> => {
      const m = await submit(d, { from: 'sender@client.petrel.test', to: ['now@remote.test', 'later@remote.test'] });
      await waitEvent(d, m.id, 'deferred', 'later@remote.test');
      return m;
    };

    const taped = await send();
    const fromTape = await deferredTimeline(origin, taped);

    stream = await watch(origin);
    const watched = await send();
    const live = await deferredTimeline(origin, watched);

    const a = shape(fromTape, taped);
    const b = shape(live, watched);
    assert.ok(live.entries.length >= 6, `a whole conversation: ${live.entries.map((e) => e.event).join(' ')}`);
    assert.deepEqual(a, b);
    assert.deepEqual(a.states.slice(0, 4), ['connecting', 'greeting', 'ehlo', 'transaction'], a.states.join(' '));
    assert.ok(a.states.includes('dot'), a.states.join(' '));
    assert.ok(a.codes.includes('451') && a.codes.includes('354'), a.codes.join(' '));
    assert.ok(a.out.some((o) => /results ID: .*later@remote\.test deferred: .*greylisted/.test(o)), 'the deferral is in the replay');
    assert.equal(fromTape.summary.status, 'done');
    assert.equal(fromTape.dropped, 0);
    // The actor holds its jobs without their envelopes (the runner keeps those), and the delivery is
    // still found and named by the message's Message-ID.
    assert.ok(fromTape.summary.keys.includes(taped.messageId), fromTape.summary.keys.join(' '));
    assert.ok(fromTape.entries.some((e) => (e.ctx as { messageId?: string } | undefined)?.messageId === taped.messageId));
    // Steps are stamped with when they happened, not with when the tape was replayed.
    const times = fromTape.entries.map((e) => e.t);
    assert.ok(times.every((t, i) => i === 0 || t >= (times[i - 1] as number)), 'in order');
    assert.ok((times[times.length - 1] as number) <= (fromTape.summary.ended as number));
  } finally {
    stream?.destroy();
    await d.stop();
    d.cleanup();
    await peer.close();
  }
});
