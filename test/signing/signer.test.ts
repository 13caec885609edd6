// MessageSigner (actors/delivery/signer.ts) against a real spool: what it signs is what messageChunks sends;
// the arrival ARC verdict in the envelope sets cv=; failures follow dkim_strict; one signing per message while
// it is held; a big message is hashed without holding the event loop. Also the >64 KiB simple body hash.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { buildConfig } from '../../config/load.js';
import type { TransportSigning } from '../../config/signing.js';
import { MessageSigner } from '../../actors/delivery/signer.js';
import type { SignOutcome, SignPort } from '../../actors/delivery/signer.js';
import type { DeliveryJob } from '../../actors/delivery/types.js';
import { CryptoPool } from '../../actors/supervisor/pool.js';
import { sealMessage } from '../../protocol/arc/index.js';
import { createBodyHasher, splitHeaderFields, splitMessage } from '../../protocol/dkim/index.js';
import type { Envelope } from '../../store/envelope.js';
import { createIdGenerator } from '../../store/ids.js';
import { messageChunks } from '../../store/reader.js';
import { Spool } from '../../store/spool.js';
import type { EnvelopeDraft } from '../../store/writer.js';
import { fieldValues, fixtureOf, mailauthArc, petrelArc, petrelDkim, tag, writeKey } from './common.js';

const T = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), 'petrel-signer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const rsa = writeKey(dir, 'example.org', 'rsa', 'rsa');
const ed = writeKey(dir, 'example.org', 'ed', 'ed25519');
const arcKey = writeKey(dir, 'relay.example.com', 'arc', 'rsa');
const earlier = writeKey(dir, 'list.example.net', 'hop', 'rsa');
const fixture = fixtureOf([rsa, ed, arcKey, earlier]);
const spool = Spool.open(join(dir, 'spool'));
after(() => spool.close());
const nextId = createIdGenerator(Date.now, () => Math.floor(Math.random() * 2 ** 32));

function signing(transport: Record<string, unknown>): TransportSigning {
  return buildConfig({ smtp_transport: transport }, '(test)', dir).smtp_transport.signing;
}

async function store(message: string | Buffer, extra: Partial<EnvelopeDraft> & { arc?: { state: string; instances: number } } = {}): Promise<Envelope> {
  const data = Buffer.isBuffer(message) ? message : Buffer.from(message);
  const w = spool.beginMessage(nextId());
  for (let i = 0; i < data.length; i += 10_000) w.write(data.subarray(i, i + 10_000));
  const { header } = splitMessage(data);
  const sep = data.length > header.length;
  const draft = {
    sender: 'alice@example.org', recipients: [{ address: 'bob@example.net', state: 'pending' }], smtputf8: false,
    client: { ip: '127.0.0.1', port: 1, helo: 'client' }, server: { ip: '127.0.0.1', port: 25 }, protocol: 'esmtp', receivedAt: Date.now(),
    headerEnd: sep ? header.length + 2 : header.length, headerSeparator: sep, addedHeaders: [], ...extra,
  } as EnvelopeDraft;
  return w.commit(draft);
}

function job(env: Envelope): DeliveryJob {
  return { messageId: env.id, sender: env.sender, recipients: [{ index: 0, address: 'bob@example.net' }], size: env.size, smtputf8: false, envelope: env };
}

interface Logged { level: number; msg: string; event?: string; code?: string }
function signer(settings: TransportSigning | undefined, o: { pool?: SignPort; now?: () => number } = {}): { s: MessageSigner; logs: Logged[] } {
  const logs: Logged[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Logged);
      cb();
    },
  });
  const s = new MessageSigner({ spool, logger: pino({ level: 'debug' }, out), settings: () => settings, pool: () => o.pool, ...(o.now ? { now: o.now } : {}) });
  return { s, logs };
}

/** The message as the runner sends it: the signed fields, then messageChunks. */
function sent(outcome: SignOutcome, env: Envelope): Buffer {
  return Buffer.concat([outcome.kind === 'signed' ? outcome.headers : Buffer.alloc(0), ...messageChunks(spool, env)]);
}

const MESSAGE = 'Received: from client by mx\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\nHi Bob\r\n';

test('what is signed is what messageChunks sends: ACL-added headers in place, the rest unchanged', T, async (t) => {
  const pool = new CryptoPool({ threads: 2 });
  t.after(() => pool.stop());
  const env = await store(MESSAGE, { addedHeaders: ['X-Added: by an ACL', 'X-Folded: one\n two'] });
  const { s } = signer(signing({ dkim_domain: 'example.org', dkim_selector: 'rsa : ed', dkim_private_key: [rsa.file, ed.file] }), { pool });
  const out = await s.acquire(job(env));
  assert.equal(out.kind, 'signed');
  const message = sent(out, env);
  assert.ok(message.subarray(message.length - Buffer.concat([...messageChunks(spool, env)]).length).equals(Buffer.concat([...messageChunks(spool, env)])));
  const v = await petrelDkim(message, fixture);
  assert.deepEqual(v.signatures.map((x) => x.status), ['pass', 'pass']);
  assert.match(message.toString(), /X-Folded: one\r\n two\r\n\r\nHi Bob/);
});

test('ARC: cv= follows the arrival verdict in the envelope; the chain validates in protocol/arc and mailauth', T, async (t) => {
  const pool = new CryptoPool({ threads: 1 });
  t.after(() => pool.stop());
  // A message that arrives with a set sealed by the list, which our receiving side validated as pass.
  const original = Buffer.from(`Authentication-Results: list.example.net; spf=pass smtp.mailfrom=example.org\r\n${MESSAGE.replace(/^Received[^\r]*\r\n/, '')}`);
  const { header, body } = splitMessage(original);
  const h = createBodyHasher('relaxed', 'sha256');
  h.update(body);
  const hop = sealMessage(splitHeaderFields(header), h.digest(), { authservId: 'list.example.net', domain: 'list.example.net', selector: 'hop', privateKey: earlier.pem });
  assert.equal(hop.kind, 'ok');
  if (hop.kind !== 'ok') return;
  const arrived = Buffer.concat([
    Buffer.from('Authentication-Results: relay.example.com; arc=pass (i=1) header.oldest-pass=0; spf=pass smtp.mailfrom=example.org\r\nReceived: from list by mx\r\n'),
    Buffer.from(hop.set.headers.map((f) => `${f}\r\n`).join('')),
    original.subarray(original.indexOf('\r\n') + 2), // the list's own A-R is not passed on
  ]);
  const arcOnly = signing({ arc_sign: `relay.example.com : arc : ${arcKey.file} : timestamps` });
  for (const [state, cv, chain] of [['pass', 'pass', 'pass'], ['fail', 'fail', 'fail']] as const) {
    const env = await store(arrived, { arc: { state, instances: 1 } });
    const { s } = signer(arcOnly, { pool });
    const out = await s.acquire(job(env));
    assert.equal(out.kind, 'signed', state);
    const message = sent(out, env);
    const seal = fieldValues(message, 'ARC-Seal')[0] as string;
    assert.equal(tag(seal, 'i'), '2');
    assert.equal(tag(seal, 'cv'), cv, state);
    assert.ok(tag(seal, 't'), 'timestamps: t= on the seal');
    const mine = await petrelArc(message, fixture);
    assert.equal(mine.state, chain, `${state}: ${mine.reason}`);
    assert.equal((await mailauthArc(message, fixture)).result, chain, state);
  }
  // Without a verdict in the envelope, the arc= result among our Authentication-Results decides (pass here).
  const env = await store(arrived);
  const out = await signer(arcOnly, { pool }).s.acquire(job(env));
  assert.equal(tag(fieldValues(sent(out, env), 'ARC-Seal')[0] as string, 'cv'), 'pass');
  // A chain and nothing that says how it validated: not sealed, and said why.
  const bare = await store(Buffer.from(arrived.toString('latin1').replace(/arc=pass \(i=1\) header\.oldest-pass=0; /, ''), 'latin1'));
  const { s, logs } = signer(arcOnly, { pool });
  assert.equal((await s.acquire(job(bare))).kind, 'unsigned');
  assert.ok(logs.some((l) => l.event === 'arc-sign' && l.code === 'ARC_SEAL_NO_STATE'));
});

test('a key the pool cannot use: dkim_strict defers, otherwise unsigned (logged); an ARC failure likewise', T, async () => {
  const env = await store(MESSAGE.replace('Subject', 'Authentication-Results: relay.example.com; spf=pass\r\nSubject'));
  const broken: SignPort = {
    sign: () => Promise.reject(new Error('sign task: error:1E08010C:DECODER routines::unsupported')),
    seal: () => Promise.reject(new Error('sign task: the key is unusable')),
  };
  const dkim = { dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file };
  const strict = signer(signing({ ...dkim, dkim_strict: true }), { pool: broken });
  const d = await strict.s.acquire(job(env));
  assert.equal(d.kind, 'defer');
  assert.match(d.kind === 'defer' ? d.reason : '', /^DKIM signing failed: sign task: error:1E08010C/);
  assert.ok(strict.logs.some((l) => l.level === 40 && /DKIM: message could not be signed, and dkim_strict is set\. Deferring message delivery/.test(l.msg)));

  const lax = signer(signing(dkim), { pool: broken });
  assert.equal((await lax.s.acquire(job(env))).kind, 'unsigned');
  assert.ok(lax.logs.some((l) => l.level === 40 && /DKIM: message could not be signed \(sign task: .*\); sending it without/.test(l.msg)));

  // ARC with a pool that cannot seal: strict defers; otherwise the DKIM signature (Ed25519, signed by the pool)
  // still goes.
  const arc = { arc_sign: `relay.example.com : arc : ${arcKey.file}` };
  assert.equal((await signer(signing({ ...arc, dkim_strict: '1' }), { pool: broken }).s.acquire(job(env))).kind, 'defer');
  const sealBroken: SignPort = {
    sign: (pem, hash, input) => Promise.resolve(cryptoSign(hash, input, createPrivateKey(pem)).toString('base64')),
    seal: () => Promise.reject(new Error('sign task: the key is unusable')),
  };
  const both = signer(signing({ ...arc, dkim_domain: 'example.org', dkim_selector: 'ed', dkim_private_key: ed.file }), { pool: sealBroken });
  const out = await both.s.acquire(job(env));
  assert.equal(out.kind, 'signed');
  const message = sent(out, env);
  assert.deepEqual(fieldValues(message, 'ARC-Seal'), []);
  assert.equal((await petrelDkim(message, fixture)).signatures[0]?.status, 'pass');
  assert.ok(both.logs.some((l) => /ARC: message could not be signed/.test(l.msg)));
});

test('one signing per message while held (and for a moment after); then a new one', T, async () => {
  let now = 1_700_000_000_000;
  let signs = 0;
  const counting: SignPort = {
    sign: async () => {
      signs++;
      return 'AAAA';
    },
    seal: () => Promise.reject(new Error('unused')),
  };
  const env = await store(MESSAGE);
  const { s } = signer(signing({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file }), { pool: counting, now: () => now });
  const a = s.acquire(job(env));
  const b = s.acquire({ ...job(env), recipients: [{ index: 1, address: 'carol@example.net' }] });
  assert.equal(a, b, 'the same outcome');
  await a;
  s.release(env.id);
  s.release(env.id);
  await s.acquire(job(env));
  assert.equal(signs, 1, 'kept for a moment after the last release');
  s.release(env.id);
  now += 5_000;
  const other = await store(MESSAGE);
  await s.acquire(job(other));
  assert.equal(s.cached, 1, 'the idle entry went');
  await s.acquire(job(env));
  assert.equal(signs, 3);
});

test('nothing configured: unsigned, and the signer says it is not active', async () => {
  const { s } = signer(undefined);
  assert.equal(s.active(), false);
  assert.equal((await s.acquire(job(await store(MESSAGE)))).kind, 'unsigned');
  assert.equal(signer(signing({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: '0' })).s.active(), false);
});

test('a 20 MB message: hashed in slices (the event loop keeps turning), signed correctly', T, async (t) => {
  const pool = new CryptoPool({ threads: 1 });
  t.after(() => pool.stop());
  const line = 'Lorem ipsum dolor sit amet,  consectetur \t adipiscing elit, sed do eiusmod tempor  \r\n';
  const big = Buffer.concat([Buffer.from(MESSAGE.slice(0, MESSAGE.indexOf('\r\n\r\n') + 4)), Buffer.from(line.repeat(Math.ceil(20e6 / line.length)))]);
  const env = await store(big);
  const { s } = signer(signing({ dkim_domain: 'example.org', dkim_selector: 'rsa : ed', dkim_private_key: [rsa.file, ed.file], dkim_canon: 'relaxed/simple' }), { pool });
  const h = monitorEventLoopDelay({ resolution: 5 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  h.enable();
  const started = Date.now();
  const out = await s.acquire(job(env));
  h.disable();
  clearInterval(timer);
  const took = Date.now() - started;
  assert.equal(out.kind, 'signed');
  assert.ok(h.max / 1e6 < 60, `the longest stall was ${(h.max / 1e6).toFixed(1)} ms (signing took ${took} ms)`);
  assert.ok(ticks > took / 20, `timers ran ${ticks} times in ${took} ms`);
  const v = await petrelDkim(sent(out, env), fixture);
  assert.deepEqual(v.signatures.map((x) => x.status), ['pass', 'pass']);
});

test('protocol/dkim: a simple body hash over 64 KiB (a run that fills the buffer to the brim, then CRLF)', () => {
  const line = 'The quick brown fox jumps over the lazy dog, again and again. \t \r\n';
  for (const size of [65_000, 65_536, 70_000, 600_000]) {
    const body = Buffer.from(line.repeat(Math.ceil(size / line.length)));
    const h = createBodyHasher('simple', 'sha256');
    h.update(body);
    assert.equal(h.digest().bh, createHash('sha256').update(body).digest('base64'), String(size));
  }
});
