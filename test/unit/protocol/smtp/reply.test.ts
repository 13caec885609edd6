// Unit tests for protocol/smtp/reply.ts: reply formatting (RFC 5321 section 4.2) and enhanced codes (RFC 2034, 3463).
import test from 'node:test';
import assert from 'node:assert/strict';
import { R, formatReply, reply, replyFromText } from '../../../../protocol/smtp/reply.js';

test('single-line reply, with and without the enhanced code', () => {
  const r = reply(550, '5.7.1', 'Relay not permitted');
  assert.equal(formatReply(r, true), '550 5.7.1 Relay not permitted\r\n');
  assert.equal(formatReply(r, false), '550 Relay not permitted\r\n');
});

test('a reply without an enhanced code never shows one', () => {
  assert.equal(formatReply(R.startData, true), '354 Enter message, ending with "." on a line by itself\r\n');
  assert.equal(formatReply({ code: 220, lines: ['mx.example ESMTP'] }, true), '220 mx.example ESMTP\r\n');
});

test('multi-line reply: "-" after the code on every line but the last', () => {
  const r = reply(250, '2.0.0', 'first\nsecond\nthird');
  assert.deepEqual(r.lines, ['first', 'second', 'third']);
  assert.equal(formatReply(r, false), '250-first\r\n250-second\r\n250 third\r\n');
  assert.equal(formatReply(r, true), '250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0 third\r\n');
  assert.equal(formatReply({ code: 250, lines: ['mx.example Hello', 'SIZE 100', 'HELP'] }, true),
    '250-mx.example Hello\r\n250-SIZE 100\r\n250 HELP\r\n');
});

test('a reply with no lines is still one well-formed line', () => {
  assert.equal(formatReply({ code: 250, lines: [] }, false), '250 \r\n');
});

test('CR, LF and other controls in reply text cannot start extra reply lines', () => {
  const injected = { code: 550, enhanced: '5.7.1', lines: ['denied\r\n250 2.0.0 OK\rX\0Y'] };
  const wire = formatReply(injected, true);
  assert.equal(wire, '550 5.7.1 denied  250 2.0.0 OK X Y\r\n');
  // Through reply(): the text is split into lines at LF, and each line keeps the 550 code.
  const viaReply = formatReply(reply(550, '5.7.1', 'denied\r\n250 2.0.0 OK'), true);
  assert.equal(viaReply, '550-5.7.1 denied \r\n550 5.7.1 250 2.0.0 OK\r\n');
  for (const line of viaReply.split('\r\n').slice(0, -1)) assert.match(line, /^550[ -]/);
  assert.equal(viaReply.split('\r').length - 1, 2, 'exactly one CR per line');
});

test('long text is cut to keep a reply line under 512 octets', () => {
  const wire = formatReply(reply(550, '5.7.1', 'x'.repeat(2000)), true);
  assert.equal(wire, `550 5.7.1 ${'x'.repeat(480)}\r\n`);
  assert.ok(wire.length <= 512);
});

test('replyFromText: a leading code inside the same class is used', () => {
  const fb = { code: 550, enhanced: '5.7.1' };
  assert.deepEqual(replyFromText('551 5.1.1 No such user here', fb), { code: 551, enhanced: '5.1.1', lines: ['No such user here'] });
  assert.deepEqual(replyFromText('554 Go away', fb), { code: 554, enhanced: '5.7.1', lines: ['Go away'] });
  assert.deepEqual(replyFromText('553-5.1.8 multi\nline', fb), { code: 553, enhanced: '5.1.8', lines: ['multi', 'line'] });
  assert.deepEqual(replyFromText('Relay not permitted', fb), { code: 550, enhanced: '5.7.1', lines: ['Relay not permitted'] });
  const temp = { code: 451, enhanced: '4.7.1' };
  assert.deepEqual(replyFromText('421 4.7.0 Try later', temp), { code: 421, enhanced: '4.7.0', lines: ['Try later'] });
});

test('replyFromText keeps the class: a deny text "250 ok" cannot become a 2xx', () => {
  const fb = { code: 550, enhanced: '5.7.1' };
  const r = replyFromText('250 ok', fb);
  assert.deepEqual(r, { code: 550, enhanced: '5.7.1', lines: ['250 ok'] });
  assert.equal(formatReply(r, true), '550 5.7.1 250 ok\r\n');
  assert.equal(replyFromText('250 2.0.0 accepted', fb).code, 550);
  assert.equal(replyFromText('451 4.3.0 later', fb).code, 550, 'a permanent deny cannot become temporary');
  assert.equal(replyFromText('550 5.7.1 no', { code: 451, enhanced: '4.7.1' }).code, 451, 'nor a temporary one permanent');
  // An enhanced code of another class than the reply code is replaced by the fallback's.
  assert.deepEqual(replyFromText('550 2.0.0 no', fb), { code: 550, enhanced: '5.7.1', lines: ['no'] });
  // Text that only looks like a code is not one.
  assert.deepEqual(replyFromText('5500 nope', fb), { code: 550, enhanced: '5.7.1', lines: ['5500 nope'] });
  assert.deepEqual(replyFromText('599x', fb), { code: 550, enhanced: '5.7.1', lines: ['599x'] });
});

test('a deny text with an embedded line break stays in its class on every line', () => {
  const r = replyFromText('550 5.7.1 denied\r\n250 2.0.0 ok', { code: 550, enhanced: '5.7.1' });
  const wire = formatReply(r, true);
  for (const line of wire.split('\r\n').slice(0, -1)) assert.match(line, /^550[ -]5\.7\.1 /);
  assert.equal(wire, '550-5.7.1 denied \r\n550 5.7.1 250 2.0.0 ok\r\n');
});
