// Unit tests for protocol/smtp/client/dotstuff.ts: dot-stuffing and the end of data (RFC 5321 sections
// 4.1.1.4, 4.5.2), chunks split anywhere, and no SMTP-smuggling sequence ever on the wire.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DotStuffer, dotStuff } from '../../../../../protocol/smtp/client/dotstuff.js';
import { DataDecoder } from '../../../../../protocol/smtp/data.js';

/** Encode the chunks with one encoder; the wire text as latin1 (one character per octet). */
function encode(chunks: readonly string[]): string {
  const enc = new DotStuffer();
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...enc.push(Buffer.from(c, 'latin1')));
  out.push(enc.end());
  const wire = Buffer.concat(out);
  assert.equal(enc.size, wire.length, 'size counts every octet produced');
  return wire.toString('latin1');
}

/**
 * The expected encoding, computed another way: drop NULs, make every CRLF, CR or LF a CRLF, double
 * a dot that starts a line, end the last line, add ".\r\n".
 */
function model(input: string): string {
  let s = input.replace(/\0/g, '').replace(/\r\n|\r|\n/g, '\r\n');
  s = s.replace(/(^|\r\n)\./g, '$1..');
  if (s !== '' && !s.endsWith('\r\n')) s += '\r\n';
  return s + '.\r\n';
}

/** The wire after "DATA\r\n": "\r\n" + output holds <CRLF>.<CRLF> once, at its end; nothing bare. */
function checkWire(wire: string, what: string): void {
  const stream = '\r\n' + wire;
  assert.equal(stream.indexOf('\r\n.\r\n'), stream.length - 5, `${what}: the end marker is at the end`);
  assert.equal(stream.split('\r\n.\r\n').length, 2, `${what}: exactly one end marker`);
  assert.doesNotMatch(wire, /\r(?!\n)|(?<!\r)\n/, `${what}: no bare CR or LF`);
  assert.ok(!wire.includes('\0'), `${what}: no NUL`);
}

/** What Petrel's own server reads from the wire: the content, and that the end is exactly at the end. */
function decode(wire: string): string {
  const d = new DataDecoder({ bareNewline: 'reject', maxLineLength: 1_000_000 });
  const r = d.feed(Buffer.from(wire, 'latin1'));
  assert.equal(r.end, true, 'the decoder sees the end');
  assert.equal(r.rest.length, 0, 'nothing after the end');
  assert.equal(d.flags.bareNewline, false);
  return Buffer.concat(r.out).toString('latin1');
}

test('dot-stuffing and the end marker', () => {
  const cases: [string, string][] = [
    ['', '.\r\n'],
    ['a\r\n', 'a\r\n.\r\n'],
    ['a', 'a\r\n.\r\n'],
    ['.\r\n', '..\r\n.\r\n'],
    ['.', '..\r\n.\r\n'],
    ['a\r\n.\r\nb\r\n', 'a\r\n..\r\nb\r\n.\r\n'],
    ['.a\r\n..b\r\n', '..a\r\n...b\r\n.\r\n'],
    ['a.b\r\n . \r\n', 'a.b\r\n . \r\n.\r\n'],
    ['\r\n\r\n', '\r\n\r\n.\r\n'],
    ['a\r\n.', 'a\r\n..\r\n.\r\n'],
  ];
  for (const [input, wire] of cases) {
    assert.equal(encode([input]), wire, JSON.stringify(input));
    assert.equal(dotStuff(input).toString('latin1'), wire);
  }
});

test('bare CR and bare LF become CRLF; NUL is dropped as if never there', () => {
  assert.equal(encode(['a\nb\rc\r\n']), 'a\r\nb\r\nc\r\n.\r\n');
  assert.equal(encode(['a\r\r\nb']), 'a\r\n\r\nb\r\n.\r\n');
  assert.equal(encode(['a\n\rb']), 'a\r\n\r\nb\r\n.\r\n');
  assert.equal(encode(['\n.\n']), '\r\n..\r\n.\r\n');
  assert.equal(encode(['a\r']), 'a\r\n.\r\n');
  assert.equal(encode(['a\r\0\nb']), 'a\r\nb\r\n.\r\n');
  assert.equal(encode(['\0.x\r\n']), '..x\r\n.\r\n');
  const enc = new DotStuffer();
  enc.push(Buffer.from('a\0b\0\0'));
  assert.equal(enc.nulDropped, 3);
});

test('every input of up to 6 octets over CR, LF, ".", NUL, "a": as the model says, split anywhere', () => {
  const alphabet = ['\r', '\n', '.', '\0', 'a'];
  let inputs = [''];
  let count = 0;
  for (let len = 0; len <= 6; len++) {
    for (const input of inputs) {
      const want = model(input);
      assert.equal(encode([input]), want, JSON.stringify(input));
      checkWire(want, JSON.stringify(input));
      // The server reads back the content, with its last line ended.
      const content = want.slice(0, -3).replace(/(^|\r\n)\.\./g, '$1.');
      assert.equal(decode(want), content);
      for (let i = 0; i <= input.length; i++) {
        assert.equal(encode([input.slice(0, i), input.slice(i)]), want, `${JSON.stringify(input)} split at ${i}`);
      }
      if (input.length <= 5) {
        for (let i = 0; i <= input.length; i++) {
          for (let j = i; j <= input.length; j++) {
            assert.equal(encode([input.slice(0, i), input.slice(i, j), input.slice(j)]), want);
          }
        }
      }
      assert.equal(encode([...input]), want, `${JSON.stringify(input)} one octet at a time`);
      count++;
    }
    inputs = inputs.flatMap((s) => alphabet.map((c) => s + c));
  }
  assert.equal(count, (5 ** 7 - 1) / 4);
});

test('empty chunks change nothing, also between a CR and its LF', () => {
  assert.equal(encode(['a\r', '', '', '\n.b']), 'a\r\n..b\r\n.\r\n');
  assert.equal(encode(['', '', '']), '.\r\n');
});

test('slices of the input are returned when nothing needs changing', () => {
  const input = Buffer.from('line one\r\nline two\r\n');
  const out = new DotStuffer().push(input);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.buffer, input.buffer);
});

test('a Uint8Array that is not a Buffer is read too; push after end is a bug', () => {
  const enc = new DotStuffer();
  const u = new Uint8Array(Buffer.from('xx.y')).subarray(2);
  assert.equal(Buffer.concat([...enc.push(u), enc.end()]).toString('latin1'), '..y\r\n.\r\n');
  assert.throws(() => enc.push(Buffer.from('z')));
  assert.throws(() => enc.end());
});

/** The repository root: the nearest directory above this file whose package.json is Petrel's. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'petrel-mta') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the petrel-mta repository root');
    dir = up;
  }
}

interface EodFile {
  hannob_smtpsmug: { sequences: Record<string, string> };
  sec_consult_the_login: { inbound_eod_sequences: string[]; outbound_eod_sequences: string[] };
}

/** Every fake end-of-data sequence of the shared conformance data, read now, not copied here. */
function sequences(): { name: string; seq: string }[] {
  const file = resolve(repoRoot(), '..', 'shared', 'conformance', 'smtp-smuggling', 'eod-sequences.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as EodFile;
  const out: { name: string; seq: string }[] = [];
  for (const [name, seq] of Object.entries(data.hannob_smtpsmug.sequences)) out.push({ name: `hannob/${name}`, seq });
  data.sec_consult_the_login.inbound_eod_sequences.forEach((seq, i) => out.push({ name: `sec-consult/inbound[${i}]`, seq }));
  data.sec_consult_the_login.outbound_eod_sequences.forEach((seq, i) => out.push({ name: `sec-consult/outbound[${i}]`, seq }));
  return out;
}

const SMUGGLED = 'MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nsmuggled\r\n';

test('no smuggling sequence from the conformance data ever reaches the wire as an end of data', () => {
  const all = sequences();
  assert.ok(all.length >= 20, 'the conformance file lists the scanners\' sequences');
  for (const { name, seq } of all) {
    const bodies = [
      `Subject: x\r\n\r\nhello${seq}${SMUGGLED}`, // in the middle, as the scanners send it
      `Subject: x\r\n\r\nhello${seq}`, // at the very end of the stored message
      `${seq}${SMUGGLED}`, // at the very start
      `a${seq}${seq}b${seq}`, // repeated
    ];
    for (const body of bodies) {
      const want = encode([body]);
      checkWire(want, name);
      const content = decode(want);
      if (body.includes(SMUGGLED)) assert.ok(content.includes(SMUGGLED), `${name}: the smuggled commands stay content`);
      for (let i = 0; i <= body.length; i++) {
        assert.equal(encode([body.slice(0, i), body.slice(i)]), want, `${name} split at ${i}`);
      }
      assert.equal(encode([...body]), want, `${name} one octet at a time`);
    }
  }
});

test('message-sized inputs, mostly clean and sometimes not, in random chunks: as the model says', () => {
  // A fixed seed: the same inputs every run (xorshift32).
  let seed = 0x9e3779b9;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const odd = ['.', '\r', '\n', '\0', '\r\n.', '\n.', '..'];
  for (let round = 0; round < 400; round++) {
    const lines: string[] = [];
    for (let l = rand(60); l >= 0; l--) {
      let line = 'x'.repeat(rand(90));
      // One line in eight holds something to fix or to keep: a dot, a bare CR or LF, a NUL.
      if (rand(8) === 0) {
        const at = rand(line.length + 1);
        line = line.slice(0, at) + odd[rand(odd.length)] + line.slice(at);
      }
      lines.push(line);
    }
    const input = lines.join('\r\n') + (rand(2) === 0 ? '\r\n' : '');
    const chunks: string[] = [];
    for (let i = 0; i < input.length; ) {
      const n = 1 + rand(rand(4) === 0 ? 8 : 1500);
      chunks.push(input.slice(i, i + n));
      i += n;
    }
    const wire = encode(chunks);
    assert.equal(wire, model(input), `round ${round}`);
    checkWire(wire, `round ${round}`);
  }
});
