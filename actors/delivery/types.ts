// What the queue hands a delivery attempt, and what comes back: jobs, destinations, per-recipient results.
import type { RemoteHost } from '../../routing/routers.js';
import type { Envelope } from '../../store/envelope.js';

/** One message's recipients that go to the same destination, as one SMTP transaction (or more). */
export interface DeliveryJob {
  readonly messageId: string;
  readonly sender: string;
  readonly recipients: readonly JobRecipient[];
  /** Octets as delivered (stored data plus added headers). */
  readonly size: number;
  readonly smtputf8: boolean;
  readonly body?: '7BIT' | '8BITMIME';
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** The envelope as the queue read it, so the runner need not read it again to stream the data. */
  readonly envelope?: Envelope;
  /** Its Message-ID header field, for the inspector, once the runner has taken the envelope off (runner.ts). */
  readonly messageIdHeader?: string;
}

export interface JobRecipient {
  /** Index of the recipient in the message's envelope. */
  readonly index: number;
  readonly address: string;
  readonly notify?: 'NEVER' | readonly ('SUCCESS' | 'FAILURE' | 'DELAY')[];
  readonly orcpt?: { readonly type: string; readonly address: string };
}

/** Hosts to try in order; a delivery actor works on one destination. */
export interface Destination {
  readonly key: string;
  readonly hosts: readonly RemoteHost[];
}

export type RecipientOutcome =
  | { readonly kind: 'delivered'; readonly reply: string }
  | { readonly kind: 'failed'; readonly status: string; readonly reason: string; readonly reply?: string }
  | { readonly kind: 'deferred'; readonly reason: string; readonly reply?: string; readonly maybeDelivered?: boolean };

export interface RecipientResult {
  readonly index: number;
  readonly outcome: RecipientOutcome;
  /** Where it happened (absent when no connection was made). */
  readonly host?: { readonly name: string; readonly ip: string; readonly port: number };
  readonly tls?: { readonly version: string; readonly cipher: string };
  /** For reports (Exim's extra DSN diagnostics). */
  readonly greeting?: string;
  readonly heloResponse?: string;
  /** Delivered to another MTA (a success report then says "relayed", RFC 3464 2.3.3). */
  readonly relayed?: boolean;
  /** The next hop took the DSN parameters (it offered DSN): it reports success itself. */
  readonly dsnPassedOn?: boolean;
}

export function destinationKey(hosts: readonly RemoteHost[]): string {
  return hosts.map((h) => `${h.name}:${h.port}=${h.addresses.join(',')}`).join(' ');
}
