// The spool's LMDB databases as its writer and reader share them, and the tracker of group-commit batches.
import type { Database, RootDatabase } from 'lmdb';
import type { Envelope } from './envelope.js';
import { CommitDeadline } from './deadline.js';

/** spool_commit_timeout's default (config/schema.ts): how long a commit may wait for its sync. */
export const DEFAULT_COMMIT_TIMEOUT_MS = 60_000;

/**
 * Key of the edit mark in the `marks` database: its version is a random number that another process
 * (petrel queue freeze, delete...) changes with each edit of queued messages. The daemon holds the
 * envelopes of messages under delivery; while the mark stands where it was when it read one, nobody
 * else has changed it, and it need not read it again. Results are written only if the mark still
 * stands when LMDB commits them (Spool.apply's ifMark).
 */
export const EDIT_MARK = 'edited';

/** The edit mark as the databases hold it: the version of its entry, 0 when there is none. */
export function readMark(dbs: SpoolDbs): number {
  return dbs.marks?.getEntry(EDIT_MARK)?.version ?? 0;
}

/** Databases of one spool; all writes to them share LMDB's batched transactions. */
export interface SpoolDbs {
  readonly root: RootDatabase;
  readonly messages: Database<Envelope, string>;
  readonly data: Database<Buffer, [string, number]>;
  readonly incoming: Database<{ started: number; pid: number }, string>;
  readonly queue: Database<true, [number, string]>;
  /**
   * Versioned: the edit mark is the version of its one entry, so that a write can be made
   * conditional on it inside LMDB's own transaction (ifVersion). Absent in a read-only look at a
   * spool no writer has opened since it came in.
   */
  readonly marks: Database<true, string> | undefined;
  /** Counts the commits each sync makes durable (group commit), for metrics. */
  readonly flushes: FlushTracker;
}

/**
 * Groups commits by the flush that makes them durable: reports each group's size once flushed,
 * and bounds the group's wait with the commit deadline (one watch per group, not per message).
 */
export class FlushTracker {
  #current: { promise: PromiseLike<unknown>; count: number; bounded: Promise<unknown> } | undefined;
  onBatch: ((size: number) => void) | undefined;
  readonly deadline = new CommitDeadline(DEFAULT_COMMIT_TIMEOUT_MS);

  /** Count a commit into the group of `flushed`; resolves with that flush, or fails past the deadline. */
  add(flushed: PromiseLike<unknown>): Promise<unknown> {
    const current = this.#current;
    if (current?.promise === flushed) {
      current.count++;
      return current.bounded;
    }
    const batch = { promise: flushed, count: 1, bounded: this.deadline.watch(flushed) };
    this.#current = batch;
    flushed.then(() => this.onBatch?.(batch.count), () => undefined);
    return batch.bounded;
  }
}
