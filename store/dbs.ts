// The spool's LMDB databases as its writer and reader share them, and the tracker of group-commit batches.
import type { Database, RootDatabase } from 'lmdb';
import type { Envelope } from './envelope.js';

/** Databases of one spool; all writes to them share LMDB's batched transactions. */
export interface SpoolDbs {
  readonly root: RootDatabase;
  readonly messages: Database<Envelope, string>;
  readonly data: Database<Buffer, [string, number]>;
  readonly incoming: Database<{ started: number; pid: number }, string>;
  readonly queue: Database<true, [number, string]>;
  /** Counts the commits each sync makes durable (group commit), for metrics. */
  readonly flushes: FlushTracker;
}

/** Groups commits by the flush that makes them durable; reports each group's size once flushed. */
export class FlushTracker {
  #current: { promise: PromiseLike<unknown>; count: number } | undefined;
  onBatch: ((size: number) => void) | undefined;

  add(flushed: PromiseLike<unknown>): void {
    if (this.#current?.promise === flushed) {
      this.#current.count++;
      return;
    }
    const batch = { promise: flushed, count: 1 };
    this.#current = batch;
    flushed.then(() => this.onBatch?.(batch.count), () => undefined);
  }
}
