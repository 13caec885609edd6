// Unit tests for protocol/message/received.ts (RFC 5321 section 4.4, RFC 3848) and date.ts (RFC 5322 section 3.3).
import test from 'node:test';
import assert from 'node:assert/strict';
import { rfc5322Date } from '../../../../protocol/message/date.js';
import { receivedHeader, withProtocol } from '../../../../protocol/message/received.js';
import type { ReceivedInfo } from '../../../../protocol/message/received.js';
import { parseHeaders } from '../../../../protocol/message/headers.js';

const T = Date.UTC(2024, 1, 29, 23, 5, 9); // Thu, 29 Feb 2024 23:05:09 UTC

const BASE: ReceivedInfo = {
  heloName: 'client.example',
  clientIp: '192.0.2.7',
  byHost: 'mx.example.net',
  protocol: 'ESMTP',
  id: '01HQXYZ0000ABCDE',
  sender: 'alice@client.example',
  time: T,
};

test('rfc5322Date: day, month names, zero-padded time, +0000', () => {
  assert.equal(rfc5322Date(0), 'Thu, 1 Jan 1970 00:00:00 +0000');
  assert.equal(rfc5322Date(T), 'Thu, 29 Feb 2024 23:05:09 +0000');
  assert.equal(rfc5322Date(Date.UTC(1999, 11, 31, 9, 0, 59, 999)), 'Fri, 31 Dec 1999 09:00:59 +0000');
  assert.equal(rfc5322Date(Date.UTC(2030, 6, 4, 12, 30, 0)), 'Thu, 4 Jul 2030 12:30:00 +0000');
  assert.match(rfc5322Date(Date.now()), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$/);
});

test('receivedHeader: one recipient is named with "for"', () => {
  const h = receivedHeader({ ...BASE, recipient: 'bob@mx.example.net' });
  assert.equal(h,
    'Received: from client.example ([192.0.2.7])\r\n' +
    '\tby mx.example.net with ESMTP\r\n' +
    '\t(envelope-from <alice@client.example>)\r\n' +
    '\tid 01HQXYZ0000ABCDE\r\n' +
    '\tfor <bob@mx.example.net>;\r\n' +
    '\tThu, 29 Feb 2024 23:05:09 +0000\r\n');
});

test('receivedHeader: without a single recipient there is no "for" clause', () => {
  const h = receivedHeader(BASE);
  assert.equal(h,
    'Received: from client.example ([192.0.2.7])\r\n' +
    '\tby mx.example.net with ESMTP\r\n' +
    '\t(envelope-from <alice@client.example>)\r\n' +
    '\tid 01HQXYZ0000ABCDE;\r\n' +
    '\tThu, 29 Feb 2024 23:05:09 +0000\r\n');
  assert.equal(h.includes(' for '), false);
  assert.equal(h.includes('for <'), false);
});

test('receivedHeader: IPv6 client as an IPv6 address literal, reverse name, TLS details, null sender', () => {
  const h = receivedHeader({
    ...BASE,
    clientIp: '2001:db8::25',
    clientHostname: 'mail.client.example',
    protocol: 'ESMTPS',
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    sender: '',
  });
  assert.equal(h,
    'Received: from client.example (mail.client.example [IPv6:2001:db8::25])\r\n' +
    '\tby mx.example.net with ESMTPS (TLSv1.3:TLS_AES_256_GCM_SHA384)\r\n' +
    '\t(envelope-from <>)\r\n' +
    '\tid 01HQXYZ0000ABCDE;\r\n' +
    '\tThu, 29 Feb 2024 23:05:09 +0000\r\n');
});

test('receivedHeader is one folded field: it parses back as a single Received field', () => {
  const fields = parseHeaders(receivedHeader({ ...BASE, recipient: 'bob@mx.example.net' }));
  assert.equal(fields.length, 1);
  assert.equal(fields[0]?.name, 'Received');
  assert.ok(fields[0]?.value.endsWith('for <bob@mx.example.net>;\tThu, 29 Feb 2024 23:05:09 +0000'));
  // Every continuation line is folded with white space, and the whole ends with CRLF.
  const h = receivedHeader(BASE);
  const lines = h.split('\r\n');
  assert.equal(lines.pop(), '');
  for (const line of lines.slice(1)) assert.match(line, /^\t/);
});

test('withProtocol: RFC 3848 and RFC 6531 protocol names', () => {
  assert.equal(withProtocol({ ehlo: false, tls: false, auth: false, utf8: false }), 'SMTP');
  assert.equal(withProtocol({ ehlo: true, tls: false, auth: false, utf8: false }), 'ESMTP');
  assert.equal(withProtocol({ ehlo: true, tls: true, auth: false, utf8: false }), 'ESMTPS');
  assert.equal(withProtocol({ ehlo: true, tls: false, auth: true, utf8: false }), 'ESMTPA');
  assert.equal(withProtocol({ ehlo: true, tls: true, auth: true, utf8: false }), 'ESMTPSA');
  assert.equal(withProtocol({ ehlo: true, tls: false, auth: false, utf8: true }), 'UTF8SMTP');
  assert.equal(withProtocol({ ehlo: true, tls: true, auth: false, utf8: true }), 'UTF8SMTPS');
  assert.equal(withProtocol({ ehlo: true, tls: false, auth: true, utf8: true }), 'UTF8SMTPA');
  assert.equal(withProtocol({ ehlo: true, tls: true, auth: true, utf8: true }), 'UTF8SMTPSA');
});
