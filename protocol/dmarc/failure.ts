// DMARC failure ("forensic") reports (RFC 7489 section 7.3, RFC 6591 on RFC 5965 ARF): a multipart/report of
// report-type feedback-report with a human-readable part, the message/feedback-report part (Feedback-Type:
// auth-failure, Auth-Failure: dmarc) and the original message or its header section. Pure: time and ids are passed
// in; like protocol/dsn/report.ts the result is written head, original (when 'full'), tail.
import { rfc5322Date } from '../message/date.js';
import { headerValue, parseHeaders } from '../message/headers.js';
import { field, oneLine, wrap } from '../dsn/text.js';
import type { DmarcResult } from './types.js';

export interface FailureReportInput {
  /** Our primary_hostname. */
  readonly reportingMta: string;
  /** The report's From: (dmarc_forensic_sender, else built from dsn_from). */
  readonly from: string;
  /** The ruf= mailto: addresses that passed the section 7.1 check. */
  readonly to: readonly string[];
  readonly now: number;
  /** Unique per report: the Message-ID's left side and part of the boundary. */
  readonly messageIdSeed: string;
  /** When the original arrived (ms). */
  readonly arrivalDate: number;
  readonly sourceIp: string;
  /** The original envelope sender; '' for the null reverse-path. */
  readonly originalMailFrom: string;
  readonly originalRcptTo?: readonly string[];
  readonly originalEnvelopeId?: string;
  /** Our Authentication-Results value for the original ("authserv-id; spf=... dkim=... dmarc=fail ..."). */
  readonly authenticationResults: string;
  readonly result: DmarcResult;
  /** What became of the original (RFC 6591 section 3.1 Delivery-Result), when known. */
  readonly deliveryResult?: 'delivered' | 'spam' | 'policy' | 'reject' | 'other';
  /** The original header section (CRLF or LF line ends). */
  readonly originalHeaders: Buffer;
  /** 'full': the caller writes the whole original between head and tail; 'headers': only the header section. */
  readonly returned: 'full' | 'headers';
  /** The original's body was 8BITMIME (matters only when returned in full). */
  readonly originalEightBit?: boolean;
  /** Defaults to "Petrel". */
  readonly userAgent?: string;
}

export interface FailureReport {
  readonly head: Buffer;
  readonly original: 'full' | 'none';
  readonly tail: Buffer;
  readonly boundary: string;
  readonly messageId: string;
  /** Some part is 8bit: send with BODY=8BITMIME. */
  readonly eightBit: boolean;
}

const token = (s: string, max: number): string => s.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, max) || 'x';

/** The original header section with CRLF line ends and one final CRLF. */
function headerSection(raw: Buffer): Buffer {
  let text = raw.toString('latin1').replace(/\r?\n/g, '\r\n');
  while (text.endsWith('\r\n\r\n')) text = text.slice(0, -2);
  if (text !== '' && !text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text, 'latin1');
}

/** "dkim, spf", "dkim", "spf" or "none": which identifiers aligned (RFC 7489 section 12.5, Identity-Alignment). */
function identityAlignment(r: DmarcResult): string {
  const l = [r.dkimAligned ? 'dkim' : '', r.spfAligned ? 'spf' : ''].filter((s) => s !== '');
  return l.length > 0 ? l.join(', ') : 'none';
}

/** The message/feedback-report fields (RFC 5965 section 3.1, RFC 6591 section 3.1). */
function feedbackFields(i: FailureReportInput): string {
  const r = i.result;
  let out = field('Feedback-Type', 'auth-failure') +
    field('User-Agent', oneLine(i.userAgent ?? 'Petrel')) +
    field('Version', '1');
  if (i.originalEnvelopeId !== undefined) out += field('Original-Envelope-Id', i.originalEnvelopeId);
  out += field('Original-Mail-From', `<${oneLine(i.originalMailFrom)}>`);
  for (const rcpt of i.originalRcptTo ?? []) out += field('Original-Rcpt-To', `<${oneLine(rcpt)}>`);
  out += field('Arrival-Date', rfc5322Date(i.arrivalDate)) +
    field('Reporting-MTA', `dns; ${oneLine(i.reportingMta)}`) +
    field('Source-IP', i.sourceIp) +
    field('Reported-Domain', r.fromDomain) +
    field('Authentication-Results', i.authenticationResults) +
    field('Auth-Failure', 'dmarc') +
    field('Identity-Alignment', identityAlignment(r));
  if (i.deliveryResult !== undefined) out += field('Delivery-Result', i.deliveryResult);
  return out;
}

/** The human-readable part: Exim's fields for this report, lines separated by "\n". */
function humanText(i: FailureReportInput): string {
  const r = i.result;
  const lines = [
    ...wrap(`This is a DMARC failure report (RFC 7489 section 7.3) from ${oneLine(i.reportingMta)} about a message ` +
      `whose From: domain ${r.fromDomain} failed DMARC.`, 72),
    '',
    `  Sender Domain:      ${r.usedDomain}`,
    `  Sender IP Address:  ${oneLine(i.sourceIp)}`,
    `  Received Date:      ${rfc5322Date(i.arrivalDate)}`,
    `  SPF Alignment:      ${r.spfAligned ? 'yes' : 'no'}`,
    `  DKIM Alignment:     ${r.dkimAligned ? 'yes' : 'no'}`,
    `  DMARC Results:      ${oneLine(r.statusText)}`,
    '',
    i.returned === 'full' ? 'The message is attached below in full.' : 'The header section of the message is attached below.',
  ];
  return lines.join('\n');
}

export function failureReport(i: FailureReportInput): FailureReport {
  const host = token(oneLine(i.reportingMta), 200);
  const seed = token(i.messageIdSeed, 40);
  const boundary = `=_petrel_ruf_${seed}_${Math.max(0, Math.floor(i.now)).toString(36)}`;
  const messageId = `<${seed}@${host}>`;
  const headers = headerSection(i.originalHeaders);
  const headersEightBit = headers.some((b) => b > 0x7f);
  const originalEightBit = headersEightBit || (i.returned === 'full' && i.originalEightBit === true);

  const subject = `DMARC failure report for ${i.result.fromDomain || 'unknown domain'} from ${oneLine(i.sourceIp)}`;
  let top = field('From', i.from) + field('To', i.to.map(oneLine).join(', ')) + field('Subject', subject) +
    field('Date', rfc5322Date(i.now)) + field('Message-ID', messageId);
  const parent = headerValue(parseHeaders(headers), 'Message-ID');
  const pid = parent === undefined ? null : /<[^<>\s]{1,900}>/.exec(parent);
  if (pid !== null) top += field('References', pid[0]);
  top += field('Auto-Submitted', 'auto-generated') + field('MIME-Version', '1.0') +
    `Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary="${boundary}"\r\n`;

  const type = i.returned === 'full' ? 'message/rfc822' : 'text/rfc822-headers';
  const head = top + '\r\nThis is a DMARC failure report in MIME format (RFC 6591).\r\n' +
    `\r\n--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n` +
    humanText(i).replace(/[^\x20-\x7e\n]/g, '?').split('\n').join('\r\n') + '\r\n' +
    `\r\n--${boundary}\r\nContent-Type: message/feedback-report\r\n\r\n` + feedbackFields(i) +
    `\r\n--${boundary}\r\nContent-Type: ${type}\r\n` + (originalEightBit ? 'Content-Transfer-Encoding: 8bit\r\n' : '') +
    `Content-Description: ${i.returned === 'full' ? 'Original message' : 'Header section of the original message'}\r\n\r\n`;
  const headBuf = i.returned === 'full' ? Buffer.from(head, 'utf8') : Buffer.concat([Buffer.from(head, 'utf8'), headers]);
  return {
    head: headBuf,
    original: i.returned === 'full' ? 'full' : 'none',
    tail: Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
    boundary,
    messageId,
    eightBit: originalEightBit,
  };
}
