// The smtp-session actor's context, input and the ports through which it reaches the rest of Petrel.
import type { Mailbox } from '../../protocol/smtp/address.js';
import type { MailParams, RcptParams } from '../../protocol/smtp/params.js';
import type { Decision, Offer } from '../../protocol/smtp/sequencer.js';
import type { HeaderField } from '../../protocol/message/headers.js';
import type { TlsRecord } from '../../store/envelope.js';
import type { EnvelopeDraft } from '../../store/writer.js';
import type { SpfResult } from '../../protocol/spf/index.js';
import type { AuthFacts } from '../../policy/auth-facts.js';

/** What the receiver learnt about the message content at <CRLF>.<CRLF>. */
export interface DataSummary {
  readonly size: number;
  readonly tooBig: boolean;
  readonly bareNewline: boolean;
  readonly longLine: boolean;
  /** Header fields, or 'tooBig' when the header section exceeded header_maxsize. */
  readonly headers: readonly HeaderField[] | 'tooBig';
  /** The message carries DKIM-Signature or ARC header fields: verifying it needs the network. */
  readonly signed: boolean;
}

export type AclStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'predata' | 'data';

/** The facts an ACL is evaluated against (the policy layer adds lists and ports). */
export interface AclRequest {
  readonly stage: AclStage;
  readonly clientIp: string;
  readonly sender?: Mailbox | null;
  readonly recipient?: Mailbox;
  readonly recipients: readonly Mailbox[];
  readonly authenticatedId?: string;
  /** The HELO/EHLO name ('' before one). */
  readonly helo: string;
  /** Authentication results known so far (SPF from earlier ACLs; DKIM, ARC, DMARC at the data stage). */
  readonly auth?: AuthFacts;
  readonly vars: Readonly<Record<string, string>>;
  readonly headers?: readonly HeaderField[];
}

export interface AclOutcome {
  readonly verdict: 'accept' | 'deny' | 'defer' | 'discard' | 'drop';
  readonly message?: string;
  readonly logMessage?: string;
  readonly addHeaders: readonly string[];
  readonly set: Readonly<Record<string, string>>;
  readonly logwrites: readonly string[];
  readonly controls: readonly string[];
  /** SPF checks the ACL made, kept for later stages and the message's verification. */
  readonly found?: { readonly spf?: SpfResult; readonly spfHelo?: SpfResult };
}

/** Session limits and texts taken from config when the session starts. */
export interface SessionSettings {
  readonly hostname: string;
  readonly banner: string;
  readonly messageSizeLimit: number;
  readonly recipientsMax: number;
  readonly maxSynprotErrors: number;
  readonly maxUnknownCommands: number;
  readonly bareNewline: 'reject' | 'normalize';
  readonly lineLengthLimit: number;
  /** Stages that have an ACL; the others accept at once without a round trip. */
  readonly aclStages: ReadonlySet<AclStage>;
  /**
   * Whether the end of DATA may need the message verifier: DMARC is on, so an unsigned message still needs
   * DNS. Without it, only messages carrying DKIM or ARC header fields go to the verifier.
   */
  readonly dmarc: boolean;
  /** ARC validation is on (the arc facts of an unsealed message are known without the verifier). */
  readonly arc: boolean;
  readonly headerMax: number;
  /** The logger writes info lines: the arrival line is built only then (it cost a few us per message). */
  readonly logArrivals: boolean;
  readonly timeouts: {
    readonly command: number;
    readonly data: number;
    readonly acl: number;
    readonly tlsHandshake: number;
    /** The whole end-of-DATA verification (DKIM, ARC, DMARC); the verifier bounds each step itself too. */
    readonly verify: number;
  };
}

/**
 * Pure helpers the session calls synchronously. Work with I/O (ACLs, the spool) is not here:
 * the session emits a request and its driver answers with an event (see docs/decisions).
 */
export interface SessionPorts {
  /** Evaluate an ACL at once if it needs no waiting (pure: lists, expansions); else undefined. */
  tryAcl(request: AclRequest): AclOutcome | undefined;
  /** A fresh message id and the time of receipt (an id generator: no I/O). */
  newMessage(): { id: string; time: number };
  /** The ESMTP extensions to offer this client, given whether TLS is active (host-list matching). */
  offer(tls: boolean): Offer;
}

export interface ConnectionFacts {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly serverIp: string;
  readonly serverPort: number;
  readonly tls?: TlsRecord;
}

export interface SessionInput {
  readonly conn: ConnectionFacts;
  readonly settings: SessionSettings;
  readonly ports: SessionPorts;
}

export interface AcceptedRecipient {
  readonly mailbox: Mailbox;
  readonly params: RcptParams;
}

/*
 * SessionState and Transaction have a fixed shape: every key is present from the start (undefined
 * until known), because they are copied with a spread and a few keys changed on most steps. On
 * Node 20, `{ ...o, k: v }` costs about 1 us when `k` is not already a key of `o` (the copy gets a
 * map of its own), against about 50 ns when it is (decision 0014).
 */

/** What lasts for the whole connection. */
export interface SessionState {
  readonly greeting: 'none' | 'helo' | 'ehlo';
  readonly heloName: string;
  readonly offer: Offer;
  readonly tls: TlsRecord | undefined;
  readonly authenticatedId: string | undefined;
  readonly aclC: Readonly<Record<string, string>>;
  /** SPF for the HELO identity (RFC 7208 section 2.3), once an ACL asked; cleared by the next HELO/EHLO. */
  readonly spfHelo: SpfResult | undefined;
  readonly synprotErrors: number;
  readonly unknownCommands: number;
  readonly shuttingDown: boolean;
  readonly messages: number;
}

/** One mail transaction, cleared by RSET, EHLO/HELO, STARTTLS and each finished message. */
export interface Transaction {
  /** undefined: no MAIL yet; null: the null sender <>. */
  readonly sender: Mailbox | null | undefined;
  readonly mailParams: MailParams;
  /** Appended in place (a transaction may have thousands of recipients). */
  readonly recipients: AcceptedRecipient[];
  readonly rcptCommands: number;
  /** Recipients accepted by an ACL's discard: answered 250, never stored. */
  readonly discarded: number;
  readonly aclM: Readonly<Record<string, string>>;
  readonly addedHeaders: readonly string[];
  /** add_header = :at_start:... : placed before all other header fields. */
  readonly prependedHeaders: readonly string[];
  /** Controls set by ACLs during this transaction (dkim_disable_verify, dmarc_enable_forensic...). */
  readonly controls: readonly string[];
  /** Authentication results: SPF once an ACL asked, the rest at the end of DATA. */
  readonly auth: AuthFacts | undefined;
  readonly messageId: string | undefined;
  readonly receivedAt: number;
  readonly data: DataSummary | undefined;
  /** An ACL said discard at MAIL or predata: the whole message is answered 250 and not stored. */
  readonly discardAll: boolean | undefined;
}

/**
 * The actor's context. Few top-level keys on purpose: xstate copies the context with
 * Object.assign on every assign, and V8 turns an object built that way with many keys into a
 * slow dictionary (measured: 7 us per copy with 23 keys).
 */
export interface SessionContext {
  readonly conn: ConnectionFacts;
  readonly settings: SessionSettings;
  readonly ports: SessionPorts;
  /** Sequence number of the ACL request in flight, so that a late answer is recognised. */
  readonly aclSeq: number;
  readonly session: SessionState;
  readonly tx: Transaction;
  /** The command being worked on and what it means. */
  readonly decision: Decision | undefined;
  /** The one mutable part: per-session scratch shared by one event's guards and actions (see EventMemo). */
  readonly memo: EventMemo;
}

/**
 * What the event being processed means, worked out once for all the guards and actions of its
 * transition: the command's decision and the inline ACL outcome. Keyed by the event object; a
 * session's events are processed one at a time, so one slot per session is enough. (A WeakMap
 * keyed by event did this at about 28 us per session: ephemeron tables grow until a collection.)
 */
export interface EventMemo {
  event: object | undefined;
  decision: Decision | undefined;
  /** undefined: not worked out for this event; null: the ACL must wait, the driver runs it. */
  outcome: AclOutcome | null | undefined;
}

export type { EnvelopeDraft };
