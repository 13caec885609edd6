// The messages between the queue (main thread) and the delivery thread: one runner per connection, by id.
import type { Config } from '../../../config/load.js';
import type { RecordingQuery } from '../../inspection.js';
import type { PoolStats } from '../../supervisor/pool.js';
import type { DeliveryJob, Destination, RecipientResult } from '../types.js';

export type ToThread =
  | { readonly op: 'init'; readonly config: Config; readonly spoolDir: string }
  /** A new config (SIGHUP): the spool stays the one opened at init. */
  | { readonly op: 'reload'; readonly config: Config }
  | { readonly op: 'start'; readonly rid: number; readonly dest: Destination; readonly job: DeliveryJob }
  /** The answer to `want`: the connection's next job, or none. */
  | { readonly op: 'next'; readonly rid: number; readonly job?: DeliveryJob }
  | { readonly op: 'wake' | 'release' | 'stop'; readonly rid: number }
  /** The inspector asks about the deliveries recorded here. */
  | { readonly op: 'query'; readonly seq: number; readonly q: RecordingQuery };

export type FromThread =
  | { readonly op: 'results'; readonly rid: number; readonly messageId: string; readonly results: readonly RecipientResult[] }
  | { readonly op: 'want' | 'idle' | 'unidle' | 'ended'; readonly rid: number }
  | { readonly op: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly fields: Record<string, unknown>; readonly msg: string }
  /** The answer to the inspector's `query` of the same seq. */
  | { readonly op: 'answer'; readonly seq: number; readonly answer: unknown }
  /** A message signed (or not) on its way out, for the daemon's signing counter; with the thread's pool figures after it. */
  | { readonly op: 'signed'; readonly kind: 'dkim' | 'arc'; readonly result: 'signed' | 'skipped' | 'failed'; readonly pool?: PoolStats };
