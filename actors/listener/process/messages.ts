// The messages between the daemon and its session processes (session_processes), over the IPC channel.
import type { Envelope } from '../../../store/envelope.js';
import type { MetricsJson } from '../../../net/admin/metrics.js';
import type { Admission } from '../service.js';

/** From the daemon to a session process. A `server` message carries the listening handle with it. */
export type ToSession =
  | { readonly op: 'init'; readonly configFile: string | undefined; readonly spoolDir: string; readonly slot: number }
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
  /** A message is durably queued: the queue may deliver it. */
  | { readonly op: 'committed'; readonly envelope: Envelope }
  /** A message the process generated itself (a DMARC failure report) is durable. */
  | { readonly op: 'submit'; readonly id: string }
  | { readonly op: 'metrics'; readonly seq: number; readonly json: MetricsJson };
