// The queue reads a message's envelope again before recording results only when petrel queue edited the
// spool meanwhile (the edit mark moved): a freeze during an attempt is kept, and an untouched spool costs no read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob } from '../../../actors/delivery/types.js';
import { until } from '../../helpers/integration.js';
import { startScriptedQueue } from '../../helpers/queue.js';
import type { ScriptedQueue } from '../../helpers/queue.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';

interface Open {
  readonly first: DeliveryJob;
  readonly hooks: RunnerHooks;
}

function scripted(name: string): { q: ScriptedQueue; open: Open[]; reads: string[]; stored: (id: string) => Envelope | undefined } {
  const open: Open[] = [];
  const runners: DeliveryRunnerFactory = {
    start(_dest, first, hooks) {
      open.push({ first, hooks });
      return { stop: () => hooks.ended() };
    },
  };
  // No delay warning: the test envelope is old, and a warning's report would read the message too.
  const q = startScriptedQueue(runners, name, { delay_warning: [] });
  // Count the envelope reads the queue makes (the spool is real; this only watches it).
  const reads: string[] = [];
  const envelope = q.spool.envelope.bind(q.spool);
  q.spool.envelope = (id: string) => {
    reads.push(id);
    return envelope(id);
  };
  return { q, open, reads, stored: envelope };
}

const deferAll = (o: Open): void => {
  o.hooks.results(o.first, o.first.recipients.map((r) => ({ index: r.index, outcome: { kind: 'deferred' as const, reason: '451 try later' } })));
  o.hooks.ended();
};

test('results are recorded without reading the envelope again when nobody edited the spool', { timeout: 20_000 }, async () => {
  const { q, open, reads, stored } = scripted('mark-still');
  try {
    await q.message('01MARKAAAAAAAAAA');
    await until(() => open.length === 1, 3000, 'the attempt');
    reads.length = 0;
    deferAll(open[0] as Open);
    await until(() => stored('01MARKAAAAAAAAAA')?.recipients[0]?.state === 'deferred', 3000, 'the deferral recorded');
    assert.deepEqual(reads.filter((id) => id === '01MARKAAAAAAAAAA'), [], 'no read of the envelope');
    assert.equal(stored('01MARKAAAAAAAAAA')?.frozen, undefined);
  } finally {
    await q.close();
  }
});

test('a freeze by petrel queue during the attempt is kept when its results are recorded', { timeout: 20_000 }, async () => {
  const { q, open, reads, stored } = scripted('mark-moved');
  try {
    await q.message('01MARKBBBBBBBBBB');
    await until(() => open.length === 1, 3000, 'the attempt');
    const before = q.spool.editMark();
    const env = stored('01MARKBBBBBBBBBB');
    assert.ok(env);
    // What `petrel queue freeze` writes.
    await q.spool.apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }], { edit: true });
    assert.notEqual(q.spool.editMark(), before, 'an edit moves the mark');
    reads.length = 0;
    deferAll(open[0] as Open);
    await until(() => stored('01MARKBBBBBBBBBB')?.recipients[0]?.state === 'deferred', 3000, 'the deferral recorded');
    const after = stored('01MARKBBBBBBBBBB');
    assert.equal(after?.frozen, true, 'still frozen');
    assert.equal(after?.due, undefined, 'not due: out of the queue index');
    assert.equal(q.spool.dueIdsAfter(undefined, Date.now() + 3_600_000, 10).length, 0, 'no index entry');
    assert.deepEqual(reads.filter((id) => id === '01MARKBBBBBBBBBB'), ['01MARKBBBBBBBBBB'], 'the queue read the envelope again, once');
  } finally {
    await q.close();
  }
});

test('the daemon\'s own writes leave the mark where it was', { timeout: 20_000 }, async () => {
  const { q, open, stored } = scripted('mark-own');
  try {
    const before = q.spool.editMark();
    await q.message('01MARKCCCCCCCCCC');
    await until(() => open.length === 1, 3000, 'the attempt');
    deferAll(open[0] as Open);
    await until(() => stored('01MARKCCCCCCCCCC')?.recipients[0]?.state === 'deferred', 3000, 'the deferral recorded');
    assert.equal(q.spool.editMark(), before);
  } finally {
    await q.close();
  }
});

test('an edit that lands between the mark\'s read and the commit of the results is not written over', { timeout: 20_000 }, async () => {
  const { q, open, stored } = scripted('mark-race');
  try {
    await q.message('01MARKDDDDDDDDDD');
    await until(() => open.length === 1, 3000, 'the attempt');
    // The freeze comes just after the queue read the mark for its results, before they commit: the
    // spool's apply is watched, and the freeze goes first on the queue's first write.
    const apply = q.spool.apply.bind(q.spool);
    const tries: boolean[] = [];
    let raced = false;
    q.spool.apply = async (changes, opts = {}) => {
      if (!opts.edit && !raced) {
        raced = true;
        const env = stored('01MARKDDDDDDDDDD');
        assert.ok(env);
        await apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }], { edit: true });
      }
      const done = await apply(changes, opts);
      if (!opts.edit) tries.push(done);
      return done;
    };
    deferAll(open[0] as Open);
    await until(() => stored('01MARKDDDDDDDDDD')?.recipients[0]?.state === 'deferred', 3000, 'the deferral recorded');
    assert.deepEqual(tries, [false, true], 'the first write was dropped by LMDB, the second made after reading again');
    const after = stored('01MARKDDDDDDDDDD');
    assert.equal(after?.frozen, true, 'still frozen');
    assert.equal(after?.due, undefined);
    assert.equal(q.spool.dueIdsAfter(undefined, Date.now() + 3_600_000, 10).length, 0, 'no index entry');
  } finally {
    await q.close();
  }
});

test('a message frozen between its commit and the queue taking it is not attempted', { timeout: 20_000 }, async () => {
  const { q, open, stored } = scripted('mark-commit');
  try {
    const w = q.spool.beginMessage('01MARKEEEEEEEEEE');
    w.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    const env = await w.commit(testDraft({ recipients: [{ address: 'r@mark-commit.example', state: 'pending' }] }));
    // petrel queue freeze, before the daemon hands the envelope on.
    await q.spool.apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }], { edit: true });
    q.queue.submit(env.id, env, w.editMark);
    // A message not frozen, committed after the edit, is the queue's sign that it has taken what it was given.
    const w2 = q.spool.beginMessage('01MARKFFFFFFFFFF');
    w2.write(Buffer.from('Subject: y\r\n\r\nbody\r\n'));
    const env2 = await w2.commit(testDraft({ recipients: [{ address: 'r@mark-commit.example', state: 'pending' }] }));
    q.queue.submit(env2.id, env2, w2.editMark);
    await until(() => open.length === 1, 3000, 'the attempt of the second message');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(open.map((o) => o.first.messageId), ['01MARKFFFFFFFFFF'], 'the frozen message was not attempted');
    assert.equal(stored('01MARKEEEEEEEEEE')?.frozen, true);
  } finally {
    await q.close();
  }
});
