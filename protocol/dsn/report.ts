// Delivery status notifications (RFC 3464) as a multipart/report (RFC 6522): a part in plain words,
// the machine-readable status part, then the returned original (RFC 3461 RET); the global types
// of RFC 6533 for SMTPUTF8 messages. Pure: the time and the report's own id are passed in.
import { rfc5322Date } from '../message/date.js';
import { headerValue, parseHeaders } from '../message/headers.js';
import { isStatus, reportable, returnedContent, statusMeaning } from './status.js';
import type { DsnAction, NotifyEvent } from './status.js';
import { asciiOnly, field, hasNonAscii, oneLine, quotedPrintable, typedAddress, wrap } from './text.js';

export interface ReportRecipient {
  /** The recipient address itself (local@domain, UTF-8 allowed); written as rfc822;... or utf-8;... */
  readonly finalRecipient: string;
  /** The ORCPT parameter (RFC 3461 section 4.2), xtext-decoded, echoed as Original-Recipient. */
  readonly originalRecipient?: { readonly type: string; readonly address: string };
  readonly action: DsnAction;
  /** RFC 3463 code such as 5.1.1; an invalid one is replaced by the generic code of the action. */
  readonly status: string;
  readonly remoteMta?: { readonly host: string; readonly ip: string; readonly port: number };
  /**
   * The remote reply or other diagnostic, e.g. "550 5.1.1 user unknown": written as
   * "Diagnostic-Code: smtp; <text>" when it is an SMTP reply, "X-Petrel; <text>" for other text,
   * and as it is when it starts with its own type ("smtp; ...", "X-Foo; ...").
   */
  readonly diagnostic?: string;
  readonly lastAttempt?: number;
  /** Written only for a delayed recipient (RFC 3464 section 2.3.9). */
  readonly willRetryUntil?: number;
  /** Exim's EXPERIMENTAL_DSN_INFO fields, under Petrel's name for the detailed diagnostic. */
  readonly extra?: { readonly greeting?: string; readonly heloResponse?: string; readonly detail?: string };
}

export interface ReportInput {
  readonly kind: NotifyEvent;
  /** Our primary_hostname. */
  readonly reportingMta: string;
  /** When we received the original (ms since the epoch). */
  readonly arrivalDate: number;
  readonly now: number;
  /** Unique per report: becomes the report's Message-ID and part of its MIME boundary. */
  readonly messageIdSeed: string;
  /** The From: of the report, e.g. "Mail Delivery System <Mailer-Daemon@host>". */
  readonly from: string;
  /** The original envelope sender: the report's To: and envelope recipient. Never the null sender. */
  readonly to: string;
  /** ENVID (RFC 3461 section 4.4), xtext-decoded, echoed as Original-Envelope-Id. */
  readonly originalEnvelopeId?: string;
  /** RET of the original; absent means headers only (see returnedContent). */
  readonly ret?: 'FULL' | 'HDRS';
  /** The original header section (CRLF or LF line ends). */
  readonly originalHeaders: Buffer;
  /** The original Subject:, shown in the human-readable part. */
  readonly originalSubject?: string;
  /** The spool id of the original, named in a delay warning's Subject:. */
  readonly queueId?: string;
  /** The original was received with SMTPUTF8: the report uses the global types of RFC 6533. */
  readonly smtputf8?: boolean;
  /** BODY of the original: 8BITMIME makes a returned full message an 8bit part. */
  readonly originalBody?: '7BIT' | '8BITMIME';
  readonly recipients: readonly ReportRecipient[];
}

/**
 * A report ready to be written in three steps: `head`; then, when `original` is 'full', the whole
 * original message (header section and body, CRLF line ends, as stored), streamed by the caller;
 * then `tail`. A headers-only report has the headers inside `head` and `original` 'none'.
 */
export interface Report {
  readonly head: Buffer;
  readonly original: 'full' | 'none';
  readonly tail: Buffer;
  readonly boundary: string;
  /** The report's own Message-ID, with angle brackets. */
  readonly messageId: string;
  /** What of the original the report carries. */
  readonly returned: 'full' | 'headers';
  /** Some part is 8bit: send with BODY=8BITMIME. */
  readonly eightBit: boolean;
  /** The report's header section or envelope recipient holds UTF-8: send with SMTPUTF8. */
  readonly smtputf8: boolean;
}

/** A programming error in the input (no recipients, a null sender): not a delivery problem. */
export class DsnError extends Error {
  readonly code = 'DSN_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'DsnError';
  }
}

const GENERIC: Record<DsnAction, string> = {
  failed: '5.0.0', delayed: '4.0.0', delivered: '2.0.0', relayed: '2.0.0', expanded: '2.0.0',
};

/** Characters safe in a Message-ID left side and a MIME boundary alike. */
const token = (s: string, max: number): string => s.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, max) || 'x';

export function buildReport(input: ReportInput): Report {
  if (input.recipients.length === 0) throw new DsnError('a report needs at least one recipient');
  if (!reportable(input.to)) throw new DsnError('no report may be sent to the null sender');
  const global = input.smtputf8 === true;
  const returned = returnedContent(input.kind, input.ret);
  const host = token(oneLine(input.reportingMta), 200);
  const seed = token(input.messageIdSeed, 40);
  const boundary = `=_petrel_${seed}_${Math.max(0, Math.floor(input.now)).toString(36)}`;
  const messageId = `<${seed}@${host}>`;

  const text = humanText(input, returned);
  const status = statusBody(input, global);
  const statusEightBit = global && hasNonAscii(status);
  const headers = headerSection(input.originalHeaders);
  const headersEightBit = headers.some((b) => b > 0x7f);
  const originalEightBit = returned === 'full'
    ? headersEightBit || input.originalBody === '8BITMIME' || global
    : headersEightBit;

  const top = topHeaders(input, { global, boundary, messageId });
  const smtputf8 = hasNonAscii(top) || hasNonAscii(input.to);

  const textAscii = !hasNonAscii(text);
  let head = top + '\r\n' +
    'This is a delivery status report in MIME format (RFC 3464).\r\n' +
    `\r\n--${boundary}\r\n` +
    `Content-Type: text/plain; charset=${textAscii ? 'us-ascii' : 'utf-8'}\r\n` +
    `Content-Transfer-Encoding: ${textAscii ? '7bit' : 'quoted-printable'}\r\n` +
    'Content-Description: Notification\r\n' +
    '\r\n' +
    (textAscii ? text.split('\n').join('\r\n') : quotedPrintable(text)) + '\r\n' +
    `\r\n--${boundary}\r\n` +
    `Content-Type: message/${global ? 'global-delivery-status' : 'delivery-status'}\r\n` +
    (statusEightBit ? 'Content-Transfer-Encoding: 8bit\r\n' : '') +
    'Content-Description: Delivery report\r\n' +
    '\r\n' +
    status +
    `\r\n--${boundary}\r\n`;
  const type = returned === 'full'
    ? (global ? 'message/global' : 'message/rfc822')
    : (global ? 'message/global-headers' : 'text/rfc822-headers');
  head += `Content-Type: ${type}\r\n` +
    (originalEightBit ? 'Content-Transfer-Encoding: 8bit\r\n' : '') +
    `Content-Description: ${returned === 'full' ? 'Original message' : 'Header section of the original message'}\r\n` +
    '\r\n';

  const headBuf = returned === 'full'
    ? Buffer.from(head, 'utf8')
    : Buffer.concat([Buffer.from(head, 'utf8'), headers]);
  return {
    head: headBuf,
    original: returned === 'full' ? 'full' : 'none',
    tail: Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
    boundary,
    messageId,
    returned,
    eightBit: statusEightBit || originalEightBit,
    smtputf8,
  };
}

function subject(input: ReportInput): string {
  switch (input.kind) {
    case 'failure':
      return 'Mail delivery failed: returning message to sender';
    case 'delay': {
      const id = input.queueId !== undefined ? ` ${token(input.queueId, 64)}` : '';
      return `Warning: message${id} delayed ${duration(input.now - input.arrivalDate)}`;
    }
    case 'success':
      return 'Delivery status notification: delivered';
  }
}

function duration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} hours`;
  return `${Math.round(hours / 24)} days`;
}

/** The first <...> of the original's Message-ID:, or undefined. */
function originalMessageId(headers: Buffer): string | undefined {
  const v = headerValue(parseHeaders(headers), 'Message-ID');
  const m = v === undefined ? null : /<[^<>\s]{1,900}>/.exec(v);
  return m?.[0];
}

function topHeaders(input: ReportInput, o: { global: boolean; boundary: string; messageId: string }): string {
  let h = field('From', input.from) +
    field('To', input.to) +
    field('Subject', subject(input)) +
    field('Date', rfc5322Date(input.now)) +
    field('Message-ID', o.messageId);
  const parent = originalMessageId(input.originalHeaders);
  if (parent !== undefined) h += field('In-Reply-To', parent) + field('References', parent);
  // RFC 3834 section 5: a report is a reply made automatically; it must not cause another one.
  h += field('Auto-Submitted', 'auto-replied');
  const failed = input.recipients
    .filter((r) => r.action === 'failed')
    .map((r) => oneLine(r.finalRecipient))
    .filter((a) => o.global || !hasNonAscii(a));
  if (failed.length > 0) h += field('X-Failed-Recipients', failed.join(', '));
  h += field('MIME-Version', '1.0') +
    field('Content-Type',
      `multipart/report; report-type=${o.global ? 'global-delivery-status' : 'delivery-status'}; boundary="${o.boundary}"`);
  return h;
}

/** The original header section with CRLF line ends, ending in one CRLF (no blank line). */
function headerSection(raw: Buffer): Buffer {
  let text = raw.toString('latin1').replace(/\r?\n/g, '\r\n');
  while (text.endsWith('\r\n\r\n')) text = text.slice(0, -2);
  if (text !== '' && !text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text, 'latin1');
}

/** The message/delivery-status body: per-message fields, then one block per recipient. */
function statusBody(input: ReportInput, global: boolean): string {
  // A plain delivery-status part is 7-bit: UTF-8 in free text becomes "?" there.
  const t = (s: string): string => (global ? oneLine(s) : asciiOnly(oneLine(s)));
  let out = '';
  if (input.originalEnvelopeId !== undefined) out += field('Original-Envelope-Id', t(input.originalEnvelopeId));
  out += field('Reporting-MTA', `dns; ${t(input.reportingMta)}`);
  out += field('Arrival-Date', rfc5322Date(input.arrivalDate));
  for (const r of input.recipients) {
    out += '\r\n';
    if (r.originalRecipient !== undefined) {
      out += field('Original-Recipient', typedAddress(r.originalRecipient.type, r.originalRecipient.address, global));
    }
    out += field('Final-Recipient', typedAddress('rfc822', r.finalRecipient, global));
    out += field('Action', r.action);
    out += field('Status', isStatus(r.status.trim()) ? r.status.trim() : GENERIC[r.action]);
    if (r.remoteMta !== undefined) {
      const { host, ip, port } = r.remoteMta;
      const name = t(host) || `[${t(ip)}]`;
      out += field('Remote-MTA', `dns; ${name}`);
      // Exim's extra: the address too (a name may have several), the port when not 25.
      if (ip !== '') out += field('Remote-MTA', `X-ip; [${t(ip)}]${port === 25 ? '' : `:${port}`}`);
    }
    if (r.diagnostic !== undefined && oneLine(r.diagnostic) !== '') {
      const d = t(r.diagnostic);
      out += field('Diagnostic-Code', diagnosticCode(d));
    }
    if (r.lastAttempt !== undefined) out += field('Last-Attempt-Date', rfc5322Date(r.lastAttempt));
    if (r.willRetryUntil !== undefined && r.action === 'delayed') {
      out += field('Will-Retry-Until', rfc5322Date(r.willRetryUntil));
    }
    const x = r.extra;
    // Only the first line of a multi-line greeting or EHLO reply is kept, as Exim does.
    if (x?.greeting) out += field('X-Remote-MTA-smtp-greeting', `X-str; ${t(firstLine(x.greeting))}`);
    if (x?.heloResponse) out += field('X-Remote-MTA-helo-response', `X-str; ${t(firstLine(x.heloResponse))}`);
    if (x?.detail) out += field('X-Petrel-Diagnostic', `X-str; ${t(x.detail)}`);
  }
  return out;
}

/**
 * diagnostic-type; text. A value that names its own type is kept; an SMTP reply ("550 ...") is of
 * type smtp; any other text (a local error) is of Petrel's own type X-Petrel.
 */
function diagnosticCode(d: string): string {
  if (/^[A-Za-z][A-Za-z0-9-]*;/.test(d)) return d;
  return /^[2-5]\d\d(?:[ -]|$)/.test(d) ? `smtp; ${d}` : `X-Petrel; ${d}`;
}

const firstLine = (s: string): string => s.split(/\r?\n|\r/)[0] ?? '';

const GROUPS: ReadonlyArray<{ action: DsnAction; intro: string }> = [
  {
    action: 'failed',
    intro: 'It could not be delivered to one or more recipients. This is a permanent error: ' +
      'no further attempt will be made for the following address(es):',
  },
  {
    action: 'delayed',
    intro: 'Delivery to the following address(es) has been delayed. The mail system is still trying, ' +
      'and will go on trying until the time shown; you do not need to send the message again. ' +
      'If it still cannot be delivered by then, you will receive a failure report.',
  },
  { action: 'delivered', intro: 'It was delivered to the following address(es):' },
  {
    action: 'relayed',
    intro: 'It was passed on, for the following address(es), to a mail system that does not send ' +
      'delivery reports; no further report will come for them:',
  },
  {
    action: 'expanded',
    intro: 'It was delivered to the following address(es), which forward it to further recipients:',
  },
];

/** The human-readable part, lines separated by "\n". */
function humanText(input: ReportInput, returned: 'full' | 'headers'): string {
  const lines: string[] = [];
  const para = (s: string): void => {
    lines.push(...wrap(s, 72), '');
  };
  para(`This is the mail system at ${oneLine(input.reportingMta)}. This report was created automatically.`);
  const subj = input.originalSubject !== undefined && oneLine(input.originalSubject) !== ''
    ? ` with the subject "${oneLine(input.originalSubject).slice(0, 200)}"`
    : '';
  para(`This is about your message${subj}, received on ${rfc5322Date(input.arrivalDate)}.`);

  for (const g of GROUPS) {
    const rs = input.recipients.filter((r) => r.action === g.action);
    if (rs.length === 0) continue;
    para(g.intro);
    for (const r of rs) {
      lines.push(`  ${oneLine(r.finalRecipient)}`);
      if (r.remoteMta !== undefined) {
        const { host, ip } = r.remoteMta;
        const where = [oneLine(host), ip !== '' ? `[${oneLine(ip)}]` : ''].filter((s) => s !== '').join(' ');
        if (where !== '') lines.push(`    remote server: ${where}`);
      }
      const st = isStatus(r.status.trim()) ? r.status.trim() : GENERIC[r.action];
      const reason = r.extra?.detail ?? r.diagnostic;
      if (reason !== undefined && oneLine(reason) !== '') {
        wrap(`reason: ${reason}`, 66).forEach((l, i) => lines.push((i === 0 ? '    ' : '      ') + l));
      }
      lines.push(`    status: ${st} (${statusMeaning(st)})`);
      if (r.action === 'delayed' && r.willRetryUntil !== undefined) {
        lines.push(`    still trying until: ${rfc5322Date(r.willRetryUntil)}`);
      }
      lines.push('');
    }
  }
  para(returned === 'full'
    ? 'Your message is attached below in full.'
    : 'The header section of your message is attached below.');
  while (lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}
