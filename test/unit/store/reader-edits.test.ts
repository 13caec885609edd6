// Unit tests for store/reader.ts against a real LMDB spool in a temporary directory: the message as delivered, with
// the envelope's edits applied (prependedHeaders first, `omit` ranges left out, addedHeaders at the end of the
// header section), streamed chunk by chunk by messageChunks and as a header section by deliveredHeaders.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from '../../../store/envelope.js';
import { deliveredHeaders, messageChunks } from '../../../store/reader.js';
import { CHUNK_SIZE, Spool } from '../../../store/spool.js';
import type { EnvelopeDraft } from '../../../store/writer.js';
import { createIdGenerator } from '../../../store/ids.js';
import { testDraft } from '../../helpers/envelope.js';

const nextId = createIdGenerator(() => Date.now(), () => Math.floor(Math.random() * 2 ** 32));

function openSpool(t: { after: (fn: () => unknown) => void }): Spool {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-reader-test-'));
  const spool = Spool.open(dir);
  t.after(async () => {
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return spool;
}

const draft = (over: Partial<EnvelopeDraft>): EnvelopeDraft => testDraft({ server: { ip: '127.0.0.1', port: 25 }, ...over });

/** Stores `data` as the SMTP receiver does (the writer cuts it into CHUNK_SIZE chunks) and returns its envelope. */
async function store(spool: Spool, data: Buffer, headerEnd: number, headerSeparator: boolean): Promise<Envelope> {
  const w = spool.beginMessage(nextId());
  // Written in pieces that do not line up with the chunks, as a client's packets would be.
  for (let i = 0; i < data.length; i += 9_973) w.write(data.subarray(i, i + 9_973));
  return w.commit(draft({ headerEnd, headerSeparator }));
}

interface Delivered {
  pieces: Buffer[];
  whole: Buffer;
  headers: Buffer;
}

/**
 * Reads the message both ways and checks what holds for every message: messageChunks never hands out more than a
 * chunk at once, and deliveredHeaders is exactly the header section of what messageChunks sends (the separator line
 * excluded).
 */
function deliver(spool: Spool, env: Envelope, separated: boolean): Delivered {
  const pieces = [...messageChunks(spool, env)];
  const whole = Buffer.concat(pieces);
  const headers = deliveredHeaders(spool, env);
  assert.ok(pieces.every((p) => p.length <= CHUNK_SIZE), `pieces of ${pieces.map((p) => p.length).join(', ')} octets`);
  assert.ok(whole.subarray(0, headers.length).equals(headers), 'deliveredHeaders is the start of the delivered message');
  const rest = whole.subarray(headers.length);
  if (separated) assert.equal(rest.subarray(0, 2).toString('latin1'), '\r\n', 'then the blank line');
  else assert.ok(!rest.subarray(0, 2).equals(Buffer.from('\r\n')), 'no blank line follows');
  return { pieces, whole, headers };
}

const lines = (...l: string[]): string => l.map((x) => `${x}\r\n`).join('');

const RECEIVED = lines('Received: from client.example ([192.0.2.1])', '\tby mx.example with esmtp id 1r2s3t-000abc-00', '\tfor <bob@example.net>; Tue, 14 Nov 2023 22:13:20 +0000');
const FORGED_AR = lines('Authentication-Results: mx.example; dkim=pass header.d=bank.example');
const FORGED_AR2 = lines('Authentication-Results: mx.example;', '\tspf=pass smtp.mailfrom=bank.example');
const OTHER_AR = lines('Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=client.example');
const BODY = lines('Hello Bob,', '', 'the minutes are attached.', '-- ', 'Alice');

test('prepended headers, omitted ranges and added headers together', async (t) => {
  const spool = openSpool(t);
  const head = RECEIVED + FORGED_AR + lines('From: Alice <alice@client.example>') + FORGED_AR2 + OTHER_AR + lines('To: bob@example.net', 'Subject: minutes');
  const data = Buffer.from(`${head}\r\n${BODY}`, 'latin1');
  const stored = await store(spool, data, head.length + 2, true);
  const ar1 = RECEIVED.length;
  const ar2 = head.indexOf(FORGED_AR2);
  // The envelope as the session commits it and the queue reads it back from LMDB.
  await spool.apply([{
    kind: 'update',
    envelope: {
      ...stored,
      omit: [[ar1, ar1 + FORGED_AR.length], [ar2, ar2 + FORGED_AR2.length]],
      prependedHeaders: ['Authentication-Results: mx.example;\n\tspf=pass smtp.mailfrom=client.example'],
      addedHeaders: ['X-Spam-Score: 0.3', 'X-Folded: first\r\n\tsecond', 'X-Ends-With-Newline: yes\n'],
    },
  }]);
  const env = spool.envelope(stored.id);
  assert.ok(env);

  const expectedHeaders = lines('Authentication-Results: mx.example;', '\tspf=pass smtp.mailfrom=client.example')
    + RECEIVED + lines('From: Alice <alice@client.example>') + OTHER_AR + lines('To: bob@example.net', 'Subject: minutes')
    + lines('X-Spam-Score: 0.3', 'X-Folded: first', '\tsecond', 'X-Ends-With-Newline: yes');
  const d = deliver(spool, env, true);
  assert.equal(d.whole.toString('latin1'), `${expectedHeaders}\r\n${BODY}`);
  assert.equal(d.headers.toString('latin1'), expectedHeaders);
  // The stored octets are not changed by reading.
  assert.ok(Buffer.concat([...spool.data(env.id)]).equals(data));
});

test('each edit alone', async (t) => {
  const spool = openSpool(t);
  const head = RECEIVED + FORGED_AR + lines('Subject: minutes');
  const data = Buffer.from(`${head}\r\n${BODY}`, 'latin1');
  const env = await store(spool, data, head.length + 2, true);

  const plain = deliver(spool, env, true);
  assert.ok(plain.whole.equals(data), 'no edits: the stored octets');
  assert.equal(plain.headers.toString('latin1'), head);

  const prepended = deliver(spool, { ...env, prependedHeaders: ['X-First: 1'] }, true);
  assert.equal(prepended.whole.toString('latin1'), `X-First: 1\r\n${head}\r\n${BODY}`);

  const omitted = deliver(spool, { ...env, omit: [[RECEIVED.length, RECEIVED.length + FORGED_AR.length]] }, true);
  assert.equal(omitted.whole.toString('latin1'), `${RECEIVED}Subject: minutes\r\n\r\n${BODY}`);

  const added = deliver(spool, { ...env, addedHeaders: ['X-Last: 1'] }, true);
  assert.equal(added.whole.toString('latin1'), `${head}X-Last: 1\r\n\r\n${BODY}`);
  assert.equal(added.headers.toString('latin1'), `${head}X-Last: 1\r\n`);
});

/** Header lines of filler so that the header section reaches `length` octets (each line ends with CRLF). */
function filler(length: number): string {
  let out = '';
  let n = 0;
  while (length - out.length > 200) {
    out += `Received: from relay${n}.example by relay${n + 1}.example with esmtp id r${String(n).padStart(5, '0')}; Tue, 14 Nov 2023 22:13:20 +0000\r\n`;
    n++;
  }
  const rest = length - out.length;
  // The last line takes up what remains: "X-Pad: " + pad + CRLF.
  return out + `X-Pad: ${'p'.repeat(rest - 9)}\r\n`;
}

/**
 * A message whose header field `field` starts at octet `at` of the stored data, followed by more header fields,
 * the blank line and a body of `bodyLength` octets. Returns the data and where the field and the header section end.
 */
function messageWithFieldAt(at: number, field: string, bodyLength: number): { data: Buffer; from: number; to: number; headerEnd: number } {
  const before = RECEIVED + filler(at - RECEIVED.length);
  assert.equal(before.length, at);
  const head = before + field + lines('From: Alice <alice@client.example>', 'Subject: big');
  const body = Buffer.alloc(bodyLength, 'body line of a large message\r\n');
  return { data: Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]), from: at, to: at + field.length, headerEnd: head.length + 2 };
}

/** The delivered message built the obvious way, from the whole stored message at once. */
function reference(data: Buffer, omit: readonly [number, number], insertAt: number, prepend: string, add: string): Buffer {
  return Buffer.concat([
    Buffer.from(prepend, 'latin1'), data.subarray(0, omit[0]), data.subarray(omit[1], insertAt), Buffer.from(add, 'latin1'), data.subarray(insertAt),
  ]);
}

test('an omitted field that spans a chunk boundary, starts at one, ends at one, or spans whole chunks', async (t) => {
  const spool = openSpool(t);
  const ar = FORGED_AR2; // 75 octets
  const huge = 'Authentication-Results: mx.example;\r\n' + `\tx-filler=${'y'.repeat(2 * CHUNK_SIZE + 100)}\r\n`;
  const cases: [string, number, string][] = [
    ['straddling the first boundary', CHUNK_SIZE - 30, ar],
    ['starting at the boundary', CHUNK_SIZE, ar],
    ['ending at the boundary', CHUNK_SIZE - ar.length, ar],
    ['starting one octet before it', CHUNK_SIZE - 1, ar],
    ['ending one octet after it', CHUNK_SIZE - ar.length + 1, ar],
    ['covering two whole chunk boundaries', CHUNK_SIZE - 500, huge],
  ];
  for (const [what, at, field] of cases) {
    const m = messageWithFieldAt(at, field, CHUNK_SIZE + 1_234);
    const env = await store(spool, m.data, m.headerEnd, true);
    assert.ok(env.chunks >= 3, `${what}: ${env.chunks} chunks`);
    const edited: Envelope = { ...env, omit: [[m.from, m.to]], prependedHeaders: ['X-First: 1'], addedHeaders: ['X-Added: 2'] };
    const d = deliver(spool, edited, true);
    const expected = reference(m.data, [m.from, m.to], m.headerEnd - 2, 'X-First: 1\r\n', 'X-Added: 2\r\n');
    assert.equal(d.whole.length, expected.length, what);
    assert.ok(d.whole.equals(expected), what);
    assert.ok(!d.whole.includes('Authentication-Results: mx.example;'), `${what}: the field is gone`);
    assert.equal(d.headers.length, m.headerEnd - 2 - field.length + 'X-First: 1\r\nX-Added: 2\r\n'.length, what);
    assert.ok(d.pieces.length > 3, `${what}: streamed in pieces`);
  }
});

test('added headers inserted exactly at a chunk boundary, and a header section that ends in the second chunk', async (t) => {
  const spool = openSpool(t);
  // The blank line starts at CHUNK_SIZE: the insertion point is the first octet of the second chunk.
  const head = RECEIVED + filler(CHUNK_SIZE - RECEIVED.length);
  assert.equal(head.length, CHUNK_SIZE);
  const data = Buffer.from(`${head}\r\n${BODY}`, 'latin1');
  const env = await store(spool, data, head.length + 2, true);
  assert.equal(env.chunks, 2);
  const d = deliver(spool, { ...env, addedHeaders: ['X-Added: at the boundary'] }, true);
  assert.equal(d.whole.toString('latin1'), `${head}X-Added: at the boundary\r\n\r\n${BODY}`);
  assert.equal(d.headers.toString('latin1'), `${head}X-Added: at the boundary\r\n`);

  // The same with an omitted field that ends where the headers are added.
  const last = lines('Authentication-Results: mx.example; arc=pass');
  const head2 = RECEIVED + filler(CHUNK_SIZE - RECEIVED.length - 10) + last;
  const data2 = Buffer.from(`${head2}\r\n${BODY}`, 'latin1');
  const env2 = await store(spool, data2, head2.length + 2, true);
  const from = head2.length - last.length;
  const d2 = deliver(spool, { ...env2, omit: [[from, head2.length]], addedHeaders: ['X-Added: 1'] }, true);
  assert.equal(d2.whole.toString('latin1'), `${head2.slice(0, from)}X-Added: 1\r\n\r\n${BODY}`);
});

test('a message without a header/body separator gets one when headers are added', async (t) => {
  const spool = openSpool(t);
  // The header section ends at the first line that is not a field: the body starts there, without a blank line.
  const head = RECEIVED + lines('Subject: no blank line');
  const body = lines('This line is the body, not a header', 'second line');
  const data = Buffer.from(head + body, 'latin1');
  const env = await store(spool, data, head.length, false);

  const added = deliver(spool, { ...env, addedHeaders: ['X-Added: yes'] }, true);
  assert.equal(added.whole.toString('latin1'), `${head}X-Added: yes\r\n\r\n${body}`);
  assert.equal(added.headers.toString('latin1'), `${head}X-Added: yes\r\n`);

  // Without added headers nothing is inserted: the message goes out as it came.
  const prepended = deliver(spool, { ...env, prependedHeaders: ['X-First: 1'] }, false);
  assert.equal(prepended.whole.toString('latin1'), `X-First: 1\r\n${head}${body}`);
  assert.equal(prepended.headers.toString('latin1'), `X-First: 1\r\n${head}`);

  // A message that is all header section (no body, no blank line) needs no separator either.
  const onlyHead = Buffer.from(head, 'latin1');
  const env2 = await store(spool, onlyHead, onlyHead.length, false);
  const d2 = deliver(spool, { ...env2, addedHeaders: ['X-Added: yes'] }, false);
  assert.equal(d2.whole.toString('latin1'), `${head}X-Added: yes\r\n`);
  assert.equal(d2.headers.toString('latin1'), `${head}X-Added: yes\r\n`);
});

test('a message without a separator whose body starts in the second chunk', async (t) => {
  const spool = openSpool(t);
  const head = RECEIVED + filler(CHUNK_SIZE + 40 - RECEIVED.length);
  const body = lines('no blank line before this body line');
  const data = Buffer.from(head + body, 'latin1');
  const env = await store(spool, data, head.length, false);
  assert.equal(env.chunks, 2);
  const omitFrom = RECEIVED.length;
  const firstFiller = head.indexOf('\r\n', omitFrom) + 2;
  const d = deliver(spool, { ...env, omit: [[omitFrom, firstFiller]], addedHeaders: ['X-Added: yes'] }, true);
  assert.equal(d.whole.toString('latin1'), `${RECEIVED}${head.slice(firstFiller)}X-Added: yes\r\n\r\n${body}`);
  assert.equal(d.headers.toString('latin1'), `${RECEIVED}${head.slice(firstFiller)}X-Added: yes\r\n`);
});
