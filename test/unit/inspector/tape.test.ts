// Unit tests for inspector/tape.ts: a tape replayed gives the timeline an observer records live, with
// delayed events, nested sends, checkpoints and incremental replays; the capture tapes only when it should.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, createMachine, emit, fromCallback, setup } from 'xstate';
import type { EventObject } from 'xstate';
import { ActorRecord } from '../../../inspector/record.js';
import { TapeRecord } from '../../../inspector/tape.js';
import { Capture } from '../../../inspector/capture.js';
import type { CaptureSettings } from '../../../inspector/capture.js';
import type { ActorDetail, TimelineEntry } from '../../../inspector/wire.js';

type Ev = { type: 'GO'; id: string } | { type: 'REPLY'; code: number } | { type: 'PING' } | { type: 'STOP' };

const results = (kind: string, reason: string): EventObject => ({
    type: 'results',
    job: { messageId: 'M1', recipients: [{ index: 0, address: 'rcpt@remote.test' }] },
    results: [{ index: 0, outcome: { kind, reason } }],
  }) as EventObject;

/** The fields of a delivery's context the inspector picks (targets, jobs, sent, conn), and the toy's own. */
interface ToyContext {
  n: number;
  id: string;
  codes: number[];
  readonly targets: readonly never[];
  readonly at: number;
  readonly jobs: readonly never[];
  readonly sent: number;
  readonly conn: Record<string, never>;
}

/** A machine with what delivery actors use: input, assign, emit, guards, a named delay, a final state. */
const machine = setup({
  types: { context: {} as ToyContext, events: {} as Ev, input: {} as { id: string } },
  delays: { wait: 40 },
  guards: { ok: ({ event }) => event.type === 'REPLY' && event.code < 400 },
}).createMachine({
  id: 'toy',
  context: ({ input }) => ({ n: 0, id: input.id, codes: [], targets: [], at: 0, jobs: [], sent: 0, conn: {} }),
  initial: 'idle',
  states: {
    idle: {
      entry: emit({ type: 'ready' }),
      on: {
        GO: { target: 'busy', actions: assign({ id: ({ event }) => event.id }) },
        PING: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        STOP: 'done',
      },
    },
    busy: {
      entry: emit(({ context }) => ({ type: 'send', id: context.id })),
      after: { wait: { target: 'idle', actions: emit(results('deferred', 'timed out')) } },
      on: {
        REPLY: [
          { guard: 'ok', target: 'idle', actions: assign({ codes: ({ context, event }) => [...context.codes, event.type === 'REPLY' ? event.code : 0] }) },
          { target: 'idle', actions: emit(results('failed', 'refused')) },
        ],
      },
    },
    done: { type: 'final' },
  },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One actor, recorded both ways: an observer feeding an ActorRecord, and a tape. */
function recordBoth(capacity: number): { actor: ReturnType<typeof createActor<typeof machine>>; live: ActorRecord; tape: TapeRecord } {
  const edgesOf = new WeakMap<object, readonly string[]>();
  const live = new ActorRecord('toy-1', 'delivery', 'toy', { message: 'M1' }, capacity, ['m1']);
  const tape = new TapeRecord('toy-1', 'delivery', 'toy', { message: 'M1' }, capacity, edgesOf);
  const input = { id: 'M1' };
  const actor = createActor(machine, { input, inspect: (e) => void live.observe(e, edgesOf) });
  tape.attach(actor, input);
  return { actor, live, tape };
}

/** Entries without their times (compared apart: the tape stamps an event when it arrives). */
const bare = (d: ActorDetail): Omit<TimelineEntry, 't'>[] => d.entries.map(({ t: _t, ...rest }) => rest);

function assertSame(live: ActorRecord, tape: TapeRecord): void {
  const a = live.detail();
  const b = tape.detail();
  assert.deepEqual(bare(b), bare(a));
  assert.equal(b.dropped, a.dropped, 'the same count of earlier steps is said to be dropped');
  for (let i = 0; i < a.entries.length; i++) {
    const d = Math.abs((a.entries[i] as TimelineEntry).t - (b.entries[i] as TimelineEntry).t);
    assert.ok(d <= 20, `step ${i} is stamped with the time it happened (${d} ms apart)`);
  }
  const { started: s1, ended: e1, ...sa } = a.summary;
  const { started: s2, ended: e2, ...sb } = b.summary;
  assert.deepEqual({ ...sb, keys: [...sb.keys].sort() }, { ...sa, keys: [...sa.keys].sort() });
  assert.ok(Math.abs(s1 - s2) <= 20 && (e1 === undefined) === (e2 === undefined) && Math.abs((e1 ?? 0) - (e2 ?? 0)) <= 20, 'started and ended');
}

describe('a tape replayed', () => {
  it('gives the steps an observer records, with delayed events and sends made from an effect handler', async () => {
    const { actor, live, tape } = recordBoth(100);
    // The driver answers a 'send' effect at once, from inside the transition (queued by xstate).
    let answer = true;
    actor.on('send', () => {
      if (answer) actor.send({ type: 'REPLY', code: 250 });
    });
    actor.start();
    actor.send({ type: 'GO', id: 'M2' });
    actor.send({ type: 'PING' });
    answer = false;
    actor.send({ type: 'GO', id: 'M3' });
    await sleep(80); // the delay fires: a step the driver never sent
    actor.send({ type: 'GO', id: 'M4' });
    actor.send({ type: 'REPLY', code: 550 });
    actor.send({ type: 'STOP' });
    assert.equal(live.status, 'done');
    assert.equal(tape.status, 'done');
    assert.ok(live.detail().entries.some((e) => e.event === 'xstate.after.wait.toy.busy'), 'the delayed event is a step');
    assertSame(live, tape);
    assert.equal(tape.outcome, 'failed', 'the worst result of any effect');
  });

  it('summarises without replaying: state, steps, last event, outcome, keys', async () => {
    const { actor, live, tape } = recordBoth(100);
    actor.start();
    actor.send({ type: 'GO', id: 'M9' });
    await sleep(70);
    const s = tape.summary();
    const l = live.summary();
    assert.equal(s.state, 'idle');
    assert.equal(s.steps, l.steps);
    assert.equal(s.last, 'xstate.after.wait.toy.busy');
    assert.equal(s.outcome, 'deferred');
    assert.equal(s.status, 'active');
    assert.ok(s.keys.includes('m1'), s.keys.join(' '));
    actor.stop();
    assert.equal(tape.status, 'stopped');
    assert.ok(tape.ended !== undefined);
  });

  it('keeps the last steps across checkpoints, as a ring of the same size does', () => {
    const { actor, live, tape } = recordBoth(6);
    actor.start();
    for (let i = 0; i < 23; i++) {
      actor.send({ type: 'GO', id: `M${i}` });
      actor.send({ type: 'REPLY', code: i % 5 === 0 ? 550 : 250 });
      actor.send({ type: 'PING' });
    }
    assertSame(live, tape);
    assert.equal(tape.detail().entries[0]?.seq, 64, 'steps are numbered from the start, not from the checkpoint');
  });

  it('replays only what came since the last look, and starts again when the tape moved on past it', () => {
    const { actor, live, tape } = recordBoth(5);
    actor.start();
    actor.send({ type: 'GO', id: 'A' });
    assertSame(live, tape);
    actor.send({ type: 'REPLY', code: 250 });
    actor.send({ type: 'PING' });
    assertSame(live, tape); // the same replay, fed two more events
    for (let i = 0; i < 20; i++) actor.send({ type: 'PING' }); // two checkpoints: the segment replayed is gone
    assertSame(live, tape);
    actor.send({ type: 'STOP' });
    assertSame(live, tape);
  });
});

describe('a tape that cannot take a checkpoint', () => {
  it('stops recording instead of failing the send, and keeps what it had', () => {
    // An inline child actor cannot be persisted: the checkpoint fails.
    const withChild = createMachine({
      id: 'child',
      initial: 'on',
      states: { on: { invoke: { src: fromCallback(() => undefined) }, on: { PING: 'on' } } },
    });
    const tape = new TapeRecord('delivery-9', 'verifier', 'child', {}, 10, new WeakMap());
    const actor = createActor(withChild);
    tape.attach(actor, undefined);
    actor.start();
    for (let i = 0; i < 25; i++) actor.send({ type: 'PING' });
    assert.equal(actor.getSnapshot().status, 'active', 'the actor went on');
    const d = tape.detail();
    assert.equal(d.entries.length, 10, 'the steps up to the failed checkpoint');
    assert.equal(d.summary.steps, 26, 'the summary still counts every event');
    actor.stop();
  });
});

describe('the capture', () => {
  const settings = (recordAlways: CaptureSettings['record_always']): (() => CaptureSettings) => () => ({
    history_per_kind: 10,
    keep_failed_deliveries_for: 3_600_000,
    failed_deliveries_max: 10,
    events_per_actor: 50,
    record_always: recordAlways,
  });

  it('tapes deliveries recorded always while nobody watches them, and observes them while somebody does', () => {
    const capture = new Capture(settings(['delivery']));
    const info = () => ({ destination: 'mx.remote.test:25', message: 'M1' });
    assert.ok(capture.tape('delivery', info), 'recorded always, unwatched: a tape');
    assert.equal(capture.tape('session', info), undefined, 'sessions are not replayable from a tape');
    const leave = capture.watch(['delivery']);
    assert.equal(capture.tape('delivery', info), undefined, 'watched live: an observer, so the stream follows it');
    assert.ok(capture.observer('delivery', info));
    leave();
    const none = new Capture(settings([]));
    assert.equal(none.tape('delivery', info), undefined, 'not recorded at all');
    assert.equal(none.observer('delivery', info), undefined);
  });

  it('keeps a deferred delivery on tape with the failed ones, and replays it when opened', async () => {
    const capture = new Capture(settings(['delivery']));
    const tape = capture.tape('delivery', () => ({ destination: 'mx.remote.test:25', message: 'M1' }));
    assert.ok(tape);
    const actor = createActor(machine, { input: { id: 'M1' } });
    tape.attach(actor, { id: 'M1' });
    actor.start();
    actor.send({ type: 'GO', id: 'M1' });
    await sleep(70);
    actor.send({ type: 'STOP' });
    const list = capture.list();
    assert.equal(list.live.length, 0);
    const failed = list.failed.find((s) => s.outcome === 'deferred');
    assert.ok(failed, JSON.stringify(list.failed));
    assert.equal(failed.status, 'done');
    const detail = capture.find(failed.id)?.detail();
    assert.deepEqual(detail?.entries.map((e) => `${e.event}:${String(e.to)}`), ['xstate.init:idle', 'GO:busy', 'xstate.after.wait.toy.busy:idle', 'STOP:done']);
  });
});
