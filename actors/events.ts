// Every event and emitted event between Petrel's actors, in one place (see ARCHITECTURE.md, "Actors").
import type { Command } from '../protocol/smtp/command.js';
import type { Envelope, TlsRecord } from '../store/envelope.js';
import type { EnvelopeDraft } from '../store/writer.js';
import type { AclOutcome, AclRequest, DataSummary } from './smtp-session/types.js';
import type { ServerReply } from '../protocol/smtp/client/replies.js';
import type { DeliveryJob } from './delivery/types.js';
import type { SpfResult } from '../protocol/spf/index.js';
import type { AuthFacts } from '../policy/auth-facts.js';

// ---- smtp-session: sent by the connection driver --------------------------------------------

/** One command line read off the socket. */
export interface CommandEvent {
  readonly type: 'SMTP.COMMAND';
  readonly command: Command;
  /** Octets of the line including its line ending. */
  readonly octets: number;
  /** More input was already waiting behind this line when it was read (pipelining). */
  readonly pipelined: boolean;
  /** Input arrived before the banner was sent. */
  readonly early: boolean;
}

// DataSummary lives with the session's other types (no import cycle); it is listed here as an event payload.
export type { DataSummary } from './smtp-session/types.js';

/** What the session tells its driver to verify a message with, besides the message itself. */
export interface VerifyAsk {
  readonly messageId: string;
  readonly receivedAt: number;
  readonly recipients: readonly string[];
  readonly helo: string;
  readonly sender: string;
  /** MAIL FROM's SPF result when an ACL already checked it (DMARC reuses it). */
  readonly spf?: SpfResult;
  readonly dkimDisabled: boolean;
  readonly dmarcDisabled: boolean;
  readonly authenticated: boolean;
  /** control = dmarc_enable_forensic: send DMARC failure reports the record asks for. */
  readonly forensic: boolean;
}

export type SessionEvent =
  | CommandEvent
  /**
   * The client was silent too long: in command phase since the session became ready for a
   * command, in data phase since the last data arrived (RFC 5321 section 4.5.3.2).
   */
  | { readonly type: 'SOCKET.TIMEOUT' }
  | { readonly type: 'DATA.END'; readonly summary: DataSummary }
  | { readonly type: 'ACL.RESULT'; readonly seq: number; readonly outcome: AclOutcome }
  | { readonly type: 'ACL.FAILED'; readonly seq: number; readonly error: string }
  /** The message verifier's findings (DKIM, ARC, DMARC, and SPF if it had to check it). */
  | { readonly type: 'VERIFY.DONE'; readonly seq: number; readonly facts: AuthFacts }
  | { readonly type: 'VERIFY.FAILED'; readonly seq: number; readonly error: string }
  | { readonly type: 'SPOOL.COMMITTED'; readonly envelope: Envelope }
  | { readonly type: 'SPOOL.FAILED'; readonly error: string }
  | { readonly type: 'TLS.READY'; readonly tls: TlsRecord }
  | { readonly type: 'TLS.FAILED'; readonly reason: string }
  | { readonly type: 'SOCKET.CLOSED' }
  /** From the listener: the daemon is stopping. */
  | { readonly type: 'SESSION.SHUTDOWN' };

/** Side effects the session asks its driver to perform, in order. */
export type SessionEmitted =
  | { readonly type: 'reply'; readonly text: string }
  /** Evaluate an ACL; the driver answers ACL.RESULT or ACL.FAILED with the same seq. */
  | { readonly type: 'acl'; readonly seq: number; readonly request: AclRequest }
  /** Verify the message just received; the driver answers VERIFY.DONE or VERIFY.FAILED with the same seq. */
  | { readonly type: 'verify'; readonly seq: number; readonly ask: VerifyAsk }
  /** Durably store the message; the driver answers SPOOL.COMMITTED or SPOOL.FAILED. */
  | { readonly type: 'commit'; readonly draft: EnvelopeDraft; /** control = queue_only or freeze: no delivery at once. */ readonly hold: boolean }
  | { readonly type: 'close' }
  | { readonly type: 'startTls' }
  /** Start receiving content; `verify`: compute the body hashes DKIM and ARC need (off: dkim_disable_verify). */
  | { readonly type: 'beginData'; readonly id: string; readonly header: string; readonly dkim: boolean }
  | { readonly type: 'discardData' }
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly msg: string; readonly fields: Readonly<Record<string, unknown>> };

// ---- delivery: sent by the delivery runner (the SMTP client's socket) --------------------------

export type DeliveryEvent =
  | { readonly type: 'NET.CONNECTED' }
  /** Replies read together, in order: usually one, or a pipelined group (RFC 2920) stepped as one event. */
  | { readonly type: 'NET.REPLY'; readonly replies: readonly ServerReply[] }
  | { readonly type: 'NET.GARBAGE'; readonly reason: string }
  | { readonly type: 'NET.CLOSED' }
  | { readonly type: 'NET.ERROR'; readonly code: string }
  /** The message content and its final dot are written. */
  | { readonly type: 'NET.SENT' }
  /**
   * A message written whole (sendMessage `whole`) could not be read from the spool: the connection is
   * cut, and none of it reached the server (so it was not delivered there, whatever comes next).
   */
  | { readonly type: 'NET.UNSENT' }
  | { readonly type: 'TLS.READY'; readonly tls: TlsRecord }
  | { readonly type: 'TLS.FAILED'; readonly reason: string }
  /** The queue's answer to wantJob: another job for this destination, or none. */
  | { readonly type: 'JOB.NEXT'; readonly job?: DeliveryJob }
  /** While the connection idles: a job for this destination has come (ask for it). */
  | { readonly type: 'JOB.WAKE' }
  /** While the connection idles: the queue needs the slot, or is stopping (QUIT now). */
  | { readonly type: 'JOB.NONE' };

// ---- listener ---------------------------------------------------------------------------------

/** Why the listener turns a connection away (smtp_accept_max, smtp_accept_max_per_host, or the stop). */
export type RefusalReason = 'total' | 'per-host' | 'stopping';

export type ListenerEvent =
  /** A connection was refused (counted for the inspector; admitted ones are counted outside the actor). */
  | { readonly type: 'CONN.REFUSED'; readonly ip: string; readonly reason: RefusalReason }
  | { readonly type: 'LISTENER.LIMITS'; readonly maxTotal: number; readonly maxPerHost: number }
  | { readonly type: 'LISTENER.STOP' };

// ---- supervisor -------------------------------------------------------------------------------

export type SupervisorEvent =
  | { readonly type: 'SERVICE.UP'; readonly service: string }
  | { readonly type: 'SERVICE.FAILED'; readonly service: string; readonly error: string }
  | { readonly type: 'DAEMON.RELOAD' }
  | { readonly type: 'DAEMON.STOP' };
