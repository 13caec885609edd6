// Spool.refresh(): a thread that only reads (as the delivery thread does) sees a message the main thread
// committed after the thread's read snapshot was taken, once it refreshes; without that, lmdb-js keeps the
// older snapshot until its timer renews it, and the message's data looks absent. Real LMDB in a temporary
// directory, a real worker thread.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Spool } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';

const spoolModule = new URL('../../../store/spool.js', import.meta.url).href;

// The reader: a first read takes the snapshot; then, in the same turn, it waits until the main thread
// has committed the message, and reads the message's data (after refresh() when told to).
const READER = `
import { parentPort, workerData } from 'node:worker_threads';
const { Spool } = await import(${JSON.stringify(spoolModule)});
const spool = Spool.open(workerData.dir);
const flag = new Int32Array(workerData.flag);
parentPort.on('message', (m) => {
  [...spool.data('nothing-here')];
  parentPort.postMessage('snapshot taken');
  Atomics.wait(flag, 0, m.round - 1);
  if (m.refresh) spool.refresh();
  let octets = 0;
  for (const chunk of spool.data(m.id)) octets += chunk.length;
  parentPort.postMessage(octets);
});
`;

test('a reading thread finds data committed after its snapshot once it refreshes', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-refresh-'));
  const spool = Spool.open(dir);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(READER, { eval: true, workerData: { dir, flag: flag.buffer } });
  const next = (): Promise<unknown> => new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const body = Buffer.from('Subject: refresh\r\n\r\nbody\r\n');
  const round = async (n: number, id: string, refresh: boolean): Promise<unknown> => {
    const taken = next();
    worker.postMessage({ round: n, id, refresh });
    assert.equal(await taken, 'snapshot taken');
    const answer = next();
    const envelope: Envelope = { ...testDraft({}), format: 1, id, size: body.length, chunks: 0, due: Date.now() };
    await spool.apply([{ kind: 'insert', envelope, data: body }]);
    Atomics.store(flag, 0, n);
    Atomics.notify(flag, 0);
    return answer;
  };
  try {
    // Without refresh() the snapshot predates the commit (this is the behaviour the delivery thread must work around).
    assert.equal(await round(1, '01STALEAAAAAAAAA', false), 0);
    assert.equal(await round(2, '01FRESHAAAAAAAAA', true), body.length);
  } finally {
    await worker.terminate();
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
