// The smtp-session actor's context, input and the ports through which it reaches the rest of Petrel.
import type { Mailbox } from '../../protocol/smtp/address.js';
import type { MailParams, RcptParams } from '../../protocol/smtp/params.js';
import type { Decision, Offer } from '../../protocol/smtp/sequencer.js';
import type { HeaderField } from '../../protocol/message/headers.js';
import type { Envelope, TlsRecord } from '../../store/envelope.js';
import type { EnvelopeDraft } from '../../store/writer.js';
import type { DataSummary } from '../events.js';

export type AclStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'predata' | 'data';

/** The facts an ACL is evaluated against (the policy layer adds lists and ports). */
export interface AclRequest {
  readonly stage: AclStage;
  readonly clientIp: string;
  readonly sender?: Mailbox | null;
  readonly recipient?: Mailbox;
  readonly recipients: readonly Mailbox[];
  readonly authenticatedId?: string;
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
  readonly headerMax: number;
  readonly timeouts: {
    readonly command: number;
    readonly data: number;
    readonly acl: number;
    readonly commit: number;
    readonly tlsHandshake: number;
  };
}

/** Everything with a side effect that the session needs, provided by its driver. */
export interface SessionPorts {
  runAcl(request: AclRequest): Promise<AclOutcome>;
  /** A fresh message id and the time of receipt. */
  newMessage(): { id: string; time: number };
  /** Durably store the message received since beginData; resolves only once it is on disk. */
  commit(draft: EnvelopeDraft): Promise<Envelope>;
  /** The ESMTP extensions to offer this client, given whether TLS is active. */
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

export interface SessionContext {
  readonly conn: ConnectionFacts;
  readonly settings: SessionSettings;
  readonly ports: SessionPorts;
  greeting: 'none' | 'helo' | 'ehlo';
  heloName: string;
  offer: Offer;
  tls?: TlsRecord;
  authenticatedId?: string;
  /** undefined: no MAIL yet; null: the null sender <>. */
  sender: Mailbox | null | undefined;
  mailParams: MailParams;
  recipients: AcceptedRecipient[];
  rcptCommands: number;
  /** Recipients accepted by an ACL's discard: answered 250, never stored. */
  discarded: number;
  aclC: Record<string, string>;
  aclM: Record<string, string>;
  addedHeaders: string[];
  messageId?: string;
  receivedAt: number;
  synprotErrors: number;
  unknownCommands: number;
  /** The command being worked on and what it means. */
  decision?: Decision;
  command?: string;
  acl?: AclOutcome;
  data?: DataSummary;
  shuttingDown: boolean;
  messages: number;
}

export type { EnvelopeDraft, DataSummary };
