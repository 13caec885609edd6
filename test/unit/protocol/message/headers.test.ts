// Unit tests for protocol/message/headers.ts: finding the end of the header section while content streams
// in, and unfolding fields (RFC 5322 sections 2.2 and 2.2.3).
import test from 'node:test';
import assert from 'node:assert/strict';
import { HeaderTracker, headerValue, parseHeaders } from '../../../../protocol/message/headers.js';
import type { HeaderScan } from '../../../../protocol/message/headers.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The scan as plain values, for deepEqual. */
function shown(scan: HeaderScan): unknown {
  return scan.kind === 'done' ? { ...scan, headerBytes: scan.headerBytes.toString('latin1') } : scan;
}

function track(chunks: readonly string[], max = 1000, end = false): unknown {
  const t = new HeaderTracker(max);
  for (const c of chunks) t.feed(b(c));
  return shown(end ? t.end() : t.result);
}

test('the section ends at the blank line; end is where the body starts', () => {
  const msg = 'Subject: hi\r\nFrom: a@b.example\r\n\r\nbody\r\n';
  assert.deepEqual(track([msg]), {
    kind: 'done', headerBytes: 'Subject: hi\r\nFrom: a@b.example\r\n', end: msg.indexOf('body'), separator: true,
  });
  // A bare LF blank line counts too.
  assert.deepEqual(track(['A: 1\n\nbody']), { kind: 'done', headerBytes: 'A: 1\n', end: 6, separator: true });
});

test('the section ends at a line that is neither a field nor a continuation', () => {
  const msg = 'Subject: hi\r\n folded\r\nthis is the body\r\n';
  assert.deepEqual(track([msg]), { kind: 'done', headerBytes: 'Subject: hi\r\n folded\r\n', end: 22, separator: false });
  // "Name :" (space before the colon) is not a field name.
  assert.deepEqual(track(['A: 1\r\nFrom : x\r\n']), { kind: 'done', headerBytes: 'A: 1\r\n', end: 6, separator: false });
  // A first line that is not a field: no header section at all.
  assert.deepEqual(track(['hello\r\nA: 1\r\n']), { kind: 'done', headerBytes: '', end: 0, separator: false });
});

test('open until the end of the section is seen; end() closes a message without body', () => {
  assert.deepEqual(track(['Subject: hi\r\n', 'From: x']), { kind: 'open' });
  assert.deepEqual(track(['Subject: hi\r\n', 'From: x\r\n'], 1000, true), {
    kind: 'done', headerBytes: 'Subject: hi\r\nFrom: x\r\n', end: 22, separator: false,
  });
  assert.deepEqual(track([], 1000, true), { kind: 'done', headerBytes: '', end: 0, separator: false });
});

test('the blank line split in every way over several chunks', () => {
  const msg = 'Subject: hi\r\nTo: c@d.example\r\n\r\nbody';
  const want = track([msg]);
  assert.deepEqual(want, { kind: 'done', headerBytes: 'Subject: hi\r\nTo: c@d.example\r\n', end: msg.indexOf('body'), separator: true });
  for (let i = 0; i <= msg.length; i++) {
    for (let j = i; j <= msg.length; j++) {
      assert.deepEqual(track([msg.slice(0, i), msg.slice(i, j), msg.slice(j)]), want, `split at ${i},${j}`);
    }
  }
  // Byte by byte.
  assert.deepEqual(track([...msg]), want);
});

test('feeding after the result is known changes nothing', () => {
  const t = new HeaderTracker(1000);
  t.feed(b('A: 1\r\n\r\n'));
  t.feed(b('B: 2\r\n\r\n'));
  assert.deepEqual(shown(t.result), { kind: 'done', headerBytes: 'A: 1\r\n', end: 8, separator: true });
  assert.deepEqual(shown(t.end()), { kind: 'done', headerBytes: 'A: 1\r\n', end: 8, separator: true });
});

test('tooBig when the header section is longer than the limit', () => {
  assert.deepEqual(track([`Subject: ${'x'.repeat(30)}\r\n`], 20), { kind: 'tooBig' });
  assert.deepEqual(track(['A: 1\r\n', 'B: 2\r\n', 'C: 3\r\n', 'D: 4\r\n'], 20), { kind: 'tooBig' });
  assert.deepEqual(track([`Subject: ${'x'.repeat(30)}`], 20), { kind: 'tooBig' }, 'known before the line ends');
  assert.deepEqual(track(['A: 1\r\n', ` ${'x'.repeat(30)}`], 20), { kind: 'tooBig' }, 'a long continuation');
  // Exactly at the limit is fine.
  const at = 'A: 123456789012345\r\n';
  assert.equal(at.length, 20);
  assert.deepEqual(track([`${at}\r\nbody`], 20), { kind: 'done', headerBytes: at, end: 22, separator: true });
});

test('the limit is about the header section, not the body that follows in the same chunk', () => {
  assert.deepEqual(track([`A: 1\r\n\r\n${'x'.repeat(500)}`], 20), { kind: 'done', headerBytes: 'A: 1\r\n', end: 8, separator: true });
});

test('results do not depend on chunking near the limit', () => {
  const at = 'A: 123456789012345\r\n'; // exactly 20 octets
  const cases = [
    `${at}\r\nbody\r\n`, // ends at the limit with a blank line
    `${at}body line\r\n`, // ends at the limit with a body line
    `A: 1\r\n${'y'.repeat(300)}\r\n`, // short header, long first body line
    `A: 1\r\n${'y'.repeat(100)}:\r\n`, // a long field after a short one
    `${at}X`, // unfinished field name at the end
    `A: 1\r\n ${'z'.repeat(40)}\r\n\r\n`, // continuation that overflows
  ];
  for (const msg of cases) {
    const want = track([msg], 20, true);
    for (let i = 0; i <= msg.length; i++) {
      assert.deepEqual(track([msg.slice(0, i), msg.slice(i)], 20, true), want, `${JSON.stringify(msg)} split at ${i}`);
    }
    assert.deepEqual(track([...msg], 20, true), want, `${JSON.stringify(msg)} byte by byte`);
  }
  assert.deepEqual(track([`${at}\r\nbody\r\n`], 20, true), { kind: 'done', headerBytes: at, end: 22, separator: true });
  assert.deepEqual(track([`${at}body line\r\n`], 20, true), { kind: 'done', headerBytes: at, end: 20, separator: false });
  assert.deepEqual(track([`A: 1\r\n${'y'.repeat(300)}\r\n`], 20, true), { kind: 'done', headerBytes: 'A: 1\r\n', end: 6, separator: false });
  assert.deepEqual(track([`A: 1\r\n${'y'.repeat(100)}:\r\n`], 20, true), { kind: 'tooBig' });
  assert.deepEqual(track([`A: 1\r\n ${'z'.repeat(40)}\r\n\r\n`], 20, true), { kind: 'tooBig' });
});

test('memory stays bounded while a long unterminated line streams in', () => {
  const t = new HeaderTracker(100);
  t.feed(b('A: 1\r\n'));
  for (let i = 0; i < 1000 && t.result.kind === 'open'; i++) t.feed(b('q'.repeat(50)));
  // A long line without a colon in its first 200 octets is no field: the body starts there.
  assert.deepEqual(shown(t.result), { kind: 'done', headerBytes: 'A: 1\r\n', end: 6, separator: false });
});

test('a big header section fed in small pieces takes linear time', () => {
  // 1 MiB of short fields, handed over in 11-octet pieces (a client writing in small bursts).
  const lines = 'X-Filler: 0123456789\r\n'.repeat(Math.floor((1024 * 1024 - 100) / 22));
  const msg = b(`${lines}\r\nbody\r\n`);
  const t = new HeaderTracker(1024 * 1024);
  const started = process.hrtime.bigint();
  let pieces = 0;
  for (let i = 0; i < msg.length; i += 11) {
    t.feed(msg.subarray(i, i + 11));
    pieces++;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(pieces > 90_000, `pieces: ${pieces}`);
  const r = t.result;
  assert.equal(r.kind, 'done');
  if (r.kind === 'done') assert.equal(r.headerBytes.length, lines.length);
  // Copying the whole section on every piece (quadratic) takes tens of seconds here; linear is well under one.
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
});

test('parseHeaders unfolds continuation lines and trims the value', () => {
  const section = 'Subject: a\r\n b\r\n\tc\r\nFrom:  x@y.example \r\nX-Empty:\r\nto: z@y.example\r\n';
  assert.deepEqual(parseHeaders(section), [
    { name: 'Subject', value: 'a b\tc' },
    { name: 'From', value: 'x@y.example' },
    { name: 'X-Empty', value: '' },
    { name: 'to', value: 'z@y.example' },
  ]);
  assert.deepEqual(parseHeaders(b('A: 1\nB: two\n  words\n')), [{ name: 'A', value: '1' }, { name: 'B', value: 'two  words' }]);
});

test('parseHeaders: continuation before any field and lines without a colon are skipped; UTF-8 values decoded', () => {
  assert.deepEqual(parseHeaders(' stray\r\nnocolon\r\n: empty name\r\nA: 1\r\n'), [{ name: 'A', value: '1' }]);
  assert.deepEqual(parseHeaders(Buffer.from('Subject: Grüße\r\n', 'utf8')), [{ name: 'Subject', value: 'Grüße' }]);
});

test('headerValue finds the first field by case-insensitive name', () => {
  const fields = parseHeaders('Message-ID: <1@x>\r\nmessage-id: <2@x>\r\n');
  assert.equal(headerValue(fields, 'MESSAGE-ID'), '<1@x>');
  assert.equal(headerValue(fields, 'Date'), undefined);
});
