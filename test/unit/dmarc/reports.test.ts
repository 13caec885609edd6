// Unit tests for protocol/dmarc/aggregate.ts and failure.ts: the aggregate feedback XML read back with a small
// independent parser and checked field by field against RFC 7489 appendix C; the report mail of section 7.2.1.1
// (file name, Subject, media type); the RFC 6591 failure report read back with the DSN tests' MIME reader.
import test from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  aggregateReportMail, aggregateReportName, aggregateReportSubject, aggregateReportXml, DmarcReportError, fitsSizeLimit,
  groupByPolicyDomain, xmlText,
} from '../../../protocol/dmarc/aggregate.js';
import { failureReport } from '../../../protocol/dmarc/failure.js';
import type { FailureReportInput } from '../../../protocol/dmarc/failure.js';
import type { DmarcVerdict } from '../../../protocol/dmarc/history.js';
import type { DmarcResult } from '../../../protocol/dmarc/types.js';
import { entity, fields, get, getAll, multipart, param } from '../dsn/mime.js';
import { all, names, one, parseXml, text } from './xml.js';

const BEGIN = Date.UTC(2024, 0, 1);
const END = Date.UTC(2024, 0, 2) - 1000;

function verdict(over: Partial<DmarcVerdict> = {}): DmarcVerdict {
  return {
    jobId: 'j', reporter: 'mx.petrel.example', received: BEGIN + 3600_000, sourceIp: '192.0.2.1', fromDomain: 'example.com',
    mailFromDomain: 'example.com', spf: { domain: 'example.com', result: 'pass', scope: 'mfrom' },
    dkim: [{ domain: 'example.com', selector: 's1', result: 'pass' }], policyDomain: 'example.com', policy: 'pass',
    rua: ['mailto:d@example.com'], pct: 100, adkim: 'r', aspf: 'r', p: 'reject', dkimAligned: true, spfAligned: true,
    disposition: 'none', reasons: [], ...over,
  };
}

const REPORTER = { orgName: 'Petrel Example', email: 'dmarc-noreply@petrel.example', extraContactInfo: 'https://petrel.example/dmarc' };
const PERIOD = { begin: BEGIN, end: END, reportId: 'petrel.example:example.com:1704067200' };

test('aggregate XML: metadata, policy_published and the schema\'s element order', () => {
  const xml = aggregateReportXml(PERIOD, [verdict(), verdict({ received: BEGIN + 7200_000, p: 'quarantine', sp: 'none', pct: 50, adkim: 's' })],
    { ...REPORTER, errors: ['record had "p=hold" & was treated as p=none'] });
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<feedback>\n/);
  const fb = parseXml(xml);
  assert.equal(fb.name, 'feedback');
  assert.deepEqual(names(fb), ['version', 'report_metadata', 'policy_published', 'record']);
  assert.equal(text(fb, 'version'), '1.0');
  const md = one(fb, 'report_metadata');
  assert.deepEqual(names(md), ['org_name', 'email', 'extra_contact_info', 'report_id', 'date_range', 'error']);
  assert.deepEqual([text(md, 'org_name'), text(md, 'email'), text(md, 'extra_contact_info'), text(md, 'report_id')],
    ['Petrel Example', 'dmarc-noreply@petrel.example', 'https://petrel.example/dmarc', PERIOD.reportId]);
  assert.deepEqual([text(md, 'date_range', 'begin'), text(md, 'date_range', 'end')], ['1704067200', '1704153599']);
  assert.equal(text(md, 'error'), 'record had "p=hold" & was treated as p=none');
  const pp = one(fb, 'policy_published');
  assert.deepEqual(names(pp), ['domain', 'adkim', 'aspf', 'p', 'sp', 'pct']);
  // The record seen last in the period.
  assert.deepEqual(['domain', 'adkim', 'aspf', 'p', 'sp', 'pct'].map((n) => text(pp, n)), ['example.com', 's', 'r', 'quarantine', 'none', '50']);
});

test('aggregate XML: rows grouped by source address and results, counted, every field', () => {
  const v: DmarcVerdict[] = [
    verdict(),
    verdict({ jobId: 'k' }),
    verdict({ sourceIp: '2001:db8::5' }),
    verdict({
      sourceIp: '198.51.100.9', fromDomain: 'News.Example.com', policy: 'reject', disposition: 'quarantine', dkimAligned: false,
      spfAligned: false, reasons: [{ type: 'sampled_out' }], envelopeTo: 'Example.ORG', pct: 50,
      spf: { domain: 'bounce.other.example', result: 'softfail', scope: 'mfrom' },
      dkim: [{ domain: 'other.example', result: 'fail', selector: 'x' }, { domain: 'example.com', result: 'temperror' }],
    }),
    verdict({ sourceIp: '203.0.113.3', spf: undefined, mailFromDomain: 'helo.example', dkim: [], policy: 'none', dkimAligned: false,
      spfAligned: false, reasons: [{ type: 'local_policy', comment: 'arc=pass as[1].d=list.example <trusted>' }] }),
  ];
  const fb = parseXml(aggregateReportXml(PERIOD, v, REPORTER));
  const records = all(fb, 'record');
  assert.equal(records.length, 4);
  const [first, second, third, fourth] = records;
  assert.deepEqual(names(first!), ['row', 'identifiers', 'auth_results']);
  assert.deepEqual(names(one(first!, 'row')), ['source_ip', 'count', 'policy_evaluated']);
  assert.deepEqual([text(first!, 'row', 'source_ip'), text(first!, 'row', 'count')], ['192.0.2.1', '2']);
  const pe = one(one(first!, 'row'), 'policy_evaluated');
  assert.deepEqual(names(pe), ['disposition', 'dkim', 'spf']);
  assert.deepEqual([text(pe, 'disposition'), text(pe, 'dkim'), text(pe, 'spf')], ['none', 'pass', 'pass']);
  assert.deepEqual(names(one(first!, 'identifiers')), ['header_from']);
  assert.equal(text(first!, 'identifiers', 'header_from'), 'example.com');
  const ar = one(first!, 'auth_results');
  assert.deepEqual(names(ar), ['dkim', 'spf']);
  assert.deepEqual(['domain', 'selector', 'result'].map((n) => text(ar, 'dkim', n)), ['example.com', 's1', 'pass']);
  assert.deepEqual(['domain', 'scope', 'result'].map((n) => text(ar, 'spf', n)), ['example.com', 'mfrom', 'pass']);
  assert.deepEqual([text(second!, 'row', 'source_ip'), text(second!, 'row', 'count')], ['2001:db8::5', '1']);

  const pe3 = one(one(third!, 'row'), 'policy_evaluated');
  assert.deepEqual(names(pe3), ['disposition', 'dkim', 'spf', 'reason']);
  assert.deepEqual([text(pe3, 'disposition'), text(pe3, 'dkim'), text(pe3, 'spf'), text(pe3, 'reason', 'type')],
    ['quarantine', 'fail', 'fail', 'sampled_out']);
  assert.deepEqual(names(one(third!, 'identifiers')), ['envelope_to', 'header_from']);
  assert.deepEqual([text(third!, 'identifiers', 'envelope_to'), text(third!, 'identifiers', 'header_from')], ['example.org', 'news.example.com']);
  const ar3 = one(third!, 'auth_results');
  assert.deepEqual(names(ar3), ['dkim', 'dkim', 'spf']);
  const [d1, d2] = all(ar3, 'dkim');
  assert.deepEqual(names(d2!), ['domain', 'result']);
  assert.deepEqual([text(d1!, 'domain'), text(d1!, 'result'), text(d2!, 'result')], ['other.example', 'fail', 'temperror']);
  assert.deepEqual(['domain', 'result'].map((n) => text(ar3, 'spf', n)), ['bounce.other.example', 'softfail']);

  // No SPF result: the schema needs one spf element; it says none for the envelope domain.
  const ar4 = one(fourth!, 'auth_results');
  assert.deepEqual(names(ar4), ['spf']);
  assert.deepEqual(['domain', 'scope', 'result'].map((n) => text(ar4, 'spf', n)), ['helo.example', 'mfrom', 'none']);
  assert.equal(text(one(one(fourth!, 'row'), 'policy_evaluated'), 'reason', 'comment'), 'arc=pass as[1].d=list.example <trusted>');
});

test('aggregate XML: markup in values is escaped; forbidden characters dropped', () => {
  assert.equal(xmlText('a<b>&"\'\x01\u0007c'), 'a&lt;b&gt;&amp;&quot;&apos;c');
  const fb = parseXml(aggregateReportXml({ ...PERIOD, reportId: '<id>&1' }, [verdict()], { orgName: 'A & B <x>', email: 'e@x' }));
  assert.deepEqual([text(fb, 'report_metadata', 'org_name'), text(fb, 'report_metadata', 'report_id')], ['A & B <x>', '<id>&1']);
});

test('aggregate XML: bad input is a programming error', () => {
  assert.throws(() => aggregateReportXml(PERIOD, [], REPORTER), DmarcReportError);
  assert.throws(() => aggregateReportXml(PERIOD, [verdict({ policy: 'absent', p: undefined })], REPORTER), DmarcReportError);
  assert.throws(() => aggregateReportXml(PERIOD, [verdict(), verdict({ policyDomain: 'other.example' })], REPORTER),
    (e: unknown) => e instanceof DmarcReportError && e.code === 'DMARC_REPORT_INPUT');
});

test('groupByPolicyDomain: per domain, verdicts without a record left out', () => {
  const g = groupByPolicyDomain([verdict(), verdict({ policyDomain: 'Other.example' }), verdict({ policy: 'absent', p: undefined }), verdict({ jobId: 'z' })]);
  assert.deepEqual([...g.keys()], ['example.com', 'other.example']);
  assert.deepEqual(g.get('example.com')?.map((v) => v.jobId), ['j', 'z']);
});

test('section 7.2.1.1: file name, Subject, and the mail carrying the report', () => {
  assert.equal(aggregateReportName({ receiver: 'mx.petrel.example', policyDomain: 'example.com', begin: BEGIN, end: END, gzip: true }),
    'mx.petrel.example!example.com!1704067200!1704153599.xml.gz');
  assert.equal(aggregateReportName({ receiver: 'mx.petrel.example', policyDomain: 'example.com', begin: BEGIN, end: END, gzip: false, uniqueId: 'a-1' }),
    'mx.petrel.example!example.com!1704067200!1704153599!a1.xml');
  assert.equal(aggregateReportSubject('example.com', 'mx.petrel.example', '2002.02.15.1'),
    'Report Domain: example.com Submitter: mx.petrel.example Report-ID: <2002.02.15.1>');

  const xml = aggregateReportXml(PERIOD, [verdict()], REPORTER);
  const payload = gzipSync(Buffer.from(xml));
  const mail = aggregateReportMail({ from: 'DMARC <dmarc-noreply@petrel.example>', to: ['d@example.com', 'x@reports.example'],
    submitter: 'mx.petrel.example', policyDomain: 'example.com', period: PERIOD, payload, gzip: true, now: END + 60_000, messageIdSeed: 'agg1' });
  assert.equal(mail.mediaType, 'application/gzip');
  assert.equal(mail.filename, 'mx.petrel.example!example.com!1704067200!1704153599.xml.gz');
  const raw = mail.message.toString('latin1');
  assert.ok(raw.split('\r\n').every((l) => l.length <= 998), 'lines within the limit of RFC 5322 section 2.1.1');
  assert.doesNotMatch(raw.replace(/\r\n/g, ''), /[\r\n]/);
  const top = entity(raw);
  assert.equal(get(top.fields, 'Subject'), `Report Domain: example.com Submitter: mx.petrel.example Report-ID: <${PERIOD.reportId.replace(/:/g, '-')}>`);
  assert.equal(get(top.fields, 'To'), 'd@example.com, x@reports.example');
  assert.equal(get(top.fields, 'Message-ID'), mail.messageId);
  assert.match(get(top.fields, 'Content-Type') ?? '', /^multipart\/mixed;/);
  const parts = multipart(top.body, param(get(top.fields, 'Content-Type') ?? '', 'boundary') ?? '');
  assert.equal(parts.closed, true);
  assert.equal(parts.parts.length, 2);
  const att = entity(parts.parts[1] as string);
  assert.equal(get(att.fields, 'Content-Type')?.split(/;\s*/)[0], 'application/gzip');
  assert.equal(param(get(att.fields, 'Content-Type') ?? '', 'name'), mail.filename);
  assert.equal(param(get(att.fields, 'Content-Disposition') ?? '', 'filename'), mail.filename);
  assert.equal(get(att.fields, 'Content-Transfer-Encoding'), 'base64');
  assert.equal(gunzipSync(Buffer.from(att.body, 'base64')).toString(), xml);

  const plain = aggregateReportMail({ from: 'd@x', to: ['d@example.com'], submitter: 'mx', policyDomain: 'example.com', period: PERIOD,
    payload: Buffer.from(xml), gzip: false, now: END, messageIdSeed: 's' });
  assert.equal(plain.mediaType, 'text/xml');
  assert.match(plain.filename, /\.xml$/);
});

test('size limits: "!size" is compared with the whole message', () => {
  assert.equal(fitsSizeLimit({}, 10 ** 9), true);
  assert.equal(fitsSizeLimit({ maxSize: 1024 }, 1024), true);
  assert.equal(fitsSizeLimit({ maxSize: 1024 }, 1025), false);
});

// ---------------------------------------------------------------------------------------------------------------
// RFC 6591 failure reports.

const RESULT: DmarcResult = {
  status: 'reject', statusText: 'Reject', authResult: 'fail', fromDomain: 'example.com', orgDomain: 'example.com',
  usedDomain: 'example.com', domainPolicy: 'reject', policySource: 'p', spfAligned: false, dkimAligned: false, alignedDkim: [],
  disposition: 'reject', pct: 100, sampledOut: false, rua: [], ruf: [],
};
const ORIGINAL = 'Received: from client.example ([192.0.2.66])\r\nFrom: "Bank" <alerts@example.com>\r\nTo: victim@petrel.example\r\n' +
  'Subject: Verify your account\r\nMessage-ID: <phish.1@client.example>\r\n';

function failureInput(over: Partial<FailureReportInput> = {}): FailureReportInput {
  return {
    reportingMta: 'mx.petrel.example', from: 'Mail Delivery System <Mailer-Daemon@mx.petrel.example>', to: ['ruf@example.com'],
    now: BEGIN + 60_000, messageIdSeed: '01HQ.ruf', arrivalDate: BEGIN, sourceIp: '192.0.2.66', originalMailFrom: 'bounce@client.example',
    originalRcptTo: ['victim@petrel.example'], authenticationResults: 'mx.petrel.example; spf=fail smtp.mailfrom=client.example; dmarc=fail (p=reject dis=reject) header.from=example.com',
    result: RESULT, deliveryResult: 'reject', originalHeaders: Buffer.from(ORIGINAL), returned: 'headers', ...over,
  };
}

test('failure report: multipart/report of feedback-report with the RFC 6591 fields and the original headers', () => {
  const r = failureReport(failureInput());
  assert.equal(r.original, 'none');
  const raw = Buffer.concat([r.head, r.tail]).toString('latin1');
  const top = entity(raw);
  const ct = get(top.fields, 'Content-Type') ?? '';
  assert.match(ct, /^multipart\/report; report-type=feedback-report;/);
  assert.equal(param(ct, 'boundary'), r.boundary);
  assert.equal(get(top.fields, 'To'), 'ruf@example.com');
  assert.equal(get(top.fields, 'Subject'), 'DMARC failure report for example.com from 192.0.2.66');
  assert.equal(get(top.fields, 'References'), '<phish.1@client.example>');
  assert.equal(get(top.fields, 'Auto-Submitted'), 'auto-generated');
  assert.equal(get(top.fields, 'Message-ID'), '<01HQ.ruf@mx.petrel.example>');
  const parts = multipart(top.body, r.boundary);
  assert.equal(parts.closed, true);
  assert.equal(parts.parts.length, 3);
  const [human, feedback, original] = parts.parts.map((p) => entity(p));
  assert.match(get(human!.fields, 'Content-Type') ?? '', /^text\/plain/);
  assert.match(human!.body, /SPF Alignment: +no\r\n/);
  assert.match(human!.body, /DMARC Results: +Reject\r\n/);
  assert.equal(get(feedback!.fields, 'Content-Type'), 'message/feedback-report');
  const fb = fields(feedback!.body);
  const want: [string, string][] = [
    ['Feedback-Type', 'auth-failure'], ['User-Agent', 'Petrel'], ['Version', '1'], ['Original-Mail-From', '<bounce@client.example>'],
    ['Original-Rcpt-To', '<victim@petrel.example>'], ['Arrival-Date', 'Mon, 1 Jan 2024 00:00:00 +0000'],
    ['Reporting-MTA', 'dns; mx.petrel.example'], ['Source-IP', '192.0.2.66'], ['Reported-Domain', 'example.com'],
    ['Authentication-Results', 'mx.petrel.example; spf=fail smtp.mailfrom=client.example; dmarc=fail (p=reject dis=reject) header.from=example.com'],
    ['Auth-Failure', 'dmarc'], ['Identity-Alignment', 'none'], ['Delivery-Result', 'reject'],
  ];
  assert.deepEqual(fb.map((f) => [f.name, f.value]), want);
  assert.equal(get(original!.fields, 'Content-Type'), 'text/rfc822-headers');
  assert.equal(original!.body, ORIGINAL + '\r\n'.slice(2));
  assert.deepEqual(getAll(entity(original!.body + '\r\n').fields, 'From'), ['"Bank" <alerts@example.com>']);
});

test('failure report: the full original is streamed by the caller between head and tail', () => {
  const body = 'Click here.\r\n';
  const r = failureReport(failureInput({ returned: 'full', originalEnvelopeId: 'ENV1', originalRcptTo: [],
    result: { ...RESULT, dkimAligned: true, spfAligned: true } }));
  assert.equal(r.original, 'full');
  const raw = Buffer.concat([r.head, Buffer.from(ORIGINAL + '\r\n' + body), r.tail]).toString('latin1');
  const parts = multipart(entity(raw).body, r.boundary).parts.map((p) => entity(p));
  assert.equal(get(parts[2]!.fields, 'Content-Type'), 'message/rfc822');
  assert.equal(entity(parts[2]!.body).body, body);
  assert.match(parts[1]!.body, /Original-Envelope-Id: ENV1\r\n/);
  assert.match(parts[1]!.body, /Identity-Alignment: dkim, spf\r\n/);
  assert.doesNotMatch(parts[1]!.body, /Original-Rcpt-To/);
  assert.equal(r.eightBit, false);
});

test('failure report: 8-bit headers are marked; injected line breaks cannot add fields', () => {
  const r = failureReport(failureInput({ originalHeaders: Buffer.from('Subject: caf\xe9\r\n', 'latin1'),
    sourceIp: '192.0.2.1\r\nX-Injected: yes', originalMailFrom: 'a@b\r\nBcc: c@d' }));
  assert.equal(r.eightBit, true);
  const raw = Buffer.concat([r.head, r.tail]).toString('latin1');
  assert.match(raw, /Content-Type: text\/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n/);
  assert.doesNotMatch(raw, /\r\nX-Injected:/);
  assert.doesNotMatch(raw, /\r\nBcc:/);
});
