// The signing options of the smtp transport (Exim's dkim_* and arc_sign): defaults, pairing of lists, keys
// read and checked at load with errors naming the key, arc_sign's options; and the h= lists Exim's
// dkim_sign_headers rules give.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildConfig } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import { ARC_DEFAULT_EXPIRE, EXIM_SIGN_HEADERS, splitSigningList } from '../../config/signing.js';
import { eximHeaderList, HeaderSplitter } from '../../actors/delivery/signer.js';
import { splitHeaderFields } from '../../protocol/dkim/index.js';
import { writeKey } from './common.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-signing-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const rsa = writeKey(dir, 'example.org', 'rsa', 'rsa');
const ed = writeKey(dir, 'example.org', 'ed', 'ed25519');

function load(transport: Record<string, unknown>): ReturnType<typeof buildConfig> {
  return buildConfig({ smtp_transport: transport }, '/etc/petrel/test.json', dir);
}

function problems(transport: Record<string, unknown>): string[] {
  try {
    load(transport);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
    return [...e.problems];
  }
  assert.fail('the config loaded');
}

test('no signing by default; the defaults are Exim\'s (relaxed, sha256, the RFC 4871 list, not strict)', () => {
  const c = buildConfig({}, '(embedded default)', dir);
  assert.deepEqual(c.smtp_transport.signing, { dkim: [], strict: false });
  assert.equal(c.smtp_transport.dkim_canon, 'relaxed');
  assert.equal(c.smtp_transport.dkim_hash, 'sha256');
  const one = load({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file });
  const s = one.smtp_transport.signing.dkim;
  assert.equal(s.length, 1);
  assert.equal(s[0]?.canon, 'relaxed/relaxed');
  assert.equal(s[0]?.key.algorithm, 'rsa-sha256');
  assert.equal(s[0]?.key.bits, 2048);
  assert.equal(s[0]?.timestamps, undefined);
  assert.equal(s[0]?.identity, undefined);
  assert.deepEqual(s[0]?.headers.map((h) => h.name), EXIM_SIGN_HEADERS);
  assert.ok(s[0]?.headers.every((h) => h.mode === 'once'));
  assert.equal(one.smtp_transport.signing.strict, false);
  assert.equal(one.smtp_transport.signing.arc, undefined);
});

test('lists pair by position; a one-element list serves every position; $dkim_selector in a key path', () => {
  const dual = load({ dkim_domain: 'example.org', dkim_selector: 'rsa : ed', dkim_private_key: [rsa.file, ed.file] });
  assert.deepEqual(dual.smtp_transport.signing.dkim.map((d) => `${d.domain} ${d.selector} ${d.key.algorithm}`), ['example.org rsa rsa-sha256', 'example.org ed ed25519-sha256']);
  const pattern = load({ dkim_domain: 'example.org', dkim_selector: ['rsa', 'ed'], dkim_private_key: join(dir, '$dkim_selector.${dkim_domain}.pem') });
  assert.deepEqual(pattern.smtp_transport.signing.dkim.map((d) => d.key.algorithm), ['rsa-sha256', 'ed25519-sha256']);
  const two = load({ dkim_domain: 'Example.ORG : mail.example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file });
  assert.deepEqual(two.smtp_transport.signing.dkim.map((d) => `${d.domain} ${d.selector}`), ['example.org rsa', 'mail.example.org rsa']);
  // The same file is read once for both.
  assert.equal(two.smtp_transport.signing.dkim[0]?.key, two.smtp_transport.signing.dkim[1]?.key);
  const inline = load({ dkim_domain: 'example.org', dkim_selector: 'ed', dkim_private_key: ed.pem });
  assert.equal(inline.smtp_transport.signing.dkim[0]?.key.source, '(inline)');
});

test('Exim\'s "no key" values turn signing off without an error, even with dkim_strict', () => {
  for (const v of ['', '0', 'false']) {
    const c = load({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: v, dkim_strict: true });
    assert.deepEqual(c.smtp_transport.signing.dkim, [], v);
  }
});

test('every other problem is refused at load, naming the key', () => {
  const base = { dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, dkim_hash: 'sha1' }, /^smtp_transport\.dkim_hash: sha1 is refused for signing/],
    [{ ...base, dkim_hash: 'sha512' }, /^smtp_transport\.dkim_hash: "sha512" is not supported/],
    [{ ...base, dkim_private_key: join(dir, 'absent.pem') }, /^smtp_transport\.dkim_private_key: cannot read .*absent\.pem/],
    [{ ...base, dkim_private_key: join(dir, 'garbage.pem') }, /^smtp_transport\.dkim_private_key: .*garbage\.pem is not a PEM private key/],
    [{ ...base, dkim_private_key: join(dir, 'small.pem') }, /^smtp_transport\.dkim_private_key: .*is an RSA key of 512 bits, below the 1024/],
    [{ ...base, dkim_private_key: join(dir, 'ec.pem') }, /^smtp_transport\.dkim_private_key: .* is a ec key/],
    [{ ...base, dkim_private_key: join(dir, 'broken.pem') }, /^smtp_transport\.dkim_private_key: .*broken\.pem cannot sign: its signature does not verify/],
    [{ ...base, dkim_selector: undefined }, /^smtp_transport\.dkim_selector: needed with dkim_domain/],
    [{ ...base, dkim_private_key: undefined }, /^smtp_transport\.dkim_private_key: needed with dkim_domain/],
    [{ dkim_selector: 'rsa', dkim_private_key: rsa.file }, /^smtp_transport\.dkim_domain: dkim_selector and dkim_private_key need dkim_domain/],
    [{ ...base, dkim_domain: 'a.example : b.example : c.example', dkim_selector: 's1 : s2' }, /^smtp_transport\.dkim_selector: 2 selectors for 3 domains/],
    [{ ...base, dkim_selector: 'rsa : ed', dkim_private_key: [rsa.file, ed.file, rsa.file] }, /^smtp_transport\.dkim_private_key: 3 keys for 2 signatures/],
    [{ ...base, dkim_selector: 'bad selector' }, /^smtp_transport\.dkim_selector: "bad selector" is not a selector/],
    [{ ...base, dkim_domain: 'exa mple.org' }, /^smtp_transport\.dkim_domain: "exa mple.org" is not a domain/],
    [{ ...base, dkim_identity: 'user@elsewhere.example' }, /^smtp_transport\.dkim_identity: "user@elsewhere.example" is not within the signing domain example\.org/],
    [{ ...base, dkim_sign_headers: 'Subject : To' }, /^smtp_transport\.dkim_sign_headers: From must be signed/],
    [{ ...base, dkim_sign_headers: 'From : Bad Name' }, /^smtp_transport\.dkim_sign_headers: "Bad Name" is not a header field name/],
    [{ ...base, dkim_timestamps: 'soon' }, /^smtp_transport\.dkim_timestamps: expected a whole number of seconds/],
    [{ ...base, dkim_canon: 'loose' }, /^smtp_transport\.dkim_canon: /],
    [{ arc_sign: 'example.org : arc' }, /^smtp_transport\.arc_sign: no private key/],
    [{ arc_sign: `example.org : arc : ${rsa.file} : timestamps, sometimes` }, /^smtp_transport\.arc_sign: unknown option "sometimes"/],
    [{ arc_sign: `example.org : arc : ${rsa.file} : expire=tomorrow` }, /^smtp_transport\.arc_sign: "expire=tomorrow": expected expire=<seconds since the epoch>/],
    [{ arc_sign: `exa mple : arc : ${rsa.file}` }, /^smtp_transport\.arc_sign: admd-id "exa mple" is not a domain/],
    [{ arc_sign: `example.org : arc : ${join(dir, 'absent.pem')}` }, /^smtp_transport\.arc_sign: cannot read .*absent\.pem/],
  ];
  writeFileSync(join(dir, 'garbage.pem'), 'not a key\n');
  writeFileSync(join(dir, 'small.pem'), generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'ec.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  // An RSA key OpenSSL loads and signs with, whose signatures no one can verify (private exponent wrong).
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  writeFileSync(join(dir, 'broken.pem'), createPrivateKey({ key: { ...jwk, d: 'AQ', dp: 'AQ', dq: 'AQ' }, format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }));
  for (const [transport, re] of cases) {
    const p = problems(transport);
    assert.ok(p.some((x) => re.test(x)), `${JSON.stringify(transport).slice(0, 160)}: expected ${re}, got ${JSON.stringify(p)}`);
  }
});

test('options: strict, identity, timestamps, canon, sign headers with Exim\'s prefixes and macros', () => {
  const c = load({
    dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file, dkim_strict: 'true', dkim_identity: 'bounces@mail.example.org',
    dkim_timestamps: '14d', dkim_canon: 'simple', dkim_sign_headers: 'From : =X-Mine : +Subject : _DKIM_SIGN_HEADERS',
  });
  const d = c.smtp_transport.signing.dkim[0];
  assert.equal(c.smtp_transport.signing.strict, true);
  assert.equal(d?.identity, 'bounces@mail.example.org');
  assert.equal(d?.timestamps, 14 * 86400);
  assert.equal(d?.canon, 'simple/simple');
  assert.deepEqual(d?.headers.slice(0, 4), [{ name: 'From', mode: 'once' }, { name: 'X-Mine', mode: 'all' }, { name: 'Subject', mode: 'over' }, { name: 'From', mode: 'once' }]);
  assert.equal(d?.headers.length, 3 + EXIM_SIGN_HEADERS.length);
  assert.equal(load({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file, dkim_timestamps: 0 }).smtp_transport.signing.dkim[0]?.timestamps, 0);
  const over = load({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file, dkim_sign_headers: '_DKIM_OVERSIGN_HEADERS' });
  assert.ok(over.smtp_transport.signing.dkim[0]?.headers.every((h) => h.mode === 'over'));
  assert.equal(load({ dkim_domain: 'example.org', dkim_selector: 'rsa', dkim_private_key: rsa.file, dkim_canon: 'relaxed/simple' }).smtp_transport.signing.dkim[0]?.canon, 'relaxed/simple');
});

test('arc_sign: admd-id, selector, key, and the options timestamps and expire[=<time>|+<seconds>]', () => {
  const plain = load({ arc_sign: `Example.ORG : arc : ${rsa.file}` }).smtp_transport.signing.arc;
  assert.deepEqual({ ...plain, key: plain?.key.algorithm }, { admd: 'example.org', selector: 'arc', key: 'rsa-sha256', timestamps: false });
  const all = load({ arc_sign: `example.org : arc : ${rsa.file} : timestamps,expire` }).smtp_transport.signing.arc;
  assert.equal(all?.timestamps, true);
  assert.deepEqual(all?.expire, { in: ARC_DEFAULT_EXPIRE });
  assert.deepEqual(load({ arc_sign: `example.org : arc : ${rsa.file} : expire=+3600` }).smtp_transport.signing.arc?.expire, { in: 3600 });
  assert.deepEqual(load({ arc_sign: `example.org : arc : ${rsa.file} : expire=+0` }).smtp_transport.signing.arc?.expire, { in: ARC_DEFAULT_EXPIRE });
  assert.deepEqual(load({ arc_sign: `example.org : arc : ${rsa.file} : expire=1900000000` }).smtp_transport.signing.arc?.expire, { at: 1900000000 });
  assert.equal(load({ arc_sign: `example.org : ed : ${ed.file}` }).smtp_transport.signing.arc?.key.algorithm, 'ed25519-sha256');
  assert.equal(load({ arc_sign: '' }).smtp_transport.signing.arc, undefined);
});

test('Exim-style lists: ":" separated, "::" for a colon, "<;" for another separator, a PEM text whole', () => {
  assert.deepEqual(splitSigningList(' a : b :c '), ['a', 'b', 'c']);
  assert.deepEqual(splitSigningList('a::b : c'), ['a:b', 'c']);
  assert.deepEqual(splitSigningList('<; a:b ; c'), ['a:b', 'c']);
  assert.deepEqual(splitSigningList(['x : y']), ['x : y']);
  assert.deepEqual(splitSigningList(ed.pem), [ed.pem.trim()]);
  assert.deepEqual(splitSigningList(''), []);
});

test('h= by Exim\'s rules: a name once (present or not), =name every instance, +name every instance and one more', () => {
  const fields = splitHeaderFields('From: a@example.org\r\nTo: b@example.net\r\nX-Mine: 1\r\nX-Mine: 2\r\nSubject: s\r\n');
  const list = eximHeaderList([
    { name: 'From', mode: 'once' }, { name: 'Reply-To', mode: 'once' }, { name: 'X-Mine', mode: 'all' }, { name: 'X-Other', mode: 'all' },
    { name: 'Subject', mode: 'over' }, { name: 'Cc', mode: 'over' }, { name: 'To', mode: 'once' }, { name: 'To', mode: 'once' },
  ], fields);
  assert.deepEqual(list, ['From', 'Reply-To', 'X-Mine', 'X-Mine', 'Subject', 'Subject', 'Cc', 'To', 'To']);
});

test('the header section ends at the first empty line, wherever the chunks are cut', () => {
  const message = Buffer.from('From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n');
  for (let cut = 1; cut < message.length; cut++) {
    for (const size of [1, 2, 3, 5, 1000]) {
      const s = new HeaderSplitter();
      const body: Buffer[] = [];
      const pieces = [message.subarray(0, cut), ...chunks(message.subarray(cut), size)];
      for (const p of pieces) body.push(s.push(p));
      assert.equal(s.header().toString(), 'From: a@example.org\r\nSubject: s\r\n', `cut ${cut} size ${size}`);
      assert.equal(Buffer.concat(body).toString(), 'body\r\n\r\nmore\r\n', `cut ${cut} size ${size}`);
    }
  }
  const none = new HeaderSplitter();
  assert.equal(none.push(Buffer.from('\r\nbody\r\n')).toString(), 'body\r\n');
  assert.equal(none.header().length, 0);
  const noBody = new HeaderSplitter();
  assert.equal(noBody.push(Buffer.from('From: a@example.org\r\n')).length, 0);
  assert.equal(noBody.header().toString(), 'From: a@example.org\r\n');
});

function chunks(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}
