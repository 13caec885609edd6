// DMARC aggregate reports (RFC 7489 section 7.2 and appendix C): the feedback XML built from recorded verdicts,
// rows grouped by source address and results; and the mail that carries it (section 7.2.1.1: file name, Subject,
// media type). Pure: the caller compresses (gzip), picks the period and report id, and sends.
//
// DMARCbis aggregate reporting adds a namespace (urn:ietf:params:xml:ns:dmarc-2.0), np and testing in
// policy_published, and envelope_from in identifiers; this writes the RFC 7489 schema.
import { rfc5322Date } from '../message/date.js';
import { field, oneLine } from '../dsn/text.js';
import type { DmarcVerdict } from './history.js';

export interface ReportPeriod {
  /** Milliseconds since the epoch; the report says seconds (UTC). */
  readonly begin: number;
  readonly end: number;
  /** Unique per report from this reporter (report_id). */
  readonly reportId: string;
}

export interface Reporter {
  /** report_metadata/org_name: who we are, e.g. our domain. */
  readonly orgName: string;
  /** report_metadata/email: where the domain owner can write back. */
  readonly email: string;
  readonly extraContactInfo?: string;
  /** report_metadata/error: problems met while evaluating (e.g. a record's ignored tags). */
  readonly errors?: readonly string[];
}

/** A programming error in the input (no verdicts, verdicts of several policy domains). */
export class DmarcReportError extends Error {
  readonly code = 'DMARC_REPORT_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'DmarcReportError';
  }
}

// eslint-disable-next-line no-control-regex
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;

/** Text content for XML: markup characters escaped, characters XML 1.0 forbids dropped. */
export function xmlText(s: string): string {
  return s.replace(NOT_XML, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Verdicts that can be reported (a record was found), by policy domain, in arrival order. */
export function groupByPolicyDomain(verdicts: readonly DmarcVerdict[]): Map<string, DmarcVerdict[]> {
  const out = new Map<string, DmarcVerdict[]>();
  for (const v of verdicts) {
    if (v.policy === 'absent' || v.p === undefined || v.policyDomain === '') continue;
    const key = v.policyDomain.toLowerCase();
    const list = out.get(key);
    if (list === undefined) out.set(key, [v]);
    else list.push(v);
  }
  return out;
}

/** What makes two messages one row: everything a row says except the count. */
function rowKey(v: DmarcVerdict): string {
  return JSON.stringify([
    v.sourceIp, v.disposition, v.dkimAligned, v.spfAligned, v.reasons, v.envelopeTo ?? null, v.fromDomain.toLowerCase(),
    v.spf === undefined ? null : [v.spf.domain.toLowerCase(), v.spf.scope ?? 'mfrom', v.spf.result],
    v.dkim.map((d) => [d.domain.toLowerCase(), d.selector ?? null, d.result]),
  ]);
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** Writes the document one element per line, indented two spaces; leaves hold escaped text. */
class Xml {
  readonly #lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  #depth = 0;
  open(name: string): this {
    this.#lines.push(`${'  '.repeat(this.#depth++)}<${name}>`);
    return this;
  }
  close(name: string): this {
    this.#lines.push(`${'  '.repeat(--this.#depth)}</${name}>`);
    return this;
  }
  leaf(name: string, value: string | number): this {
    this.#lines.push(`${'  '.repeat(this.#depth)}<${name}>${xmlText(String(value))}</${name}>`);
    return this;
  }
  text(): string {
    return this.#lines.join('\n') + '\n';
  }
}

/**
 * The feedback document of appendix C for one policy domain. `verdicts` must all be about that domain (see
 * groupByPolicyDomain) and are counted as given: the caller picks those of the period. policy_published is the
 * record seen last in the period. Rows are in order of first appearance.
 */
export function aggregateReportXml(period: ReportPeriod, verdicts: readonly DmarcVerdict[], reporter: Reporter): string {
  const usable = verdicts.filter((v) => v.policy !== 'absent' && v.p !== undefined);
  if (usable.length === 0) throw new DmarcReportError('an aggregate report needs at least one verdict with a record');
  const domain = (usable[0] as DmarcVerdict).policyDomain.toLowerCase();
  if (usable.some((v) => v.policyDomain.toLowerCase() !== domain)) {
    throw new DmarcReportError('an aggregate report is about one policy domain');
  }
  const latest = usable.reduce((a, b) => (b.received >= a.received ? b : a));

  const rows = new Map<string, { v: DmarcVerdict; count: number }>();
  for (const v of usable) {
    const key = rowKey(v);
    const row = rows.get(key);
    if (row === undefined) rows.set(key, { v, count: 1 });
    else row.count++;
  }

  const x = new Xml().open('feedback').leaf('version', '1.0');
  x.open('report_metadata').leaf('org_name', oneLine(reporter.orgName)).leaf('email', oneLine(reporter.email));
  if (reporter.extraContactInfo !== undefined) x.leaf('extra_contact_info', oneLine(reporter.extraContactInfo));
  x.leaf('report_id', oneLine(period.reportId))
    .open('date_range').leaf('begin', seconds(period.begin)).leaf('end', seconds(period.end)).close('date_range');
  for (const e of reporter.errors ?? []) x.leaf('error', oneLine(e));
  x.close('report_metadata');

  x.open('policy_published').leaf('domain', domain).leaf('adkim', latest.adkim).leaf('aspf', latest.aspf)
    .leaf('p', latest.p as string).leaf('sp', latest.sp ?? latest.p as string).leaf('pct', latest.pct)
    .close('policy_published');

  for (const { v, count } of rows.values()) {
    x.open('record').open('row').leaf('source_ip', v.sourceIp).leaf('count', count).open('policy_evaluated')
      .leaf('disposition', v.disposition).leaf('dkim', v.dkimAligned ? 'pass' : 'fail')
      .leaf('spf', v.spfAligned ? 'pass' : 'fail');
    for (const r of v.reasons) {
      x.open('reason').leaf('type', r.type);
      if (r.comment !== undefined) x.leaf('comment', oneLine(r.comment));
      x.close('reason');
    }
    x.close('policy_evaluated').close('row').open('identifiers');
    if (v.envelopeTo !== undefined) x.leaf('envelope_to', v.envelopeTo.toLowerCase());
    x.leaf('header_from', v.fromDomain.toLowerCase()).close('identifiers').open('auth_results');
    for (const d of v.dkim) {
      x.open('dkim').leaf('domain', d.domain.toLowerCase());
      if (d.selector !== undefined && d.selector !== '') x.leaf('selector', d.selector);
      x.leaf('result', d.result).close('dkim');
    }
    // The schema wants at least one spf element: without an SPF check the result is none.
    const spf = v.spf ?? { domain: v.mailFromDomain, result: 'none' as const, scope: 'mfrom' as const };
    x.open('spf').leaf('domain', spf.domain.toLowerCase()).leaf('scope', spf.scope ?? 'mfrom').leaf('result', spf.result)
      .close('spf');
    x.close('auth_results').close('record');
  }
  return x.close('feedback').text();
}

/** Characters safe in a file name part, a msg-id and a MIME boundary. */
const safe = (s: string): string => oneLine(s).replace(/[^A-Za-z0-9._-]/g, '-') || 'x';

/**
 * Section 7.2.1.1: receiver "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." extension, timestamps in
 * seconds; the extension is "xml", or "xml.gz" when the caller gzips.
 */
export function aggregateReportName(o: { receiver: string; policyDomain: string; begin: number; end: number;
  uniqueId?: string; gzip: boolean }): string {
  const unique = o.uniqueId !== undefined ? `!${o.uniqueId.replace(/[^A-Za-z0-9]/g, '') || 'x'}` : '';
  return `${safe(o.receiver)}!${safe(o.policyDomain)}!${seconds(o.begin)}!${seconds(o.end)}${unique}.${o.gzip ? 'xml.gz' : 'xml'}`;
}

/** Section 7.2.1.1: "Report Domain: <policy domain> Submitter: <receiver> Report-ID: <id>". */
export function aggregateReportSubject(policyDomain: string, submitter: string, reportId: string): string {
  return `Report Domain: ${oneLine(policyDomain)} Submitter: ${oneLine(submitter)} Report-ID: <${safe(reportId)}>`;
}

export interface AggregateMailInput {
  /** The report's From:, e.g. "DMARC reports <dmarc-noreply@mx.example>". */
  readonly from: string;
  /** The verified mailto: addresses of rua= (section 7.1). */
  readonly to: readonly string[];
  /** Our domain (the receiver of the original mail): in the file name and Subject. */
  readonly submitter: string;
  readonly policyDomain: string;
  readonly period: ReportPeriod;
  /** The XML, gzipped by the caller when `gzip`. */
  readonly payload: Buffer;
  readonly gzip: boolean;
  readonly now: number;
  readonly messageIdSeed: string;
}

export interface AggregateMail {
  /** The whole message, CRLF line ends, 7-bit. */
  readonly message: Buffer;
  readonly filename: string;
  readonly subject: string;
  /** application/gzip or text/xml. */
  readonly mediaType: string;
  readonly messageId: string;
}

/** Base64 in lines of 76 characters (RFC 2045 section 6.8). */
function base64Lines(data: Buffer): string {
  const b = data.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 76) out.push(b.slice(i, i + 76));
  return out.join('\r\n');
}

/** The mail carrying one aggregate report: multipart/mixed, a short text, the report attached in base64. */
export function aggregateReportMail(m: AggregateMailInput): AggregateMail {
  const filename = aggregateReportName({
    receiver: m.submitter, policyDomain: m.policyDomain, begin: m.period.begin, end: m.period.end, gzip: m.gzip,
  });
  const subject = aggregateReportSubject(m.policyDomain, m.submitter, m.period.reportId);
  const mediaType = m.gzip ? 'application/gzip' : 'text/xml';
  const messageId = `<${safe(m.messageIdSeed).slice(0, 60)}@${safe(m.submitter)}>`;
  const boundary = `=_petrel_dmarc_${safe(m.messageIdSeed).slice(0, 40)}_${Math.max(0, Math.floor(m.now)).toString(36)}`;
  const when = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
  const text = `This is a DMARC aggregate report (RFC 7489) for ${oneLine(m.policyDomain)} from ${oneLine(m.submitter)},\r\n` +
    `covering ${when(m.period.begin)} to ${when(m.period.end)}. Report-ID: ${oneLine(m.period.reportId)}\r\n`;
  const head = field('From', m.from) + field('To', m.to.map(oneLine).join(', ')) + field('Subject', subject) +
    field('Date', rfc5322Date(m.now)) + field('Message-ID', messageId) + field('Auto-Submitted', 'auto-generated') +
    field('MIME-Version', '1.0') + `Content-Type: multipart/mixed;\r\n\tboundary="${boundary}"\r\n`;
  const body = '\r\nThis is a DMARC aggregate report in MIME format.\r\n' +
    `\r\n--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}` +
    `\r\n--${boundary}\r\nContent-Type: ${mediaType};\r\n\tname="${filename}"\r\nContent-Transfer-Encoding: base64\r\n` +
    `Content-Disposition: attachment;\r\n\tfilename="${filename}"\r\n\r\n${base64Lines(m.payload)}\r\n` +
    `\r\n--${boundary}--\r\n`;
  return { message: Buffer.from(head + body, 'utf8'), filename, subject, mediaType, messageId };
}

/** May a report of `size` octets (the whole message) go to this URI, given its "!size" limit (section 6.2)? */
export function fitsSizeLimit(uri: { readonly maxSize?: number }, size: number): boolean {
  return uri.maxSize === undefined || size <= uri.maxSize;
}
