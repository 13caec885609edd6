// Conformance: the RFC 8463 Appendix A message (ed25519-sha256 and rsa-sha256 signatures, from mailauth's
// fixtures in ../shared/conformance/dkim-rfc8463-mailauth/): both verify, and re-signing reproduces both b=.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createFixtureResolver, loadDnsFixtureSync } from '../../../net/dns/resolver.js';
import {
  hashBody,
  parseSignature,
  prepareSignature,
  signInput,
  signMessage,
  loadPrivateKey,
  splitHeaderFields,
  splitMessage,
  verifyWholeMessage,
} from '../../../protocol/dkim/index.js';
import type { DkimResolver } from '../../../protocol/dkim/index.js';

// dist/test/unit/dkim -> the repository, then the shared conformance data beside it.
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const DIR = join(REPO, '../shared/conformance/dkim-rfc8463-mailauth');
const crlf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

const message = crlf(readFileSync(join(DIR, 'signed.eml')));
const dns: DkimResolver = createFixtureResolver(loadDnsFixtureSync(join(DIR, 'dns.json')));
const T0 = 1528637909 * 1000;

test('both RFC 8463 signatures verify', async () => {
  const out = await verifyWholeMessage(message, { dns, now: () => T0 + 60_000 });
  assert.equal(out.skipped, 0);
  assert.equal(out.signatures.length, 2);
  const [ed, rsa] = out.signatures;
  assert.equal(ed?.status, 'pass', ed?.reason);
  assert.equal(ed?.algorithm, 'ed25519-sha256');
  assert.equal(ed?.keyLength, 256);
  assert.equal(ed?.selector, 'brisbane');
  assert.equal(rsa?.status, 'pass', rsa?.reason);
  assert.equal(rsa?.algorithm, 'rsa-sha256');
  assert.equal(rsa?.keyLength, 1024);
  for (const r of out.signatures) {
    assert.equal(r.domain, 'football.example.com');
    assert.equal(r.identity, '@football.example.com');
    assert.equal(r.canonHeaders, 'relaxed');
    assert.equal(r.canonBody, 'relaxed');
    assert.equal(r.hash, 'sha256');
    assert.equal(r.weak, false);
    assert.deepEqual(r.headersSigned, ['from', 'to', 'subject', 'date', 'message-id', 'from', 'subject', 'date']);
    assert.deepEqual(r.exim, { status: 'pass', reason: '' });
  }
});

test('re-signing with the same h= and t= reproduces both b= exactly', () => {
  const { header, body } = splitMessage(message);
  const fields = splitHeaderFields(header);
  const original = fields.filter((f) => f.name.toLowerCase() === 'dkim-signature');
  const unsigned = fields.filter((f) => f.name.toLowerCase() !== 'dkim-signature');
  const [bodyHash] = hashBody(body, [{ canon: 'relaxed', hash: 'sha256' }]);
  assert.ok(bodyHash);
  const cases = [
    { selector: 'brisbane', key: readFileSync(join(DIR, 'private-ec.key'), 'latin1'), sig: original[0] },
    { selector: 'test', key: readFileSync(join(DIR, 'private-rsa.key'), 'latin1'), sig: original[1] },
  ];
  for (const c of cases) {
    assert.ok(c.sig);
    const parsed = parseSignature(Buffer.from(c.sig.raw as Buffer).toString('latin1'));
    assert.equal(parsed.kind, 'ok');
    if (parsed.kind !== 'ok') return;
    assert.equal(bodyHash.bh, parsed.sig.bodyHash.toString('base64'));
    const opts = {
      domain: 'football.example.com',
      selector: c.selector,
      identity: '@football.example.com',
      queryMethod: true,
      spacedHeaderList: true,
      headerList: parsed.sig.headers,
      now: parsed.sig.timestamp! * 1000,
      privateKey: c.key,
    };
    const signed = signMessage(unsigned, bodyHash, opts);
    assert.equal(signed.kind, 'ok', signed.kind === 'error' ? signed.reason : '');
    if (signed.kind !== 'ok') return;
    const again = parseSignature(signed.header);
    assert.equal(again.kind, 'ok');
    if (again.kind !== 'ok') return;
    assert.equal(again.sig.b, parsed.sig.b, `${c.selector}: b= differs`);

    // The same through the split used by the worker pool: prepare, sign the input elsewhere, finish.
    const key = loadPrivateKey(c.key);
    assert.equal(key.kind, 'ok');
    if (key.kind !== 'ok') return;
    const prepared = prepareSignature(unsigned, bodyHash, { ...opts, algorithm: key.algorithm });
    assert.equal(prepared.kind, 'ok');
    if (prepared.kind !== 'ok') return;
    const cloned = structuredClone(prepared.prepared);
    const b64 = signInput(cloned.algorithm, cloned.input, key.key);
    assert.equal(b64, parsed.sig.b);
    assert.equal(prepared.header(b64), signed.header);
  }
});
