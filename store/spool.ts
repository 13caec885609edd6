// The durable spool: message data in chunks and envelopes in one LMDB environment (group commit + fsync).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { RootDatabase } from 'lmdb';
import { open } from 'lmdb';
import type { Envelope } from './envelope.js';
import { EDIT_MARK, FlushTracker, readMark } from './dbs.js';
import type { SpoolDbs } from './dbs.js';
import { MessageWriter, flushedOf } from './writer.js';

export const SPOOL_FORMAT = 1;

const MARKS_DB = 'marks';
/** The largest chunk of message data stored under one key. */
export const CHUNK_SIZE = 64 * 1024;

export class SpoolError extends Error {
  readonly code: 'SPOOL_LOCKED' | 'SPOOL_FORMAT' | 'SPOOL_OPEN';
  constructor(code: SpoolError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpoolError';
    this.code = code;
  }
}

export interface SpoolOptions {
  readonly readOnly?: boolean;
  /** Take the daemon's lock file (one daemon per spool). */
  readonly lock?: boolean;
}

/** One change to the queue; see Spool.apply. */
export type SpoolChange =
  /** Rewrite a message's envelope; its index entry follows `due` (none while frozen). */
  | { readonly kind: 'update'; readonly envelope: Envelope }
  /**
   * due: the message's index time, chunks: how many data chunks it has, when the caller knows them
   * from its envelope (saves reading the envelope and looking for the chunks).
   */
  | { readonly kind: 'remove'; readonly id: string; readonly due?: number | undefined; readonly chunks?: number }
  /** A whole new message (a delivery report we generate); size and chunks are computed. */
  | { readonly kind: 'insert'; readonly envelope: Envelope; readonly data: Buffer };

export interface RecoveryReport {
  /** Messages whose data was being received when the process stopped; never acknowledged. */
  readonly discarded: readonly string[];
}

export class Spool {
  readonly dir: string;
  readonly #dbs: SpoolDbs;
  readonly #lockFile: string | undefined;

  private constructor(dir: string, dbs: SpoolDbs, lockFile: string | undefined) {
    this.dir = dir;
    this.#dbs = dbs;
    this.#lockFile = lockFile;
  }

  static open(dir: string, opts: SpoolOptions = {}): Spool {
    let lockFile: string | undefined;
    if (opts.readOnly) {
      // lmdb-js would create the directory before failing; a read-only look must leave no trace.
      if (!existsSync(join(dir, 'petrel.lmdb'))) throw new SpoolError('SPOOL_OPEN', `no spool in ${dir}`);
    } else mkdirSync(dir, { recursive: true });
    if (opts.lock) lockFile = takeLock(dir);
    let root: RootDatabase;
    try {
      // overlappingSync is off: with it, another process opening the environment (petrel queue
      // list beside the daemon) made the daemon lose committed changes and corrupt LMDB's free
      // list (test/durability/concurrent-reader.test.ts). Each commit then syncs before the next
      // begins; writes issued meanwhile gather into the next batch. Durability comes from
      // awaiting each write's `flushed` before acknowledging; separateFlushed gives a write the
      // flush of its own transaction (`root.flushed` is whatever transaction is pending).
      root = open({ path: join(dir, 'petrel.lmdb'), readOnly: opts.readOnly ?? false, maxDbs: 16, separateFlushed: true, overlappingSync: false });
    } catch (e) {
      if (lockFile) rmSync(lockFile, { force: true });
      throw new SpoolError('SPOOL_OPEN', `cannot open spool in ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const dbs: SpoolDbs = {
      root,
      messages: root.openDB<Envelope, string>({ name: 'messages' }),
      data: root.openDB<Buffer, [string, number]>({ name: 'data', encoding: 'binary' }),
      incoming: root.openDB<{ started: number; pid: number }, string>({ name: 'incoming' }),
      queue: root.openDB<true, [number, string]>({ name: 'queue' }),
      marks: marksDb(root, opts.readOnly ?? false),
      flushes: new FlushTracker(),
    };
    const format = root.get('format') as number | undefined;
    if (format === undefined && !opts.readOnly) root.putSync('format', SPOOL_FORMAT);
    else if (format !== undefined && format !== SPOOL_FORMAT) {
      root.close();
      if (lockFile) rmSync(lockFile, { force: true });
      throw new SpoolError('SPOOL_FORMAT', `spool in ${dir} has format ${format}; this Petrel reads format ${SPOOL_FORMAT}`);
    }
    return new Spool(dir, dbs, lockFile);
  }

  /** The edit mark (EDIT_MARK), 0 before the first edit: read it before the envelopes it vouches for. */
  editMark(): number {
    return readMark(this.#dbs);
  }

  /** Remove what a previous process left half-written: data of messages never acknowledged. */
  async recover(): Promise<RecoveryReport> {
    const { incoming, data } = this.#dbs;
    const discarded: string[] = [];
    for (const id of incoming.getKeys()) {
      if (this.#dbs.messages.doesExist(id)) {
        // Committed before the marker removal reached disk: the message is whole; keep it.
        incoming.remove(id);
        continue;
      }
      for (const key of data.getKeys({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) data.remove(key);
      incoming.remove(id);
      discarded.push(id);
    }
    await this.#dbs.root.flushed;
    return { discarded };
  }

  /** Called with the number of messages each sync made durable. */
  set onCommitBatch(f: ((size: number) => void) | undefined) {
    this.#dbs.flushes.onBatch = f;
  }

  /** spool_commit_timeout: how long a message's commit may wait for its sync before it fails. */
  set commitTimeout(ms: number) {
    this.#dbs.flushes.deadline.timeoutMs = ms;
  }

  /** Start receiving a message; nothing is visible as queued until the writer commits. */
  beginMessage(id: string): MessageWriter {
    return new MessageWriter(this.#dbs, id, CHUNK_SIZE);
  }

  envelope(id: string): Envelope | undefined {
    return this.#dbs.messages.get(id);
  }

  /**
   * Reads from now on see every transaction committed so far. lmdb-js keeps one read snapshot per
   * thread and renews it only on a timer (setTimeout 0) after the first read, or after this thread's
   * own writes; a thread that only reads (the delivery thread) and is told of a commit by message must
   * call this first, or it may read the message's envelope from the message and find no data.
   */
  refresh(): void {
    this.#dbs.root.resetReadTxn();
  }

  /**
   * The stored data of a message, chunk by chunk (Received: header first). Given the envelope's count
   * of chunks, each is read by its key: a range read costs about twice a key read for the one chunk
   * of a small message. It ends early if a chunk is missing (the message was deleted meanwhile).
   */
  *data(id: string, chunks?: number): Iterable<Buffer> {
    if (chunks === undefined) {
      for (const { value } of this.#dbs.data.getRange({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) yield value;
      return;
    }
    for (let seq = 0; seq < chunks; seq++) {
      const value = this.#dbs.data.get([id, seq]);
      if (value === undefined) return;
      yield value;
    }
  }

  /** The header section as stored, plus headers added by ACLs. */
  headerSection(id: string): Buffer | undefined {
    const env = this.envelope(id);
    if (!env) return undefined;
    const parts: Buffer[] = [];
    let have = 0;
    for (const chunk of this.data(id)) {
      parts.push(chunk);
      have += chunk.length;
      if (have >= env.headerEnd) break;
    }
    const stored = Buffer.concat(parts).subarray(0, env.headerEnd);
    const headerOnly = env.headerSeparator ? stored.subarray(0, Math.max(0, stored.length - 2)) : stored;
    return Buffer.concat([headerOnly, ...env.addedHeaders.map((h) => Buffer.from(h.endsWith('\n') ? h : `${h}\r\n`))]);
  }

  /** Every queued message, in id (arrival) order. */
  *list(): Iterable<Envelope> {
    for (const { value } of this.#dbs.messages.getRange()) yield value;
  }

  count(): number {
    // getStats() reads LMDB's own entry count (mdb_stat); getCount() walks every key, which took
    // some 30 ms on the main thread per call with a million messages queued (each /metrics scrape).
    return entries(this.#dbs.messages);
  }

  /** Remove a message and its index entry; resolves once durable. */
  async remove(id: string): Promise<boolean> {
    if (!this.envelope(id)) return false;
    await this.apply([{ kind: 'remove', id }]);
    return true;
  }

  /**
   * Ids of messages due at or before `now`, earliest first, after `cursor` (the index key where
   * the last pass stopped): a range read of the time-ordered index, never a scan of the queue.
   */
  dueIdsAfter(cursor: readonly [number, string] | undefined, now: number, limit: number): string[] {
    const ids: string[] = [];
    const range = { start: cursor ? [cursor[0], cursor[1]] : [0, ''], end: [now, '\uffff'], limit: limit + (cursor ? 1 : 0) };
    for (const key of this.#dbs.queue.getKeys(range)) {
      if (cursor && key[0] === cursor[0] && key[1] === cursor[1]) continue;
      if (ids.length < limit) ids.push(key[1]);
    }
    return ids;
  }

  /** The index key of a queued message, to continue a pass after it. */
  dueKeyOf(id: string): [number, string] | undefined {
    const due = this.envelope(id)?.due;
    return due === undefined ? undefined : [due, id];
  }

  /** The earliest due time later than `after` (ms), if any message waits that long. */
  nextDueAfter(after: number): number | undefined {
    for (const key of this.#dbs.queue.getKeys({ start: [after + 1, ''], limit: 1 })) return key[0];
    return undefined;
  }

  /** How many messages the index holds (frozen ones are not in it). */
  dueCount(): number {
    return entries(this.#dbs.queue);
  }

  /**
   * Apply changes in one transaction (lmdb-js batches puts issued together, in order) and wait
   * until they are on disk: a recipient's outcome, a report it caused and the removal of a
   * finished message are recorded together or not at all. `edit`: the changes come from outside the
   * daemon (petrel queue), which must then read again the envelopes it holds (editMark).
   * `ifMark`: only if the edit mark still has this value when the transaction commits; resolves
   * false, with nothing written, if an edit came first.
   */
  async apply(changes: readonly SpoolChange[], opts: { readonly edit?: boolean; readonly ifMark?: number } = {}): Promise<boolean> {
    const { marks, root } = this.#dbs;
    if (opts.ifMark !== undefined && marks) {
      // A mark of 0 means no edit yet: the condition is then that the mark's entry does not exist.
      const write = (): void => void this.#write(changes, false);
      const applied = opts.ifMark === 0 ? marks.ifNoExists(EDIT_MARK, write) : marks.ifVersion(EDIT_MARK, opts.ifMark, write);
      await flushedOf(applied, root);
      return applied;
    }
    const last = this.#write(changes, opts.edit ?? false);
    if (last) await flushedOf(last, root);
    else await root.flushed;
    return true;
  }

  /** Issue the writes of `changes` (in order); the promise of the last one. */
  #write(changes: readonly SpoolChange[], edit: boolean): Promise<boolean> | undefined {
    const { data, messages, queue, marks } = this.#dbs;
    let last: Promise<boolean> | undefined;
    // An edit from outside the daemon moves the mark ahead of the changes: whoever sees a change sees the mark moved.
    if (edit && marks) last = marks.put(EDIT_MARK, true, randomInt(1, 2 ** 47));
    for (const c of changes) {
      if (c.kind === 'insert') {
        const env = c.envelope;
        let seq = 0;
        for (let off = 0; off < c.data.length || seq === 0; off += CHUNK_SIZE) {
          last = data.put([env.id, seq++], c.data.subarray(off, off + CHUNK_SIZE));
        }
        last = messages.put(env.id, { ...env, chunks: seq, size: c.data.length });
        if (env.due !== undefined && !env.frozen) last = queue.put([env.due, env.id], true);
        continue;
      }
      const id = c.kind === 'remove' ? c.id : c.envelope.id;
      const old = c.kind === 'remove' && 'due' in c ? { due: c.due } : messages.get(id);
      // A message removed meanwhile (petrel queue delete) is not brought back by a late update.
      if (c.kind === 'update' && old === undefined) continue;
      if (old?.due !== undefined) last = queue.remove([old.due, id]);
      if (c.kind === 'remove') {
        if (c.chunks !== undefined) {
          for (let seq = 0; seq < c.chunks; seq++) last = data.remove([id, seq]);
        } else {
          for (const key of data.getKeys({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) last = data.remove(key);
        }
        last = messages.remove(id);
      } else {
        last = messages.put(id, c.envelope);
        if (c.envelope.due !== undefined && !c.envelope.frozen) last = queue.put([c.envelope.due, id], true);
      }
    }
    return last;
  }

  async close(): Promise<void> {
    this.#dbs.flushes.deadline.close();
    await this.#dbs.root.flushed;
    await this.#dbs.root.close();
    if (this.#lockFile) rmSync(this.#lockFile, { force: true });
  }
}

/**
 * The marks database. A read-only look opens it only if a writer created it: lmdb-js cannot open a
 * missing database without a write transaction, and fails in a way that spoils the environment.
 */
function marksDb(root: RootDatabase, readOnly: boolean): SpoolDbs['marks'] {
  if (readOnly) {
    let found = false;
    for (const key of root.getKeys({ start: MARKS_DB, end: `${MARKS_DB}\u0000` })) found ||= key === MARKS_DB;
    if (!found) return undefined;
  }
  return root.openDB<true, string>({ name: MARKS_DB, useVersions: true });
}

/** One daemon per spool: a pid file, taken over only when its process is gone. */
function takeLock(dir: string): string {
  const file = join(dir, 'petrel.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new SpoolError('SPOOL_LOCKED', `spool ${dir} is in use by process ${pid} (${file})`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new SpoolError('SPOOL_LOCKED', `cannot take the spool lock ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** LMDB's own entry count of a database (lmdb-js types getStats() as an empty object). */
export function entries(db: { getStats(): object; getCount(): number }): number {
  const n = (db.getStats() as { entryCount?: unknown }).entryCount;
  return typeof n === 'number' ? n : db.getCount();
}
