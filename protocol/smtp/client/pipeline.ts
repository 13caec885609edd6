// How one mail transaction is sent: command groups under PIPELINING (RFC 2920) or one command at a
// time, and whether an internationalized envelope or header can go to this server (RFC 6531).
import type { MailFromParams, RcptToParams } from './commands.js';
import { SmtpClientError, data, mailFrom, rcptTo } from './commands.js';
import type { Capabilities } from './ehlo.js';

export interface Transaction {
  readonly sender: string;
  readonly mail?: MailFromParams;
  readonly recipients: readonly { readonly address: string; readonly params?: RcptToParams }[];
}

/** One command of a plan; `stage` is what trouble.ts judges its reply under. */
export type PlannedCommand =
  | { readonly stage: 'mail'; readonly line: string }
  /** rcptIndex: position in the transaction's recipients, the `rcptIndex` that judge() wants. */
  | { readonly stage: 'rcpt'; readonly line: string; readonly rcptIndex: number }
  | { readonly stage: 'data'; readonly line: string };

/**
 * The command groups of a transaction, to be sent group by group: all lines of a group in one
 * write, then one reply read per line, in order, before the next group.
 *
 * With PIPELINING, MAIL, every RCPT and DATA form one group; DATA ends it, as it changes state
 * (RFC 2920 section 3.1). Without it, each command is its own group (RFC 5321 section 4.3).
 *
 * What the caller does with the replies of a group: judge each failure (trouble.ts), in order,
 * the first transaction-wide verdict winning. The DATA reply counts only when at least one RCPT was
 * accepted; when none was, the server's refusal of DATA says nothing new, and if it answered 354
 * anyway the content must not follow: send the end-of-data line alone, then RSET.
 */
export function planTransaction(caps: Capabilities, tx: Transaction): PlannedCommand[][] {
  if (tx.recipients.length === 0) throw new SmtpClientError('a transaction needs at least one recipient');
  const commands: PlannedCommand[] = [{ stage: 'mail', line: mailFrom(tx.sender, tx.mail ?? {}, caps) }];
  tx.recipients.forEach((r, i) => {
    commands.push({ stage: 'rcpt', line: rcptTo(r.address, r.params ?? {}, caps), rcptIndex: i });
  });
  commands.push({ stage: 'data', line: data() });
  return caps.pipelining ? [commands] : commands.map((c) => [c]);
}

/** Which parts of a message need SMTPUTF8 (RFC 6531 section 3.4). */
export interface Utf8Need {
  /** SMTPUTF8 must be on MAIL (when offered) because something below is non-ASCII. */
  readonly needed: boolean;
  readonly sender: boolean;
  /** The header section holds UTF-8 (RFC 6532), as the caller found when the message was received. */
  readonly headers: boolean;
  /** Indices (into the recipients given) of non-ASCII recipient addresses. */
  readonly recipients: readonly number[];
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

export function needsSmtpUtf8(sender: string, recipients: readonly string[], headersAreUtf8: boolean): Utf8Need {
  const senderUtf8 = NON_ASCII.test(sender);
  const rcpts: number[] = [];
  recipients.forEach((r, i) => {
    if (NON_ASCII.test(r)) rcpts.push(i);
  });
  return {
    needed: senderUtf8 || headersAreUtf8 || rcpts.length > 0,
    sender: senderUtf8,
    headers: headersAreUtf8,
    recipients: rcpts,
  };
}

export type Utf8Problem =
  | { readonly kind: 'none' }
  /** The sender or the header section is non-ASCII: nothing of this message can go to this server. */
  | { readonly kind: 'message'; readonly part: 'sender' | 'headers' }
  /** Only these recipients (indices) are non-ASCII: they fail, the others go without SMTPUTF8. */
  | { readonly kind: 'recipients'; readonly indices: readonly number[] };

/**
 * What a server without SMTPUTF8 means for this message. An SMTPUTF8-aware client must not send an
 * internationalized address or header to it and, being no submission server free to rewrite, should
 * reject (RFC 6531 sections 3.2 and 3.5): judge() turns the answer into fail-message (sender,
 * headers) or fail-recipient (those recipients), status 5.6.7. Converting a U-label domain to its
 * A-label to get by without SMTPUTF8 is not attempted here.
 */
export function smtpUtf8Problem(need: Utf8Need, caps: Pick<Capabilities, 'smtpUtf8'>): Utf8Problem {
  if (!need.needed || caps.smtpUtf8) return { kind: 'none' };
  if (need.sender) return { kind: 'message', part: 'sender' };
  if (need.headers) return { kind: 'message', part: 'headers' };
  return { kind: 'recipients', indices: need.recipients };
}
