// Unit tests for store/spool.ts and store/writer.ts against a real LMDB in a temporary directory:
// chunked data, durable commit, abort, crash recovery, the pid lock, listing and header sections.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { CHUNK_SIZE, Spool, SpoolError, entries } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';
import { WriterError } from '../../../store/writer.js';
import { createIdGenerator } from '../../../store/ids.js';

const nextId = createIdGenerator(() => Date.now(), () => Math.floor(Math.random() * 2 ** 32));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-spool-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const draft = testDraft;

/** Deterministic, non-repeating-looking content of n octets. */
function content(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function readAll(spool: Spool, id: string): Buffer {
  return Buffer.concat([...spool.data(id)]);
}

/** Write buf in pieces of `piece` octets. */
function writeInPieces(w: { write(b: Buffer): boolean }, buf: Buffer, piece: number): void {
  for (let i = 0; i < buf.length; i += piece) w.write(buf.subarray(i, i + piece));
}

test('a message of several chunks is stored in chunks and read back byte for byte, also after reopening', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  const id = nextId();
  const body = content(5 * CHUNK_SIZE + 12_345);
  const w = spool.beginMessage(id);
  writeInPieces(w, body, 10_007);
  assert.equal(w.size, body.length);
  const env = await w.commit(draft());
  assert.equal(env.id, id);
  assert.equal(env.format, 1);
  assert.equal(env.size, body.length);
  assert.equal(env.chunks, 6);
  const chunks = [...spool.data(id)];
  assert.deepEqual(chunks.map((c) => c.length), [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 12_345]);
  assert.ok(Buffer.concat(chunks).equals(body), 'data read back equals data written');
  // Read by key, given the envelope's count of chunks: the same chunks.
  assert.ok(Buffer.concat([...spool.data(id, env.chunks)]).equals(body), 'read by key');
  assert.deepEqual(spool.envelope(id), env);
  await spool.close();

  const again = Spool.open(dir);
  t.after(() => again.close());
  assert.ok(readAll(again, id).equals(body), 'data survives reopening');
  assert.deepEqual(again.envelope(id), env);
  assert.equal(again.count(), 1);
  assert.deepEqual(await again.recover(), { discarded: [] }, 'a committed message is not recovered away');
  assert.ok(readAll(again, id).equals(body));
});

test('the writer copies what it is given: reusing the caller\'s buffer does not change stored data', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const id = nextId();
  const w = spool.beginMessage(id);
  const scratch = Buffer.from('first part\r\n');
  w.write(scratch);
  scratch.fill(0x58);
  w.write(Buffer.from('second part\r\n'));
  await w.commit(draft());
  assert.equal(readAll(spool, id).toString('latin1'), 'first part\r\nsecond part\r\n');
});

test('a size that is an exact multiple of CHUNK_SIZE, and an empty message', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const id = nextId();
  const body = content(2 * CHUNK_SIZE, 3);
  const w = spool.beginMessage(id);
  w.write(body);
  const env = await w.commit(draft());
  assert.equal(env.chunks, 2);
  assert.deepEqual([...spool.data(id)].map((c) => c.length), [CHUNK_SIZE, CHUNK_SIZE]);
  assert.ok(readAll(spool, id).equals(body));

  const empty = nextId();
  const e = await spool.beginMessage(empty).commit(draft());
  assert.equal(e.size, 0);
  assert.equal(readAll(spool, empty).length, 0);
  assert.equal(spool.count(), 2);
});

test('write() asks the caller to pause above the high-water mark; drain() resolves once LMDB caught up', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const id = nextId();
  const w = spool.beginMessage(id);
  const big = content(2 * 1024 * 1024, 11);
  assert.equal(w.write(big), false, 'two MiB in flight is above the mark');
  await w.drain();
  assert.equal(w.write(Buffer.from('tail')), true);
  await w.commit(draft());
  assert.ok(readAll(spool, id).equals(Buffer.concat([big, Buffer.from('tail')])));
});

test('abort removes the data of a message of several chunks; commit after abort fails', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  const id = nextId();
  const w = spool.beginMessage(id);
  writeInPieces(w, content(3 * CHUNK_SIZE + 100), 4096);
  await w.abort();
  assert.equal(readAll(spool, id).length, 0);
  assert.equal(spool.envelope(id), undefined);
  assert.equal(spool.count(), 0);
  await assert.rejects(w.commit(draft()), (e: unknown) => e instanceof WriterError && e.code === 'SPOOL_WRITE');
  // A small message aborted before its first chunk leaves nothing either.
  const small = nextId();
  const s = spool.beginMessage(small);
  s.write(Buffer.from('short'));
  await s.abort();
  assert.equal(readAll(spool, small).length, 0);
  await spool.close();
  // Nothing is left for recovery: the marker went with the data.
  const again = Spool.open(dir);
  t.after(() => again.close());
  assert.deepEqual(await again.recover(), { discarded: [] });
});

test('commit twice fails; abort after commit leaves the message in place', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const id = nextId();
  const w = spool.beginMessage(id);
  w.write(Buffer.from('hello\r\n'));
  await w.commit(draft());
  await assert.rejects(w.commit(draft()), /already committed/);
  await w.abort();
  assert.equal(readAll(spool, id).toString('latin1'), 'hello\r\n');
  assert.equal(spool.count(), 1);
});

test('a writer never committed (process stopped) is discarded by recover() on reopen', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  const kept = nextId();
  const kw = spool.beginMessage(kept);
  writeInPieces(kw, content(2 * CHUNK_SIZE + 1, 5), 30_000);
  await kw.commit(draft());
  const lost = nextId();
  const w = spool.beginMessage(lost);
  writeInPieces(w, content(3 * CHUNK_SIZE + 777, 9), 8192);
  // Simulated crash: the spool goes away without a commit or abort.
  await spool.close();

  const again = Spool.open(dir);
  t.after(() => again.close());
  assert.equal([...again.data(lost)].length, 3, 'the chunks written before the crash are on disk');
  assert.equal(again.envelope(lost), undefined);
  const report = await again.recover();
  assert.deepEqual(report, { discarded: [lost] });
  assert.equal(readAll(again, lost).length, 0, 'its data is gone');
  assert.equal(again.count(), 1);
  assert.ok(readAll(again, kept).equals(content(2 * CHUNK_SIZE + 1, 5)), 'the committed message is untouched');
  assert.deepEqual(await again.recover(), { discarded: [] }, 'recovery is done once');
});

test('recover() keeps a committed message whose incoming marker was left behind', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  const id = nextId();
  const w = spool.beginMessage(id);
  const body = content(CHUNK_SIZE + 10, 4);
  w.write(body);
  await w.commit(draft());
  await spool.close();
  // The marker removal did not reach the disk before the stop: put it back by hand.
  const raw = open({ path: join(dir, 'petrel.lmdb'), maxDbs: 16 });
  await raw.openDB({ name: 'incoming' }).put(id, { started: 1, pid: 1 });
  await raw.close();

  const again = Spool.open(dir);
  t.after(() => again.close());
  assert.deepEqual(await again.recover(), { discarded: [] });
  assert.ok(readAll(again, id).equals(body));
  assert.equal(again.count(), 1);
  assert.deepEqual(await again.recover(), { discarded: [] });
});

/** A second process that holds the spool lock until killed. */
async function lockHolder(dir: string): Promise<ChildProcess> {
  const spoolUrl = new URL('../../../store/spool.js', import.meta.url).href;
  const code = `const { Spool } = await import(process.argv[1]);
Spool.open(process.argv[2], { lock: true });
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, spoolUrl, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`lock holder exited with ${c}: ${err}`)));
  });
  return child;
}

test('the lock file refuses a second daemon while its holder lives, and is taken over once it is dead', async (t) => {
  const dir = tempDir(t);
  const child = await lockHolder(dir);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const pidFile = join(dir, 'petrel.pid');
  assert.equal(readFileSync(pidFile, 'utf8'), `${child.pid}\n`);
  assert.throws(() => Spool.open(dir, { lock: true }), (e: unknown) => {
    assert.ok(e instanceof SpoolError);
    assert.equal(e.code, 'SPOOL_LOCKED');
    assert.match(e.message, new RegExp(`process ${child.pid}`));
    return true;
  });
  assert.equal(readFileSync(pidFile, 'utf8'), `${child.pid}\n`, 'a refused open leaves the lock alone');

  // The holder dies without cleaning up: its pid file stays behind.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  assert.equal(readFileSync(pidFile, 'utf8'), `${child.pid}\n`);

  const spool = Spool.open(dir, { lock: true });
  assert.equal(readFileSync(pidFile, 'utf8'), `${process.pid}\n`);
  await spool.close();
  assert.equal(existsSync(pidFile), false, 'close releases the lock');
});

test('a lock file naming a process that does not exist is taken over', async (t) => {
  const dir = tempDir(t);
  // A pid that was just used and is now gone.
  const dead = spawn(process.execPath, ['-e', '0']);
  const deadPid = dead.pid as number;
  await new Promise((resolve) => dead.once('exit', resolve));
  writeFileSync(join(dir, 'petrel.pid'), `${deadPid}\n`);
  const spool = Spool.open(dir, { lock: true });
  assert.equal(readFileSync(join(dir, 'petrel.pid'), 'utf8'), `${process.pid}\n`);
  await spool.close();
  // Garbage in the lock file is treated as stale too.
  writeFileSync(join(dir, 'petrel.pid'), 'not a pid\n');
  const again = Spool.open(dir, { lock: true });
  await again.close();
});

test('a spool of another format is refused, and the lock it took is released', async (t) => {
  const dir = tempDir(t);
  const raw = open({ path: join(dir, 'petrel.lmdb') });
  await raw.put('format', 99);
  await raw.close();
  assert.throws(() => Spool.open(dir, { lock: true }), (e: unknown) => e instanceof SpoolError && e.code === 'SPOOL_FORMAT');
  assert.equal(existsSync(join(dir, 'petrel.pid')), false);
});

test('opening a spool that does not exist read-only fails with SPOOL_OPEN', (t) => {
  const dir = join(tempDir(t), 'missing');
  assert.throws(() => Spool.open(dir, { readOnly: true }), (e: unknown) => e instanceof SpoolError && e.code === 'SPOOL_OPEN');
  // lmdb-js would create the directory before failing: `petrel queue` pointed at a wrong
  // spool_directory must leave nothing behind.
  assert.equal(existsSync(dir), false, 'a read-only open creates nothing');
});

test('list() in id order, count(), remove()', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const ids = [nextId(), nextId(), nextId()];
  // Commit out of order: list() is still in id (arrival) order.
  for (const id of [ids[2], ids[0], ids[1]] as string[]) {
    const w = spool.beginMessage(id);
    w.write(Buffer.from(`message ${id}\r\n`));
    await w.commit(draft({ receivedAt: 1_700_000_000_000 + ids.indexOf(id) }));
  }
  assert.deepEqual([...spool.list()].map((e) => e.id), ids);
  assert.equal(spool.count(), 3);

  assert.equal(await spool.remove(ids[1] as string), true);
  assert.equal(spool.count(), 2);
  assert.equal(spool.envelope(ids[1] as string), undefined);
  assert.equal(readAll(spool, ids[1] as string).length, 0);
  assert.deepEqual([...spool.list()].map((e) => e.id), [ids[0], ids[2]]);
  assert.equal(await spool.remove(ids[1] as string), false, 'removing twice');
  assert.equal(await spool.remove('0000000000000000'), false, 'unknown id');
  // The others are untouched.
  assert.equal(readAll(spool, ids[0] as string).toString('latin1'), `message ${ids[0]}\r\n`);
});

test('apply() removes a message of several chunks with everything it stored, told its chunk count or not', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  const envs: Envelope[] = [];
  for (let i = 0; i < 2; i++) {
    const w = spool.beginMessage(nextId());
    writeInPieces(w, content(3 * CHUNK_SIZE + 99, i), 50_000);
    envs.push(await w.commit(draft()));
  }
  const [told, untold] = envs as [Envelope, Envelope];
  assert.equal(told.chunks, 4);
  await spool.apply([{ kind: 'remove', id: told.id, due: told.due, chunks: told.chunks }]);
  await spool.apply([{ kind: 'remove', id: untold.id }]);
  assert.equal(spool.count(), 0);
  assert.equal(spool.dueCount(), 0);
  await spool.close();
  // Nothing is left behind in the data database either.
  const raw = open({ path: join(dir, 'petrel.lmdb'), maxDbs: 16, readOnly: true });
  t.after(() => raw.close());
  assert.equal(raw.openDB({ name: 'data', encoding: 'binary' }).getCount(), 0);
});

test('many messages committed in the same turn all land (group commit)', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const ids = Array.from({ length: 25 }, () => nextId());
  await Promise.all(ids.map((id, i) => {
    const w = spool.beginMessage(id);
    w.write(content(1000 + i, i));
    return w.commit(draft());
  }));
  assert.equal(spool.count(), 25);
  ids.forEach((id, i) => assert.ok(readAll(spool, id).equals(content(1000 + i, i)), id));
});

test('headerSection: stored header section without the blank line, then the added headers', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const text = 'Received: from client.example\r\n\tby mx.example.net; Thu, 1 Jan 1970 00:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n';
  const id = nextId();
  const w = spool.beginMessage(id);
  w.write(Buffer.from(text));
  await w.commit(draft({ headerEnd: text.indexOf('body'), headerSeparator: true, addedHeaders: ['X-Spam: no', 'X-Two: 2\r\n'] }));
  assert.equal(spool.headerSection(id)?.toString('latin1'),
    'Received: from client.example\r\n\tby mx.example.net; Thu, 1 Jan 1970 00:00:00 +0000\r\nSubject: hi\r\nX-Spam: no\r\nX-Two: 2\r\n');

  // No blank line: the section runs to headerEnd.
  const id2 = nextId();
  const w2 = spool.beginMessage(id2);
  w2.write(Buffer.from('A: 1\r\nnot a header\r\n'));
  await w2.commit(draft({ headerEnd: 6, headerSeparator: false, addedHeaders: [] }));
  assert.equal(spool.headerSection(id2)?.toString('latin1'), 'A: 1\r\n');

  assert.equal(spool.headerSection('0000000000000000'), undefined);
});

test('headerSection: a header section spanning chunks', async (t) => {
  const spool = Spool.open(tempDir(t));
  t.after(() => spool.close());
  const header = 'X-Filler: 0123456789abcdef\r\n'.repeat(5000); // 140,000 octets: three chunks
  const id = nextId();
  const w = spool.beginMessage(id);
  writeInPieces(w, Buffer.from(`${header}\r\n${'b'.repeat(200_000)}`), 50_000);
  await w.commit(draft({ headerEnd: header.length + 2, headerSeparator: true, addedHeaders: ['X-Added: yes'] }));
  assert.equal(spool.headerSection(id)?.toString('latin1'), `${header}X-Added: yes\r\n`);
});

test('the spool directory holds only LMDB files and the lock', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir, { lock: true });
  const w = spool.beginMessage(nextId());
  w.write(Buffer.from('x'));
  await w.commit(draft());
  assert.deepEqual(readdirSync(dir).sort(), ['petrel.lmdb', 'petrel.lmdb-lock', 'petrel.pid']);
  await spool.close();
});

test('count() reads LMDB\'s entry count instead of walking the keys', async (t) => {
  // A walk costs tens of milliseconds per call with a million messages queued, on the main thread.
  const db = open({ path: join(tempDir(t), 'count.lmdb') });
  t.after(() => db.close());
  await db.transaction(() => {
    for (let i = 0; i < 300; i++) void db.put(`k${i}`, i);
  });
  const walks = { n: 0 };
  const spy = { getStats: () => db.getStats(), getCount: () => { walks.n++; return db.getCount(); } };
  assert.equal(entries(spy), 300);
  assert.equal(walks.n, 0);
  // Where the statistics lack a count, the walk is the fallback.
  assert.equal(entries({ getStats: () => ({}), getCount: () => 7 }), 7);
});

test('data() by key ends where a chunk is missing: a message deleted meanwhile reads as empty', async (t) => {
  const dir = tempDir(t);
  const spool = Spool.open(dir);
  t.after(() => spool.close());
  const id = nextId();
  const w = spool.beginMessage(id);
  writeInPieces(w, content(2 * CHUNK_SIZE + 10), 4096);
  const env = await w.commit(draft());
  assert.equal(env.chunks, 3);
  await spool.remove(id);
  assert.deepEqual([...spool.data(id, env.chunks)], []);
  assert.deepEqual([...spool.data(id)], []);
});
