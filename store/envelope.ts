// The envelope record kept in the spool beside each message's data (see ARCHITECTURE.md, spool format).

/**
 * pending: not tried yet; deferred: tried, will be tried again; delivered and failed are final;
 * expanded: a redirect replaced it with the recipients that name it as `parent`.
 */
export type RecipientState = 'pending' | 'delivered' | 'deferred' | 'failed' | 'expanded';

export interface RecipientRecord {
  /** local@domain as given at RCPT (domain as written). */
  readonly address: string;
  /** DSN parameters (RFC 3461), passed on or used for reports. */
  readonly notify?: 'NEVER' | readonly ('SUCCESS' | 'FAILURE' | 'DELAY')[];
  readonly orcpt?: { readonly type: string; readonly address: string };
  readonly state: RecipientState;
  /** The address a redirect (alias) expanded into this one. */
  readonly parent?: string;
  readonly attempts?: number;
  /** When the first temporary failure happened (retry rules count from here). */
  readonly firstFailure?: number;
  readonly lastAttempt?: number;
  /** When this recipient may be tried again (deferred only). */
  readonly nextAttempt?: number;
  /** The last outcome in words: the remote reply or the local reason. */
  readonly lastError?: string;
  /** Where it went or failed: host name, address and port, and the reply, for logs and reports. */
  readonly host?: { readonly name: string; readonly ip: string; readonly port: number };
  readonly reply?: string;
  readonly status?: string;
}

export interface TlsRecord {
  readonly version: string;
  readonly cipher: string;
  readonly peerSubject?: string;
}

export interface Envelope {
  readonly format: 1;
  readonly id: string;
  /** "" is the null reverse-path <>. */
  readonly sender: string;
  readonly recipients: RecipientRecord[];
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  readonly smtputf8: boolean;
  readonly body?: '7BIT' | '8BITMIME';
  readonly client: {
    readonly ip: string;
    readonly port: number;
    readonly helo: string;
    readonly authenticatedId?: string;
  };
  readonly server: { readonly ip: string; readonly port: number };
  /** RFC 3848 protocol name, lower case (esmtp, esmtps, esmtpsa, smtp, utf8smtps...). */
  readonly protocol: string;
  readonly tls?: TlsRecord;
  readonly receivedAt: number;
  /** Octets of stored data (Received: header included, added headers not). */
  readonly size: number;
  /** Offset in the stored data where the body starts, and whether a blank line separated it. */
  readonly headerEnd: number;
  readonly headerSeparator: boolean;
  /** Headers added by ACLs, placed at the end of the header section on delivery. */
  readonly addedHeaders: readonly string[];
  /** Headers added by ACLs with `:at_start:`, placed before all others on delivery. */
  readonly prependedHeaders?: readonly string[];
  /**
   * Octet ranges [from, to) of stored header fields that are not passed on: Authentication-Results fields from
   * outside that claim our authserv-id (RFC 8601 section 5).
   */
  readonly omit?: readonly (readonly [number, number])[];
  /** The ARC chain as it arrived (RFC 8617 section 5.2): what a seal we add says in cv=. Absent: not validated. */
  readonly arc?: { readonly state: 'pass' | 'fail' | 'none'; readonly instances: number; readonly reason?: string };
  /** Authentication results at arrival, for logs and `petrel queue show`. */
  readonly auth?: {
    readonly spf?: string;
    readonly dkim?: readonly { readonly domain: string; readonly status: string }[];
    readonly dmarc?: string;
  };
  readonly messageIdHeader?: string;
  readonly chunks: number;
  /** Time key of this message's entry in the queue index; absent while frozen. */
  readonly due?: number;
  readonly frozen?: boolean;
  /** Delay warnings already sent, by the delay_warning threshold (ms) they were for. */
  readonly warned?: readonly number[];
  /** For reports we generated: the id of the message they are about. */
  readonly reportOf?: string;
}
