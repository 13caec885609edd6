// The crypto worker pool (actors/supervisor/pool.ts on piscina): signatures from the workers verify, batches
// per key, an ARC seal in one task equals the inline one; a task whose worker dies is tried once more (piscina
// starts a new worker), a second death is reported to every caller, and a key error is not retried.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CryptoPool, PoolError, PoolWindow, shareOf } from '../../actors/supervisor/pool.js';
import { createBodyHasher, splitHeaderFields, splitMessage } from '../../protocol/dkim/index.js';
import { prepareSeal, signSeal } from '../../protocol/arc/index.js';
import { until } from '../helpers/integration.js';

const T = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), 'petrel-pool-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CRASH_TASK = new URL('./crash-task.js', import.meta.url);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const rsaPem = rsa.export({ format: 'pem', type: 'pkcs8' }).toString();
const ed = generateKeyPairSync('ed25519').privateKey;
const edPem = ed.export({ format: 'pem', type: 'pkcs8' }).toString();

function pool(t: { after: (fn: () => Promise<void>) => void }, opts: ConstructorParameters<typeof CryptoPool>[0] = {}): CryptoPool {
  const p = new CryptoPool({ threads: 2, ...opts });
  t.after(() => p.stop());
  return p;
}

test('RSA and Ed25519 signatures made in the workers verify; many requests go in few tasks', T, async (t) => {
  const p = pool(t);
  const inputs = Array.from({ length: 100 }, (_, i) => Buffer.from(`input ${i}`));
  const [rsaSigs, edSigs] = await Promise.all([
    Promise.all(inputs.map((b) => p.sign(rsaPem, 'sha256', b))),
    Promise.all(inputs.map((b) => p.sign(edPem, null, b))),
  ]);
  inputs.forEach((b, i) => {
    assert.ok(verify('sha256', b, createPublicKey(rsa), Buffer.from(rsaSigs[i] as string, 'base64')), `rsa ${i}`);
    assert.ok(verify(null, b, createPublicKey(ed), Buffer.from(edSigs[i] as string, 'base64')), `ed25519 ${i}`);
  });
  const s = p.stats();
  // Ed25519: batches of up to 32 (4 tasks); RSA: slices of at most 8 spread over the threads (13 or more).
  assert.ok(s.tasks >= 4 + 13 && s.tasks <= 4 + 100 / 4, `tasks: ${s.tasks}`);
  assert.equal(s.failures, 0);
  assert.ok(s.utilization > 0 && s.utilization <= 1);
  assert.ok(shareOf([p.spanSinceLastRead()]) > 0);
});

test('requests made while the threads are full wait and go out together: batches grow with the load', T, async (t) => {
  const p = pool(t, { threads: 1 });
  // Lanes that sign again as soon as their signature comes back, each request in its own turn: without the
  // hold-back every turn's request would be a task of its own (~ one task per signature).
  let signed = 0;
  const lane = async (n: number, k: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      // Lanes answered together ask again in different turns, as deliveries do.
      for (let turn = 0; turn <= k % 16; turn++) await new Promise((r) => setImmediate(r));
      const sig = await p.sign(rsaPem, 'sha256', Buffer.from(`lane input ${i}`));
      assert.ok(sig.length > 300);
      signed++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, k) => lane(8, k)));
  assert.equal(signed, 128);
  const s = p.stats();
  assert.equal(s.failures, 0);
  assert.ok(s.tasks <= 128 / 2, `128 signatures in ${s.tasks} tasks`);
});

test('an ARC seal in one task (AMS, then AS over it) equals the one made inline', T, async (t) => {
  const p = pool(t);
  const message = Buffer.from('Authentication-Results: relay.example.com; spf=pass smtp.mailfrom=example.org\r\nFrom: a@example.org\r\nSubject: s\r\n\r\nbody\r\n');
  const { header, body } = splitMessage(message);
  const h = createBodyHasher('relaxed', 'sha256');
  h.update(body);
  const prepared = prepareSeal(splitHeaderFields(header), h.digest(), { authservId: 'relay.example.com', domain: 'relay.example.com', selector: 'arc', algorithm: 'rsa-sha256', timestamps: true, now: 1_700_000_000_000 });
  assert.equal(prepared.kind, 'ok');
  if (prepared.kind !== 'ok') return;
  const fromPool = await p.seal(rsaPem, prepared.prepared);
  assert.deepEqual(fromPool, signSeal(prepared.prepared, rsa));
});

test('a worker that dies under a task: piscina replaces it, the task is tried once more and succeeds', T, async (t) => {
  process.env.SIGN_CRASH = `once:${join(dir, 'crashed-once')}`;
  t.after(() => {
    delete process.env.SIGN_CRASH;
  });
  const p = pool(t, { filename: CRASH_TASK, minThreads: 1, threads: 1 });
  const input = Buffer.from('retried');
  const sig = await p.sign(rsaPem, 'sha256', input);
  assert.ok(verify('sha256', input, createPublicKey(rsa), Buffer.from(sig, 'base64')));
  const s = p.stats();
  assert.deepEqual({ tasks: s.tasks, failures: s.failures, retries: s.retries, lost: s.lost }, { tasks: 2, failures: 1, retries: 1, lost: 0 });
  // The pool has a live worker again and keeps working.
  await until(() => p.stats().threads >= 1, 5000, 'a replacement worker');
  assert.ok(verify(null, input, createPublicKey(ed), Buffer.from(await p.sign(edPem, null, input), 'base64')));
});

test('a task whose worker dies twice: every caller of the batch hears of it (PoolError), nothing hangs', T, async (t) => {
  process.env.SIGN_CRASH = 'always';
  t.after(() => {
    delete process.env.SIGN_CRASH;
  });
  const p = pool(t, { filename: CRASH_TASK, threads: 1 });
  const results = await Promise.allSettled([p.sign(rsaPem, 'sha256', Buffer.from('a')), p.sign(rsaPem, 'sha256', Buffer.from('b'))]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.status === 'rejected' && r.reason instanceof PoolError, String(r.status === 'rejected' ? r.reason : ''));
    assert.equal(r.status === 'rejected' && (r.reason as PoolError).code, 'POOL_FAILED');
    assert.match(String(r.status === 'rejected' && (r.reason as Error).message), /signing failed: worker exited with code: 3/);
  }
  const s = p.stats();
  assert.equal(s.retries, 1, 'one batch, retried once');
  assert.equal(s.failures, 2);
  assert.equal(s.lost, 2);
  const prepared = { algorithm: 'rsa-sha256' } as Parameters<CryptoPool['seal']>[1];
  await assert.rejects(p.seal(rsaPem, prepared), (e: unknown) => e instanceof PoolError && /sealing failed: worker exited/.test(e.message));
  assert.equal(p.stats().retries, 2, 'the seal was retried once too');
});

test('a key the worker cannot read fails at once, without a retry', T, async (t) => {
  const p = pool(t);
  await assert.rejects(p.sign('-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n', 'sha256', Buffer.from('x')), PoolError);
  const s = p.stats();
  assert.equal(s.retries, 0);
  assert.equal(s.failures, 1);
});

test('PoolWindow and shareOf: busy share over the window since the last reading, pools taken together, a restarted pool from zero', () => {
  const w = new PoolWindow();
  assert.deepEqual(w.advance({ durationMs: 1000, busyMs: 500, maxThreads: 2 }), { busyMs: 500, capacityMs: 2000 });
  const later = w.advance({ durationMs: 2000, busyMs: 1500, maxThreads: 2 });
  assert.deepEqual(later, { busyMs: 1000, capacityMs: 2000 });
  assert.equal(shareOf([later]), 0.5);
  // Nothing new since the last reading (a snapshot not refreshed): no time, no share.
  assert.equal(shareOf([w.advance({ durationMs: 2000, busyMs: 1500, maxThreads: 2 })]), 0);
  // The pool started again: its totals count from zero.
  assert.deepEqual(w.advance({ durationMs: 100, busyMs: 50, maxThreads: 1 }), { busyMs: 50, capacityMs: 100 });
  // Two pools: busy time over the capacity of both.
  assert.equal(shareOf([{ busyMs: 300, capacityMs: 1000 }, { busyMs: 0, capacityMs: 1000 }]), 0.15);
  assert.equal(shareOf([]), 0);
});
