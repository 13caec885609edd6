// DKIM signing (RFC 6376 sections 3.5, 5.4, 5.4.2; RFC 8301) and the tag-list reader (section 3.2): the
// field Petrel writes, its options and refusals, and the prepare/sign split used by the worker pool.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import {
  createBodyHasher,
  DEFAULT_SIGNED_HEADERS,
  finishSignature,
  hashBody,
  loadPrivateKey,
  parseSignature,
  parseTagList,
  prepareSignature,
  signInput,
  signMessage,
  splitHeaderFields,
  splitMessage,
  stripSignatureValue,
  relaxedField,
} from '../../../protocol/dkim/index.js';
import type { BodyHashResult, DkimSignature } from '../../../protocol/dkim/index.js';
import { DOMAIN, keyFixture, KEYS, MESSAGES, petrelSign, petrelVerify } from './common.js';

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const ports = { dns: createFixtureResolver(keyFixture([KEYS.rsa, KEYS.ed])), now: () => NOW };
const message = MESSAGES.messy as Buffer;
const { header, body } = splitMessage(message);
const fields = splitHeaderFields(header);
const relaxedHash = hashBody(body, [{ canon: 'relaxed', hash: 'sha256' }])[0] as BodyHashResult;

function sigOf(signed: Buffer): DkimSignature {
  const end = signed.indexOf('\r\nFrom:');
  const parsed = parseSignature(signed.subarray(0, end).toString('latin1'));
  assert.equal(parsed.kind, 'ok');
  return (parsed as { sig: DkimSignature }).sig;
}

test('tag lists: whitespace, folding, unknown tags, a final ";", duplicates and bad names', () => {
  const ok = parseTagList(' v=1;\r\n\ta = rsa-sha256 ;  unknown= what ever ; b=ab\r\n cd ;');
  assert.equal(ok.kind, 'ok');
  if (ok.kind !== 'ok') return;
  assert.deepEqual([...ok.tags], [['v', '1'], ['a', 'rsa-sha256'], ['unknown', 'what ever'], ['b', 'ab cd']]);
  assert.equal(parseTagList('a=1; A=2').kind, 'ok', 'tags are case-sensitive');
  assert.equal(parseTagList('a=1; a=2').kind, 'error');
  assert.equal(parseTagList('a=1; b').kind, 'error');
  assert.equal(parseTagList('_a=1').kind, 'error');
  assert.equal(parseTagList('a=1\r\nb=2').kind, 'error', 'a line break that is not folding');
  assert.equal(parseTagList('a=x\u0001y').kind, 'error');
  assert.equal(parseTagList('').kind, 'ok');
  assert.equal(parseTagList('__proto__=1').kind, 'error');
  const proto = parseTagList('constructor=1; toString=2');
  assert.equal(proto.kind === 'ok' && proto.tags.get('constructor'), '1');
});

test('header canonicalization and removing the b= value', () => {
  assert.equal(relaxedField('SubJect :  A \t B\r\n\t C  '), 'subject:A B C');
  assert.equal(relaxedField('X-Empty:'), 'x-empty:');
  assert.equal(
    stripSignatureValue('DKIM-Signature: v=1; bh=abc=; b=AAA\r\n BBB ; d=x'),
    'DKIM-Signature: v=1; bh=abc=; b=; d=x',
  );
  assert.equal(stripSignatureValue('DKIM-Signature: a=1;\r\n b =\r\n AAA'), 'DKIM-Signature: a=1;\r\n b =');
});

test('the default field is relaxed/relaxed, rsa-sha256, From oversigned, folded under 78 octets', async () => {
  const signed = petrelSign(message, { key: KEYS.rsa, now: NOW });
  const text = signed.subarray(0, signed.indexOf('\r\nFrom:')).toString('latin1');
  for (const line of text.split('\r\n')) assert.ok(line.length <= 78, line);
  assert.match(text, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;/);
  const sig = sigOf(signed);
  assert.equal(sig.timestamp, NOW / 1000);
  assert.equal(sig.expiration, undefined);
  // Present fields from the default list, in list order, then one extra From.
  assert.deepEqual(sig.headers, ['from', 'subject', 'date', 'to', 'mime-version', 'content-type', 'from']);
  assert.ok(!sig.headers.includes('x-unsigned'));
  assert.equal((await petrelVerify(signed, ports)).signatures[0]?.status, 'pass');
  assert.ok(DEFAULT_SIGNED_HEADERS.includes('message-id'));
});

test('options: oversign all, explicit header lists, identity, x=, l=, q=, spaced h=', async () => {
  const all = sigOf(petrelSign(message, { key: KEYS.ed, oversign: true, headers: ['From', 'To', 'Cc', 'Subject'] }));
  assert.deepEqual(all.headers, ['From', 'To', 'Subject', 'From', 'To', 'Cc', 'Subject']);
  assert.equal(all.timestamp, undefined, 'no t= without a clock');

  const none = sigOf(petrelSign(message, { key: KEYS.ed, oversign: false, headers: ['from', 'subject'] }));
  assert.deepEqual(none.headers, ['from', 'subject']);

  const some = petrelSign(message, { key: KEYS.rsa, oversign: ['subject', 'reply-to'], now: NOW, expiresIn: 600, identity: 'J\u00f6rg Smith@news.example.org', queryMethod: true, spacedHeaderList: true });
  const sig = sigOf(some);
  assert.equal(sig.identity, 'J\u00f6rg Smith@news.example.org');
  assert.equal(sig.expiration, NOW / 1000 + 600);
  assert.ok(sig.headers.slice(-2).join() === 'subject,reply-to');
  assert.match(some.toString('latin1'), /i=J=C3=B6rg=20Smith@news\.example\.org;/);
  assert.match(some.toString('latin1'), /q=dns\/txt;/);
  assert.match(some.toString('latin1'), /h=from : subject : /);
  const verified = (await petrelVerify(some, ports)).signatures[0];
  assert.equal(verified?.status, 'pass', verified?.reason);

  // l=: the hasher's limit becomes l= as the number of octets actually hashed.
  const hasher = createBodyHasher('simple', 'sha256', 20);
  hasher.update(body);
  const limited = signMessage(fields, hasher.digest(), { domain: DOMAIN, selector: KEYS.rsa.selector, privateKey: KEYS.rsa.pem, canon: 'relaxed/simple' });
  assert.equal(limited.kind, 'ok');
  if (limited.kind !== 'ok') return;
  const withTail = Buffer.concat([Buffer.from(`${limited.header}\r\n`), message, Buffer.from('added by a list\r\n')]);
  const r = (await petrelVerify(withTail, ports)).signatures[0];
  assert.equal(r?.status, 'pass', r?.reason);
  assert.equal(r?.bodyLength, 20);
  assert.equal(r?.unsignedTrailingContent, true);
});

test('signing refuses bad options and keys with a coded error, never an exception', () => {
  const opts = { domain: DOMAIN, selector: 'sel', privateKey: KEYS.rsa.pem };
  const cases: [object, string, string][] = [
    [{ domain: 'bad domain' }, 'DKIM_SIGN_OPTIONS', 'invalid signing domain'],
    [{ selector: '' }, 'DKIM_SIGN_OPTIONS', 'invalid selector'],
    [{ identity: 'joe@evil.example' }, 'DKIM_SIGN_OPTIONS', 'is not within'],
    [{ timestamp: true }, 'DKIM_SIGN_OPTIONS', 'need the current time'],
    [{ expiresIn: 60 }, 'DKIM_SIGN_OPTIONS', 'need the current time'],
    [{ now: NOW, expiresIn: -5 }, 'DKIM_SIGN_OPTIONS', 'positive'],
    [{ headerList: ['to', 'subject'] }, 'DKIM_SIGN_OPTIONS', 'must include From'],
    [{ headerList: ['from', 'bad name'] }, 'DKIM_SIGN_OPTIONS', 'invalid field name'],
    [{ canon: 'relaxed/simple' }, 'DKIM_SIGN_OPTIONS', 'body hash is relaxed/sha256'],
    [{ algorithm: 'ed25519-sha256' }, 'DKIM_SIGN_OPTIONS', 'does not match'],
    [{ privateKey: 'not a key' }, 'DKIM_SIGN_KEY', 'cannot read'],
    [{ privateKey: generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey }, 'DKIM_SIGN_KEY', 'below 1024'],
    [{ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }, 'DKIM_SIGN_KEY', 'unsupported key type'],
    [{ privateKey: generateKeyPairSync('ed25519').publicKey }, 'DKIM_SIGN_KEY', 'not a private key'],
  ];
  for (const [extra, code, text] of cases) {
    const r = signMessage(fields, relaxedHash, { ...opts, ...extra });
    assert.equal(r.kind, 'error', JSON.stringify(extra));
    if (r.kind !== 'error') continue;
    assert.equal(r.code, code);
    assert.ok(r.reason.includes(text), `${r.reason} should say ${text}`);
  }
  const noFrom = signMessage(splitHeaderFields('Subject: x\r\n'), relaxedHash, opts);
  assert.equal(noFrom.kind === 'error' && noFrom.reason, 'the message has no From field');
  const sha1Body = hashBody(body, [{ canon: 'relaxed', hash: 'sha1' }])[0] as BodyHashResult;
  assert.equal(signMessage(fields, sha1Body, opts).kind, 'error');
});

test('prepare/sign split: plain data in, plain data out, same field as signMessage', () => {
  for (const key of [KEYS.rsa, KEYS.ed]) {
    const loaded = loadPrivateKey(key.pem);
    assert.equal(loaded.kind, 'ok');
    if (loaded.kind !== 'ok') return;
    const opts = { domain: DOMAIN, selector: key.selector, now: NOW, algorithm: loaded.algorithm };
    const prepared = prepareSignature(fields, relaxedHash, opts);
    assert.equal(prepared.kind, 'ok');
    if (prepared.kind !== 'ok') return;
    // What crosses to a worker thread: the structured clone of the prepared data (Buffer arrives as Uint8Array).
    const cloned = structuredClone(prepared.prepared);
    assert.ok(cloned.template.endsWith('b='));
    assert.equal(cloned.input.length, loaded.algorithm === 'ed25519-sha256' ? 32 : prepared.prepared.input.length);
    const b64 = signInput(cloned.algorithm, cloned.input, loaded.key);
    const direct = signMessage(fields, relaxedHash, { ...opts, privateKey: key.pem });
    assert.equal(direct.kind === 'ok' && direct.header, finishSignature(cloned.template, b64));
    assert.equal(prepared.header(b64), finishSignature(cloned.template, b64));
  }
});

test('loadPrivateKey reads PKCS#1, PKCS#8, a KeyObject and the bare RFC 8463 seed', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  assert.equal(loadPrivateKey(rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString()).kind, 'ok');
  assert.equal(loadPrivateKey(rsa.privateKey.export({ format: 'pem', type: 'pkcs8' })).kind, 'ok');
  assert.equal(loadPrivateKey(rsa.privateKey).kind, 'ok');
  const seed = loadPrivateKey('nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=');
  assert.equal(seed.kind === 'ok' && seed.algorithm, 'ed25519-sha256');
});
