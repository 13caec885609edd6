// Unit tests for protocol/smtp/params.ts: MAIL/RCPT parameters of RFC 1870, 6152, 6531, 3461 and 4954.
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeXtext, encodeXtext, parseMailParams, parseRcptParams } from '../../../../protocol/smtp/params.js';
import type { MailParams, Offered, ParamsResult, RcptParams } from '../../../../protocol/smtp/params.js';
import { formatReply } from '../../../../protocol/smtp/reply.js';

const ALL: Offered = { size: true, eightBitMime: true, smtpUtf8: true, dsn: true, auth: true };
const NONE: Offered = { size: false, eightBitMime: false, smtpUtf8: false, dsn: false, auth: false };

function params<T>(r: ParamsResult<T>): T {
  if (r.kind !== 'ok') assert.fail(`expected ok, got ${formatReply(r.reply, true)}`);
  return r.params;
}

/** The reply as "code enhanced text" on one line, for exact comparison. */
function refused<T>(r: ParamsResult<T>): string {
  if (r.kind !== 'error') assert.fail(`expected an error, got ${JSON.stringify(r.params)}`);
  return formatReply(r.reply, true).trimEnd();
}

test('MAIL: no parameters', () => {
  assert.deepEqual(params(parseMailParams('', ALL)), { smtputf8: false });
  assert.deepEqual(params(parseMailParams('   ', NONE)), { smtputf8: false });
});

test('MAIL: every parameter at once, keywords and values case-insensitive', () => {
  const p: MailParams = params(parseMailParams('size=12345 Body=8bitmime SMTPUTF8 ret=hdrs ENVID=QQ314159 AUTH=<>', ALL));
  assert.deepEqual(p, { size: 12345, body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'QQ314159', auth: '<>' });
  assert.deepEqual(params(parseMailParams('BODY=7BIT RET=FULL', ALL)), { smtputf8: false, body: '7BIT', ret: 'FULL' });
  // Several spaces between parameters are tolerated.
  assert.deepEqual(params(parseMailParams('SIZE=1    SMTPUTF8', ALL)), { smtputf8: true, size: 1 });
});

test('SIZE: digits only (RFC 1870)', () => {
  assert.equal(params(parseMailParams('SIZE=0', ALL)).size, 0);
  assert.equal(params(parseMailParams('SIZE=52428800', ALL)).size, 52428800);
  for (const bad of ['SIZE', 'SIZE=abc', 'SIZE=-1', 'SIZE=1e5', 'SIZE=1.5', 'SIZE=0x10', `SIZE=${'9'.repeat(21)}`]) {
    assert.equal(refused(parseMailParams(bad, ALL)), '501 5.5.4 SIZE needs a number', bad);
  }
});

test('BODY, SMTPUTF8, RET: allowed values only', () => {
  assert.equal(refused(parseMailParams('BODY=BINARYMIME', ALL)), '501 5.5.4 BODY must be 7BIT or 8BITMIME');
  assert.equal(refused(parseMailParams('BODY', ALL)), '501 5.5.4 BODY must be 7BIT or 8BITMIME');
  assert.equal(refused(parseMailParams('SMTPUTF8=YES', ALL)), '501 5.5.4 SMTPUTF8 takes no value');
  assert.equal(refused(parseMailParams('RET=ALL', ALL)), '501 5.5.4 RET must be FULL or HDRS');
  assert.equal(refused(parseMailParams('RET', ALL)), '501 5.5.4 RET must be FULL or HDRS');
});

test('ENVID and AUTH are xtext-decoded (RFC 3461 section 4, RFC 4954 section 5)', () => {
  assert.equal(params(parseMailParams('ENVID=abc+2Bdef+3D', ALL)).envid, 'abc+def=');
  assert.equal(params(parseMailParams('AUTH=alice+40example.com', ALL)).auth, 'alice@example.com');
  assert.equal(params(parseMailParams(`ENVID=${'x'.repeat(100)}`, ALL)).envid, 'x'.repeat(100));
  assert.equal(refused(parseMailParams(`ENVID=${'x'.repeat(101)}`, ALL)), '501 5.5.4 Malformed ENVID');
  assert.equal(refused(parseMailParams('ENVID', ALL)), '501 5.5.4 Malformed ENVID');
  // xtext hex digits are upper case; "+" must be followed by two of them.
  assert.equal(refused(parseMailParams('ENVID=a+2b', ALL)), '501 5.5.4 Malformed ENVID');
  assert.equal(refused(parseMailParams('ENVID=a+2', ALL)), '501 5.5.4 Malformed ENVID');
  assert.equal(refused(parseMailParams('AUTH=a+zz', ALL)), '501 5.5.4 Malformed AUTH parameter');
  assert.equal(refused(parseMailParams('AUTH', ALL)), '501 5.5.4 Malformed AUTH parameter');
});

test('each MAIL parameter is refused with 555 5.5.4 when its extension was not offered', () => {
  const cases: [string, keyof Offered][] = [
    ['SIZE=100', 'size'],
    ['BODY=8BITMIME', 'eightBitMime'],
    ['SMTPUTF8', 'smtpUtf8'],
    ['RET=FULL', 'dsn'],
    ['ENVID=x', 'dsn'],
    ['AUTH=<>', 'auth'],
  ];
  for (const [text, ext] of cases) {
    const key = (text.split('=')[0] as string).toUpperCase();
    assert.equal(refused(parseMailParams(text, NONE)), `555 5.5.4 Unsupported parameter ${key}`, text);
    // Offering everything except that one extension still refuses it.
    assert.equal(refused(parseMailParams(text, { ...ALL, [ext]: false })), `555 5.5.4 Unsupported parameter ${key}`, text);
    assert.equal(parseMailParams(text, { ...NONE, [ext]: true }).kind, 'ok', text);
  }
});

test('unknown parameters are refused with 555, RCPT parameters on MAIL too', () => {
  assert.equal(refused(parseMailParams('FOO=bar', ALL)), '555 5.5.4 Unsupported parameter FOO');
  assert.equal(refused(parseMailParams('NOTIFY=NEVER', ALL)), '555 5.5.4 Unsupported parameter NOTIFY');
  assert.equal(refused(parseRcptParams('SIZE=10', ALL)), '555 5.5.4 Unsupported parameter SIZE');
  assert.equal(refused(parseRcptParams('X-FOO', ALL)), '555 5.5.4 Unsupported parameter X-FOO');
});

test('duplicate parameters are refused with 501, whatever their case', () => {
  assert.equal(refused(parseMailParams('SIZE=1 size=2', ALL)), '501 5.5.4 Duplicate parameter SIZE');
  assert.equal(refused(parseMailParams('SMTPUTF8 SMTPUTF8', ALL)), '501 5.5.4 Duplicate parameter SMTPUTF8');
  assert.equal(refused(parseRcptParams('NOTIFY=NEVER Notify=SUCCESS', ALL)), '501 5.5.4 Duplicate parameter NOTIFY');
  assert.equal(refused(parseRcptParams('ORCPT=rfc822;a@b ORCPT=rfc822;c@d', ALL)), '501 5.5.4 Duplicate parameter ORCPT');
});

test('malformed keywords and values', () => {
  assert.equal(refused(parseMailParams('=5', ALL)), '501 5.5.4 Malformed parameter "=5"');
  assert.equal(refused(parseMailParams('-X=5', ALL)), '501 5.5.4 Malformed parameter "-X=5"');
  assert.equal(refused(parseMailParams('SI_ZE=5', ALL)), '501 5.5.4 Malformed parameter "SI_ZE=5"');
  assert.equal(refused(parseMailParams('SIZE=', ALL)), '501 5.5.4 Malformed value for SIZE');
  assert.equal(refused(parseMailParams('ENVID=a=b', ALL)), '501 5.5.4 Malformed value for ENVID');
  assert.equal(refused(parseMailParams('ENVID=a\x7fb', ALL)), '501 5.5.4 Malformed value for ENVID');
  // Malformed syntax is reported before "unsupported": the line is broken, whatever was offered.
  assert.equal(refused(parseMailParams('SIZE=', NONE)), '501 5.5.4 Malformed value for SIZE');
});

test('RCPT: NOTIFY lists (RFC 3461 section 4.1)', () => {
  const p: RcptParams = params(parseRcptParams('NOTIFY=success,Failure,DELAY', ALL));
  assert.deepEqual(p, { notify: ['SUCCESS', 'FAILURE', 'DELAY'] });
  assert.deepEqual(params(parseRcptParams('NOTIFY=delay', ALL)), { notify: ['DELAY'] });
  assert.deepEqual(params(parseRcptParams('NOTIFY=never', ALL)), { notify: 'NEVER' });
  assert.deepEqual(params(parseRcptParams('', ALL)), {});
});

test('RCPT: NOTIFY=NEVER is exclusive; repeats, unknown and empty items are refused', () => {
  const msg = '501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY';
  for (const bad of ['NOTIFY=NEVER,SUCCESS', 'NOTIFY=FAILURE,NEVER', 'NOTIFY=NEVER,NEVER', 'NOTIFY=SOMETIMES', 'NOTIFY', 'NOTIFY=SUCCESS,', 'NOTIFY=,DELAY']) {
    assert.equal(refused(parseRcptParams(bad, ALL)), msg, bad);
  }
  assert.equal(refused(parseRcptParams('NOTIFY=SUCCESS,SUCCESS', ALL)), '501 5.5.4 NOTIFY lists a value twice');
});

test('RCPT: ORCPT is addr-type;xtext, type lower-cased (RFC 3461 section 4.2)', () => {
  assert.deepEqual(params(parseRcptParams('ORCPT=RFC822;bob+40example.com', ALL)), {
    orcpt: { type: 'rfc822', address: 'bob@example.com' },
  });
  assert.deepEqual(params(parseRcptParams('NOTIFY=FAILURE ORCPT=rfc822;a+2Bb@example.com', ALL)), {
    notify: ['FAILURE'],
    orcpt: { type: 'rfc822', address: 'a+b@example.com' },
  });
  assert.equal(refused(parseRcptParams('ORCPT', ALL)), '501 5.5.4 ORCPT must be addr-type;xtext');
  assert.equal(refused(parseRcptParams('ORCPT=rfc822', ALL)), '501 5.5.4 ORCPT must be addr-type;xtext');
  assert.equal(refused(parseRcptParams('ORCPT=;a@b', ALL)), '501 5.5.4 ORCPT must be addr-type;xtext');
  assert.equal(refused(parseRcptParams('ORCPT=rfc822;', ALL)), '501 5.5.4 Malformed ORCPT');
  assert.equal(refused(parseRcptParams('ORCPT=rfc_822;a@b', ALL)), '501 5.5.4 Malformed ORCPT');
  assert.equal(refused(parseRcptParams('ORCPT=rfc822;a+4', ALL)), '501 5.5.4 Malformed ORCPT');
  assert.equal(refused(parseRcptParams(`ORCPT=rfc822;${'a'.repeat(501)}`, ALL)), '501 5.5.4 Malformed ORCPT');
  assert.equal(params(parseRcptParams(`ORCPT=rfc822;${'a'.repeat(500)}`, ALL)).orcpt?.address.length, 500);
});

test('RCPT parameters are refused with 555 5.5.4 without DSN', () => {
  assert.equal(refused(parseRcptParams('NOTIFY=NEVER', NONE)), '555 5.5.4 Unsupported parameter NOTIFY');
  assert.equal(refused(parseRcptParams('ORCPT=rfc822;a@b', { ...ALL, dsn: false })), '555 5.5.4 Unsupported parameter ORCPT');
});

test('xtext: decode and encode', () => {
  assert.equal(decodeXtext(''), '');
  assert.equal(decodeXtext('plain'), 'plain');
  assert.equal(decodeXtext('a+2Bb+3Dc+20d'), 'a+b=c d');
  assert.equal(decodeXtext('a b'), null);
  assert.equal(decodeXtext('a=b'), null);
  assert.equal(decodeXtext('+'), null);
  assert.equal(decodeXtext('+4'), null);
  assert.equal(decodeXtext('+4g'), null);
  assert.equal(decodeXtext('caf\u00e9'), null);
  assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(encodeXtext('plain@example.com'), 'plain@example.com');
  assert.equal(encodeXtext('\x00\x1f\x7f'), '+00+1F+7F');
  assert.equal(encodeXtext('é'), '+C3+A9');
});

test('xtext: every ASCII string round-trips, and encoded text is itself valid xtext', () => {
  let all = '';
  for (let c = 0; c < 128; c++) all += String.fromCharCode(c);
  const enc = encodeXtext(all);
  assert.match(enc, /^[\x21-\x2a\x2c-\x3c\x3e-\x7e+]*$/);
  assert.equal(decodeXtext(enc), all);
  for (let c = 0; c < 128; c++) {
    const s = `x${String.fromCharCode(c)}y`;
    assert.equal(decodeXtext(encodeXtext(s)), s, `code ${c}`);
  }
});
