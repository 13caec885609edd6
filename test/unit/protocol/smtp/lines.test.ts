// Unit tests for protocol/smtp/lines.ts: LineReader splitting command lines (RFC 5321 section 2.3.8) with a bound.
import test from 'node:test';
import assert from 'node:assert/strict';
import { LineReader } from '../../../../protocol/smtp/lines.js';
import type { LineEvent } from '../../../../protocol/smtp/lines.js';

type Seen = { line: string; bareLf: boolean } | 'tooLong';

function show(ev: LineEvent): Seen {
  return ev.kind === 'tooLong' ? 'tooLong' : { line: ev.bytes.toString('latin1'), bareLf: ev.bareLf };
}

/** Every event available now. */
function drain(r: LineReader): Seen[] {
  const out: Seen[] = [];
  for (let ev = r.next(); ev; ev = r.next()) out.push(show(ev));
  return out;
}

const push = (r: LineReader, s: string): void => r.push(Buffer.from(s, 'latin1'));

test('complete lines in one push, CRLF and bare LF told apart', () => {
  const r = new LineReader(512);
  push(r, 'EHLO a.example\r\nNOOP\nQUIT\r\n');
  assert.equal(r.hasLine(), true);
  assert.deepEqual(drain(r), [
    { line: 'EHLO a.example', bareLf: false },
    { line: 'NOOP', bareLf: true },
    { line: 'QUIT', bareLf: false },
  ]);
  assert.equal(r.next(), null);
  assert.equal(r.pending, 0);
  assert.equal(r.hasLine(), false);
});

test('a line split across pushes, including between CR and LF', () => {
  const r = new LineReader(512);
  push(r, 'MAIL FR');
  assert.equal(r.next(), null);
  assert.equal(r.pending, 7);
  push(r, 'OM:<a@b.example>\r');
  assert.equal(r.next(), null);
  assert.equal(r.hasLine(), false);
  push(r, '\nRC');
  assert.deepEqual(drain(r), [{ line: 'MAIL FROM:<a@b.example>', bareLf: false }]);
  assert.equal(r.pending, 2);
  push(r, 'PT TO:<c@d.example>\n');
  assert.deepEqual(drain(r), [{ line: 'RCPT TO:<c@d.example>', bareLf: true }]);
});

test('every way of splitting a stream into two pushes gives the same lines', () => {
  const stream = 'EHLO x\r\nMAIL FROM:<>\nRCPT TO:<a@b>\r\n\r\nDATA\r\n';
  const whole = new LineReader(512);
  push(whole, stream);
  const expected = drain(whole);
  assert.equal(expected.length, 5);
  for (let i = 0; i <= stream.length; i++) {
    const r = new LineReader(512);
    const seen: Seen[] = [];
    push(r, stream.slice(0, i));
    seen.push(...drain(r));
    push(r, stream.slice(i));
    seen.push(...drain(r));
    assert.deepEqual(seen, expected, `split at ${i}`);
  }
});

test('a CR inside a line is kept; only the CR right before LF is the line ending', () => {
  const r = new LineReader(512);
  push(r, 'NO\rOP\r\r\n');
  assert.deepEqual(drain(r), [{ line: 'NO\rOP\r', bareLf: false }]);
});

test('the limit counts the line ending: exactly at the limit is a line, one more is tooLong', () => {
  const r = new LineReader(10);
  push(r, 'abcdefgh\r\n'); // 10 octets
  assert.deepEqual(drain(r), [{ line: 'abcdefgh', bareLf: false }]);
  push(r, 'abcdefghi\r\n'); // 11 octets
  assert.deepEqual(drain(r), ['tooLong']);
  push(r, 'abcdefghi\n'); // 10 octets with a bare LF
  assert.deepEqual(drain(r), [{ line: 'abcdefghi', bareLf: true }]);
});

test('a too-long line in one push is reported once and the next line is read correctly', () => {
  const r = new LineReader(16);
  push(r, `${'x'.repeat(40)}\r\nNOOP\r\nQUIT\r\n`);
  assert.deepEqual(drain(r), ['tooLong', { line: 'NOOP', bareLf: false }, { line: 'QUIT', bareLf: false }]);
  assert.equal(r.pending, 0);
});

test('a too-long line spread over many pushes is dropped as it comes, reported once', () => {
  const r = new LineReader(16);
  const seen: Seen[] = [];
  for (let i = 0; i < 50; i++) {
    push(r, 'yyyyyyy');
    seen.push(...drain(r));
    // Memory stays bounded: nothing of the over-long line is kept.
    assert.ok(r.pending <= 16, `pending ${r.pending} after push ${i}`);
  }
  push(r, 'yy\r');
  seen.push(...drain(r));
  push(r, '\nNOOP\r');
  seen.push(...drain(r));
  push(r, '\n');
  seen.push(...drain(r));
  assert.deepEqual(seen, ['tooLong', { line: 'NOOP', bareLf: false }]);
});

test('pushes after the end of a too-long line arrive before next() is called: nothing is lost', () => {
  const r = new LineReader(16);
  push(r, 'z'.repeat(30));
  assert.equal(r.next(), null);
  // The end of the long line and the start of the next one...
  push(r, 'zz\r\nNOO');
  // ...then, before the reader is asked again, the rest of the next line.
  push(r, 'P\r\nRSET\r\n');
  assert.deepEqual(drain(r), ['tooLong', { line: 'NOOP', bareLf: false }, { line: 'RSET', bareLf: false }]);
});

test('take() hands over everything buffered, complete lines included, and resets', () => {
  const r2 = new LineReader(512);
  push(r2, 'DATA\r\nSubject: hi\r\n\r\nbody');
  assert.deepEqual(show(r2.next() as LineEvent), { line: 'DATA', bareLf: false });
  assert.equal(r2.take().toString('latin1'), 'Subject: hi\r\n\r\nbody');
  assert.equal(r2.pending, 0);
  assert.equal(r2.next(), null);
  assert.equal(r2.take().length, 0);
  push(r2, 'QUIT\r\n');
  assert.deepEqual(drain(r2), [{ line: 'QUIT', bareLf: false }]);
});

test('take() during a too-long line ends the discarding', () => {
  const r = new LineReader(8);
  push(r, 'w'.repeat(20));
  assert.equal(r.next(), null);
  assert.equal(r.take().length, 0);
  push(r, 'NOOP\r\n');
  assert.deepEqual(drain(r), [{ line: 'NOOP', bareLf: false }]);
});
