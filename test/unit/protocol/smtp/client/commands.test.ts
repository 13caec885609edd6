// Unit tests for protocol/smtp/client/commands.ts: command lines, extension parameters, injection guards.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  SmtpClientError, data, ehlo, helo, mailFrom, quit, rcptTo, rset, starttls,
} from '../../../../../protocol/smtp/client/commands.js';
import type { ParamCaps } from '../../../../../protocol/smtp/client/commands.js';
import { parseMailParams, parseRcptParams } from '../../../../../protocol/smtp/params.js';

const ALL: ParamCaps = { size: 10_000_000, eightBitMime: true, smtpUtf8: true, dsn: true };
const NONE: ParamCaps = { eightBitMime: false, smtpUtf8: false, dsn: false };
const OFFERED_ALL = { size: true, eightBitMime: true, smtpUtf8: true, dsn: true, auth: false };

/** One line: ends in CRLF, and holds no other CR, LF or NUL. */
function oneLine(line: string): string {
  assert.ok(line.endsWith('\r\n'), 'ends in CRLF');
  assert.doesNotMatch(line.slice(0, -2), /[\r\n\0]/);
  return line;
}

function throwsBadArgument(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SmtpClientError);
    assert.equal(e.code, 'SMTP_CLIENT_BAD_ARGUMENT');
    assert.equal(e.name, 'SmtpClientError');
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('the simple commands', () => {
  assert.equal(ehlo('client.example'), 'EHLO client.example\r\n');
  assert.equal(ehlo('[192.0.2.1]'), 'EHLO [192.0.2.1]\r\n');
  assert.equal(ehlo('[IPv6:2001:db8::1]'), 'EHLO [IPv6:2001:db8::1]\r\n');
  assert.equal(helo('client.example'), 'HELO client.example\r\n');
  assert.equal(data(), 'DATA\r\n');
  assert.equal(quit(), 'QUIT\r\n');
  assert.equal(rset(), 'RSET\r\n');
  assert.equal(starttls(), 'STARTTLS\r\n');
});

test('MAIL FROM with every extension offered', () => {
  const line = mailFrom('alice@example.org', { size: 12345, body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'QQ314159' }, ALL);
  assert.equal(oneLine(line), 'MAIL FROM:<alice@example.org> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159\r\n');
  // Petrel's own server reads back what was meant.
  const parsed = parseMailParams(line.slice(line.indexOf('>') + 1, -2), OFFERED_ALL);
  assert.deepEqual(parsed, { kind: 'ok', params: { size: 12345, body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'QQ314159' } });
});

test('MAIL FROM leaves out the parameters of extensions not offered', () => {
  const p = { size: 12345, body: '8BITMIME', smtputf8: true, ret: 'FULL', envid: 'x' } as const;
  assert.equal(mailFrom('alice@example.org', p, NONE), 'MAIL FROM:<alice@example.org>\r\n');
  assert.equal(mailFrom('alice@example.org', p, { ...NONE, size: 0 }), 'MAIL FROM:<alice@example.org> SIZE=12345\r\n');
  assert.equal(mailFrom('alice@example.org', p, { ...NONE, eightBitMime: true }), 'MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n');
  assert.equal(mailFrom('alice@example.org', p, { ...NONE, dsn: true }), 'MAIL FROM:<alice@example.org> RET=FULL ENVID=x\r\n');
  assert.equal(mailFrom('alice@example.org', p, { ...NONE, smtpUtf8: true }), 'MAIL FROM:<alice@example.org> SMTPUTF8\r\n');
  assert.equal(mailFrom('alice@example.org', { body: '7BIT' }, ALL), 'MAIL FROM:<alice@example.org> BODY=7BIT\r\n');
  assert.equal(mailFrom('alice@example.org', {}, ALL), 'MAIL FROM:<alice@example.org>\r\n');
  assert.equal(mailFrom('alice@example.org', { smtputf8: false }, ALL), 'MAIL FROM:<alice@example.org>\r\n');
});

test('the null reverse-path', () => {
  assert.equal(mailFrom('', {}, NONE), 'MAIL FROM:<>\r\n');
  assert.equal(mailFrom('<>', { ret: 'HDRS' }, ALL), 'MAIL FROM:<> RET=HDRS\r\n');
});

test('ENVID and ORCPT are xtext-encoded (RFC 3461 section 4)', () => {
  const line = mailFrom('a@example.org', { envid: 'id+1=2 é' }, ALL);
  assert.equal(line, 'MAIL FROM:<a@example.org> ENVID=id+2B1+3D2+20+C3+A9\r\n');
  // A value holding a line break cannot break the line: xtext turns it into +0D+0A.
  assert.equal(oneLine(mailFrom('a@example.org', { envid: 'x\r\nRCPT TO:<evil@x>' }, ALL)),
    'MAIL FROM:<a@example.org> ENVID=x+0D+0ARCPT+20TO:<evil@x>\r\n');
  const rcpt = rcptTo('bob@example.net', { orcpt: { type: 'rfc822', address: 'Bob+list=x@example.net' } }, ALL);
  assert.equal(rcpt, 'RCPT TO:<bob@example.net> ORCPT=rfc822;Bob+2Blist+3Dx@example.net\r\n');
  const parsed = parseRcptParams(rcpt.slice(rcpt.indexOf('>') + 1, -2), OFFERED_ALL);
  assert.deepEqual(parsed, { kind: 'ok', params: { orcpt: { type: 'rfc822', address: 'Bob+list=x@example.net' } } });
});

test('RCPT TO with DSN offered and not', () => {
  const p = { notify: ['SUCCESS', 'FAILURE'] as const, orcpt: { type: 'rfc822', address: 'bob@example.net' } };
  assert.equal(rcptTo('bob@example.net', p, ALL), 'RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net\r\n');
  assert.equal(rcptTo('bob@example.net', p, NONE), 'RCPT TO:<bob@example.net>\r\n');
  assert.equal(rcptTo('bob@example.net', { notify: 'NEVER' }, ALL), 'RCPT TO:<bob@example.net> NOTIFY=NEVER\r\n');
  assert.equal(rcptTo('bob@example.net', { notify: ['DELAY', 'DELAY', 'FAILURE'] }, ALL), 'RCPT TO:<bob@example.net> NOTIFY=DELAY,FAILURE\r\n');
  assert.equal(rcptTo('bob@example.net', {}, ALL), 'RCPT TO:<bob@example.net>\r\n');
  assert.equal(rcptTo('Postmaster', {}, NONE), 'RCPT TO:<Postmaster>\r\n');
  assert.equal(rcptTo('"john doe"@example.net', {}, NONE), 'RCPT TO:<"john doe"@example.net>\r\n');
  assert.equal(rcptTo('user@[192.0.2.7]', {}, NONE), 'RCPT TO:<user@[192.0.2.7]>\r\n');
});

test('internationalized addresses only with SMTPUTF8; a UTF-8 sender brings the parameter itself', () => {
  assert.equal(mailFrom('jürgen@例え.jp', {}, ALL), 'MAIL FROM:<jürgen@例え.jp> SMTPUTF8\r\n');
  assert.equal(rcptTo('用户@例子.广告', {}, ALL), 'RCPT TO:<用户@例子.广告>\r\n');
  throwsBadArgument(() => mailFrom('jürgen@example.de', { smtputf8: true }, NONE), /SMTPUTF8/);
  throwsBadArgument(() => rcptTo('用户@例子.广告', {}, NONE), /SMTPUTF8/);
});

const INJECTIONS = [
  'a@example.org>\r\nRCPT TO:<evil@example.net',
  'a@example.org\nRCPT TO:<evil@example.net>',
  'a@example.org\rX',
  'a@example.org\0',
  '"a\r\nb"@example.org',
];

test('CR, LF and NUL in an address are refused, never sent', () => {
  for (const bad of INJECTIONS) {
    throwsBadArgument(() => mailFrom(bad, {}, ALL), /CR, LF or NUL/);
    throwsBadArgument(() => rcptTo(bad, {}, ALL), /CR, LF or NUL/);
  }
});

test('malformed addresses and values are refused', () => {
  for (const bad of ['no-at-sign', '@example.org', 'a@', 'a b@example.org', 'a@exa mple.org', '<a@example.org>', 'a@example.org> SIZE=1', 'a\t@x.org']) {
    throwsBadArgument(() => mailFrom(bad, {}, ALL));
    throwsBadArgument(() => rcptTo(bad, {}, ALL));
  }
  throwsBadArgument(() => rcptTo('', {}, ALL), /not a valid address/);
  throwsBadArgument(() => rcptTo(`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`, {}, ALL), /longer than 254/);
  throwsBadArgument(() => mailFrom('a@example.org', { size: -1 }, ALL), /SIZE/);
  throwsBadArgument(() => mailFrom('a@example.org', { size: 1.5 }, NONE), /SIZE/);
  throwsBadArgument(() => mailFrom('a@example.org', { envid: 'x'.repeat(101) }, ALL), /ENVID/);
  throwsBadArgument(() => mailFrom('a@example.org', { envid: '' }, ALL), /ENVID/);
  throwsBadArgument(() => mailFrom('a@example.org', { body: '8bit' as never }, ALL), /BODY/);
  throwsBadArgument(() => mailFrom('a@example.org', { ret: 'ALL' as never }, ALL), /RET/);
  throwsBadArgument(() => rcptTo('b@example.org', { notify: [] }, ALL), /NOTIFY/);
  throwsBadArgument(() => rcptTo('b@example.org', { notify: ['NEVER' as never] }, ALL), /NOTIFY/);
  throwsBadArgument(() => rcptTo('b@example.org', { notify: 'never' as never }, ALL), /NOTIFY/);
  throwsBadArgument(() => rcptTo('b@example.org', { orcpt: { type: 'rfc 822', address: 'b@example.org' } }, ALL), /ORCPT/);
  throwsBadArgument(() => rcptTo('b@example.org', { orcpt: { type: 'rfc822;x', address: 'b@example.org' } }, ALL), /ORCPT/);
  throwsBadArgument(() => rcptTo('b@example.org', { orcpt: { type: 'rfc822', address: '' } }, ALL), /ORCPT/);
});

test('values are checked even when the extension is not offered', () => {
  throwsBadArgument(() => rcptTo('b@example.org', { notify: [] }, NONE));
  throwsBadArgument(() => mailFrom('a@example.org', { envid: 'x'.repeat(101) }, NONE));
});

test('EHLO and HELO names: no line breaks, no spaces, ASCII only', () => {
  for (const bad of ['client.example\r\nMAIL FROM:<x@y>', 'client\n', 'client\0', '']) {
    throwsBadArgument(() => ehlo(bad));
    throwsBadArgument(() => helo(bad));
  }
  throwsBadArgument(() => ehlo('client.example\r\nQUIT'), /CR, LF or NUL/);
  throwsBadArgument(() => ehlo('client example'), /printable ASCII/);
  throwsBadArgument(() => ehlo('bücher.example'), /printable ASCII/);
  throwsBadArgument(() => helo('x'.repeat(256)));
});

test('an address checked once is judged the same way again: bad ones fail every time, SMTPUTF8 is asked per server', () => {
  for (let i = 0; i < 2; i++) {
    assert.throws(() => rcptTo('no-at-sign', {}, ALL), { code: 'SMTP_CLIENT_BAD_ARGUMENT' }, `attempt ${i + 1}`);
    assert.throws(() => mailFrom('a@b.example\r\nRCPT TO:<x@y.example>', {}, ALL), /CR, LF or NUL/, `attempt ${i + 1}`);
  }
  // Valid, non-ASCII: fine for a server that offers SMTPUTF8, refused by one that does not, in either order.
  assert.equal(rcptTo('用户@例子.example', {}, ALL), 'RCPT TO:<用户@例子.example>\r\n');
  assert.throws(() => rcptTo('用户@例子.example', {}, NONE), /did not offer SMTPUTF8/);
  assert.throws(() => mailFrom('jöran@example.org', {}, NONE), /did not offer SMTPUTF8/);
  assert.equal(mailFrom('jöran@example.org', {}, ALL), 'MAIL FROM:<jöran@example.org> SMTPUTF8\r\n');
  // Postmaster alone stays a valid forward-path, not a sender.
  assert.equal(rcptTo('Postmaster', {}, NONE), 'RCPT TO:<Postmaster>\r\n');
  assert.throws(() => mailFrom('Postmaster', {}, NONE), { code: 'SMTP_CLIENT_BAD_ARGUMENT' });
});
