// Sealing (RFC 8617 section 5.1): instance numbers, cv=, t= and x=, the AAR from our Authentication-Results,
// the AMS's h=, the seal's scope for cv=fail (5.1.2), when no set is added, and the prepare/sign split.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { test } from 'node:test';
import { createBodyHasher, relaxedField, signInput, splitHeaderFields, splitMessage, stripSignatureValue } from '../../../protocol/dkim/index.js';
import type { BodyHashResult, RawField } from '../../../protocol/dkim/index.js';
import { finishSeal, prepareSeal, sealInput, sealMessage, signSeal } from '../../../protocol/arc/index.js';
import type { SealOptions } from '../../../protocol/arc/index.js';
import { hop, KEYS, MESSAGES, NOW, petrelSeal, petrelSealResult, petrelValidate, prepend, rsaKey, tamperBody } from './common.js';

const T = { timeout: 120_000 };
const ID = 'mx.lists.example.org';
const withAr = (m: Buffer, ...results: string[]) => prepend(m, ...(results.length ? results : ['spf=pass smtp.mailfrom=example.com']).map((r) => `Authentication-Results: ${ID}; ${r}`));

function parts(message: Buffer): { fields: RawField[]; bodyHash: BodyHashResult } {
  const { header, body } = splitMessage(message);
  const h = createBodyHasher('relaxed', 'sha256');
  h.update(body);
  return { fields: splitHeaderFields(header), bodyHash: h.digest() };
}

function tag(field: string, name: string): string | undefined {
  const value = field.slice(field.indexOf(':') + 1).replace(/\r\n[ \t]/g, ' ');
  for (const spec of value.split(';')) {
    const eq = spec.indexOf('=');
    if (eq > 0 && spec.slice(0, eq).trim() === name) return spec.slice(eq + 1).replace(/\s+/g, '');
  }
  return undefined;
}

test('instances count up and cv follows the chain: none, then pass; each set validates', T, async () => {
  let message = MESSAGES.plain as Buffer;
  for (let i = 1; i <= 4; i++) {
    message = await hop(message, i % 2 ? KEYS.list : KEYS.forwarder);
    const seal = message.toString('latin1').split('\r\nARC-Message-Signature:')[0] as string;
    assert.equal(tag(seal, 'i'), String(i));
    assert.equal(tag(seal, 'cv'), i === 1 ? 'none' : 'pass');
    assert.equal((await petrelValidate(message)).state, 'pass');
  }
});

test('the folded layout: i= first, b= last, lines of at most 78 octets; the sorted layout is one line per field', T, async () => {
  for (const key of [KEYS.list, KEYS.forwarder, KEYS.ed]) {
    const { result } = petrelSealResult(withAr(MESSAGES.messy as Buffer), { key, authservId: ID, now: NOW, timestamps: true, expiresIn: 86400 });
    assert.equal(result.kind, 'ok');
    if (result.kind !== 'ok') continue;
    const [as, ams, aar] = result.set.headers;
    assert.match(as, /^ARC-Seal: i=1; a=(rsa|ed25519)-sha256;\s+cv=none;\s+d=/);
    assert.match(ams, /^ARC-Message-Signature: i=1; a=(rsa|ed25519)-sha256;\s+c=relaxed\/relaxed;\s+d=/);
    assert.match(aar, /^ARC-Authentication-Results: i=1; mx\.lists\.example\.org;\r\n\tspf=pass smtp\.mailfrom=example\.com$/);
    for (const f of result.set.headers) for (const line of f.split('\r\n')) assert.ok(line.length <= 78, `${line.length}: ${line}`);
    assert.match(as, /b=[^;]*$/);
    assert.match(ams, /b=[^;]*$/);
  }
  const sorted = petrelSealResult(withAr(MESSAGES.plain as Buffer), { key: KEYS.list, authservId: ID, now: NOW, timestamps: true, layout: 'sorted' });
  assert.equal(sorted.result.kind, 'ok');
  if (sorted.result.kind === 'ok') {
    assert.match(sorted.result.set.seal, /^ARC-Seal: a=rsa-sha256; b=[A-Za-z0-9+/=]+; cv=none; d=lists\.example\.org; i=1; s=arc2048; t=1704110400$/);
    assert.match(sorted.result.set.signature, /^ARC-Message-Signature: a=rsa-sha256; b=[^;]+; bh=[^;]+; c=relaxed\/relaxed; d=lists\.example\.org; h=[a-z:-]+; i=1; s=arc2048; t=1704110400$/);
  }
  assert.equal((await petrelValidate(sorted.message)).state, 'pass');
});

test('timestamps put t= on the AMS and the AS; expire puts x= on the AMS only; neither without the options', T, () => {
  const get = (opts: Partial<SealOptions>) => {
    const { result } = petrelSealResult(withAr(MESSAGES.plain as Buffer), { key: KEYS.list, authservId: ID, ...opts });
    assert.equal(result.kind, 'ok', JSON.stringify(result));
    return result.kind === 'ok' ? result.set : undefined;
  };
  const t = NOW / 1000;
  const plain = get({});
  assert.equal(tag(plain?.seal ?? '', 't'), undefined);
  assert.equal(tag(plain?.signature ?? '', 't'), undefined);
  assert.equal(tag(plain?.signature ?? '', 'x'), undefined);
  const stamped = get({ now: NOW, timestamps: true });
  assert.equal(tag(stamped?.seal ?? '', 't'), String(t));
  assert.equal(tag(stamped?.signature ?? '', 't'), String(t));
  const month = get({ now: NOW, timestamps: true, expiresIn: 30 * 86400 });
  assert.equal(tag(month?.signature ?? '', 'x'), String(t + 30 * 86400));
  assert.equal(tag(month?.seal ?? '', 'x'), undefined);
  assert.equal(tag(get({ expiresAt: 2_000_000_000 })?.signature ?? '', 'x'), '2000000000');
  assert.equal(tag(get({ now: NOW, expiresIn: 60 })?.signature ?? '', 't'), undefined);

  const { fields, bodyHash } = parts(withAr(MESSAGES.plain as Buffer));
  const base = { authservId: ID, domain: 'lists.example.org', selector: 'arc2048', algorithm: 'rsa-sha256' as const };
  for (const bad of [{ timestamps: true }, { expiresIn: 60 }, { now: NOW, expiresIn: 0 }, { now: NOW, timestamps: true, expiresAt: t }, { expiresAt: -5 }]) {
    const r = prepareSeal(fields, bodyHash, { ...base, ...bad });
    assert.equal(r.kind === 'error' && r.code, 'ARC_SEAL_OPTIONS', JSON.stringify(bad));
  }
});

test('the AMS signs the fields present (DKIM-Signature too), never ARC fields or Authentication-Results', T, () => {
  const dkim = 'DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA';
  const message = withAr(prepend(MESSAGES.plain as Buffer, dkim, 'Received: from a by b; Mon, 1 Jan 2024 12:00:00 +0000'));
  const { result } = petrelSealResult(message, { key: KEYS.list, authservId: ID });
  assert.equal(result.kind, 'ok');
  const h = result.kind === 'ok' ? (tag(result.set.signature, 'h') ?? '') : '';
  assert.deepEqual(h.split(':').sort(), ['content-type', 'date', 'dkim-signature', 'from', 'message-id', 'mime-version', 'subject', 'to']);

  const { fields, bodyHash } = parts(message);
  const base = { authservId: ID, domain: 'lists.example.org', selector: 'arc2048', algorithm: 'rsa-sha256' as const };
  const two = prepareSeal(fields, bodyHash, { ...base, headers: ['From', 'Received', 'Authentication-Results', 'ARC-Seal'] });
  assert.equal(two.kind, 'ok');
  if (two.kind === 'ok') assert.match(two.prepared.signature.head, /h=from:received;/);
  for (const bad of [['from', 'arc-seal'], ['from', 'Authentication-Results'], ['from', 'ARC-Authentication-Results'], ['from:to']]) {
    const r = prepareSeal(fields, bodyHash, { ...base, headerList: bad });
    assert.equal(r.kind === 'error' && r.code, 'ARC_SEAL_OPTIONS', bad.join());
  }
});

test('the AAR: all our Authentication-Results in order, one result per line; other ADMDs ignored', T, async () => {
  const message = prepend(
    MESSAGES.plain as Buffer,
    'Authentication-Results: MX.Lists.Example.Org.; arc=none;\r\n  spf=pass smtp.mailfrom=example.com',
    'Authentication-Results: (mx.lists.example.org) other.example; dkim=fail',
    'Authentication-Results: mx.lists.example.org; dkim=pass (2048-bit key; sha256) header.d=example.com header.b="a;b"',
    'Authentication-Results: mx.lists.example.org; none',
    'Authentication-Results: mx.lists.example.org.evil; dmarc=fail',
    'Authentication-Results: mx.lists.example.org 1; dmarc=pass header.from=example.com',
  );
  const { result, message: sealed } = petrelSealResult(message, { key: KEYS.list, authservId: ID });
  assert.equal(result.kind, 'ok');
  if (result.kind !== 'ok') return;
  assert.equal(
    result.set.results,
    'ARC-Authentication-Results: i=1; mx.lists.example.org;\r\n\tarc=none;\r\n\tspf=pass smtp.mailfrom=example.com;\r\n' +
      '\tdkim=pass (2048-bit key; sha256) header.d=example.com header.b="a;b";\r\n\tdmarc=pass header.from=example.com',
  );
  assert.equal((await petrelValidate(sealed)).state, 'pass');
  // Only "none" from us: the AAR says none.
  const empty = petrelSealResult(prepend(MESSAGES.plain as Buffer, `Authentication-Results: ${ID}; none`), { key: KEYS.list, authservId: ID });
  assert.equal(empty.result.kind === 'ok' && empty.result.set.results, 'ARC-Authentication-Results: i=1; mx.lists.example.org; none');
  // UTF-8 in a result survives as UTF-8 text, and the set validates.
  const utf8 = petrelSealResult(prepend(MESSAGES.utf8 as Buffer, `Authentication-Results: ${ID}; auth=pass smtp.auth=j\u00f6rg@example.com`), { key: KEYS.list, authservId: ID });
  assert.equal(utf8.result.kind, 'ok');
  if (utf8.result.kind === 'ok') assert.match(utf8.result.set.results, /smtp\.auth=j\u00f6rg@example\.com/);
  assert.equal((await petrelValidate(utf8.message)).state, 'pass');
  // A long result is folded at spaces.
  const long = `dkim=pass ${Array.from({ length: 12 }, (_, i) => `header.x${i}=value-number-${i}`).join(' ')}`;
  const folded = petrelSealResult(withAr(MESSAGES.plain as Buffer, long), { key: KEYS.list, authservId: ID });
  assert.equal(folded.result.kind, 'ok');
  if (folded.result.kind === 'ok') for (const line of folded.result.set.results.split('\r\n')) assert.ok(line.length <= 78, line);
  assert.equal((await petrelValidate(folded.message)).state, 'pass');
});

test('cv comes from the arc= result of our ADMD, or chainState; contradictions are refused', T, async () => {
  const one = await hop(MESSAGES.plain as Buffer, KEYS.forwarder);
  const seal = (m: Buffer, opts: Partial<SealOptions> = {}) => petrelSealResult(m, { key: KEYS.list, authservId: ID, ...opts }).result;
  const cvOf = (r: ReturnType<typeof seal>) => (r.kind === 'ok' ? r.set.cv : `${r.kind}:${r.code}`);
  assert.equal(cvOf(seal(withAr(one, 'arc=pass'))), 'pass');
  assert.equal(cvOf(seal(withAr(one, 'arc=fail'))), 'fail');
  assert.equal(cvOf(seal(withAr(one, 'arc=pass'), { chainState: 'fail' })), 'fail');
  assert.equal(cvOf(seal(withAr(one, 'arc=pass', 'arc=pass'))), 'fail', 'two arc= results are contradictory');
  assert.equal(cvOf(seal(withAr(one, 'arc=temperror'))), 'fail');
  assert.equal(cvOf(seal(withAr(one))), 'skip:ARC_SEAL_NO_STATE');
  assert.equal(cvOf(seal(withAr(one, 'arc=none'))), 'skip:ARC_SEAL_NO_STATE');
  assert.equal(cvOf(seal(withAr(MESSAGES.plain as Buffer))), 'none');
  assert.equal(cvOf(seal(withAr(MESSAGES.plain as Buffer, 'arc=pass'))), 'error:ARC_SEAL_OPTIONS');
  // A chain that claims pass but is not whole gets cv=fail.
  const gap = Buffer.from(one.toString('latin1').replace(/^ARC-Message-Signature: i=1;[^\r]*(?:\r\n[ \t][^\r]*)*\r\n/m, ''), 'latin1');
  assert.equal(cvOf(seal(withAr(gap, 'arc=pass'))), 'fail');
});

test('cv=fail: the seal covers the new set alone (RFC 8617 section 5.1.2), and the chain ends there', T, async () => {
  const two = await hop(await hop(MESSAGES.plain as Buffer, KEYS.forwarder), KEYS.gateway);
  const broken = tamperBody(two);
  const v = await petrelValidate(broken);
  assert.equal(v.state, 'fail');
  const { result, message } = petrelSealResult(withAr(broken, `arc=${v.state}`), { key: KEYS.list, authservId: ID, now: NOW, timestamps: true });
  assert.equal(result.kind, 'ok');
  if (result.kind !== 'ok') return;
  assert.equal(result.set.instance, 3);
  assert.equal(result.set.cv, 'fail');
  const [as, ams, aar] = result.set.headers;
  const input = `${relaxedField(aar)}\r\n${relaxedField(ams)}\r\n${relaxedField(stripSignatureValue(as))}`;
  const pub = createPublicKey(KEYS.list.privateKey);
  assert.ok(verify('sha256', Buffer.from(input, 'latin1'), pub, Buffer.from(tag(as, 'b') ?? '', 'base64')));
  const after = await petrelValidate(message);
  assert.equal(after.code, 'chain_failed');
  // No set after that one (section 5.1 step 2), whatever our A-R says.
  const again = petrelSealResult(withAr(message, 'arc=pass'), { key: KEYS.forwarder, authservId: ID });
  assert.equal(again.result.kind === 'skip' && again.result.code, 'ARC_SEAL_CHAIN_FAILED');
});

test('no set: no Authentication-Results of ours, 50 sets already, ARC fields without a usable i=', T, async () => {
  const r1 = petrelSealResult(prepend(MESSAGES.plain as Buffer, 'Authentication-Results: other.example; spf=pass smtp.mailfrom=x'), { key: KEYS.list, authservId: ID }).result;
  assert.equal(r1.kind === 'skip' && r1.code, 'ARC_SEAL_NO_AUTHRES');
  const garbage = prepend(withAr(MESSAGES.plain as Buffer, 'arc=fail'), 'ARC-Seal: i=zero; cv=none');
  const r2 = petrelSealResult(garbage, { key: KEYS.list, authservId: ID }).result;
  assert.equal(r2.kind === 'skip' && r2.code, 'ARC_SEAL_BROKEN');
  // Fifty sets (i=50 on top): no room for another.
  const fifty = Buffer.from(
    (await hop(MESSAGES.plain as Buffer, KEYS.forwarder)).toString('latin1').replace(/: i=1;/g, ': i=50;'),
    'latin1',
  );
  const r3 = petrelSealResult(withAr(fifty, 'arc=fail'), { key: KEYS.list, authservId: ID }).result;
  assert.equal(r3.kind === 'skip' && r3.code, 'ARC_SEAL_LIMIT');
  const r4 = petrelSealResult(withAr(MESSAGES.plain as Buffer), { key: rsaKey('lists.example.org', 'k', 1024), authservId: 'bad\r\nid' }).result;
  assert.equal(r4.kind === 'error' && r4.code, 'ARC_SEAL_OPTIONS');
  // An authserv-id that is not a token is written quoted, and still matched to our A-R.
  const quoted = prepend(MESSAGES.plain as Buffer, 'Authentication-Results: "mx (inner)"; spf=pass smtp.mailfrom=x');
  const r5 = petrelSealResult(quoted, { key: KEYS.list, authservId: 'mx (inner)' });
  assert.equal(r5.result.kind === 'ok' && r5.result.set.results, 'ARC-Authentication-Results: i=1; "mx (inner)";\r\n\tspf=pass smtp.mailfrom=x');
  assert.equal((await petrelValidate(r5.message)).state, 'pass');
});

test('option and key errors are reported, not thrown', T, () => {
  const { fields, bodyHash } = parts(withAr(MESSAGES.plain as Buffer));
  const base = { authservId: ID, domain: 'lists.example.org', selector: 'arc2048', algorithm: 'rsa-sha256' as const };
  for (const bad of [{ domain: 'not a domain' }, { selector: '' }, { authservId: '' }, { algorithm: 'rsa-sha1' as unknown as 'rsa-sha256' }]) {
    const r = prepareSeal(fields, bodyHash, { ...base, ...bad });
    assert.equal(r.kind === 'error' && r.code, 'ARC_SEAL_OPTIONS', JSON.stringify(bad));
  }
  for (const hash of [{ ...bodyHash, canon: 'simple' as const }, { ...bodyHash, limit: 10 }]) {
    assert.equal(prepareSeal(fields, hash, base).kind, 'error');
  }
  const small = sealMessage(fields, bodyHash, { ...base, privateKey: '-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n' });
  assert.equal(small.kind === 'error' && small.code, 'ARC_SEAL_KEY');
  const mismatch = sealMessage(fields, bodyHash, { ...base, algorithm: 'ed25519-sha256', privateKey: KEYS.list.pem });
  assert.equal(mismatch.kind, 'error');
});

test('prepare/sign split: plain data to a worker, one call or step by step, same fields as sealMessage', T, async () => {
  const message = withAr(await hop(MESSAGES.plain as Buffer, KEYS.forwarder), 'arc=pass');
  const { fields, bodyHash } = parts(message);
  for (const key of [KEYS.list, KEYS.ed]) {
    const algorithm = key === KEYS.ed ? ('ed25519-sha256' as const) : ('rsa-sha256' as const);
    const opts = { authservId: ID, domain: key.domain, selector: key.selector, now: NOW, timestamps: true };
    const whole = sealMessage(fields, bodyHash, { ...opts, privateKey: key.pem });
    assert.equal(whole.kind, 'ok');
    const prepared = prepareSeal(fields, bodyHash, { ...opts, algorithm });
    assert.equal(prepared.kind, 'ok');
    if (whole.kind !== 'ok' || prepared.kind !== 'ok') continue;
    const posted = structuredClone(prepared.prepared);
    assert.deepEqual(signSeal(posted, key.privateKey), whole.set);
    const ams = signInput(algorithm, posted.signature.input, key.privateKey);
    const as = signInput(algorithm, sealInput(posted, ams), key.privateKey);
    assert.deepEqual(finishSeal(posted, ams, as), whole.set);
    assert.equal((await petrelValidate(prepend(message, ...whole.set.headers))).state, 'pass');
  }
  // Deterministic: sealing twice gives the same fields.
  assert.deepEqual(petrelSeal(message, { key: KEYS.list, authservId: ID, now: NOW, timestamps: true }), petrelSeal(message, { key: KEYS.list, authservId: ID, now: NOW, timestamps: true }));
});
