// The spool's edit mark (store/dbs.ts, store/spool.ts): a write made conditional on it is dropped, inside
// LMDB's transaction, when petrel queue edited the spool first; the writer reads it at each commit.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Spool } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-mark-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function stored(spool: Spool, id: string): Promise<Envelope> {
  const w = spool.beginMessage(id);
  w.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
  return w.commit(testDraft());
}

test('a write conditional on the mark lands while the mark stands, and not after an edit', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const env = await stored(spool, '01EDITMARKAAAAAA');
  assert.equal(spool.editMark(), 0, 'no edit yet');

  // No edit yet: the condition is that the mark does not exist.
  assert.equal(await spool.apply([{ kind: 'update', envelope: { ...env, due: 1 } }], { ifMark: 0 }), true);
  assert.equal(spool.envelope(env.id)?.due, 1);

  // What petrel queue freeze writes.
  assert.equal(await spool.apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }], { edit: true }), true);
  const mark = spool.editMark();
  assert.notEqual(mark, 0, 'an edit sets the mark');

  // A write conditional on the mark read before the edit is not made, and says so.
  assert.equal(await spool.apply([{ kind: 'update', envelope: { ...env, due: 2 } }], { ifMark: 0 }), false);
  assert.equal(spool.envelope(env.id)?.frozen, true, 'the freeze stands');
  assert.equal(spool.envelope(env.id)?.due, undefined);

  // Conditional on the mark as it is now: made.
  const deferred = env.recipients.map((r) => ({ ...r, state: 'deferred' as const, attempts: 1 }));
  assert.equal(await spool.apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined, recipients: deferred } }], { ifMark: mark }), true);
  assert.equal(spool.envelope(env.id)?.recipients[0]?.attempts, 1);
  assert.equal(spool.editMark(), mark, 'the daemon\'s own writes leave the mark alone');
});

test('the writer reads the mark at each commit: an edit after a commit moves the mark past it', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const w = spool.beginMessage('01EDITMARKBBBBBB');
  w.write(Buffer.from('Subject: y\r\n\r\nbody\r\n'));
  const env = await w.commit(testDraft());
  assert.equal(w.editMark, spool.editMark());
  await spool.apply([{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }], { edit: true });
  assert.notEqual(w.editMark, spool.editMark());
  const second = spool.beginMessage('01EDITMARKCCCCCC');
  second.write(Buffer.from('Subject: z\r\n\r\nbody\r\n'));
  await second.commit(testDraft());
  assert.equal(second.editMark, spool.editMark(), 'a later commit reads the mark as it is then');
});

test('a read-only look at a spool written before the mark had a database of its own', async (t) => {
  const dir = tempDir(t);
  // What such a spool holds: the format and the four databases, no `marks`.
  const raw = open({ path: join(dir, 'petrel.lmdb'), maxDbs: 16 });
  for (const name of ['messages', 'data', 'incoming', 'queue']) raw.openDB({ name }).putSync('probe', 1);
  raw.putSync('format', 1);
  await raw.close();
  const look = Spool.open(dir, { readOnly: true });
  try {
    assert.equal(look.editMark(), 0);
    assert.equal(look.count(), 1);
  } finally {
    await look.close();
  }
  // A writer creates the database; a read-only look then sees the mark.
  const writer = Spool.open(dir);
  await writer.apply([], { edit: true });
  const mark = writer.editMark();
  await writer.close();
  const again = Spool.open(dir, { readOnly: true });
  try {
    assert.equal(again.editMark(), mark);
  } finally {
    await again.close();
  }
});
