// Unit tests for protocol/dsn/status.ts and text.ts: status codes (RFC 3463), NOTIFY (RFC 3461
// section 4.1), RET, the null sender, and the text forms (folding, utf-8 addresses, quoted-printable).
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  dsnStatusFromReply, eventOfAction, isStatus, reportable, returnedContent, shouldNotify, statusMeaning,
} from '../../../protocol/dsn/status.js';
import { decodeEmbedded, field, quotedPrintable, typedAddress, utf8AddrXtext, wrap } from '../../../protocol/dsn/text.js';
import { decodeQuotedPrintable } from './mime.js';

test('dsnStatusFromReply: the enhanced code when it agrees with the reply, else the generic one', () => {
  assert.equal(dsnStatusFromReply(550, '5.1.1'), '5.1.1');
  assert.equal(dsnStatusFromReply(452, '4.2.2'), '4.2.2');
  assert.equal(dsnStatusFromReply(250, '2.1.5'), '2.1.5');
  assert.equal(dsnStatusFromReply(550), '5.0.0');
  assert.equal(dsnStatusFromReply(421), '4.0.0');
  assert.equal(dsnStatusFromReply(250), '2.0.0');
  assert.equal(dsnStatusFromReply(550, '4.2.2'), '5.0.0', 'class mismatch');
  assert.equal(dsnStatusFromReply(450, 'junk'), '4.0.0');
  assert.equal(dsnStatusFromReply(550, '5.01.001'), '5.1.1', 'leading zeros dropped');
  assert.equal(dsnStatusFromReply(354), '5.0.0', 'an out-of-place reply is a protocol failure');
});

test('isStatus and statusMeaning', () => {
  assert.ok(isStatus('5.1.1') && isStatus('4.4.7') && isStatus('2.0.0') && isStatus('5.123.999'));
  assert.ok(!isStatus('3.1.1') && !isStatus('5.1') && !isStatus('5.1.1.1') && !isStatus('5.1000.1'));
  assert.equal(statusMeaning('5.1.1'), 'bad destination mailbox address');
  assert.equal(statusMeaning('4.2.2'), 'mailbox full');
  assert.equal(statusMeaning('5.1.99'), 'bad address', 'unknown detail falls back to the subject');
  assert.equal(statusMeaning('nonsense'), 'unknown status');
  assert.equal(statusMeaning('2.0.0'), 'success');
  assert.equal(statusMeaning('5.0.0'), 'other or undefined status');
});

test('shouldNotify follows RFC 3461 NOTIFY', () => {
  // Absent: failures and delays, not successes.
  assert.equal(shouldNotify(undefined, 'failure'), true);
  assert.equal(shouldNotify(undefined, 'delay'), true);
  assert.equal(shouldNotify(undefined, 'success'), false);
  // NEVER suppresses everything.
  for (const e of ['failure', 'delay', 'success'] as const) assert.equal(shouldNotify('NEVER', e), false);
  // A list: exactly what it names.
  assert.equal(shouldNotify(['SUCCESS'], 'success'), true);
  assert.equal(shouldNotify(['SUCCESS'], 'failure'), false);
  assert.equal(shouldNotify(['FAILURE'], 'delay'), false);
  assert.equal(shouldNotify(['FAILURE', 'DELAY'], 'delay'), true);
  assert.equal(shouldNotify(['FAILURE', 'DELAY'], 'success'), false);
  assert.equal(shouldNotify(['SUCCESS', 'FAILURE', 'DELAY'], 'success'), true);
});

test('eventOfAction, reportable, returnedContent', () => {
  assert.equal(eventOfAction('failed'), 'failure');
  assert.equal(eventOfAction('delayed'), 'delay');
  assert.equal(eventOfAction('delivered'), 'success');
  assert.equal(eventOfAction('relayed'), 'success');
  assert.equal(eventOfAction('expanded'), 'success');
  assert.equal(reportable(''), false);
  assert.equal(reportable('<>'), false);
  assert.equal(reportable('  '), false);
  assert.equal(reportable('alice@example.org'), true);
  assert.equal(returnedContent('failure', 'FULL'), 'full');
  assert.equal(returnedContent('failure', 'HDRS'), 'headers');
  assert.equal(returnedContent('failure', undefined), 'headers');
  assert.equal(returnedContent('delay', 'FULL'), 'headers');
  assert.equal(returnedContent('success', 'FULL'), 'headers');
});

test('field folds at spaces, strips controls and never exceeds 998 octets a line', () => {
  assert.equal(field('Subject', 'hello'), 'Subject: hello\r\n');
  assert.equal(field('X', 'a\r\nB: c\td'), 'X: a B: c d\r\n');
  const long = field('Diagnostic-Code', 'smtp; ' + 'abcdefghij '.repeat(30));
  const lines = long.split('\r\n').slice(0, -1);
  assert.ok(lines.length > 1);
  for (const [i, l] of lines.entries()) {
    assert.ok(l.length <= 78);
    if (i > 0) assert.ok(l.startsWith(' '));
  }
  assert.equal(long.replace(/\r\n(?= )/g, ''), 'Diagnostic-Code: smtp;' + ' abcdefghij'.repeat(30) + '\r\n');
  // A multi-octet word longer than a line is cut between characters, not inside one.
  const cjk = field('X', '\u7528'.repeat(1000));
  for (const l of cjk.split('\r\n')) {
    assert.ok(Buffer.byteLength(l) <= 998);
    assert.ok(!l.includes('\ufffd'));
  }
  assert.equal(cjk.replace(/\r\n /g, '').replace('X: ', '').trim(), '\u7528'.repeat(1000));
});

test('utf-8 addresses: xtext for plain reports, raw for global ones, type kept for ASCII', () => {
  assert.equal(utf8AddrXtext('j\u00fcrgen+x=y\\z@ex.example'), 'j\\x{FC}rgen\\x{2B}x\\x{3D}y\\x{5C}z@ex.example');
  assert.equal(utf8AddrXtext('\u{1F600}@a'), '\\x{1F600}@a');
  assert.equal(decodeEmbedded('j\\x{FC}rgen\\x{2B}x@ex.example'), 'j\u00fcrgen+x@ex.example');
  assert.equal(decodeEmbedded('\\x{D800}'), '\\x{D800}', 'no surrogates');
  assert.equal(typedAddress('rfc822', 'bob@example.org', false), 'rfc822;bob@example.org');
  assert.equal(typedAddress('rfc822', 'b\u00f8b@example.org', false), 'utf-8;b\\x{F8}b@example.org');
  assert.equal(typedAddress('rfc822', 'b\u00f8b@example.org', true), 'utf-8;b\u00f8b@example.org');
  assert.equal(typedAddress('utf-8', 'b\\x{F8}b@example.org', true), 'utf-8;b\u00f8b@example.org');
  assert.equal(typedAddress('utf-8', 'plain@example.org', false), 'utf-8;plain@example.org');
  assert.equal(typedAddress('x400', 'c=us;a=att', false), 'x400;c=us;a=att');
});

test('quotedPrintable round-trips and keeps lines within 76 characters', () => {
  const text = 'Gr\u00fc\u00dfe aus K\u00f6ln = sch\u00f6n \nline with trailing space \n' + '\u00e9'.repeat(100) + '\n' + 'x'.repeat(200);
  const qp = quotedPrintable(text);
  for (const l of qp.split('\r\n')) assert.ok(l.length <= 76, `${l.length}: ${l}`);
  assert.ok(/^[\x20-\x7e\r\n]*$/.test(qp));
  assert.equal(decodeQuotedPrintable(qp).toString('utf8'), text.split('\n').join('\r\n'));
});

test('wrap', () => {
  assert.deepEqual(wrap('a bb ccc dddd', 6), ['a bb', 'ccc', 'dddd']);
  assert.deepEqual(wrap('averyveryverylongword x', 5), ['averyveryverylongword', 'x']);
  assert.deepEqual(wrap('', 10), []);
  const cut = wrap('q'.repeat(2000), 76);
  assert.deepEqual(cut.map((l) => l.length), [900, 900, 200]);
});
