// Unit tests for transports/maildir.ts against real temporary directories: content round trip
// (CRLF to LF, dot lines untouched), unique names under concurrency, nothing left in tmp/,
// refused local parts, error classes, and a reader that parses the delivered file back.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { deliverToMaildir, errnoOutcome, mailboxName, MaildirError } from '../../../transports/maildir.js';
import type { MaildirOptions } from '../../../transports/maildir.js';

function tempRoot(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-maildir-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const opts = (over: Partial<MaildirOptions> = {}): MaildirOptions => ({
  hostname: 'mx.petrel.example',
  deliveryId: '01HQ7Z0000ABCD-0',
  returnPath: 'alice@client.example',
  deliveredTo: 'bob@petrel.example',
  ...over,
});

/** A minimal Maildir reader: the messages in new/, each parsed into header fields and body. */
function readMaildir(box: string): { name: string; headers: [string, string][]; body: string; raw: Buffer }[] {
  return readdirSync(join(box, 'new')).sort().map((name) => {
    const raw = readFileSync(join(box, 'new', name));
    const text = raw.toString('utf8');
    const split = text.indexOf('\n\n');
    const head = split < 0 ? text : text.slice(0, split + 1);
    const body = split < 0 ? '' : text.slice(split + 2);
    const headers: [string, string][] = [];
    for (const line of head.split('\n')) {
      if (line === '') continue;
      const last = headers[headers.length - 1];
      if ((line[0] === ' ' || line[0] === '\t') && last) last[1] += '\n' + line;
      else {
        const colon = line.indexOf(':');
        assert.ok(colon > 0, `header line ${JSON.stringify(line)}`);
        headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
      }
    }
    return { name, headers, body, raw };
  });
}

const MESSAGE = 'Received: from client.example\r\n\tby mx.petrel.example; Tue, 2 Jan 2024 03:04:05 +0000\r\n' +
  'From: alice@client.example\r\nTo: bob@petrel.example\r\nSubject: dots\r\n\r\n' +
  'first line\r\n.\r\n..two dots\r\n.leading dot\r\nbare\rCR stays\r\nlast line\r\n';

/** The message cut into pieces at every awkward place: between CR and LF, one octet at a time. */
function* pieces(s: string, size: number): Generator<Buffer> {
  const b = Buffer.from(s);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test('a message is delivered to new/: Return-Path and Delivered-To first, CRLF turned into LF, dots untouched', async (t) => {
  const root = tempRoot(t);
  const expected = 'Return-Path: <alice@client.example>\nDelivered-To: bob@petrel.example\n' + MESSAGE.replace(/\r\n/g, '\n');
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    const box = join(root, `box${size}`);
    const r = await deliverToMaildir(box, 'Bob', pieces(MESSAGE, size), opts({ deliveryId: `d${size}` }));
    assert.equal(r.path.startsWith(join(box, 'bob', 'new') + '/'), true);
    const content = readFileSync(r.path, 'utf8');
    assert.equal(content, expected, `pieces of ${size}`);
    assert.equal(r.size, Buffer.byteLength(expected));
    assert.equal(statSync(r.path).size, r.size);
    assert.deepEqual(readdirSync(join(box, 'bob', 'tmp')), [], 'nothing left in tmp/');
    assert.deepEqual(readdirSync(join(box, 'bob', 'cur')), []);
  }
});

test('the Maildir is created with mode 0700 and the file is 0600; a reader parses it back', async (t) => {
  const root = tempRoot(t);
  const r = await deliverToMaildir(root, 'bob', [Buffer.from(MESSAGE)], opts());
  const box = join(root, 'bob');
  for (const sub of ['tmp', 'new', 'cur']) assert.equal(statSync(join(box, sub)).mode & 0o777, 0o700);
  assert.equal(statSync(r.path).mode & 0o777, 0o600);

  const [msg, ...rest] = readMaildir(box);
  assert.equal(rest.length, 0);
  assert.ok(msg);
  assert.equal(msg.name, basename(r.path));
  assert.deepEqual(msg.headers.map(([n]) => n), ['Return-Path', 'Delivered-To', 'Received', 'From', 'To', 'Subject']);
  assert.equal(msg.headers[0]?.[1], '<alice@client.example>');
  assert.equal(msg.headers[1]?.[1], 'bob@petrel.example');
  assert.equal(msg.headers[2]?.[1], 'from client.example\n\tby mx.petrel.example; Tue, 2 Jan 2024 03:04:05 +0000');
  assert.equal(msg.body, 'first line\n.\n..two dots\n.leading dot\nbare\rCR stays\nlast line\n');
  assert.ok(!msg.raw.includes(Buffer.from('\r\n')));
});

test('an async source works, a large message streams through, the null sender is <>', async (t) => {
  const root = tempRoot(t);
  const line = 'x'.repeat(998) + '\r\n';
  const total = 2000;
  async function* source(): AsyncGenerator<Buffer> {
    const all = Buffer.from('Subject: big\r\n\r\n' + line.repeat(total));
    for (let i = 0; i < all.length; i += 4093) {
      await new Promise((resolve) => setImmediate(resolve));
      yield all.subarray(i, i + 4093);
    }
  }
  const r = await deliverToMaildir(root, 'bob', source(), opts({ returnPath: '' }));
  const content = readFileSync(r.path, 'latin1');
  assert.ok(content.startsWith('Return-Path: <>\nDelivered-To: bob@petrel.example\nSubject: big\n\n'));
  assert.equal(content.split('\n').filter((l) => l === 'x'.repeat(998)).length, total);
  assert.ok(!content.includes('\r'));
  assert.equal(r.size, statSync(r.path).size);
});

test('the unique name follows the spec: seconds, M micro P pid Q id, host with / and : escaped', async (t) => {
  const root = tempRoot(t);
  const now = 1_700_000_123_456;
  const r = await deliverToMaildir(root, 'bob', [Buffer.from('x\r\n')], opts({
    now: () => now, hostname: 'mx/a:b', deliveryId: 'id.with/odd:chars',
  }));
  const name = basename(r.path);
  const m = /^(\d+)\.M(\d+)P(\d+)Q([A-Za-z0-9_-]+)\.(.+)$/.exec(name);
  assert.ok(m, name);
  assert.equal(m[1], '1700000123');
  assert.ok(Number(m[2]) >= 456_000 && Number(m[2]) < 457_000, 'microseconds within the millisecond');
  assert.equal(m[3], String(process.pid));
  assert.equal(m[4], 'id_2ewith_2fodd_3achars');
  assert.equal(m[5], 'mx\\057a\\072b');
});

test('concurrent deliveries to one mailbox get distinct names, all complete in new/', async (t) => {
  const root = tempRoot(t);
  const n = 60;
  const frozen = (): number => 1_700_000_000_000; // same millisecond and same id for all: worst case
  const results = await Promise.all(Array.from({ length: n }, (_, i) =>
    deliverToMaildir(root, 'bob', pieces(`Subject: ${i}\r\n\r\nbody ${i}\r\n`, 5), opts({ now: frozen, deliveryId: 'same' }))));
  const names = new Set(results.map((r) => basename(r.path)));
  assert.equal(names.size, n);
  const box = join(root, 'bob');
  assert.equal(readdirSync(join(box, 'new')).length, n);
  assert.deepEqual(readdirSync(join(box, 'tmp')), []);
  const bodies = readMaildir(box).map((m) => m.body).sort();
  assert.deepEqual(bodies, Array.from({ length: n }, (_, i) => `body ${i}\n`).sort());
});

test('a failing source leaves nothing behind and its error comes through unchanged', async (t) => {
  const root = tempRoot(t);
  const boom = new Error('spool read failed');
  async function* source(): AsyncGenerator<Buffer> {
    yield Buffer.from('Subject: half\r\n\r\n');
    yield Buffer.alloc(100_000, 0x61); // past one write batch: part of it is on disk already
    throw boom;
  }
  await assert.rejects(deliverToMaildir(root, 'bob', source(), opts()), (e) => e === boom);
  assert.deepEqual(readdirSync(join(root, 'bob', 'tmp')), []);
  assert.deepEqual(readdirSync(join(root, 'bob', 'new')), []);
});

test('local parts that cannot name a mailbox are refused before anything is created', async (t) => {
  const root = tempRoot(t);
  for (const bad of ['', '../etc', 'a/b', '.hidden', '..', '.', 'a\0b', 'a\nb', 'x'.repeat(256)]) {
    await assert.rejects(deliverToMaildir(root, bad, [Buffer.from('x')], opts()), (e: unknown) => {
      assert.ok(e instanceof MaildirError);
      assert.equal(e.code, 'MAILDIR_BAD_LOCAL_PART');
      assert.equal(e.temporary, false);
      assert.equal(e.status, '5.1.3');
      return true;
    }, JSON.stringify(bad));
  }
  assert.deepEqual(readdirSync(root), []);
  assert.equal(mailboxName('Bob.Smith'), 'bob.smith');
  assert.equal(mailboxName('J\u00dcRGEN'), 'j\u00fcrgen');
  assert.equal(mailboxName('a.b-c+d'), 'a.b-c+d');
});

test('I/O errors are MaildirError MAILDIR_IO with the errno; a path that cannot work is permanent', async (t) => {
  const root = tempRoot(t);
  writeFileSync(join(root, 'bob'), 'a file where the mailbox should be');
  await assert.rejects(deliverToMaildir(root, 'bob', [Buffer.from('x')], opts()), (e: unknown) => {
    assert.ok(e instanceof MaildirError);
    assert.equal(e.code, 'MAILDIR_IO');
    assert.equal(e.errno, 'ENOTDIR');
    assert.equal(e.temporary, false);
    assert.equal(e.status, '5.2.0');
    return true;
  });
  // new/ turns into a file while the message is being written: the link fails (permanently:
  // the path cannot work), and the finished tmp file is removed.
  const box = join(root, 'carol');
  function* source(): Generator<Buffer> {
    yield Buffer.from('Subject: x\r\n\r\n');
    rmSync(join(box, 'new'), { recursive: true });
    writeFileSync(join(box, 'new'), '');
    yield Buffer.from('body\r\n');
  }
  await assert.rejects(deliverToMaildir(root, 'carol', source(), opts()), (e: unknown) => {
    assert.ok(e instanceof MaildirError);
    assert.equal(e.code, 'MAILDIR_IO');
    assert.equal(e.errno, 'ENOTDIR');
    assert.equal(e.temporary, false);
    assert.match(e.message, /cannot link/);
    return true;
  });
  assert.deepEqual(readdirSync(join(box, 'tmp')), []);
  assert.ok(statSync(join(box, 'new')).isFile());
});

test('an errno is temporary unless it says the path can never work', () => {
  for (const errno of ['ENOSPC', 'EIO', 'EAGAIN', 'EDQUOT', 'EMFILE', 'EACCES', 'EROFS', 'ESOMETHINGNEW']) {
    assert.equal(errnoOutcome(errno).temporary, true, errno);
  }
  for (const errno of ['ENAMETOOLONG', 'ENOTDIR', 'ELOOP', 'EFBIG']) {
    assert.equal(errnoOutcome(errno).temporary, false, errno);
  }
  assert.equal(errnoOutcome('ENOSPC').status, '4.3.1');
  assert.equal(errnoOutcome('EDQUOT').status, '4.2.2');
  assert.equal(errnoOutcome('EIO').status, '4.3.0');
  assert.equal(errnoOutcome('EFBIG').status, '5.3.4');
});
