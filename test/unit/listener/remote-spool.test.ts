// Unit tests for actors/listener/process/remote-spool.ts: a session process's spool, whose messages cross to
// the daemon's writer. The channel is a list here; the daemon's answers are given by hand.
import test from 'node:test';
import assert from 'node:assert/strict';
import { RemoteSpool } from '../../../actors/listener/process/remote-spool.js';
import type { FromSession } from '../../../actors/listener/process/messages.js';
import type { Envelope } from '../../../store/envelope.js';
import type { EnvelopeDraft } from '../../../store/writer.js';
import { testDraft } from '../../helpers/envelope.js';

const draft = (): EnvelopeDraft => testDraft({});

test('data crosses in 64 KiB chunks, the rest with the commit; 250 waits for the daemon\'s "stored"', async () => {
  const sent: FromSession[] = [];
  const spool = new RemoteSpool((m) => sent.push(m));
  const w = spool.beginMessage('ID1');
  assert.equal(w.write(Buffer.alloc(40_000, 97)), true);
  assert.equal(sent.length, 0, 'less than a chunk stays here');
  w.write(Buffer.alloc(40_000, 98));
  assert.equal(sent.length, 1);
  const chunk = sent[0] as Extract<FromSession, { op: 'data' }>;
  assert.equal(chunk.op, 'data');
  assert.equal(chunk.data.length, 80_000, 'what was pending goes as one piece');
  assert.equal(w.size, 80_000);
  const got: Envelope[] = [];
  const committing = w.commit(draft()).then((e) => got.push(e));
  const commit = sent[1] as Extract<FromSession, { op: 'commit' }>;
  assert.equal(commit.op, 'commit');
  assert.equal(commit.data.length, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 0, 'not acknowledged before the daemon says so');
  const envelope = { ...draft(), format: 1, id: 'ID1', size: 80_000, chunks: 2 } as Envelope;
  spool.handle({ op: 'stored', id: 'ID1', envelope });
  await committing;
  assert.equal(got[0]?.id, 'ID1');
});

test('past 1 MiB not yet taken by the daemon, the session is asked to wait until it is', async () => {
  const spool = new RemoteSpool(() => undefined);
  const w = spool.beginMessage('ID2');
  let ok = true;
  for (let i = 0; i < 17; i++) ok = w.write(Buffer.alloc(64 * 1024));
  assert.equal(ok, false);
  let drained = false;
  const wait = w.drain().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false);
  spool.handle({ op: 'taken', id: 'ID2', bytes: 2 * 64 * 1024 });
  await wait;
  assert.equal(drained, true);
});

test('a failed commit, an abort, and a daemon that went away', async () => {
  const sent: FromSession[] = [];
  const spool = new RemoteSpool((m) => sent.push(m));
  const a = spool.beginMessage('A');
  const failing = a.commit(draft());
  spool.handle({ op: 'stored', id: 'A', error: 'disk full' });
  await assert.rejects(failing, /disk full/);
  // Aborting what never crossed sends nothing; aborting what did tells the daemon.
  const b = spool.beginMessage('B');
  b.write(Buffer.alloc(10));
  await b.abort();
  assert.ok(!sent.some((m) => m.op === 'abort' && m.id === 'B'));
  const c = spool.beginMessage('C');
  c.write(Buffer.alloc(70_000));
  await c.abort();
  assert.ok(sent.some((m) => m.op === 'abort' && m.id === 'C'));
  // In flight when the daemon goes: fails; begun after: fails at once, without sending.
  const d = spool.beginMessage('D');
  const inFlight = d.commit(draft());
  spool.failAll('the daemon went away');
  await assert.rejects(inFlight, /went away/);
  const before = sent.length;
  await assert.rejects(spool.beginMessage('E').commit(draft()), /went away/);
  assert.equal(sent.length, before);
  await assert.rejects(spool.apply([{ kind: 'remove', id: 'X' }]), /cannot remove/);
});
