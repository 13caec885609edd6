// The durable spool: message data in chunks and envelopes in one LMDB environment (group commit + fsync).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { open } from 'lmdb';
import type { Envelope } from './envelope.js';
import { MessageWriter } from './writer.js';

export const SPOOL_FORMAT = 1;
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

export interface RecoveryReport {
  /** Messages whose data was being received when the process stopped; never acknowledged. */
  readonly discarded: readonly string[];
}

/** Databases of one spool; all writes to them share LMDB's batched transactions. */
export interface SpoolDbs {
  readonly root: RootDatabase;
  readonly messages: Database<Envelope, string>;
  readonly data: Database<Buffer, [string, number]>;
  readonly incoming: Database<{ started: number; pid: number }, string>;
  readonly queue: Database<true, [number, string]>;
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
      // overlappingSync stays on (it lets the next batch commit while this one flushes);
      // durability comes from awaiting `flushed` before each acknowledgement.
      root = open({ path: join(dir, 'petrel.lmdb'), readOnly: opts.readOnly ?? false, maxDbs: 16 });
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

  /** Start receiving a message; nothing is visible as queued until the writer commits. */
  beginMessage(id: string): MessageWriter {
    return new MessageWriter(this.#dbs, id, CHUNK_SIZE);
  }

  envelope(id: string): Envelope | undefined {
    return this.#dbs.messages.get(id);
  }

  /** The stored data of a message, chunk by chunk (Received: header first). */
  *data(id: string): Iterable<Buffer> {
    for (const { value } of this.#dbs.data.getRange({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) {
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
    return this.#dbs.messages.getCount();
  }

  /** Remove a message and its index entries; resolves once durable. */
  async remove(id: string): Promise<boolean> {
    const env = this.envelope(id);
    if (!env) return false;
    const { data, messages, queue } = this.#dbs;
    for (const key of data.getKeys({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) data.remove(key);
    queue.remove([env.receivedAt, id]);
    messages.remove(id);
    await this.#dbs.root.flushed;
    return true;
  }

  async close(): Promise<void> {
    await this.#dbs.root.flushed;
    await this.#dbs.root.close();
    if (this.#lockFile) rmSync(this.#lockFile, { force: true });
  }
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
