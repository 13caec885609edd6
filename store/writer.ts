// Streams one message's data into the spool in chunks, then commits it durably (acknowledged means durable).
import type { Envelope } from './envelope.js';
import type { RootDatabase } from 'lmdb';
import { readMark } from './dbs.js';
import type { SpoolDbs } from './dbs.js';

/** How many octets may be waiting for LMDB before the writer asks its caller to pause. */
export const HIGH_WATER = 1024 * 1024;

export type EnvelopeDraft = Omit<Envelope, 'format' | 'id' | 'size' | 'chunks' | 'due'>;

export class WriterError extends Error {
  readonly code = 'SPOOL_WRITE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WriterError';
  }
}

/**
 * Where a session's message data goes: a writer into this process's spool, or one that forwards to the
 * daemon's (a session process). Acknowledged means durable either way: commit resolves once on disk.
 */
export interface MessageSink {
  readonly id: string;
  readonly size: number;
  /** False: wait for drain() before writing more. */
  write(buf: Buffer): boolean;
  drain(): Promise<void>;
  commit(draft: EnvelopeDraft): Promise<Envelope>;
  abort(): Promise<void>;
  /** The spool's edit mark as the message was committed (Spool.editMark), where this process's spool is written. */
  readonly editMark?: number;
}

/** What a session needs of a spool. */
export interface SessionSpool {
  beginMessage(id: string): MessageSink;
}

export class MessageWriter implements MessageSink {
  readonly id: string;
  readonly #dbs: SpoolDbs;
  readonly #chunkSize: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #seq = 0;
  #size = 0;
  #inFlight = 0;
  #marked = false;
  #state: 'open' | 'committed' | 'aborted' = 'open';
  #failure: Error | undefined;
  #waiters: (() => void)[] = [];
  #markAtCommit = 0;

  constructor(dbs: SpoolDbs, id: string, chunkSize: number) {
    this.#dbs = dbs;
    this.id = id;
    this.#chunkSize = chunkSize;
  }

  /**
   * The edit mark read just before the commit's writes (0 until then). Whoever holds the committed
   * envelope compares the mark with this: an edit of the message after its commit moved it.
   */
  get editMark(): number {
    return this.#markAtCommit;
  }

  /** Octets written so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Add data. Returns false when the caller should wait for drain() before writing more,
   * so that a fast client cannot make us hold more than a bounded amount in memory.
   */
  write(buf: Buffer): boolean {
    if (this.#state !== 'open') return true;
    if (buf.length === 0) return this.#inFlight < HIGH_WATER;
    // Copy: the caller's buffer may be reused once this returns.
    this.#pending.push(Buffer.from(buf));
    this.#pendingBytes += buf.length;
    this.#size += buf.length;
    while (this.#pendingBytes >= this.#chunkSize) this.#flushChunk(this.#chunkSize);
    return this.#inFlight < HIGH_WATER;
  }

  /** Resolves when the data in flight to LMDB is below the high-water mark. */
  drain(): Promise<void> {
    if (this.#inFlight < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #flushChunk(limit: number, final = false): void {
    const all = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
    const chunk = all.subarray(0, limit);
    const rest = all.subarray(limit);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    if (!this.#marked && !final) {
      // A message bigger than one chunk is visible in the data table before it is committed;
      // the marker lets start-up recovery find and discard it if we die first.
      this.#marked = true;
      void this.#dbs.incoming.put(this.id, { started: Date.now(), pid: process.pid });
    }
    const len = chunk.length;
    this.#inFlight += len;
    this.#dbs.data.put([this.id, this.#seq++], chunk).then(
      () => this.#settle(len),
      (e: unknown) => {
        this.#failure ??= e as Error;
        this.#settle(len);
      },
    );
  }

  #settle(len: number): void {
    this.#inFlight -= len;
    if (this.#inFlight < HIGH_WATER && this.#waiters.length > 0) {
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    }
  }

  /**
   * Store the last chunk and the envelope and wait until they are on disk. Only after this
   * resolves may the session send its 250.
   */
  async commit(draft: EnvelopeDraft): Promise<Envelope> {
    if (this.#state !== 'open') throw new WriterError(`message ${this.id} is already ${this.#state}`);
    this.#state = 'committed';
    if (this.#pendingBytes > 0 || this.#seq === 0) this.#flushChunk(this.#pendingBytes, true);
    // A message frozen on arrival (control = freeze) stays out of the queue index until thawed.
    // The new keys are written before the draft's, as literal keys: on Node 20, a spread followed by
    // keys it lacks (or a spread of another object) costs microseconds (decision 0014).
    // The draft has none of these keys.
    const id = this.id;
    const size = this.#size;
    const chunks = this.#seq;
    const envelope: Envelope = draft.frozen
      ? { format: 1, id, size, chunks, ...draft }
      : { format: 1, id, size, chunks, due: draft.receivedAt, ...draft };
    const { messages, queue, incoming, root } = this.#dbs;
    // Read before the message exists for anyone else: an edit that touches it later moves the mark past this.
    this.#markAtCommit = readMark(this.#dbs);
    // LMDB applies these in order within batched transactions: once the envelope is on disk,
    // every chunk before it is too.
    const stored = messages.put(this.id, envelope);
    if (!draft.frozen) void queue.put([envelope.receivedAt, this.id], true);
    if (this.#marked) void incoming.remove(this.id);
    try {
      // Bounded by spool_commit_timeout: a sync that never comes fails the commit (the session
      // answers 451) instead of holding the client.
      const own = (stored as { flushed?: PromiseLike<unknown> }).flushed;
      if (own) await Promise.all([stored, this.#dbs.flushes.add(own)]);
      else await this.#dbs.flushes.deadline.watch(flushedOf(stored, root));
    } catch (e) {
      throw new WriterError(`spool commit of ${this.id} failed: ${(e as Error).message}`, { cause: e });
    }
    if (this.#failure) {
      // A chunk was lost while the envelope landed: withdraw the message rather than keep it damaged.
      const failure = this.#failure;
      this.#state = 'open';
      await this.abort();
      await messages.remove(this.id);
      if (!draft.frozen) void queue.remove([envelope.receivedAt, this.id]);
      await root.flushed;
      throw new WriterError(`spool write of ${this.id} failed: ${failure.message}`, { cause: failure });
    }
    return envelope;
  }

  /** Throw away what was written (client vanished, message refused). */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#pending = [];
    const { data, incoming } = this.#dbs;
    for (let i = 0; i < this.#seq; i++) void data.remove([this.id, i]);
    if (this.#marked) await incoming.remove(this.id);
    else if (this.#seq > 0) await data.committed;
  }
}

/**
 * Resolves when the transaction holding this write is on disk. With separateFlushed, lmdb-js
 * hangs that transaction's flush on the write's promise; inside an explicit batch it does not,
 * and the environment's pending flush (never an earlier one) is waited for instead.
 */
export async function flushedOf(write: Promise<unknown>, root: RootDatabase): Promise<void> {
  const own = (write as { flushed?: PromiseLike<unknown> }).flushed;
  await write;
  await (own ?? root.flushed);
}
