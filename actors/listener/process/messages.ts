// The messages between the daemon and its session processes (session_processes), over the IPC channel.
import type { Envelope } from '../../../store/envelope.js';
import type { EnvelopeDraft } from '../../../store/writer.js';
import type { MetricsJson } from '../../../net/admin/metrics.js';
import type { Admission } from '../service.js';

/** From the daemon to a session process. A `server` message carries the listening handle with it. */
export type ToSession =
  | { readonly op: 'init'; readonly configFile: string | undefined; readonly slot: number }
  /** The daemon's writer took these octets of a message (flow control). */
  | { readonly op: 'taken'; readonly id: string; readonly bytes: number }
  /** A message's commit: on disk (the session may answer 250) or failed. */
  | ({ readonly op: 'stored'; readonly id: string } & ({ readonly envelope: Envelope } | { readonly error: string }))
  | { readonly op: 'inserted'; readonly seq: number; readonly error?: string }
  | { readonly op: 'server'; readonly key: string; readonly tlsOnConnect: boolean }
  | { readonly op: 'drop'; readonly key: string }
  | { readonly op: 'admission'; readonly seq: number; readonly admission: Admission }
  | { readonly op: 'reload' }
  | { readonly op: 'metrics'; readonly seq: number }
  | { readonly op: 'stop'; readonly deadlineMs: number };

/** From a session process to the daemon; those of one turn travel together, in order. */
export type FromSession =
  | { readonly op: 'ready' }
  /** The process could not start (its config failed to load or compile). */
  | { readonly op: 'failed'; readonly error: string }
  | { readonly op: 'open'; readonly seq: number; readonly ip: string }
  | { readonly op: 'closed'; readonly ip: string }
  /** Message data for the daemon's spool writer: a chunk, the last part with the envelope, or its withdrawal. */
  | { readonly op: 'data'; readonly id: string; readonly data: Uint8Array }
  | { readonly op: 'commit'; readonly id: string; readonly draft: EnvelopeDraft; readonly data: Uint8Array }
  | { readonly op: 'abort'; readonly id: string }
  /** A message the process generated itself (a DMARC failure report), to store and queue. */
  | { readonly op: 'insert'; readonly seq: number; readonly envelope: Envelope; readonly data: Uint8Array }
  | { readonly op: 'metrics'; readonly seq: number; readonly json: MetricsJson };
