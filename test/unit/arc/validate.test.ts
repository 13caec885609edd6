// Chain validation (RFC 8617 section 5.2) on chains Petrel builds, and bad input: gaps, duplicates, i=0, i>50,
// sets out of header order, missing fields, garbage tags, 50 and more sets. The right verdict, bounded work.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import { BodyHashSet, bodyHashSpecs, signInput, splitHeaderFields, splitMessage } from '../../../protocol/dkim/index.js';
import { arcAuthResult, arcBodyHashSpecs, finishSeal, prepareSeal, sealInput, validateChain } from '../../../protocol/arc/index.js';
import { authResultsField } from '../../../protocol/authres/index.js';
import {
  countingResolver,
  crlf,
  FIXTURE,
  hop,
  KEYS,
  keyFixture,
  MESSAGES,
  NOW,
  petrelSeal,
  petrelValidate,
  PORTS,
  prepend,
  removeField,
  replaceField,
  rsaKey,
  streamHash,
} from './common.js';

const T = { timeout: 120_000 };

async function chainOf(n: number, message: Buffer = MESSAGES.plain as Buffer): Promise<Buffer> {
  const keys = [KEYS.list, KEYS.forwarder, KEYS.gateway];
  for (let i = 0; i < n; i++) message = await hop(message, keys[i % keys.length] as (typeof keys)[number]);
  return message;
}

const text = (m: Buffer) => m.toString('latin1');
const bytes = (s: string) => Buffer.from(s, 'latin1');

test('no ARC field is none; a chain of one, two and three sets passes with its domains in chain order', T, async () => {
  const none = await petrelValidate(MESSAGES.plain as Buffer);
  assert.deepEqual({ state: none.state, code: none.code, instances: none.instances, domains: none.domains }, { state: 'none', code: 'no_chain', instances: 0, domains: [] });
  for (let n = 1; n <= 3; n++) {
    const v = await petrelValidate(await chainOf(n));
    assert.equal(v.state, 'pass', v.reason);
    assert.equal(v.instances, n);
    assert.deepEqual(v.domains, ['lists.example.org', 'fwd.example.net', 'gw.example.com'].slice(0, n));
    assert.equal(v.state === 'pass' && v.oldestPass, 1);
    assert.equal(v.sets[n - 1]?.cv, n === 1 ? 'none' : 'pass');
    assert.match(v.sets[0]?.results ?? '', /^mx\.lists\.example\.org; arc=none; spf=pass/);
  }
});

test('oldest pass: a hop that changes the body breaks older AMSes but not the chain', T, async () => {
  const footer = (m: Buffer) => Buffer.concat([m, Buffer.from('-- \r\nList footer\r\n')]);
  const one = await chainOf(1);
  const two = await hop(one, KEYS.forwarder, footer);
  const three = await hop(two, KEYS.gateway);
  const v = await petrelValidate(three);
  assert.equal(v.state, 'pass', v.reason);
  assert.equal(v.state === 'pass' && v.oldestPass, 2);
  assert.deepEqual(arcAuthResult(v, { remoteIp: '192.0.2.7' }), {
    method: 'arc',
    result: 'pass',
    comment: 'i=3',
    properties: [
      { ptype: 'header', property: 'oldest-pass', value: '2' },
      { ptype: 'smtp', property: 'remote-ip', value: '192.0.2.7' },
    ],
  });
  const all = await petrelValidate(await chainOf(2));
  // RFC 8617 section 6: 0 when every AMS verifies.
  assert.equal(arcAuthResult(all).properties?.[0]?.value, '0');
  assert.match(authResultsField('mx.test', [arcAuthResult(all)]), /arc=pass \(i=2\) header\.oldest-pass=0/);
  const failed = await petrelValidate(Buffer.concat([three, Buffer.from('more\r\n')]));
  const entry = arcAuthResult(failed);
  assert.equal(entry.result, 'fail');
  assert.match(entry.reason ?? '', /body hash/);
  assert.equal(arcAuthResult(await petrelValidate(MESSAGES.plain as Buffer)).result, 'none');
});

test('gaps, duplicates, i=0, i>50, missing fields: fail with the cause and the instance', T, async () => {
  const chain = text(await chainOf(3));
  const field = (start: string) => new RegExp(`^${start}[^\\r]*(?:\\r\\n[ \\t][^\\r]*)*\\r\\n`, 'm').exec(chain)?.[0] as string;
  const set2 = ['ARC-Seal: i=2;', 'ARC-Message-Signature: i=2;', 'ARC-Authentication-Results: i=2;'].map(field);
  const cases: [string, string, string, number | undefined][] = [
    ['gap', set2.reduce((t, f) => t.replace(f, ''), chain), 'missing', 2],
    ['duplicated seal', field('ARC-Seal: i=1;') + chain, 'duplicate', 1],
    ['duplicated AAR, altered', field('ARC-Authentication-Results: i=3;').replace('arc=pass', 'arc=none') + chain, 'duplicate', 3],
    ['i=0', chain.replace('ARC-Seal: i=1;', 'ARC-Seal: i=0;'), 'instance', undefined],
    ['i=51', chain.replace('ARC-Message-Signature: i=3;', 'ARC-Message-Signature: i=51;'), 'instance', undefined],
    ['i=999', chain.replace('ARC-Authentication-Results: i=3;', 'ARC-Authentication-Results: i=999;'), 'instance', undefined],
    ['i=-1', chain.replace('ARC-Seal: i=2;', 'ARC-Seal: i=-1;'), 'instance', undefined],
    ['i=01 is i=1 (1*2DIGIT) and then duplicates it', field('ARC-Seal: i=1;').replace('i=1;', 'i=01;') + chain, 'duplicate', 1],
    ['missing AAR', chain.replace(field('ARC-Authentication-Results: i=1;'), ''), 'missing', 1],
    ['missing AMS of the newest set', chain.replace(field('ARC-Message-Signature: i=3;'), ''), 'missing', 3],
    ['cv=none at i=2', chain.replace(/^(ARC-Seal: i=2; a=rsa-sha256; )cv=pass/m, '$1cv=none'), 'cv', 2],
    ['cv=fail at i=1', chain.replace(/^(ARC-Seal: i=1; a=rsa-sha256; )cv=none/m, '$1cv=fail'), 'cv', 1],
    ['cv=fail on the newest', chain.replace(/^(ARC-Seal: i=3; a=rsa-sha256; )cv=pass/m, '$1cv=fail'), 'chain_failed', 3],
  ];
  for (const [what, message, code, instance] of cases) {
    const dns = countingResolver();
    const v = await petrelValidate(bytes(message), { dns, now: () => NOW });
    assert.equal(v.state, 'fail', what);
    assert.equal(v.code, code, `${what}: ${v.reason}`);
    assert.equal(v.state === 'fail' ? v.failedInstance : 'x', instance, what);
    // Structure is checked before any key is fetched.
    assert.equal(dns.count, 0, what);
  }
  const set3 = ['ARC-Seal: i=3;', 'ARC-Message-Signature: i=3;', 'ARC-Authentication-Results: i=3;'].map(field);
  const two = await petrelValidate(bytes(set3.reduce((t, f) => t.replace(f, ''), chain)));
  assert.equal(two.state, 'pass', 'removing the newest set leaves a valid chain of 2');
  assert.equal(two.instances, 2);
});

test('domains: chain order, an empty element for a set whose seal is missing or unreadable', T, async () => {
  const chain = await chainOf(3);
  const noSeal2 = await petrelValidate(removeField(chain, 'ARC-Seal: i=2;'));
  assert.deepEqual(noSeal2.domains, ['lists.example.org', '', 'gw.example.com']);
  const badD = await petrelValidate(replaceField(chain, 'ARC-Seal: i=1;', (f) => f.replace('d=lists.example.org', 'd=-bad-.example')));
  assert.equal(badD.state, 'fail');
  assert.deepEqual(badD.domains, ['', 'fwd.example.net', 'gw.example.com']);
  const gap = await petrelValidate(['ARC-Seal: i=2;', 'ARC-Message-Signature: i=2;', 'ARC-Authentication-Results: i=2;'].reduce(removeField, chain));
  assert.deepEqual(gap.domains, ['lists.example.org', '', 'gw.example.com']);
  assert.equal(gap.instances, 3);
});

test('sets in any header order pass: sets are ordered by i=, not by position (RFC 8617 section 5.2)', T, async () => {
  const chain = text(await chainOf(3));
  const arcFields = [...chain.matchAll(/^ARC-[A-Za-z-]+: i=\d;[^\r]*(?:\r\n[ \t][^\r]*)*\r\n/gm)].map((m) => m[0]);
  assert.equal(arcFields.length, 9);
  let rest = chain;
  for (const f of arcFields) rest = rest.replace(f, '');
  for (const order of [[...arcFields].reverse(), [...arcFields].sort(), arcFields.filter((_, i) => i % 2 === 0).concat(arcFields.filter((_, i) => i % 2 === 1))]) {
    const v = await petrelValidate(bytes(order.join('') + rest));
    assert.equal(v.state, 'pass', v.reason);
  }
  // Below the other fields as well.
  const { header, body } = splitMessage(bytes(rest));
  const v = await petrelValidate(Buffer.concat([header, bytes(arcFields.join('')), bytes('\r\n'), body]));
  assert.equal(v.state, 'pass', v.reason);
});

test('garbage: malformed tags, junk values, binary octets, huge lists; a verdict every time', T, async () => {
  const chain = text(await chainOf(2));
  const garbage: string[] = [
    'ARC-Seal: i=1; ;;; ===; x\r\n',
    'ARC-Seal:\r\n',
    'ARC-Seal: this is not a tag list\r\n',
    'ARC-Message-Signature: i=2; a=rsa-sha256; b=!!!; bh=???; d=..; s=; h=\r\n',
    'ARC-Authentication-Results: i=\r\n',
    'ARC-Authentication-Results: (comment) i = 2 (more) ; mx.evil.example; arc=pass\r\n',
    'ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=x.example; s=s; b=' + 'A'.repeat(100_000) + '\r\n',
    'ARC-Message-Signature: i=2; h=' + Array(300).fill('from').join(':') + '\r\n',
    'arc-seal: i=1; \x00\x01\xff\xfe=\x7f\r\n',
    'ARC-Seal: i=1; i=2; cv=none\r\n',
  ];
  for (const g of garbage) {
    const v = await petrelValidate(bytes(g + chain));
    assert.equal(v.state, 'fail', JSON.stringify(g.slice(0, 60)));
  }
  // A newest AMS with a huge h= list is refused before any work.
  const huge = replaceField(bytes(chain), 'ARC-Message-Signature: i=2;', (f) => f.replace(/h=[^;]*;/, `h=${Array(300).fill('subject').join(':')};`));
  const hv = await petrelValidate(huge);
  assert.equal(hv.code, 'signature_syntax');
  // h= naming ARC-Seal on the newest AMS, h= on a seal: refused.
  const amsSeal = await petrelValidate(replaceField(bytes(chain), 'ARC-Message-Signature: i=2;', (f) => f.replace('h=from:', 'h=arc-seal:from:')));
  assert.match(amsSeal.reason, /h= includes ARC-Seal/);
  const sealH = await petrelValidate(replaceField(await chainOf(1), 'ARC-Seal: i=1;', (f) => f.replace('cv=none;', 'cv=none; h=from;')));
  assert.equal(sealH.code, 'seal_syntax');
  assert.match(sealH.reason, /h= tag/);
});

test('50 sets pass; a 51st set, or more ARC fields than 50 sets hold, fail without a key lookup', { timeout: 300_000 }, async () => {
  let message = MESSAGES.plain as Buffer;
  const keys = [KEYS.forwarder, KEYS.gateway];
  for (let i = 0; i < 50; i++) message = await hop(message, keys[i % 2] as (typeof keys)[number]);
  const dns = countingResolver();
  const started = performance.now();
  const v = await petrelValidate(message, { dns, now: () => NOW });
  const ms = performance.now() - started;
  assert.equal(v.state, 'pass', v.reason);
  assert.equal(v.instances, 50);
  assert.equal(v.domains.length, 50);
  assert.equal(v.state === 'pass' && v.oldestPass, 1);
  assert.equal(dns.count, 2, 'one lookup per key name');
  assert.ok(ms < 5000, `50 sets took ${ms} ms`);

  const top = text(message);
  const set50 = [...top.matchAll(/^ARC-[A-Za-z-]+: i=50;[^\r]*(?:\r\n[ \t][^\r]*)*\r\n/gm)].map((m) => m[0].replace('i=50;', 'i=51;'));
  const dns51 = countingResolver();
  // A whole 51st set is 153 ARC fields: refused by count; one field with i=51 is refused by its instance.
  const v51 = await petrelValidate(bytes(set50.join('') + top), { dns: dns51, now: () => NOW });
  assert.equal(v51.code, 'too_many_fields');
  const one51 = await petrelValidate(bytes(top.replace(/^ARC-Seal: i=50;/m, 'ARC-Seal: i=51;')), { dns: dns51, now: () => NOW });
  assert.equal(one51.code, 'instance');
  assert.match(one51.reason, /i=51, outside 1\.\.50/);
  assert.equal(dns51.count, 0);

  const flood = Array.from({ length: 200 }, (_, i) => `ARC-Seal: i=${(i % 50) + 1}; cv=pass; a=rsa-sha256; d=x.example; s=s; b=AAAA\r\n`).join('');
  const dnsFlood = countingResolver();
  const vf = await petrelValidate(bytes(flood + top), { dns: dnsFlood, now: () => NOW });
  assert.equal(vf.code, 'too_many_fields');
  assert.equal(dnsFlood.count, 0);
});

test('keys: 512 bits fail (RFC 8301), DNS failures are permanent (5.2.1), lookups are shared per key name', T, async () => {
  const small = generateKeyPairSync('rsa', { modulusLength: 512 });
  const p = small.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const fixture = keyFixture([KEYS.list], { 'k512._domainkey.small.example': { TXT: [[`v=DKIM1; k=rsa; p=${p}`]] } });
  const message = prepend(MESSAGES.plain as Buffer, 'Authentication-Results: mx.small.example; spf=pass smtp.mailfrom=example.com');
  const { header, body } = splitMessage(message);
  const set = new BodyHashSet([{ canon: 'relaxed', hash: 'sha256' }]);
  streamHash(body, set);
  const [bh] = set.digest();
  assert.ok(bh);
  // Our sealer refuses such a key (loadPrivateKey), so the set is signed by hand through the split API.
  const prepared = prepareSeal(splitHeaderFields(header), bh, { authservId: 'mx.small.example', domain: 'small.example', selector: 'k512', algorithm: 'rsa-sha256' });
  assert.equal(prepared.kind, 'ok');
  if (prepared.kind !== 'ok') return;
  const ams = signInput('rsa-sha256', prepared.prepared.signature.input, small.privateKey);
  const sealed = finishSeal(prepared.prepared, ams, signInput('rsa-sha256', sealInput(prepared.prepared, ams), small.privateKey));
  const v = await petrelValidate(prepend(message, ...sealed.headers), { dns: createFixtureResolver(fixture), now: () => NOW });
  assert.equal(v.code, 'key');
  assert.match(v.reason, /512-bit key is below 1024 bits/);
  // The same set with the 1024-bit minimum lowered verifies: the refusal is the key size, nothing else.
  const lowered = await petrelValidate(prepend(message, ...sealed.headers), { dns: createFixtureResolver(fixture), now: () => NOW }, { minRsaBits: 512 });
  assert.equal(lowered.state, 'pass', lowered.reason);

  const chain = await chainOf(2);
  for (const failure of ['SERVFAIL', 'TIMEOUT', 'NXDOMAIN'] as const) {
    const f = { ...FIXTURE, 'arc1024._domainkey.fwd.example.net': failure };
    const r = await petrelValidate(chain, { dns: createFixtureResolver(f), now: () => NOW });
    assert.equal(r.state, 'fail', failure);
    assert.equal(r.code, 'key', failure);
  }
  const thrower = { lookup: async () => Promise.reject(new Error('socket closed')) };
  const thrown = await petrelValidate(chain, { dns: thrower, now: () => NOW });
  assert.equal(thrown.code, 'key');
  const dns = countingResolver();
  await petrelValidate(chain, { dns, now: () => NOW });
  assert.deepEqual([...new Set(dns.names)].sort(), dns.names.slice().sort(), 'no name looked up twice');
});

test('the clock: only the newest AMS x= matters; t= in the past or future does not', T, async () => {
  const message = prepend(MESSAGES.plain as Buffer, 'Authentication-Results: mx.test; spf=pass smtp.mailfrom=example.com');
  const sealed = petrelSeal(message, { key: KEYS.list, authservId: 'mx.test', now: NOW, timestamps: true, expiresIn: 3600 });
  const at = async (ms: number) => (await petrelValidate(sealed, { dns: PORTS.dns, now: () => ms })).state;
  assert.equal(await at(NOW), 'pass');
  assert.equal(await at(NOW + 3599_000), 'pass');
  assert.equal(await at(NOW + 3601_000), 'fail');
  assert.equal(await at(0), 'pass');
  const plain = await chainOf(1);
  assert.equal((await petrelValidate(plain, { dns: PORTS.dns, now: () => Date.UTC(2200, 0, 1) })).state, 'pass');
});

test('body hashes: ARC and DKIM share one BodyHashSet; specs come from every AMS, newest first, bounded', T, async () => {
  const chain = await chainOf(2);
  const fields = splitHeaderFields(splitMessage(chain).header);
  assert.deepEqual(arcBodyHashSpecs(fields), [{ canon: 'relaxed', hash: 'sha256' }]);
  const shared = new BodyHashSet([...bodyHashSpecs(fields), ...arcBodyHashSpecs(fields), { canon: 'relaxed', hash: 'sha256' }]);
  assert.equal(shared.size, 1);
  // Older AMSes with other canonicalizations add specs (for oldest pass), the newest first.
  const mixed = replaceField(chain, 'ARC-Message-Signature: i=1;', (f) => f.replace('c=relaxed/relaxed', 'c=simple/simple; l=5'));
  const specs = arcBodyHashSpecs(splitHeaderFields(splitMessage(mixed).header));
  assert.deepEqual(specs, [{ canon: 'relaxed', hash: 'sha256' }, { canon: 'simple', hash: 'sha256', limit: 5 }]);
  assert.equal(arcBodyHashSpecs(splitHeaderFields(splitMessage(mixed).header), { maxBodyHashes: 1 }).length, 1);
  // A body hash left out (not computed): the newest AMS cannot pass.
  const v = await validateChain(fields, [], PORTS);
  assert.equal(v.code, 'no_body_hash');
  assert.equal(arcBodyHashSpecs(splitHeaderFields(splitMessage(MESSAGES.plain as Buffer).header)).length, 0);
});

test('ed25519-sha256 seals (RFC 8463 signing, as protocol/dkim) validate, alone and mixed with RSA', T, async () => {
  let m = await hop(MESSAGES.utf8 as Buffer, KEYS.ed);
  m = await hop(m, KEYS.list);
  m = await hop(m, KEYS.ed);
  const v = await petrelValidate(m);
  assert.equal(v.state, 'pass', v.reason);
  assert.deepEqual(v.domains, ['ed.example.org', 'lists.example.org', 'ed.example.org']);
});

test('a key record of the wrong type, revoked, or for another service fails', T, async () => {
  const chain = await chainOf(1);
  const other = rsaKey('lists.example.org', 'arc2048', 1024);
  for (const record of ['v=DKIM1; k=ed25519; p=' + 'A'.repeat(43) + '=', 'v=DKIM1; p=', `v=DKIM1; s=other; p=${other.txt.join('').split('p=')[1]}`, other.txt.join('')]) {
    const fixture = { ...FIXTURE, 'arc2048._domainkey.lists.example.org': { TXT: [[record]] } };
    const v = await petrelValidate(chain, { dns: createFixtureResolver(fixture), now: () => NOW });
    assert.equal(v.state, 'fail', record.slice(0, 30));
  }
});

test('CRLF handling: a message whose header section uses bare LF is read as CRLF', T, async () => {
  const chain = await chainOf(1);
  const { header, body } = splitMessage(chain);
  const lf = Buffer.concat([Buffer.from(header.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), Buffer.from('\n'), body]);
  assert.equal((await petrelValidate(lf)).state, 'pass');
  assert.equal((await petrelValidate(crlf('ARC-Seal: i=1\n\nbody\n'))).state, 'fail');
});
