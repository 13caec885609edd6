// DSN decisions that need no message: status codes (RFC 3463), NOTIFY (RFC 3461 section 4.1),
// RET (RFC 3461 section 4.3), and who may receive a report at all (RFC 5321 section 6.1).
import type { Notify } from '../smtp/params.js';

/** The three kinds of event a report can tell of, as NOTIFY names them (FAILURE, DELAY, SUCCESS). */
export type NotifyEvent = 'failure' | 'delay' | 'success';

/** Per-recipient Action values of RFC 3464 section 2.3.3. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

const STATUS = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/** true for a syntactically valid status code: class.subject.detail, class 2, 4 or 5. */
export function isStatus(s: string): boolean {
  return STATUS.test(s);
}

/**
 * The Status for a recipient from an SMTP reply: the reply's enhanced code (RFC 2034) when it has
 * one of the same class as the reply code, else the class's generic code. A reply code outside
 * 2xx/4xx/5xx (a 3xx out of place, garbage) is treated as a permanent protocol failure.
 */
export function dsnStatusFromReply(code: number, enhanced?: string): string {
  const cls = Math.floor(code / 100);
  if (enhanced !== undefined && cls >= 2 && cls <= 5) {
    const m = STATUS.exec(enhanced.trim());
    if (m && m[1] === String(cls)) return `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
  }
  if (cls === 2) return '2.0.0';
  if (cls === 4) return '4.0.0';
  return '5.0.0';
}

/** Which NOTIFY event an Action reports: relayed and expanded count as success (RFC 3461 section 5.2). */
export function eventOfAction(action: DsnAction): NotifyEvent {
  switch (action) {
    case 'failed': return 'failure';
    case 'delayed': return 'delay';
    default: return 'success';
  }
}

/**
 * Whether a report may be sent for this recipient, per its NOTIFY parameter.
 * No NOTIFY: FAILURE and DELAY (the behaviour RFC 3461 section 4.1 allows for the absent parameter,
 * and what senders expect of a classic MTA). NEVER: nothing. Otherwise only the events listed:
 * a success report only when SUCCESS was asked for.
 */
export function shouldNotify(notify: Notify | undefined, event: NotifyEvent): boolean {
  if (notify === undefined) return event !== 'success';
  if (notify === 'NEVER') return false;
  const want = event === 'failure' ? 'FAILURE' : event === 'delay' ? 'DELAY' : 'SUCCESS';
  return notify.includes(want);
}

/**
 * Whether a report may be sent to this envelope sender. The null reverse-path ("" or "<>") marks
 * mail that must never cause a report (RFC 5321 section 4.5.5, RFC 3461 section 6.2): reports
 * themselves are sent from it, so this is what stops two MTAs bouncing a message forever.
 */
export function reportable(sender: string): boolean {
  const s = sender.trim();
  return s !== '' && s !== '<>';
}

/**
 * What of the original a report returns. Only a report that tells of a failure honours RET
 * (RFC 3461 section 4.3: a report without failures returns the headers only). Without RET the
 * choice is the MTA's; Petrel returns the headers: a bounce of a large message stays small, and
 * the body is not sent back to an address that may not be the author's.
 */
export function returnedContent(kind: NotifyEvent, ret: 'FULL' | 'HDRS' | undefined): 'full' | 'headers' {
  return kind === 'failure' && ret === 'FULL' ? 'full' : 'headers';
}

// Short plain-words meanings of the subject.detail codes of RFC 3463 section 3, for the
// human-readable part of a report.
const MEANING: Record<string, string> = {
  '0.0': 'other or undefined status',
  '1.0': 'bad address',
  '1.1': 'bad destination mailbox address',
  '1.2': 'bad destination system address',
  '1.3': 'bad destination mailbox address syntax',
  '1.4': 'destination mailbox address ambiguous',
  '1.5': 'destination address valid',
  '1.6': 'destination mailbox has moved',
  '1.7': "bad sender's mailbox address syntax",
  '1.8': "bad sender's system address",
  '1.10': 'recipient address has null MX',
  '2.0': 'mailbox problem',
  '2.1': 'mailbox disabled, not accepting messages',
  '2.2': 'mailbox full',
  '2.3': 'message length exceeds administrative limit',
  '2.4': 'mailing list expansion problem',
  '3.0': 'mail system problem',
  '3.1': 'mail system full',
  '3.2': 'system not accepting network messages',
  '3.3': 'system not capable of selected features',
  '3.4': 'message too big for system',
  '3.5': 'system incorrectly configured',
  '4.0': 'network or routing problem',
  '4.1': 'no answer from host',
  '4.2': 'bad connection',
  '4.3': 'directory server failure',
  '4.4': 'unable to route',
  '4.5': 'mail system congestion',
  '4.6': 'routing loop detected',
  '4.7': 'delivery time expired',
  '5.0': 'mail delivery protocol problem',
  '5.1': 'invalid command',
  '5.2': 'syntax error',
  '5.3': 'too many recipients',
  '5.4': 'invalid command arguments',
  '5.5': 'wrong protocol version',
  '6.0': 'message content or media problem',
  '6.1': 'media not supported',
  '6.2': 'conversion required and prohibited',
  '6.3': 'conversion required but not supported',
  '6.4': 'conversion with loss performed',
  '6.5': 'conversion failed',
  '6.6': 'message content not available',
  '6.7': 'non-ASCII addresses not permitted for that sender or recipient',
  '6.8': 'UTF-8 string reply is required, but not permitted by the SMTP client',
  '7.0': 'security or policy problem',
  '7.1': 'delivery not authorized, message refused',
  '7.2': 'mailing list expansion prohibited',
  '7.3': 'security conversion required but not possible',
  '7.4': 'security features not supported',
  '7.5': 'cryptographic failure',
  '7.6': 'cryptographic algorithm not supported',
  '7.7': 'message integrity failure',
};

/** A plain-words meaning of a status code ("5.1.1" -> "bad destination mailbox address"). */
export function statusMeaning(status: string): string {
  const m = STATUS.exec(status);
  if (!m) return 'unknown status';
  const sd = `${Number(m[2])}.${Number(m[3])}`;
  if (m[1] === '2' && sd === '0.0') return 'success';
  return MEANING[sd] ?? MEANING[`${Number(m[2])}.0`] ?? 'other status';
}
