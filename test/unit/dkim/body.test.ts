// Body canonicalization and the streaming body hasher (RFC 6376 sections 3.4.3-3.4.5, l=): the same hash
// however the body is cut into chunks, and the same as a plain whole-body reading of the RFC text.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BodyHashSet, bodyHashKey, createBodyHasher, hashBody } from '../../../protocol/dkim/index.js';
import type { Canon } from '../../../protocol/dkim/index.js';

/** The RFC's rules applied to the whole body at once (the reference the streaming hasher must match). */
function reference(body: Buffer, canon: Canon): Buffer {
  const parts = body.toString('latin1').split('\r\n');
  if (parts[parts.length - 1] === '') parts.pop();
  let lines = canon === 'relaxed' ? parts.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, '')) : parts;
  while (lines.length > 0 && lines[lines.length - 1] === '') lines = lines.slice(0, -1);
  if (lines.length === 0) return Buffer.from(canon === 'simple' ? '\r\n' : '', 'latin1');
  return Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
}

function hashOf(data: Buffer, limit?: number): string {
  return createHash('sha256').update(limit === undefined ? data : data.subarray(0, limit)).digest('base64');
}

function streamed(body: Buffer, canon: Canon, cuts: readonly number[], limit?: number) {
  const h = createBodyHasher(canon, 'sha256', limit);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    h.update(body.subarray(from, cut));
    from = cut;
  }
  return h.digest();
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('RFC 6376 section 3.4.5 example and the empty-body rules', () => {
  const body = b(' C \r\nD \t E\r\n\r\n\r\n');
  assert.equal(reference(body, 'relaxed').toString('latin1'), ' C\r\nD E\r\n');
  assert.equal(reference(body, 'simple').toString('latin1'), ' C \r\nD \t E\r\n');
  for (const canon of ['simple', 'relaxed'] as const) {
    assert.equal(streamed(body, canon, []).bh, hashOf(reference(body, canon)));
  }
  // Empty body: simple hashes one CRLF, relaxed hashes nothing (RFC 6376 errata 3192 behaviour).
  assert.equal(streamed(b(''), 'simple', []).bh, 'frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=');
  assert.equal(streamed(b(''), 'relaxed', []).bh, '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  assert.equal(streamed(b('\r\n\r\n \t\r\n'), 'relaxed', []).canonicalLength, 0);
  assert.equal(streamed(b('\r\n\r\n'), 'simple', []).canonicalLength, 2);
});

test('streaming equals the whole-body reading for every two-cut split of tricky bodies', () => {
  const bodies = [
    'Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n',
    'trailing spaces   \r\n\t\r\n  \r\n',
    'no final newline',
    'bare\rCR and bare\nLF\r\n\r',
    'ends with CR\r',
    '\r\n\r\n\r\nleading empty lines\r\n',
    ' \t lead\t\t mid  \t\r\n\r\n\r\nx \r\n \r\n',
    'a\r\r\n\r\r\nb',
  ];
  for (const text of bodies) {
    const body = b(text);
    for (const canon of ['simple', 'relaxed'] as const) {
      const want = reference(body, canon);
      for (let i = 0; i <= body.length; i++) {
        for (let j = i; j <= body.length; j++) {
          const got = streamed(body, canon, [i, j]);
          assert.equal(got.bh, hashOf(want), `${canon} ${JSON.stringify(text)} cut at ${i},${j}`);
          assert.equal(got.canonicalLength, want.length);
        }
      }
    }
  }
});

test('random bodies, random chunking, random l= agree with the reference', () => {
  const alphabet = ['a', 'b', ' ', '\t', '\r', '\n', '\r\n', '\r\n', '\r\n\r\n', '\u00e9'];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 3000; round++) {
    let text = '';
    for (let k = rand(30); k > 0; k--) text += alphabet[rand(alphabet.length)];
    const body = Buffer.from(text, 'utf8');
    const canon: Canon = rand(2) === 0 ? 'simple' : 'relaxed';
    const want = reference(body, canon);
    const limit = rand(3) === 0 ? rand(want.length + 3) : undefined;
    const cuts: number[] = [];
    for (let pos = rand(5); pos < body.length; pos += 1 + rand(6)) cuts.push(pos);
    const got = streamed(body, canon, cuts, limit);
    assert.equal(got.bh, hashOf(want, limit), `${canon} ${JSON.stringify(text)} l=${limit} cuts=${cuts.join(',')}`);
    assert.equal(got.canonicalLength, want.length);
    assert.equal(got.hashedLength, limit === undefined ? want.length : Math.min(limit, want.length));
    assert.equal(got.limit, limit);
  }
});

test('l= counts canonical octets; content beyond it is counted but not hashed', () => {
  const body = b('Hello world\r\nmore text\r\n');
  const got = streamed(body, 'simple', [3], 5);
  assert.equal(got.bh, hashOf(b('Hello')));
  assert.equal(got.hashedLength, 5);
  assert.equal(got.canonicalLength, body.length);
  const zero = streamed(body, 'relaxed', [], 0);
  assert.equal(zero.bh, hashOf(b('')));
  const beyond = streamed(body, 'simple', [], 1000);
  assert.equal(beyond.hashedLength, body.length);
});

test('a hasher set shares one hasher per spec and hashes large bodies in bounded memory', () => {
  const specs = [
    { canon: 'relaxed', hash: 'sha256' },
    { canon: 'relaxed', hash: 'sha256' },
    { canon: 'simple', hash: 'sha1' },
    { canon: 'simple', hash: 'sha256', limit: 10 },
  ] as const;
  const set = new BodyHashSet(specs);
  assert.equal(set.size, 3);
  const line = Buffer.from(`${'x'.repeat(70)}   \r\n`);
  const chunk = Buffer.concat(Array.from({ length: 900 }, () => line)); // ~66 KB
  for (let i = 0; i < 160; i++) set.update(chunk); // ~10 MB
  const out = set.digest();
  assert.deepEqual(out.map(bodyHashKey), ['relaxed/sha256/', 'simple/sha1/', 'simple/sha256/10']);
  assert.equal(out[0]?.canonicalLength, 72 * 900 * 160);
  assert.equal(out[1]?.canonicalLength, line.length * 900 * 160);
  assert.equal(out[2]?.hashedLength, 10);
  assert.deepEqual(hashBody(b(''), [{ canon: 'simple', hash: 'sha1' }])[0]?.bh, createHash('sha1').update('\r\n').digest('base64'));
});

test('digest is final: a second digest gives the same result, feeding afterwards is refused', () => {
  const h = createBodyHasher('relaxed', 'sha256');
  h.update(b('abc\r\n'));
  const first = h.digest();
  assert.deepEqual(h.digest(), first);
  assert.throws(() => h.update(b('more')));
});
