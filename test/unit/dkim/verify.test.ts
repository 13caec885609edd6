// DKIM verification against bad input (RFC 6376 sections 3.5, 3.6.1, 6.1; RFC 8301): each gives the right result,
// never an exception, with bounded work: malformed and duplicate tags, bad base64, small keys, unknown algorithms,
// absent h= fields, many signatures, l= beyond the body, expiry and the key record's flags.
import assert from 'node:assert/strict';
import { createHash, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { FieldIndex, headerHashInput, toField } from '../../../protocol/dkim/fields.js';
import { bodyHashSpecs, hashBody, splitHeaderFields, splitMessage } from '../../../protocol/dkim/index.js';
import type { Canon, DkimCode, DkimResult, DkimStatus, VerifyOptions } from '../../../protocol/dkim/index.js';
import { countingResolver, DOMAIN, keyFixture, KEYS, mailauthResolver, MESSAGES, petrelVerify, rsaKey, txtStrings } from './common.js';

/** The RSA test key's record with one piece of text replaced. */
const rsaVariant = (from: string, to: string): string[] => txtStrings(KEYS.rsa.txt.join('').replace(from, to));

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;
const SMALL = rsaKey('small', 512);
const message = MESSAGES.plain as Buffer;

const fixture: DnsFixture = keyFixture([KEYS.rsa, KEYS.ed, SMALL], {
  [`revoked._domainkey.${DOMAIN}`]: { TXT: [['v=DKIM1; k=rsa; p=']] },
  [`timeout._domainkey.${DOMAIN}`]: 'TIMEOUT',
  [`servfail._domainkey.${DOMAIN}`]: 'SERVFAIL',
  [`edtype._domainkey.${DOMAIN}`]: { TXT: [KEYS.ed.txt] },
  [`sha1only._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('k=rsa;', 'k=rsa; h=sha1;')] },
  [`service._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('k=rsa;', 'k=rsa; s=other;')] },
  [`strict._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('k=rsa;', 'k=rsa; t=s;')] },
  [`testing._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('k=rsa;', 'k=rsa; t=y:s;')] },
  [`v2._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('v=DKIM1', 'v=DKIM2')] },
  [`vlate._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('v=DKIM1; k=rsa;', 'k=rsa; v=DKIM1;')] },
  [`badp._domainkey.${DOMAIN}`]: { TXT: [['v=DKIM1; k=rsa; p=MIIB!!notbase64']] },
  [`junkder._domainkey.${DOMAIN}`]: { TXT: [['v=DKIM1; k=rsa; p=AAAAAAAA']] },
  [`unknownk._domainkey.${DOMAIN}`]: { TXT: [['v=DKIM1; k=dsa; p=AAAA']] },
  [`rsawrongk._domainkey.${DOMAIN}`]: { TXT: [rsaVariant('k=rsa;', 'k=ed25519;')] },
  [`twokeys._domainkey.${DOMAIN}`]: { TXT: [['v=spf1 -all'], KEYS.rsa.txt] },
});
const ports = { dns: createFixtureResolver(fixture), now: () => NOW };

interface Craft {
  /** Tags before b=; {bh} is replaced by the right body hash. */
  tags: string;
  key?: KeyObject;
  alg?: 'rsa-sha256' | 'rsa-sha1' | 'ed25519-sha256';
  h?: string[];
  canon?: Canon;
  msg?: Buffer;
  /** Replaces the computed signature. */
  b?: string;
}

/** A message with a DKIM-Signature built from raw tags and signed correctly, so only the tested fault is wrong. */
function craft(c: Craft): Buffer {
  const msg = c.msg ?? message;
  const { header, body } = splitMessage(msg);
  const alg = c.alg ?? 'rsa-sha256';
  const hash = alg === 'rsa-sha1' ? 'sha1' : 'sha256';
  const bh = hashBody(body, [{ canon: c.canon ?? 'relaxed', hash }])[0]?.bh ?? '';
  const template = `DKIM-Signature: ${c.tags.replace('{bh}', bh)} b=`;
  const index = new FieldIndex(splitHeaderFields(header).map(toField));
  const input = headerHashInput(index, index.select(c.h ?? ['from', 'subject']), template, c.canon ?? 'relaxed');
  const key = c.key ?? KEYS.rsa.privateKey;
  const b = c.b ?? (alg === 'ed25519-sha256' ? sign(null, createHash('sha256').update(input).digest(), key) : sign(hash, input, key)).toString('base64');
  return Buffer.concat([Buffer.from(`${template}${b}\r\n`, 'latin1'), msg]);
}

const base = (s = 'rsa2048', extra = ''): string => `v=1; a=rsa-sha256; c=relaxed/relaxed; d=${DOMAIN}; s=${s}; h=from:subject;${extra} bh={bh};`;

async function check(msg: Buffer, status: DkimStatus, code: DkimCode, opts: VerifyOptions = {}): Promise<DkimResult> {
  const out = await petrelVerify(msg, ports, opts);
  assert.equal(out.signatures.length, 1);
  const r = out.signatures[0] as DkimResult;
  assert.equal(`${r.status} ${r.code}`, `${status} ${code}`, r.reason);
  return r;
}

test('a correctly crafted signature passes (the baseline for the faults below)', async () => {
  const r = await check(craft({ tags: base() }), 'pass', 'ok');
  assert.equal(r.keyLength, 2048);
  assert.deepEqual(r.exim, { status: 'pass', reason: '' });
  await check(craft({ tags: `v=1; a=ed25519-sha256; d=${DOMAIN}; s=ed; h=from:subject; bh={bh};`, alg: 'ed25519-sha256', key: KEYS.ed.privateKey, canon: 'simple' }), 'pass', 'ok');
});

test('malformed tag lists, duplicate tags and bad base64 are neutral, never exceptions', async () => {
  const cases: [string, DkimCode][] = [
    [`v=1; a=rsa-sha256; d ${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; 1d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=!!!!`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AA=A; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=A`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; x=soon`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; l=-1`, 'syntax'],
    [`v=1; a=rsa-sha256; d=exa mple.org; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa_2048!; h=from; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from::to; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=${Array(300).fill('from').join(':')}; bh=AAAA; b=AAAA`, 'syntax'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; i=bad=ZZ@${DOMAIN}`, 'syntax'],
    ['\u0000\u00ff garbage ;;; ===', 'syntax'],
    ['', 'missing_tag'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; h=from; bh=AAAA; b=AAAA`, 'missing_tag'],
    [`v=2; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'version'],
    [`v=1; a=rsa-sha512; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'algorithm'],
    [`v=1; a=ed448-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'algorithm'],
    [`v=1; a=hmac-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'algorithm'],
    [`v=1; a=rsa-sha256; c=relaxed/fancy; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'canonicalization'],
    [`v=1; a=rsa-sha256; q=http/well-known; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA`, 'query_method'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=to:subject; bh=AAAA; b=AAAA`, 'from_not_signed'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; i=joe@evil.example`, 'identity_mismatch'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; i=joe@not${DOMAIN}`, 'identity_mismatch'],
    [`v=1; a=rsa-sha256; d=${DOMAIN}; s=rsa2048; h=from; bh=AAAA; b=AAAA; t=200; x=100`, 'timestamps'],
  ];
  for (const [value, code] of cases) {
    const msg = Buffer.concat([Buffer.from(`DKIM-Signature: ${value}\r\n`, 'latin1'), message]);
    const r = await check(msg, 'neutral', code);
    assert.equal(r.exim.status, 'invalid');
  }
});

test('RSA keys under 1024 bits fail (RFC 8301); so do they in mailauth', async () => {
  const msg = craft({ tags: base('small'), key: SMALL.privateKey });
  const r = await check(msg, 'fail', 'key_too_small');
  assert.equal(r.keyLength, 512);
  assert.equal(r.exim.status, 'fail');
  const ma = await dkimVerify(msg, { resolver: mailauthResolver(fixture), curTime: new Date(NOW) });
  assert.notEqual(ma.results[0]?.status.result, 'pass');
  // A lower minimum is a policy choice the caller can make.
  await check(msg, 'pass', 'ok', { minRsaBits: 512 });
});

test('fields named in h= but absent count as empty; adding one later breaks the signature', async () => {
  const msg = craft({ tags: `v=1; a=rsa-sha256; c=relaxed/relaxed; d=${DOMAIN}; s=rsa2048; h=from:subject:x-absent:from; bh={bh};`, h: ['from', 'subject', 'x-absent', 'from'] });
  const r = await check(msg, 'pass', 'ok');
  assert.deepEqual(r.headersSigned, ['from', 'subject', 'x-absent', 'from']);
  const { header } = splitMessage(msg);
  const added = Buffer.concat([msg.subarray(0, header.length), Buffer.from('X-Absent: now present\r\n'), msg.subarray(header.length)]);
  await check(added, 'fail', 'signature_incorrect');
  const addedFrom = Buffer.concat([Buffer.from('From: second@evil.example\r\n'), msg]);
  await check(addedFrom, 'fail', 'signature_incorrect');
});

test('at most 50 signatures are evaluated; one DNS lookup per key name; bounded body hashes', async () => {
  const one = craft({ tags: base() });
  const { header } = splitMessage(one);
  const sigField = one.subarray(0, one.indexOf('\r\nFrom:') + 2);
  const many = Buffer.concat([...Array.from({ length: 60 }, () => sigField), one.subarray(sigField.length)]);
  const dns = countingResolver(fixture);
  const started = Date.now();
  const out = await petrelVerify(many, { dns, now: () => NOW });
  assert.equal(out.signatures.length, 50);
  assert.equal(out.skipped, 10);
  assert.ok(out.signatures.every((r) => r.status === 'pass'));
  assert.equal(dns.count, 1);
  assert.ok(header.length > 0);

  // 60 signatures with distinct selectors and distinct l=: at most 50 lookups, at most 8 body hashes.
  const fields: Buffer[] = [];
  for (let i = 0; i < 60; i++) fields.push(Buffer.from(`DKIM-Signature: v=1; a=rsa-sha256; d=${DOMAIN}; s=sel${i}; h=from; l=${i}; bh=AAAA; b=AAAA\r\n`));
  const distinct = Buffer.concat([...fields, message]);
  const specs = bodyHashSpecs(splitHeaderFields(splitMessage(distinct).header));
  assert.equal(specs.length, 8);
  const dns2 = countingResolver(fixture);
  const out2 = await petrelVerify(distinct, { dns: dns2, now: () => NOW });
  assert.equal(out2.signatures.length, 50);
  assert.equal(dns2.count, 0, 'body hashes do not match, so no key is fetched');
  assert.equal(out2.signatures.filter((r) => r.code === 'no_body_hash').length, 42);
  assert.ok(Date.now() - started < 5000);
});

test('l= larger than the body is a permerror; within the body it passes and flags the unsigned tail', async () => {
  const { body } = splitMessage(message);
  await check(craft({ tags: base('rsa2048', ` l=${body.length + 10};`) }), 'permerror', 'body_length');
  await check(craft({ tags: base('rsa2048', ' l=99999999999999999999999999999;') }), 'permerror', 'body_length');
  const exact = await check(craft({ tags: base('rsa2048', ` l=${body.length};`) }), 'pass', 'ok');
  assert.equal(exact.unsignedTrailingContent, false);
});

test('x= in the past, t= in the future, sha1 and its acceptance', async () => {
  const past = await check(craft({ tags: base('rsa2048', ` t=${NOW_S - 7200}; x=${NOW_S - 3600};`) }), 'policy', 'expired');
  assert.equal(past.expiration, NOW_S - 3600);
  await check(craft({ tags: base('rsa2048', ` t=${NOW_S - 7200}; x=${NOW_S + 3600};`) }), 'pass', 'ok');
  await check(craft({ tags: base('rsa2048', ` t=${NOW_S + 3600};`) }), 'policy', 'future');
  await check(craft({ tags: base('rsa2048', ` t=${NOW_S + 60};`) }), 'pass', 'ok');

  const sha1 = craft({ tags: `v=1; a=rsa-sha1; c=relaxed/relaxed; d=${DOMAIN}; s=rsa2048; h=from:subject; bh={bh};`, alg: 'rsa-sha1' });
  const weak = await check(sha1, 'pass', 'ok');
  assert.equal(weak.hash, 'sha1');
  assert.equal(weak.weak, true);
  await check(sha1, 'policy', 'hash_not_accepted', { hashes: ['sha256'] });
});

test('key records: absent, revoked, unreachable, mismatched, restricted, malformed', async () => {
  const cases: [string, DkimStatus, DkimCode][] = [
    ['nokey', 'permerror', 'key_unavailable'],
    ['revoked', 'permerror', 'key_revoked'],
    ['timeout', 'temperror', 'key_temperror'],
    ['servfail', 'temperror', 'key_temperror'],
    ['edtype', 'permerror', 'key_type'],
    ['sha1only', 'permerror', 'key_hash'],
    ['service', 'permerror', 'key_service'],
    ['v2', 'permerror', 'key_syntax'],
    ['vlate', 'permerror', 'key_syntax'],
    ['badp', 'permerror', 'key_der'],
    ['junkder', 'permerror', 'key_der'],
    ['unknownk', 'permerror', 'key_type'],
    ['rsawrongk', 'permerror', 'key_der'],
    ['twokeys', 'pass', 'ok'],
    ['strict', 'pass', 'ok'],
  ];
  for (const [selector, status, code] of cases) await check(craft({ tags: base(selector) }), status, code);
  const strictSub = craft({ tags: base('strict', ` i=joe@sub.${DOMAIN};`) });
  await check(strictSub, 'permerror', 'key_strict');
  const testing = await check(craft({ tags: base('testing') }), 'pass', 'ok');
  assert.equal(testing.testing, true);
  const unavailable = await check(craft({ tags: base('nokey') }), 'permerror', 'key_unavailable');
  assert.deepEqual(unavailable.exim, { status: 'invalid', reason: 'pubkey_unavailable' });
});

test('a DNS port that throws is a temperror, not a crash', async () => {
  const dns = { lookup: async () => Promise.reject(new Error('socket closed')) };
  const out = await petrelVerify(craft({ tags: base() }), { dns, now: () => NOW });
  assert.equal(out.signatures[0]?.status, 'temperror');
});

test('random corruption of a signature field never throws and gives a known result', async () => {
  const good = craft({ tags: base('rsa2048', ` i=@${DOMAIN}; t=${NOW_S}; x=${NOW_S + 100};`) });
  const end = good.indexOf('\r\nFrom:');
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const statuses = new Set<string>();
  const noise = ';=: \t\r\n"(),\u0000\u00ffab09+/';
  for (let round = 0; round < 400; round++) {
    const copy = Buffer.from(good);
    for (let k = 1 + rand(4); k > 0; k--) copy[16 + rand(end - 16)] = noise.charCodeAt(rand(noise.length)) & 0xff;
    const out = await petrelVerify(copy, ports);
    for (const r of out.signatures) {
      assert.ok(['pass', 'fail', 'neutral', 'policy', 'permerror', 'temperror'].includes(r.status));
      statuses.add(r.status);
    }
  }
  assert.ok(statuses.has('neutral') && statuses.has('fail'));
});
