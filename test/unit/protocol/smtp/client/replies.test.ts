// Unit tests for protocol/smtp/client/replies.ts: reading server replies (RFC 5321 section 4.2, RFC 2034).
import test from 'node:test';
import assert from 'node:assert/strict';
import { ReplyReader } from '../../../../../protocol/smtp/client/replies.js';
import type { ReplyEvent, ReplyReaderLimits } from '../../../../../protocol/smtp/client/replies.js';

function feed(chunks: readonly (string | Uint8Array)[], limits?: ReplyReaderLimits): ReplyEvent[] {
  const r = new ReplyReader(limits);
  const out: ReplyEvent[] = [];
  for (const c of chunks) out.push(...r.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  return out;
}

function replies(events: readonly ReplyEvent[]): unknown[] {
  return events.map((e) => (e.kind === 'reply' ? { ...e.reply } : e));
}

const STREAM =
  '220 mx.example ESMTP ready\r\n' +
  '250-mx.example Hello client.example [192.0.2.1]\r\n' +
  '250-SIZE 52428800\r\n' +
  '250-PIPELINING\r\n' +
  '250 HELP\r\n' +
  '250 2.1.0 Ok\r\n' +
  '550-5.1.1 The email account that you tried to reach does not exist. Please try\n' +
  '550-5.1.1 double-checking the recipient\'s email address for typos.\r\n' +
  '550 5.1.1 https://support.example/NoSuchUser x1 - gsmtp\r\n' +
  '354\r\n' +
  '451 4.3.0 Error: queue file write error\r\n';

const EXPECTED = [
  { code: 220, lines: ['mx.example ESMTP ready'], text: 'mx.example ESMTP ready' },
  {
    code: 250,
    lines: ['mx.example Hello client.example [192.0.2.1]', 'SIZE 52428800', 'PIPELINING', 'HELP'],
    text: 'mx.example Hello client.example [192.0.2.1] SIZE 52428800 PIPELINING HELP',
  },
  { code: 250, enhanced: '2.1.0', lines: ['2.1.0 Ok'], text: 'Ok' },
  {
    code: 550,
    enhanced: '5.1.1',
    lines: [
      '5.1.1 The email account that you tried to reach does not exist. Please try',
      '5.1.1 double-checking the recipient\'s email address for typos.',
      '5.1.1 https://support.example/NoSuchUser x1 - gsmtp',
    ],
    text: 'The email account that you tried to reach does not exist. Please try double-checking the recipient\'s ' +
      'email address for typos. https://support.example/NoSuchUser x1 - gsmtp',
  },
  { code: 354, lines: [''], text: '' },
  { code: 451, enhanced: '4.3.0', lines: ['4.3.0 Error: queue file write error'], text: 'Error: queue file write error' },
];

test('several replies in one packet, multi-line replies, enhanced codes, a bare LF', () => {
  assert.deepEqual(replies(feed([STREAM])), EXPECTED);
});

test('replies split at every byte position give the same replies', () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(replies(feed([STREAM.slice(0, i), STREAM.slice(i)])), EXPECTED, `split at ${i}`);
  }
});

test('replies split at every pair of positions, and one byte at a time', () => {
  const s = STREAM.slice(0, 160);
  const want = replies(feed([s]));
  for (let i = 0; i <= s.length; i++) {
    for (let j = i; j <= s.length; j++) {
      assert.deepEqual(replies(feed([s.slice(0, i), s.slice(i, j), s.slice(j)])), want, `split at ${i}, ${j}`);
    }
  }
  assert.deepEqual(replies(feed([...STREAM])), EXPECTED);
});

test('each push returns exactly the replies it completes', () => {
  const r = new ReplyReader();
  assert.deepEqual(r.push(Buffer.from('250-first\r\n250-sec')), []);
  assert.equal(r.midReply, true);
  assert.deepEqual(r.push(Buffer.from('ond\r\n')), []);
  const done = r.push(Buffer.from('250 last\r\n221 bye\r\n'));
  assert.equal(done.length, 2);
  assert.deepEqual(done[0], { kind: 'reply', reply: { code: 250, lines: ['first', 'second', 'last'], text: 'first second last' } });
  assert.equal(r.midReply, false);
});

test('a code alone, with or without the space, and an empty continuation line', () => {
  assert.deepEqual(replies(feed(['250\r\n250 \r\n250-\r\n250 x\r\n'])), [
    { code: 250, lines: [''], text: '' },
    { code: 250, lines: [''], text: '' },
    { code: 250, lines: ['', 'x'], text: 'x' },
  ]);
});

test('bare LF line endings are tolerated; a CR just before LF is the line ending', () => {
  assert.deepEqual(replies(feed(['250-a\n250-b\r\n250 c\n'])), [{ code: 250, lines: ['a', 'b', 'c'], text: 'a b c' }]);
});

test('enhanced codes: only of the reply\'s class, normalised, stripped from the text of every line', () => {
  assert.deepEqual(replies(feed(['250 5.1.1 odd\r\n'])), [{ code: 250, lines: ['5.1.1 odd'], text: '5.1.1 odd' }]);
  assert.deepEqual(replies(feed(['550 5.01.001 x\r\n'])), [{ code: 550, enhanced: '5.1.1', lines: ['5.01.001 x'], text: 'x' }]);
  assert.deepEqual(replies(feed(['550 5.7.1\r\n'])), [{ code: 550, enhanced: '5.7.1', lines: ['5.7.1'], text: '' }]);
  // Not an enhanced code: glued to text, or four parts.
  assert.deepEqual(replies(feed(['550 5.7.1x\r\n']))[0], { code: 550, lines: ['5.7.1x'], text: '5.7.1x' });
  assert.deepEqual(replies(feed(['550 5.7.1.2 x\r\n']))[0], { code: 550, lines: ['5.7.1.2 x'], text: '5.7.1.2 x' });
  // Only on the first line: later lines without it are kept whole.
  assert.deepEqual(replies(feed(['452-4.5.3 Too many\r\n452 recipients\r\n']))[0],
    { code: 452, enhanced: '4.5.3', lines: ['4.5.3 Too many', 'recipients'], text: 'Too many recipients' });
});

test('UTF-8 text split across packets is decoded whole; controls become spaces', () => {
  const bytes = Buffer.from('550 5.1.1 Benutzer unbekannt: jürgen\r\n', 'utf8');
  const at = bytes.indexOf(0xc3) + 1; // inside the two-octet ü
  assert.deepEqual(replies(feed([bytes.subarray(0, at), bytes.subarray(at)])),
    [{ code: 550, enhanced: '5.1.1', lines: ['5.1.1 Benutzer unbekannt: jürgen'], text: 'Benutzer unbekannt: jürgen' }]);
  assert.deepEqual(replies(feed(['250 a\rb\x1b[31mc\tz\r\r\n'])), [{ code: 250, lines: ['a b [31mc\tz '], text: 'a b [31mc\tz' }]);
});

test('a Uint8Array that is not a Buffer is read too', () => {
  const u = new Uint8Array(Buffer.from('xx250 ok\r\n')).subarray(2);
  assert.deepEqual(replies(feed([u])), [{ code: 250, lines: ['ok'], text: 'ok' }]);
});

const GARBAGE: [string, string, RegExp][] = [
  ['text without a code', 'hello there\r\n', /three-digit code/],
  ['an HTTP server', 'HTTP/1.1 400 Bad Request\r\n', /three-digit code/],
  ['an empty line', '\r\n', /three-digit code/],
  ['two digits', '25 ok\r\n', /three-digit code/],
  ['four digits', '2500 ok\r\n', /space or hyphen/],
  ['a letter after the code', '250x ok\r\n', /space or hyphen/],
  ['a tab after the code', '250\tok\r\n', /space or hyphen/],
  ['a leading space', ' 250 ok\r\n', /three-digit code/],
  ['a 1yz code', '150 ok\r\n', /out of range/],
  ['a 6yz code', '650 ok\r\n', /out of range/],
  ['a 0yz code', '050 ok\r\n', /out of range/],
  ['NUL in the text', '250 o\0k\r\n', /NUL/],
  ['NUL in the code', '2\x0050 ok\r\n', /NUL/],
  ['a multi-line reply that changes code', '250-a\r\n251 b\r\n', /changes its code/],
  ['a multi-line reply that changes class', '250-a\r\n550 b\r\n', /changes its code/],
  ['a line of 2001 octets', `250 ${'x'.repeat(1997)}\r\n`, /longer than 2000 octets/],
];

for (const [name, wire, reason] of GARBAGE) {
  test(`garbage: ${name}`, () => {
    const events = feed([wire]);
    assert.equal(events.length, 1);
    const e = events[0];
    assert.ok(e && e.kind === 'garbage');
    assert.match(e.reason, reason);
  });
}

test('a line of exactly 2000 octets is accepted, with CRLF or bare LF', () => {
  const line = `250 ${'x'.repeat(1996)}`;
  for (const end of ['\r\n', '\n']) {
    const events = feed([line + end]);
    assert.equal(events[0]?.kind, 'reply');
  }
});

test('an over-long line is refused as soon as it is certain, without waiting for its end', () => {
  const r = new ReplyReader();
  assert.deepEqual(r.push(Buffer.from(`250 ${'x'.repeat(1996)}`)), []); // 2000 octets so far
  assert.deepEqual(r.push(Buffer.from('\r')), []); // may be the line ending
  const events = r.push(Buffer.from('y'));
  assert.equal(events[0]?.kind, 'garbage');
  // A server that never ends its line: refused on the first big packet, nothing kept.
  const r2 = new ReplyReader();
  assert.equal(r2.push(Buffer.alloc(1 << 20, 0x41))[0]?.kind, 'garbage');
  assert.equal(r2.midReply, false);
});

test('the long-line verdict does not depend on where the input is split', () => {
  const limits = { maxLineOctets: 8 };
  for (const wire of ['250 abcd\r\n', '250 abcde\r\n', '250 abcd\r\r\n', '250 abcd\n', '250 abcde\n', '250-abcd\r\n250 e\r\n']) {
    const whole = replies(feed([wire], limits));
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        assert.deepEqual(replies(feed([wire.slice(0, i), wire.slice(i, j), wire.slice(j)], limits)), whole, `${JSON.stringify(wire)} at ${i}, ${j}`);
      }
    }
  }
  assert.equal(feed(['250 abcd\r\n'], limits)[0]?.kind, 'reply');
  assert.equal(feed(['250 abcde\r\n'], limits)[0]?.kind, 'garbage');
  assert.equal(feed(['250 abcd\r\r\n'], limits)[0]?.kind, 'garbage', 'the first CR is text, making 9 octets');
});

test('1000 lines make a reply; 1001 lines are garbage', () => {
  const reply = (n: number): string => `${'250-x\r\n'.repeat(n - 1)}250 end\r\n`;
  const ok = feed([reply(1000)]);
  assert.equal(ok[0]?.kind, 'reply');
  assert.equal(ok[0]?.kind === 'reply' ? ok[0].reply.lines.length : 0, 1000);
  const bad = feed([reply(1001)]);
  assert.equal(bad.length, 1);
  assert.ok(bad[0]?.kind === 'garbage' && /1000 lines/.test(bad[0].reason));
  // Limits can be set lower.
  assert.equal(feed(['250-a\r\n250-b\r\n250 c\r\n'], { maxLines: 2 })[0]?.kind, 'garbage');
});

test('after garbage the reader reads nothing more, and says why', () => {
  const r = new ReplyReader();
  const events = r.push(Buffer.from('250 ok\r\nbad\r\n250 later\r\n'));
  assert.deepEqual(events.map((e) => e.kind), ['reply', 'garbage']);
  assert.match(r.failed ?? '', /three-digit/);
  assert.deepEqual(r.push(Buffer.from('250 more\r\n')), []);
  assert.equal(r.midReply, false);
});

test('midReply tells a reply cut short by a closing connection', () => {
  const r = new ReplyReader();
  assert.equal(r.midReply, false);
  r.push(Buffer.from('25'));
  assert.equal(r.midReply, true);
  r.push(Buffer.from('0 ok\r\n'));
  assert.equal(r.midReply, false);
  r.push(Buffer.from('250-more\r\n'));
  assert.equal(r.midReply, true);
});
