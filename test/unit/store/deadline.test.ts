// Unit tests for store/deadline.ts: commits that miss spool_commit_timeout fail, the rest pass through.
import test from 'node:test';
import assert from 'node:assert/strict';
import { CommitDeadline, CommitTimeoutError } from '../../../store/deadline.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The deadline's timer does not keep a process alive (in the daemon, sockets and LMDB's work do):
// while these tests wait on it, a timer of their own does.
const keepAlive = setInterval(() => undefined, 1000);
test.after(() => clearInterval(keepAlive));

/** A promise and the means to settle it from outside. */
function pending<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How a watched promise ended: its value, or the error's code (or message). */
function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: string }> {
  return p.then(
    (ok) => ({ ok }),
    (e: Error & { code?: string }) => ({ err: e.code ?? e.message }),
  );
}

test('a commit that settles in time passes its value and its failure through', async () => {
  const d = new CommitDeadline(1000);
  const a = pending<number>();
  const b = pending<number>();
  const wa = outcome(d.watch(a.promise));
  const wb = outcome(d.watch(b.promise));
  a.resolve(7);
  b.reject(new Error('MDB_MAP_FULL'));
  assert.deepEqual(await wa, { ok: 7 });
  assert.deepEqual(await wb, { err: 'MDB_MAP_FULL' });
  assert.equal(d.pending, 0);
  d.close();
});

test('a commit still waiting at its due time fails with SPOOL_COMMIT_TIMEOUT; later ones are not cut short', async () => {
  const d = new CommitDeadline(60);
  const stuck = pending();
  const first = outcome(d.watch(stuck.promise));
  await sleep(30);
  const later = pending<string>();
  const second = outcome(d.watch(later.promise));
  const t0 = performance.now();
  const r1 = await first;
  assert.deepEqual(r1, { err: 'SPOOL_COMMIT_TIMEOUT' });
  // The second was watched 30 ms after the first: at the first's expiry it still has time left.
  later.resolve('stored');
  assert.deepEqual(await second, { ok: 'stored' });
  assert.ok(performance.now() - t0 < 40, 'the second commit was not held until its own due time');
  // The stuck commit finishing afterwards changes nothing.
  stuck.resolve();
  await sleep(5);
  assert.equal(d.pending, 0);
  d.close();
});

test('the error names the timeout and the config key', async () => {
  const d = new CommitDeadline(20);
  const err = await d.watch(new Promise(() => undefined)).then(
    () => assert.fail('a commit that never settles must not pass'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CommitTimeoutError);
  assert.equal(err.code, 'SPOOL_COMMIT_TIMEOUT');
  assert.match(err.message, /20 ms \(spool_commit_timeout\)/);
  d.close();
});

test('every commit waiting past its due time fails, each at its own time', async () => {
  const d = new CommitDeadline(40);
  const t0 = performance.now();
  const failedAt: number[] = [];
  const watches = [0, 15, 30].map(async (delay) => {
    await sleep(delay);
    await d.watch(new Promise(() => undefined)).catch(() => failedAt.push(performance.now() - t0));
  });
  await Promise.all(watches);
  assert.equal(failedAt.length, 3);
  // Each failed no sooner than 40 ms after it started, and not long after.
  for (const [i, start] of [0, 15, 30].entries()) {
    const at = failedAt[i] as number;
    assert.ok(at >= start + 39, `watch ${i} failed at ${at.toFixed(1)} ms, before its due time`);
    assert.ok(at < start + 40 + 200, `watch ${i} failed at ${at.toFixed(1)} ms, long after its due time`);
  }
  assert.equal(d.pending, 0);
  d.close();
});

test('a shorter timeout after a reload applies to new commits at once', async () => {
  const d = new CommitDeadline(10_000);
  const old = pending();
  const oldWatch = outcome(d.watch(old.promise));
  d.timeoutMs = 30;
  const t0 = performance.now();
  assert.deepEqual(await outcome(d.watch(new Promise(() => undefined))), { err: 'SPOOL_COMMIT_TIMEOUT' });
  assert.ok(performance.now() - t0 < 1000, 'the new commit waited for the old timer');
  // The commit started under the old timeout keeps it.
  old.resolve();
  assert.deepEqual(await oldWatch, { ok: undefined });
  d.close();
});

test('once the oldest commit settles, the settled ones behind it are dropped', async () => {
  const d = new CommitDeadline(10_000);
  const stuck = pending();
  const first = outcome(d.watch(stuck.promise));
  for (let i = 0; i < 5000; i++) await d.watch(Promise.resolve(i));
  // Everything behind the stuck head is settled; once the head settles the queue empties.
  stuck.resolve();
  await first;
  assert.equal(d.pending, 0);
  d.close();
});
