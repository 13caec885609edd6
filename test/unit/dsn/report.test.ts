// Unit tests for protocol/dsn/report.ts: reports built and read back with an independent MIME
// splitter, the status part checked against the grammar of RFC 3464 section 2, the returned
// original (RFC 3461 RET, RFC 6522), global reports (RFC 6533) and header safety.
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildReport, DsnError } from '../../../protocol/dsn/report.js';
import type { Report, ReportInput, ReportRecipient } from '../../../protocol/dsn/report.js';
import type { Entity, Field } from './mime.js';
import { decodeQuotedPrintable, entity, fields, get, getAll, multipart, param } from './mime.js';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5); // arrival
const NOW = T0 + 24 * 3600_000;
const LAST = NOW - 5 * 60_000;
const UNTIL = T0 + 4 * 24 * 3600_000;

const ORIGINAL_HEADERS = 'Received: from client.example (client.example [192.0.2.1])\r\n\tby mx.petrel.example with ESMTP\r\n' +
  'From: Alice <alice@client.example>\r\nTo: bob@example.org, carol@example.net\r\n' +
  'Message-ID: <orig.123@client.example>\r\nSubject: Quarterly figures\r\n';
const ORIGINAL_BODY = 'Hello Bob,\r\n.\r\n..leading dots stay\r\n--not-a-boundary\r\nBye\r\n';

const failed: ReportRecipient = {
  finalRecipient: 'bob@example.org',
  originalRecipient: { type: 'rfc822', address: 'Bob@Example.org' },
  action: 'failed',
  status: '5.1.1',
  remoteMta: { host: 'mx.example.org', ip: '192.0.2.7', port: 587 },
  diagnostic: '550 5.1.1 <bob@example.org>: user unknown',
  lastAttempt: LAST,
  extra: {
    greeting: '220 mx.example.org ESMTP ready',
    heloResponse: '250-mx.example.org Hello mx.petrel.example [198.51.100.1]\r\n250-SIZE 1000000\r\n250 HELP',
    detail: 'SMTP error from remote mail server after RCPT TO:<bob@example.org>: 550 5.1.1 <bob@example.org>: user unknown',
  },
};

const delayed: ReportRecipient = {
  finalRecipient: 'carol@example.net',
  action: 'delayed',
  status: '4.4.1',
  remoteMta: { host: 'mx.example.net', ip: '203.0.113.9', port: 25 },
  diagnostic: 'Connection timed out',
  lastAttempt: LAST,
  willRetryUntil: UNTIL,
};

function input(over: Partial<ReportInput> = {}): ReportInput {
  return {
    kind: 'failure',
    reportingMta: 'mx.petrel.example',
    arrivalDate: T0,
    now: NOW,
    messageIdSeed: '01HQ7Z0000ABCD.dsn',
    from: 'Mail Delivery System <Mailer-Daemon@mx.petrel.example>',
    to: 'alice@client.example',
    originalEnvelopeId: 'QQ314159',
    ret: 'HDRS',
    originalHeaders: Buffer.from(ORIGINAL_HEADERS),
    originalSubject: 'Quarterly figures',
    recipients: [failed, delayed],
    ...over,
  };
}

/** What a caller writes: head, the original when asked for, tail. */
function assemble(r: Report, original = ORIGINAL_HEADERS + '\r\n' + ORIGINAL_BODY): Buffer {
  return Buffer.concat([r.head, r.original === 'full' ? Buffer.from(original) : Buffer.alloc(0), r.tail]);
}

interface Parsed {
  top: Entity;
  parts: Entity[];
  raw: string;
}

function parse(r: Report, original?: string): Parsed {
  const raw = assemble(r, original).toString('utf8');
  const top = entity(raw);
  const ct = get(top.fields, 'Content-Type') ?? '';
  const boundary = param(ct, 'boundary');
  assert.equal(boundary, r.boundary);
  const mp = multipart(top.body, boundary as string);
  assert.ok(mp.closed, 'the closing delimiter is present');
  assert.equal(mp.epilogue, '');
  return { top, parts: mp.parts.map(entity), raw };
}

/** The status part as blocks of fields: [per-message, per-recipient...], RFC 3464 section 2.1. */
function statusBlocks(body: string): Field[][] {
  assert.ok(body.endsWith('\r\n'), 'the status part ends with CRLF');
  assert.ok(!body.startsWith('\r\n'), 'no blank line before the per-message fields');
  const blocks = body.replace(/\r\n$/, '').split('\r\n\r\n');
  return blocks.map((b) => fields(b + '\r\n'));
}

const PER_MESSAGE = ['original-envelope-id', 'reporting-mta', 'dsn-gateway', 'received-from-mta', 'arrival-date'];
const PER_RECIPIENT = ['original-recipient', 'final-recipient', 'action', 'status', 'remote-mta',
  'diagnostic-code', 'last-attempt-date', 'final-log-id', 'will-retry-until'];

/** The field order and required fields of RFC 3464 section 2.2 and 2.3 (extension fields last). */
function checkGrammar(block: Field[], order: string[], required: string[]): void {
  let rank = -1;
  let extensions = false;
  for (const f of block) {
    const name = f.name.toLowerCase();
    if (name.startsWith('x-')) {
      extensions = true;
      continue;
    }
    const i = order.indexOf(name);
    assert.ok(i >= 0, `unexpected field ${f.name}`);
    assert.ok(!extensions, `${f.name} after an extension field`);
    assert.ok(i >= rank, `${f.name} out of order`);
    if (i === rank && name !== 'remote-mta') assert.fail(`${f.name} repeated`);
    rank = i;
  }
  for (const r of required) assert.ok(block.some((f) => f.name.toLowerCase() === r), `missing ${r}`);
}

test('a failure report for a failed and a delayed recipient, read back field by field', () => {
  const r = buildReport(input());
  const { top, parts, raw } = parse(r);

  // Every line ends in CRLF; none reaches 998 octets.
  assert.ok(!/[^\r]\n/.test(raw) && !/\r[^\n]/.test(raw), 'CRLF line ends only');
  for (const line of raw.split('\r\n')) assert.ok(Buffer.byteLength(line) < 998);

  // Top-level header fields.
  const h = top.fields;
  assert.equal(get(h, 'From'), 'Mail Delivery System <Mailer-Daemon@mx.petrel.example>');
  assert.equal(get(h, 'To'), 'alice@client.example');
  assert.equal(get(h, 'Subject'), 'Mail delivery failed: returning message to sender');
  assert.equal(get(h, 'Date'), 'Wed, 3 Jan 2024 03:04:05 +0000');
  assert.equal(get(h, 'Message-ID'), '<01HQ7Z0000ABCD.dsn@mx.petrel.example>');
  assert.equal(r.messageId, '<01HQ7Z0000ABCD.dsn@mx.petrel.example>');
  assert.equal(get(h, 'In-Reply-To'), '<orig.123@client.example>');
  assert.equal(get(h, 'References'), '<orig.123@client.example>');
  assert.equal(get(h, 'Auto-Submitted'), 'auto-replied');
  assert.equal(get(h, 'MIME-Version'), '1.0');
  assert.equal(get(h, 'X-Failed-Recipients'), 'bob@example.org');
  const ct = get(h, 'Content-Type') ?? '';
  assert.match(ct, /^multipart\/report;/);
  assert.equal(param(ct, 'report-type'), 'delivery-status');
  assert.ok(r.boundary.length <= 70 && /^[0-9A-Za-z'()+_,./:=?-]+$/.test(r.boundary));
  assert.ok(!raw.slice(0, raw.indexOf('--' + r.boundary)).includes(r.boundary + '\r\n'), 'boundary only in delimiters');

  // Three parts: text, delivery-status, headers.
  assert.equal(parts.length, 3);
  const [text, status, returned] = parts as [Entity, Entity, Entity];
  assert.equal(get(text.fields, 'Content-Type'), 'text/plain; charset=us-ascii');
  assert.match(text.body, /could not be delivered to one or more recipients/);
  assert.match(text.body, /bob@example\.org/);
  assert.match(text.body, /550 5\.1\.1 <bob@example\.org>: user unknown/);
  assert.match(text.body, /has been delayed/);
  assert.match(text.body, /still trying until: Sat, 6 Jan 2024 03:04:05 \+0000/);
  assert.match(text.body, /Quarterly figures/);

  assert.equal(get(status.fields, 'Content-Type'), 'message/delivery-status');
  const blocks = statusBlocks(status.body);
  assert.equal(blocks.length, 3, 'per-message fields and two recipient blocks');
  const [msg, bob, carol] = blocks as [Field[], Field[], Field[]];
  checkGrammar(msg, PER_MESSAGE, ['reporting-mta']);
  assert.equal(get(msg, 'Original-Envelope-Id'), 'QQ314159');
  assert.equal(get(msg, 'Reporting-MTA'), 'dns; mx.petrel.example');
  assert.equal(Date.parse(get(msg, 'Arrival-Date') ?? ''), T0);

  checkGrammar(bob, PER_RECIPIENT, ['final-recipient', 'action', 'status']);
  assert.equal(get(bob, 'Original-Recipient'), 'rfc822;Bob@Example.org');
  assert.equal(get(bob, 'Final-Recipient'), 'rfc822;bob@example.org');
  assert.equal(get(bob, 'Action'), 'failed');
  assert.equal(get(bob, 'Status'), '5.1.1');
  assert.deepEqual(getAll(bob, 'Remote-MTA'), ['dns; mx.example.org', 'X-ip; [192.0.2.7]:587']);
  assert.equal(get(bob, 'Diagnostic-Code'), 'smtp; 550 5.1.1 <bob@example.org>: user unknown');
  assert.equal(Date.parse(get(bob, 'Last-Attempt-Date') ?? ''), LAST);
  assert.equal(get(bob, 'Will-Retry-Until'), undefined, 'only for delayed recipients');
  assert.equal(get(bob, 'X-Remote-MTA-smtp-greeting'), 'X-str; 220 mx.example.org ESMTP ready');
  assert.equal(get(bob, 'X-Remote-MTA-helo-response'), 'X-str; 250-mx.example.org Hello mx.petrel.example [198.51.100.1]',
    'only the first line of the EHLO reply');
  assert.equal(get(bob, 'X-Petrel-Diagnostic'),
    'X-str; SMTP error from remote mail server after RCPT TO:<bob@example.org>: 550 5.1.1 <bob@example.org>: user unknown');

  checkGrammar(carol, PER_RECIPIENT, ['final-recipient', 'action', 'status']);
  assert.equal(get(carol, 'Original-Recipient'), undefined);
  assert.equal(get(carol, 'Final-Recipient'), 'rfc822;carol@example.net');
  assert.equal(get(carol, 'Action'), 'delayed');
  assert.equal(get(carol, 'Status'), '4.4.1');
  assert.deepEqual(getAll(carol, 'Remote-MTA'), ['dns; mx.example.net', 'X-ip; [203.0.113.9]'], 'port 25 is not shown');
  assert.equal(get(carol, 'Diagnostic-Code'), 'X-Petrel; Connection timed out');
  assert.equal(Date.parse(get(carol, 'Will-Retry-Until') ?? ''), UNTIL);

  // RET=HDRS: the header section, as text/rfc822-headers, unchanged.
  assert.equal(r.returned, 'headers');
  assert.equal(r.original, 'none');
  assert.equal(get(returned.fields, 'Content-Type'), 'text/rfc822-headers');
  assert.equal(returned.body, ORIGINAL_HEADERS);
  assert.equal(r.eightBit, false);
  assert.equal(r.smtputf8, false);
});

test('RET=FULL: the whole original is streamed between head and tail as message/rfc822', () => {
  const r = buildReport(input({ ret: 'FULL', recipients: [failed] }));
  assert.equal(r.returned, 'full');
  assert.equal(r.original, 'full');
  assert.ok(!r.head.includes(Buffer.from('Hello Bob')), 'the body is not in the head');
  const original = ORIGINAL_HEADERS + '\r\n' + ORIGINAL_BODY;
  const { parts } = parse(r, original);
  assert.equal(parts.length, 3);
  const third = parts[2] as Entity;
  assert.equal(get(third.fields, 'Content-Type'), 'message/rfc822');
  assert.equal(get(third.fields, 'Content-Transfer-Encoding'), undefined);
  // The encapsulated message is exactly the original (its final CRLF kept).
  assert.equal(third.body, original);
  const inner = entity(third.body);
  assert.equal(get(inner.fields, 'Subject'), 'Quarterly figures');
  assert.match((parts[0] as Entity).body, /attached below in full/);
});

test('RET=FULL of an 8BITMIME message marks the part 8bit and asks for BODY=8BITMIME', () => {
  const r = buildReport(input({ ret: 'FULL', originalBody: '8BITMIME', recipients: [failed] }));
  const { parts } = parse(r, ORIGINAL_HEADERS + '\r\nCaf\u00e9\r\n');
  assert.equal(get((parts[2] as Entity).fields, 'Content-Transfer-Encoding'), '8bit');
  assert.equal(r.eightBit, true);
});

test('no RET returns the headers only; so does a delay warning even with RET=FULL', () => {
  const noRet = buildReport(input({ ret: undefined, recipients: [failed] }));
  assert.equal(noRet.returned, 'headers');
  assert.equal(noRet.original, 'none');

  const r = buildReport(input({ kind: 'delay', ret: 'FULL', queueId: '01HQ7Z0000ABCD', recipients: [delayed] }));
  assert.equal(r.returned, 'headers');
  const { top, parts } = parse(r);
  assert.equal(get(top.fields, 'Subject'), 'Warning: message 01HQ7Z0000ABCD delayed 24 hours');
  assert.equal(get(top.fields, 'X-Failed-Recipients'), undefined);
  assert.match((parts[0] as Entity).body, /has not yet been delivered|has been delayed/);
  assert.doesNotMatch((parts[0] as Entity).body, /could not be delivered/);
  assert.equal(get((parts[2] as Entity).fields, 'Content-Type'), 'text/rfc822-headers');
  const [, carol] = statusBlocks((parts[1] as Entity).body) as [Field[], Field[]];
  assert.equal(get(carol, 'Action'), 'delayed');
  assert.equal(Date.parse(get(carol, 'Will-Retry-Until') ?? ''), UNTIL);
});

test('a success report', () => {
  const r = buildReport(input({
    kind: 'success', ret: 'FULL',
    recipients: [{ finalRecipient: 'bob@example.org', action: 'delivered', status: '2.0.0' },
      { finalRecipient: 'dave@example.org', action: 'relayed', status: '2.0.0', remoteMta: { host: 'old.example.org', ip: '192.0.2.9', port: 25 } }],
  }));
  const { top, parts } = parse(r);
  assert.equal(get(top.fields, 'Subject'), 'Delivery status notification: delivered');
  assert.equal(r.returned, 'headers', 'a report without failures returns headers only');
  const text = (parts[0] as Entity).body;
  assert.match(text, /It was delivered to the following address\(es\):\r\n\r\n {2}bob@example\.org/);
  assert.match(text, /does\s+not send delivery reports/);
  assert.match(text, /status: 2\.0\.0 \(success\)/);
  const blocks = statusBlocks((parts[1] as Entity).body);
  assert.deepEqual(blocks.slice(1).map((b) => get(b, 'Action')), ['delivered', 'relayed']);
});

test('an invalid status is replaced by the generic code of the action', () => {
  const r = buildReport(input({ recipients: [{ ...failed, status: 'bogus' }, { ...delayed, status: '6.1.1' }] }));
  const blocks = statusBlocks((parse(r).parts[1] as Entity).body);
  assert.equal(get(blocks[1] as Field[], 'Status'), '5.0.0');
  assert.equal(get(blocks[2] as Field[], 'Status'), '4.0.0');
});

test('values cannot inject header fields or report fields', () => {
  const evil = 'x\r\nBcc: victim@example.com\r\n\r\nbody';
  const r = buildReport(input({
    from: `Mailer <m@host>${evil}`,
    to: `alice@client.example${evil}`,
    originalSubject: `Hi${evil}`,
    originalEnvelopeId: `id${evil}`,
    queueId: `q${evil}`,
    kind: 'failure',
    recipients: [{ ...failed, diagnostic: `550 no${evil}`, extra: { greeting: `220 hi${evil}`, detail: `d${evil}` },
      finalRecipient: `bob@example.org\r\nAction: delivered` }],
  }));
  const { top, parts } = parse(r);
  assert.equal(get(top.fields, 'Bcc'), undefined);
  assert.equal(getAll(top.fields, 'To').length, 1);
  assert.equal(get(top.fields, 'To'), 'alice@client.examplex Bcc: victim@example.com body');
  const blocks = statusBlocks((parts[1] as Entity).body);
  assert.equal(blocks.length, 2);
  for (const b of blocks) assert.equal(get(b, 'Bcc'), undefined);
  assert.deepEqual(getAll(blocks[1] as Field[], 'Action'), ['failed']);
  assert.equal(get(blocks[0] as Field[], 'Original-Envelope-Id'), 'idx Bcc: victim@example.com body');
});

test('a long diagnostic is folded: lines stay short and unfolding gives the text back', () => {
  const words = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
  const giant = 'z'.repeat(2500);
  const r = buildReport(input({ recipients: [{ ...failed, diagnostic: `550 ${words}`, extra: { detail: giant } }] }));
  const { raw, parts } = parse(r);
  for (const line of raw.split('\r\n')) assert.ok(Buffer.byteLength(line) <= 998, `line of ${line.length}`);
  const block = statusBlocks((parts[1] as Entity).body)[1] as Field[];
  assert.equal(get(block, 'Diagnostic-Code'), `smtp; 550 ${words}`);
  const statusLines = (parts[1] as Entity).body.split('\r\n');
  assert.ok(statusLines.filter((l) => /^ word/.test(l)).every((l) => l.length <= 78));
  // The unbreakable word is cut into pieces on lines of their own, nothing lost.
  assert.equal(get(block, 'X-Petrel-Diagnostic')?.replace(/ /g, ''), `X-str;${giant}`);
});

test('an SMTPUTF8 original gets a global report (RFC 6533)', () => {
  const headers = 'From: J\u00fcrgen <j\u00fcrgen@b\u00fccher.example>\r\nSubject: Gr\u00fc\u00dfe\r\nMessage-ID: <u@b\u00fccher.example>\r\n';
  const r = buildReport(input({
    smtputf8: true, to: 'j\u00fcrgen@b\u00fccher.example', ret: 'HDRS', originalHeaders: Buffer.from(headers),
    originalSubject: 'Gr\u00fc\u00dfe',
    recipients: [{ ...failed, finalRecipient: '\u7528\u6237@example.net', diagnostic: '550 5.1.1 \u7528\u6237 unknown',
      originalRecipient: { type: 'utf-8', address: '\\x{7528}\\x{6237}@example.net' } }],
  }));
  assert.equal(r.smtputf8, true, 'To: holds UTF-8');
  assert.equal(r.eightBit, true);
  const { top, parts } = parse(r);
  assert.equal(param(get(top.fields, 'Content-Type') ?? '', 'report-type'), 'global-delivery-status');
  assert.equal(get(top.fields, 'To'), 'j\u00fcrgen@b\u00fccher.example');
  const [text, status, hdrs] = parts as [Entity, Entity, Entity];
  assert.equal(get(status.fields, 'Content-Type'), 'message/global-delivery-status');
  assert.equal(get(status.fields, 'Content-Transfer-Encoding'), '8bit');
  const block = statusBlocks(status.body)[1] as Field[];
  assert.equal(get(block, 'Final-Recipient'), 'utf-8;\u7528\u6237@example.net');
  assert.equal(get(block, 'Original-Recipient'), 'utf-8;\u7528\u6237@example.net');
  assert.equal(get(block, 'Diagnostic-Code'), 'smtp; 550 5.1.1 \u7528\u6237 unknown');
  assert.equal(get(hdrs.fields, 'Content-Type'), 'message/global-headers');
  assert.equal(hdrs.body, headers);
  // The text part is quoted-printable UTF-8 (7-bit safe whatever the path).
  assert.equal(get(text.fields, 'Content-Transfer-Encoding'), 'quoted-printable');
  assert.match(get(text.fields, 'Content-Type') ?? '', /charset=utf-8/);
  assert.equal(Buffer.byteLength(text.body), text.body.length, 'ASCII only');
  const decoded = decodeQuotedPrintable(text.body).toString('utf8');
  assert.match(decoded, /Gr\u00fc\u00dfe/);
  assert.match(decoded, /\u7528\u6237@example\.net/);

  const full = buildReport(input({ smtputf8: true, ret: 'FULL', recipients: [failed] }));
  assert.equal(get((parse(full).parts[2] as Entity).fields, 'Content-Type'), 'message/global');
});

test('a plain report keeps its status part 7-bit: UTF-8 addresses as utf-8-addr-xtext', () => {
  const r = buildReport(input({
    recipients: [{ ...failed, finalRecipient: 'b\u00f8b+x@example.org', diagnostic: '550 n\u00e5 unknown',
      originalRecipient: { type: 'rfc822', address: 'b\u00f8b@example.org' } }],
  }));
  const { top, parts } = parse(r);
  assert.equal(get(top.fields, 'X-Failed-Recipients'), undefined, 'no raw UTF-8 in a plain header section');
  const status = parts[1] as Entity;
  assert.equal(Buffer.byteLength(status.body), status.body.length, 'ASCII only');
  const block = statusBlocks(status.body)[1] as Field[];
  assert.equal(get(block, 'Final-Recipient'), 'utf-8;b\\x{F8}b\\x{2B}x@example.org');
  assert.equal(get(block, 'Original-Recipient'), 'utf-8;b\\x{F8}b@example.org');
  assert.equal(get(block, 'Diagnostic-Code'), 'smtp; 550 n? unknown');
  assert.equal(r.smtputf8, false);
});

test('headers with bare LF and a trailing blank line are returned with CRLF and no blank line', () => {
  const r = buildReport(input({ originalHeaders: Buffer.from('Subject: a\nX-Y: b\n\n') }));
  assert.equal((parse(r).parts[2] as Entity).body, 'Subject: a\r\nX-Y: b\r\n');
  const noId = buildReport(input({ originalHeaders: Buffer.from('Subject: a\r\n') }));
  assert.equal(get(parse(noId).top.fields, 'In-Reply-To'), undefined);
});

test('the Message-ID and boundary come from the seed, made safe', () => {
  const r = buildReport(input({ messageIdSeed: 'a b<c>@d\r\n', now: 1_700_000_000_000 }));
  assert.equal(r.messageId, '<a-b-c--d--@mx.petrel.example>');
  assert.equal(r.boundary, `=_petrel_a-b-c--d--_${(1_700_000_000_000).toString(36)}`);
  const other = buildReport(input({ messageIdSeed: 'another' }));
  assert.notEqual(other.boundary, r.boundary);
});

test('no report without recipients or to the null sender', () => {
  assert.throws(() => buildReport(input({ recipients: [] })), (e: unknown) => e instanceof DsnError && e.code === 'DSN_INPUT');
  assert.throws(() => buildReport(input({ to: '' })), DsnError);
  assert.throws(() => buildReport(input({ to: '<>' })), DsnError);
});
