// Unit tests for protocol/smtp/command.ts: one command line (RFC 5321 section 4.1) into a tagged command.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, printable } from '../../../../protocol/smtp/command.js';
import type { Command } from '../../../../protocol/smtp/command.js';
import { formatReply } from '../../../../protocol/smtp/reply.js';

const parse = (s: string | Buffer): Command => parseCommand(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

function invalidReply(c: Command): string {
  if (c.kind !== 'invalid') assert.fail(`expected invalid, got ${JSON.stringify(c)}`);
  return formatReply(c.reply, true).trimEnd();
}

test('verbs are case-insensitive; arguments are trimmed', () => {
  assert.deepEqual(parse('ehlo client.example'), { kind: 'command', verb: 'EHLO', arg: 'client.example', line: 'ehlo client.example' });
  assert.deepEqual(parse('HeLo   client.example  '), { kind: 'command', verb: 'HELO', arg: 'client.example', line: 'HeLo   client.example  ' });
  for (const verb of ['DATA', 'RSET', 'NOOP', 'QUIT', 'HELP', 'STARTTLS', 'data', 'Rset', 'nOoP', 'quit', 'starttls']) {
    const c = parse(verb);
    assert.equal(c.kind, 'command', verb);
    if (c.kind === 'command') {
      assert.equal(c.verb, verb.toUpperCase());
      assert.equal(c.arg, '');
    }
  }
  const vrfy = parse('vrfy  postmaster ');
  assert.equal(vrfy.kind === 'command' && vrfy.arg, 'postmaster');
  const auth = parse('auth PLAIN AGFsaWNlAHNlY3JldA==');
  assert.deepEqual(auth, { kind: 'command', verb: 'AUTH', arg: 'PLAIN AGFsaWNlAHNlY3JldA==', line: 'auth PLAIN AGFsaWNlAHNlY3JldA==' });
});

test('MAIL FROM: and RCPT TO: keep the rest of the line, untrimmed, for the path parser', () => {
  assert.deepEqual(parse('MAIL FROM:<a@b.example> SIZE=10'), {
    kind: 'command', verb: 'MAIL', arg: '<a@b.example> SIZE=10', line: 'MAIL FROM:<a@b.example> SIZE=10',
  });
  assert.deepEqual(parse('mail from:<>'), { kind: 'command', verb: 'MAIL', arg: '<>', line: 'mail from:<>' });
  // A space after the colon is common and accepted; the path parser skips it.
  const spaced = parse('MAIL FROM: <a@b.example>');
  assert.equal(spaced.kind === 'command' && spaced.arg, ' <a@b.example>');
  assert.deepEqual(parse('Rcpt To:<c@d.example>'), { kind: 'command', verb: 'RCPT', arg: '<c@d.example>', line: 'Rcpt To:<c@d.example>' });
});

test('MAIL and RCPT without "FROM:"/"TO:" are syntax errors 501 5.5.2', () => {
  assert.equal(invalidReply(parse('MAIL')), '501 5.5.2 Syntax: MAIL FROM:<address>');
  assert.equal(invalidReply(parse('MAIL <a@b.example>')), '501 5.5.2 Syntax: MAIL FROM:<address>');
  assert.equal(invalidReply(parse('MAIL FROM <a@b.example>')), '501 5.5.2 Syntax: MAIL FROM:<address>');
  assert.equal(invalidReply(parse('MAIL  FROM:<a@b.example>')), '501 5.5.2 Syntax: MAIL FROM:<address>');
  assert.equal(invalidReply(parse('MAIL TO:<a@b.example>')), '501 5.5.2 Syntax: MAIL FROM:<address>');
  assert.equal(invalidReply(parse('RCPT FROM:<a@b.example>')), '501 5.5.2 Syntax: RCPT TO:<address>');
  assert.equal(invalidReply(parse('RCPT TO')), '501 5.5.2 Syntax: RCPT TO:<address>');
  assert.equal(invalidReply(parse('RCPT')), '501 5.5.2 Syntax: RCPT TO:<address>');
});

test('NUL and other control bytes make the command invalid: 500 5.5.2', () => {
  for (const bytes of [
    Buffer.from('NOOP\0'),
    Buffer.from('MAIL FROM:<a\0@b.example>'),
    Buffer.from('RCPT TO:<a@b.example>\r'),
    Buffer.from('HELO a\tb'),
    Buffer.from('NOOP\x7f'),
    Buffer.from('\x1bNOOP'),
    Buffer.from('QUIT\x0b'),
  ]) {
    const c = parse(bytes);
    assert.equal(invalidReply(c), '500 5.5.2 Invalid characters in command', JSON.stringify(bytes.toString('latin1')));
    // The line kept for logs shows controls as "?".
    // eslint-disable-next-line no-control-regex
    assert.equal(c.kind === 'invalid' && /[\x00-\x1f\x7f]/.test(c.line), false);
  }
  const nul = parse(Buffer.from('NOOP\0x'));
  assert.equal(nul.kind === 'invalid' && nul.line, 'NOOP?x');
});

test('invalid UTF-8 is refused before anything else', () => {
  for (const bytes of [
    Buffer.from([0x4d, 0x41, 0x49, 0x4c, 0x20, 0xff]), // "MAIL \xff"
    Buffer.concat([Buffer.from('MAIL FROM:<'), Buffer.from([0xc3]), Buffer.from('@b.example>')]), // truncated sequence
    Buffer.concat([Buffer.from('RCPT TO:<'), Buffer.from([0xc0, 0xaf]), Buffer.from('@b.example>')]), // overlong "/"
    Buffer.concat([Buffer.from('RCPT TO:<'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('@b.example>')]), // surrogate
    Buffer.from([0x80]),
  ]) {
    const c = parse(bytes);
    assert.equal(invalidReply(c), '500 5.5.2 Invalid characters in command');
    assert.equal(c.kind === 'invalid' && c.line, '');
  }
});

test('8-bit UTF-8 is allowed only in MAIL and RCPT (RFC 6531 addresses)', () => {
  assert.deepEqual(parse('MAIL FROM:<jöran@bücher.example> SMTPUTF8'), {
    kind: 'command', verb: 'MAIL', arg: '<jöran@bücher.example> SMTPUTF8', line: 'MAIL FROM:<jöran@bücher.example> SMTPUTF8',
  });
  const rcpt = parse('RCPT TO:<用户@例子.广告>');
  assert.equal(rcpt.kind === 'command' && rcpt.arg, '<用户@例子.广告>');
  for (const line of ['HELO bücher.example', 'EHLO bücher.example', 'VRFY jöran', 'NOOP ✓', 'DATA é']) {
    assert.equal(invalidReply(parse(line)), '500 5.5.2 Invalid characters in command', line);
  }
});

test('a verb is ASCII: non-ASCII letters that upper-case to ASCII do not make a known verb', () => {
  // "ı" (U+0131) upper-cases to "I", "ſ" (U+017F) to "S".
  const dotless = parse('maıl FROM:<a@b.example>');
  assert.equal(dotless.kind, 'unknown');
  const longS = parse('ſtarttls');
  assert.equal(longS.kind, 'unknown');
  const quıt = parse('QUıT');
  assert.equal(quıt.kind, 'unknown');
});

test('unknown verbs', () => {
  assert.deepEqual(parse('BDAT 100 LAST'), { kind: 'unknown', word: 'BDAT', line: 'BDAT 100 LAST' });
  assert.deepEqual(parse('xyzzy'), { kind: 'unknown', word: 'XYZZY', line: 'xyzzy' });
  assert.deepEqual(parse(''), { kind: 'unknown', word: '', line: '' });
  assert.deepEqual(parse(' NOOP'), { kind: 'unknown', word: '', line: ' NOOP' });
  assert.deepEqual(parse('MAILFROM:<a@b.example>'), { kind: 'unknown', word: 'MAILFROM:<A@B.EXAMPLE>', line: 'MAILFROM:<a@b.example>' });
  const long = parse('X'.repeat(300));
  assert.equal(long.kind === 'unknown' && long.word, 'X'.repeat(200) + '...');
});

test('printable: controls shown as "?", at most 200 characters then "..."', () => {
  assert.equal(printable('a\r\nb\0c\x7f'), 'a??b?c?');
  assert.equal(printable('y'.repeat(200)), 'y'.repeat(200));
  assert.equal(printable('y'.repeat(201)), 'y'.repeat(200) + '...');
});
