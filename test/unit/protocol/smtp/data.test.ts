// Unit tests for protocol/smtp/data.ts: DATA decoding (RFC 5321 sections 4.1.1.4 and 4.5.2), end only at <CRLF>.<CRLF>.
import test from 'node:test';
import assert from 'node:assert/strict';
import { DataDecoder } from '../../../../protocol/smtp/data.js';
import type { BareNewlinePolicy } from '../../../../protocol/smtp/data.js';

interface Run {
  content: string;
  end: boolean;
  rest: string;
  bareNewline: boolean;
  longLine: boolean;
  size: number;
  /** Index of the chunk that ended the data, or -1. */
  endChunk: number;
}

/** Feed chunks in order until the end; bytes after the end (and unfed chunks) make up rest. */
function run(chunks: readonly Buffer[], policy: BareNewlinePolicy = 'reject', maxLineLength = 998): Run {
  const d = new DataDecoder({ bareNewline: policy, maxLineLength });
  const out: Buffer[] = [];
  let end = false;
  let endChunk = -1;
  const rest: Buffer[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    if (end) {
      rest.push(chunk);
      continue;
    }
    const r = d.feed(chunk);
    out.push(...r.out);
    if (!r.end) assert.equal(r.rest.length, 0, 'rest is empty unless end');
    if (r.end) {
      end = true;
      endChunk = i;
      rest.push(r.rest);
    }
  }
  const content = Buffer.concat(out);
  assert.equal(d.size, content.length, 'size counts the content produced');
  return {
    content: content.toString('latin1'),
    end,
    rest: Buffer.concat(rest).toString('latin1'),
    bareNewline: d.flags.bareNewline,
    longLine: d.flags.longLine,
    size: d.size,
    endChunk,
  };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const once = (s: string, policy: BareNewlinePolicy = 'reject', max = 998): Run => run([b(s)], policy, max);
const bytewise = (s: string, policy: BareNewlinePolicy = 'reject', max = 998): Run =>
  run([...b(s)].map((c) => Buffer.from([c])), policy, max);

/**
 * An independent model of the rules: the data ends at the first <CRLF>.<CRLF> (the CRLF before the
 * dot may be the one that ended the DATA command); a leading dot is removed from every other line;
 * lines are separated by CRLF only; bare CR and LF are kept ('reject') or become CRLF ('normalize').
 */
function model(input: string, policy: BareNewlinePolicy): { content: string; end: boolean; rest: string; bareNewline: boolean } {
  const full = '\r\n' + input;
  const at = full.indexOf('\r\n.\r\n');
  const raw = at < 0 ? null : full.slice(2, at + 2);
  if (raw === null) {
    // Not ended: compare only what is certain, i.e. the caller checks end === false.
    return { content: '', end: false, rest: '', bareNewline: false };
  }
  const unstuffed = raw.split('\r\n').map((line) => (line.startsWith('.') ? line.slice(1) : line)).join('\r\n');
  const bare = /\r(?!\n)|(?<!\r)\n/g;
  const bareNewline = bare.test(unstuffed);
  const content = policy === 'normalize' ? unstuffed.replace(/\r(?!\n)|(?<!\r)\n/g, '\r\n') : unstuffed;
  return { content, end: true, rest: full.slice(at + 5), bareNewline };
}

test('plain message: content is everything up to and including the CRLF before the final dot', () => {
  const r = once('Subject: x\r\n\r\nhello\r\n.\r\n');
  assert.deepEqual(r, {
    content: 'Subject: x\r\n\r\nhello\r\n', end: true, rest: '', bareNewline: false, longLine: false, size: 21, endChunk: 0,
  });
});

test('empty message: ".\\r\\n" right away ends the data with no content', () => {
  const r = once('.\r\n');
  assert.equal(r.end, true);
  assert.equal(r.content, '');
  assert.equal(r.size, 0);
  assert.equal(r.rest, '');
  const split = run([b('.'), b('\r'), b('\n')]);
  assert.equal(split.end, true);
  assert.equal(split.endChunk, 2);
  assert.equal(split.content, '');
});

test('dot-unstuffing: one leading dot removed from each line, nothing else', () => {
  const r = once('..\r\n...x\r\n.y.\r\na.b\r\n x\r\n..\r\n.\r\n');
  assert.equal(r.content, '.\r\n..x\r\ny.\r\na.b\r\n x\r\n.\r\n');
  assert.equal(r.end, true);
  // The first line of the message is a line start too.
  assert.equal(once('.hidden\r\n.\r\n').content, 'hidden\r\n');
  assert.equal(once('..\r\n.\r\n').content, '.\r\n');
});

test('rest holds the bytes after <CRLF>.<CRLF> (pipelined commands)', () => {
  const r = once('hi\r\n.\r\nQUIT\r\nNOOP');
  assert.equal(r.content, 'hi\r\n');
  assert.equal(r.rest, 'QUIT\r\nNOOP');
  const d = new DataDecoder({ bareNewline: 'reject', maxLineLength: 998 });
  const first = d.feed(b('hi\r\n.'));
  assert.equal(first.end, false);
  const second = d.feed(b('\r\nMAIL FROM:<a@b>\r\n'));
  assert.equal(second.end, true);
  assert.equal(second.rest.toString('latin1'), 'MAIL FROM:<a@b>\r\n');
  assert.equal(Buffer.concat([...first.out, ...second.out]).toString('latin1'), 'hi\r\n');
});

test('only <CRLF>.<CRLF> ends the data', () => {
  for (const notEnd of [
    'a\n.\nb', 'a\r.\rb', 'a\r.\nb', 'a\n.\rb', 'a\n.\r\nb', 'a\r\n.\nb', 'a\r.\r\nb', 'a\r\n.\rb',
    'a\r\n\0.\r\nb', 'a\r\n.\0\r\nb', 'a\r\n .\r\nb', 'a\r\n..\r\nb', 'a\r\n.x\r\nb', 'a.\r\n', 'a\r\n.\r\r\nb',
  ]) {
    for (const policy of ['reject', 'normalize'] as const) {
      assert.equal(once(notEnd, policy).end, false, `${JSON.stringify(notEnd)} ${policy}`);
      assert.equal(bytewise(notEnd, policy).end, false, `${JSON.stringify(notEnd)} ${policy} bytewise`);
    }
  }
});

test('bare LF and bare CR are flagged and kept as they are with policy reject', () => {
  const lf = once('a\nb\r\n.\r\n');
  assert.equal(lf.content, 'a\nb\r\n');
  assert.equal(lf.bareNewline, true);
  const cr = once('a\rb\r\n.\r\n');
  assert.equal(cr.content, 'a\rb\r\n');
  assert.equal(cr.bareNewline, true);
  const crcrlf = once('a\r\r\n.\r\n');
  assert.equal(crcrlf.content, 'a\r\r\n');
  assert.equal(crcrlf.bareNewline, true);
  const clean = once('a\r\nb\r\n.\r\n');
  assert.equal(clean.bareNewline, false);
});

test('normalize turns bare CR and LF into CRLF, never into a line start or an end', () => {
  const r = once('a\nb\rc\r\r\nd\r\n.\r\n', 'normalize');
  assert.equal(r.content, 'a\r\nb\r\nc\r\n\r\nd\r\n');
  assert.equal(r.bareNewline, true);
  assert.equal(r.size, r.content.length);
  // "\n.\r\n" becomes content "\r\n.\r\n": the dot after a bare LF is not at a line start, so it is kept.
  const fake = once('a\n.\r\nb\r\n.\r\n', 'normalize');
  assert.equal(fake.end, true);
  assert.equal(fake.content, 'a\r\n.\r\nb\r\n');
  // The same with "\n..": the dot is not removed either.
  assert.equal(once('a\n..x\r\n.\r\n', 'normalize').content, 'a\r\n..x\r\n');
  // A bare CR followed by the real end: the CR becomes CRLF, then the end.
  const tail = once('a\r\r\n.\r\n', 'normalize');
  assert.equal(tail.content, 'a\r\n\r\n');
  assert.equal(tail.end, true);
});

test('a dot line that is not the end: ".\\r" plus something else drops the dot, the CR is bare', () => {
  const r = once('a\r\n.\rX\r\n.\r\n');
  assert.equal(r.content, 'a\r\n\rX\r\n');
  assert.equal(r.bareNewline, true);
  assert.equal(once('a\r\n.\rX\r\n.\r\n', 'normalize').content, 'a\r\n\r\nX\r\n');
});

test('long line flag: more than maxLineLength octets between CRLFs', () => {
  assert.equal(once(`${'x'.repeat(10)}\r\n.\r\n`, 'reject', 10).longLine, false);
  assert.equal(once(`${'x'.repeat(11)}\r\n.\r\n`, 'reject', 10).longLine, true);
  assert.equal(once(`${'x'.repeat(10)}\r\n${'y'.repeat(10)}\r\n.\r\n`, 'reject', 10).longLine, false);
  // Counted across chunks.
  assert.equal(run([b('x'.repeat(6)), b('x'.repeat(5)), b('\r\n.\r\n')], 'reject', 10).longLine, true);
  assert.equal(run([b('x'.repeat(6)), b('x'.repeat(4)), b('\r\n.\r\n')], 'reject', 10).longLine, false);
  // The dot removed by unstuffing is not content.
  assert.equal(once(`.${'x'.repeat(10)}\r\n.\r\n`, 'reject', 10).longLine, false);
  // Default-like limit: 998 octets is fine, 999 is not (RFC 5322 section 2.1.1).
  assert.equal(once(`${'z'.repeat(998)}\r\n.\r\n`).longLine, false);
  assert.equal(once(`${'z'.repeat(999)}\r\n.\r\n`).longLine, true);
});

test('long line flag: a bare CR ends a line for the count just as a bare LF does', () => {
  // With 'normalize' these become CRLF; the stored lines are 8 octets, not 17.
  for (const policy of ['reject', 'normalize'] as const) {
    const lf = once('aaaaaaaa\nbbbbbbbb\r\n.\r\n', policy, 10);
    const cr = once('aaaaaaaa\rbbbbbbbb\r\n.\r\n', policy, 10);
    const dotCr = once('x\r\n.\rbbbbbbbb\rcccccccc\r\n.\r\n', policy, 10);
    assert.equal(lf.longLine, false, `bare LF (${policy})`);
    assert.equal(cr.longLine, false, `bare CR (${policy})`);
    assert.equal(dotCr.longLine, false, `".\\r" then bare CR (${policy})`);
    assert.equal(cr.bareNewline, true);
    assert.equal(once('aaaaaaaa\rbbbbbbbbbbb\r\n.\r\n', policy, 10).longLine, true, `still counted after a bare CR (${policy})`);
  }
  assert.equal(once('aaaaaaaa\rbbbbbbbb\r\n.\r\n', 'normalize', 10).content, 'aaaaaaaa\r\nbbbbbbbb\r\n');
});

test('size counts content octets, CRLFs included, stuffing dots excluded', () => {
  assert.equal(once('ab\r\n..\r\n.\r\n').size, 7);
  assert.equal(once('a\nb\r\n.\r\n', 'normalize').size, 6);
  const d = new DataDecoder({ bareNewline: 'reject', maxLineLength: 998 });
  d.feed(b('12345'));
  assert.equal(d.size, 5);
  d.feed(b('\r'));
  assert.equal(d.size, 5, 'a held CR is not counted until known');
  d.feed(b('\n'));
  assert.equal(d.size, 7);
});

test('decoder can read a second message after the first ended', () => {
  const d = new DataDecoder({ bareNewline: 'reject', maxLineLength: 998 });
  const one = d.feed(b('m1\r\n.\r\n'));
  assert.equal(one.end, true);
  const two = d.feed(b('.m2\r\n.\r\n'));
  assert.equal(two.end, true);
  assert.equal(Buffer.concat(two.out).toString('latin1'), 'm2\r\n');
});

const SAMPLES = [
  'Subject: x\r\n\r\nhello\r\n.\r\n',
  '.\r\n',
  '..\r\n.a\r\n\r\n.\r\nQUIT\r\n',
  'a\nb\rc\r\r\n.\r\r\n.\n.\r.x\r\n..\r\n.\r\nRSET\r\n',
  'x\r\n\0.\r\n.\0\r\n.\r\n',
  'line one\r\n.\rtwo\n.\r\nthree\r\n.\r\n',
];

test('every single split point gives the one-shot result, for both policies', () => {
  for (const policy of ['reject', 'normalize'] as const) {
    for (const s of SAMPLES) {
      const expected = once(s, policy, 4);
      assert.equal(expected.end, true, JSON.stringify(s));
      for (let i = 0; i <= s.length; i++) {
        const r = run([b(s.slice(0, i)), b(s.slice(i))], policy, 4);
        const { endChunk: _a, ...got } = r;
        const { endChunk: _b, ...want } = expected;
        assert.deepEqual(got, want, `${JSON.stringify(s)} split at ${i} (${policy})`);
      }
    }
  }
});

test('every pair of split points gives the one-shot result', () => {
  for (const policy of ['reject', 'normalize'] as const) {
    for (const s of SAMPLES) {
      const { endChunk: _e, ...want } = once(s, policy, 4);
      for (let i = 0; i <= s.length; i++) {
        for (let j = i; j <= s.length; j++) {
          const { endChunk: _g, ...got } = run([b(s.slice(0, i)), b(s.slice(i, j)), b(s.slice(j))], policy, 4);
          assert.deepEqual(got, want, `${JSON.stringify(s)} split at ${i},${j} (${policy})`);
        }
      }
    }
  }
});

test('byte-by-byte feeding gives the one-shot result and ends on the last byte of the marker', () => {
  for (const policy of ['reject', 'normalize'] as const) {
    for (const s of SAMPLES) {
      const whole = once(s, policy, 4);
      const bytes = bytewise(s, policy, 4);
      assert.equal(bytes.content, whole.content);
      assert.equal(bytes.rest, whole.rest);
      assert.equal(bytes.bareNewline, whole.bareNewline);
      assert.equal(bytes.longLine, whole.longLine);
      const full = '\r\n' + s;
      assert.equal(bytes.endChunk, full.indexOf('\r\n.\r\n') + 5 - 2 - 1, JSON.stringify(s));
    }
  }
});

test('one-shot results match an independent model of the rules', () => {
  for (const policy of ['reject', 'normalize'] as const) {
    for (const s of SAMPLES) {
      const m = model(s, policy);
      const r = once(s, policy);
      assert.deepEqual({ content: r.content, end: r.end, rest: r.rest, bareNewline: r.bareNewline }, m, JSON.stringify(s));
    }
  }
});

test('random messages over the alphabet {CR, LF, ".", "a"}: decoder agrees with the model under random splits', () => {
  // A small deterministic generator (mulberry32), so that a failure can be replayed.
  let seed = 0x5eed1234;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const alphabet = ['\r', '\n', '.', 'a'];
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(rand() * 24);
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * 4)] as string;
    s += '\r\n.\r\n' + (rand() < 0.3 ? 'NOOP\r\n' : '');
    const chunks: Buffer[] = [];
    for (let i = 0; i < s.length;) {
      const step = 1 + Math.floor(rand() * 5);
      chunks.push(b(s.slice(i, i + step)));
      i += step;
    }
    for (const policy of ['reject', 'normalize'] as const) {
      const m = model(s, policy);
      const r = run(chunks, policy);
      assert.deepEqual({ content: r.content, end: r.end, rest: r.rest, bareNewline: r.bareNewline }, m, `${JSON.stringify(s)} (${policy})`);
    }
  }
});

test('input without the end marker never ends, however it is split', () => {
  const s = 'a\r\n.\n.\r.\r\r\n\r\n.\r'; // ends in "\r\n.\r": one LF short of the marker
  for (const policy of ['reject', 'normalize'] as const) {
    assert.equal(once(s, policy).end, false);
    assert.equal(bytewise(s, policy).end, false);
    const d = new DataDecoder({ bareNewline: policy, maxLineLength: 998 });
    assert.equal(d.feed(b(s)).end, false);
    assert.equal(d.feed(b('\n')).end, true, 'the missing LF completes the marker');
  }
});
