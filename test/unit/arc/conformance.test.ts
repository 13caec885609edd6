// Conformance: the ValiMail ARC suites (../shared/conformance/arc-valimail). Validation: all 171 tests give the
// expected cv; the three with an empty cv are RFC 8617 fails (see protocol/arc/README.md). Signing: all 17
// reproduce the expected AS, AMS and AAR after the suite's normalization, b= byte for byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import { hashBody, splitHeaderFields, splitMessage } from '../../../protocol/dkim/index.js';
import { prepareSeal, sealMessage, signSeal, validateWholeMessage } from '../../../protocol/arc/index.js';
import { loadPrivateKey } from '../../../protocol/dkim/index.js';
import { prepend } from './common.js';
import { duplicatedValidationTests, signingCases, squeeze, validationCases } from './suite.js';

/**
 * The suite's empty cv: its reference runner printed dkimpy's None, which dkimpy returns for "ARC-Seal[i]
 * reported failure, the chain is terminated". RFC 8617 section 5.2 gives fail: step 2 (the newest seal says
 * cv=fail) for cv_fail_i1_as_cv_fail and cv_fail_i2_as2_fail, step 3 (no cv may be fail; i=1 must be none)
 * for cv_fail_i2_as1_fail.
 */
const EMPTY_CV = new Map([
  ['cv_fail_i1_as_cv_fail', 'chain_failed'],
  ['cv_fail_i2_as2_fail', 'chain_failed'],
  ['cv_fail_i2_as1_fail', 'cv'],
]);

// The suite's messages carry t=12345 and no x=: validation must not depend on the clock.
const CLOCKS = [0, Date.UTC(2024, 0, 1), Date.UTC(2100, 0, 1)];

test('ARC validation suite: 171 of 171 give the expected cv', async () => {
  const cases = validationCases();
  assert.equal(cases.length, 171);
  const counts = { Pass: 0, Fail: 0, None: 0, '': 0 } as Record<string, number>;
  const wrong: string[] = [];
  for (const c of cases) {
    counts[c.cv] = (counts[c.cv] ?? 0) + 1;
    const want = c.cv === '' ? 'fail' : c.cv.toLowerCase();
    for (const now of CLOCKS) {
      const r = await validateWholeMessage(c.message, { dns: c.dns, now: () => now });
      if (r.state !== want) wrong.push(`${c.name} (${c.description}): want ${want}, got ${r.state} ${r.code} ${r.reason}`);
      const code = EMPTY_CV.get(c.name);
      if (code !== undefined && r.code !== code) wrong.push(`${c.name}: want code ${code}, got ${r.code}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(counts, { Pass: 54, Fail: 109, None: 5, '': 3 });
});

test('the earlier copies of the four duplicated test names pass too', async () => {
  const dns = validationCases().find((c) => c.name === 'as_fields_b_head_case')?.dns;
  assert.ok(dns);
  const copies = duplicatedValidationTests();
  assert.equal(copies.length, 4);
  for (const c of copies) {
    const r = await validateWholeMessage(c.message, { dns, now: () => 0 });
    assert.equal(r.state, c.cv.toLowerCase(), c.name);
  }
});

test('the suite reports what an intermediary needs: instances, domains, oldest pass, failing instance', async () => {
  const byName = new Map(validationCases().map((c) => [c.name, c]));
  const run = async (name: string) => {
    const c = byName.get(name);
    assert.ok(c, name);
    return validateWholeMessage(c.message, { dns: c.dns, now: () => 0 });
  };
  const i5 = await run('cv_pass_i5_1');
  assert.equal(i5.state, 'pass');
  assert.equal(i5.instances, 5);
  assert.deepEqual(i5.domains, Array(5).fill('example.org'));
  assert.equal(i5.state === 'pass' && i5.oldestPass, 1);
  // AMS(1) no longer verifies after the From field changed: the oldest passing AMS is 2.
  const ams1 = await run('cv_pass_i2_1_ams1_invalid');
  assert.equal(ams1.state === 'pass' && ams1.oldestPass, 2);
  // A set without its seal has no domain (Exim's empty element).
  const noSeal = await run('cv_fail_i2_as1_na');
  assert.deepEqual(noSeal.domains, ['', 'example.org']);
  assert.equal(noSeal.state === 'fail' && noSeal.failedInstance, 1);
  const seal1 = await run('cv_fail_i2_as1_invalid');
  assert.equal(seal1.state === 'fail' && seal1.failedInstance, 1);
  assert.equal(seal1.code, 'seal_incorrect');
  const key512 = await run('as_fields_b_512');
  assert.equal(key512.code, 'key');
  assert.match(key512.reason, /512-bit key/);
  const differ = await run('ams_as_diff_s_d');
  assert.equal(differ.sets[0]?.sealDomain, 'example2.org');
  assert.equal(differ.sets[0]?.signatureDomain, 'example.org');
});

test('ARC signing suite: 17 of 17 reproduce AS, AMS and AAR (b= exactly), and the sets validate', async () => {
  const cases = signingCases();
  assert.equal(cases.length, 17);
  const wrong: string[] = [];
  for (const c of cases) {
    const { header, body } = splitMessage(c.message);
    const fields = splitHeaderFields(header);
    const [bodyHash] = hashBody(body, [{ canon: 'relaxed', hash: 'sha256' }]);
    assert.ok(bodyHash);
    const opts = { authservId: c.srvId, domain: c.domain, selector: c.selector, now: c.t * 1000, timestamps: true, headerList: c.headers, layout: 'sorted' as const };
    const r = sealMessage(fields, bodyHash, { ...opts, privateKey: c.privateKey });
    if (c.as === '') {
      // no_additional_sig: the newest seal says cv=fail, so no set is added (RFC 8617 section 5.1 step 2).
      if (r.kind !== 'skip' || r.code !== 'ARC_SEAL_CHAIN_FAILED') wrong.push(`${c.name}: a set was added`);
      continue;
    }
    if (r.kind !== 'ok') {
      wrong.push(`${c.name}: ${r.kind} ${r.reason}`);
      continue;
    }
    const value = (field: string) => squeeze(field.slice(field.indexOf(':') + 1));
    if (value(r.set.seal) !== squeeze(c.as)) wrong.push(`${c.name} AS:\n${r.set.seal}\nwant ${c.as}`);
    if (value(r.set.signature) !== squeeze(c.ams)) wrong.push(`${c.name} AMS:\n${r.set.signature}\nwant ${c.ams}`);
    if (value(r.set.results) !== squeeze(c.aar)) wrong.push(`${c.name} AAR:\n${r.set.results}\nwant ${c.aar}`);
    // The same set through the split API (what the worker pool runs).
    const loaded = loadPrivateKey(c.privateKey);
    assert.equal(loaded.kind, 'ok');
    const prepared = prepareSeal(fields, bodyHash, { ...opts, algorithm: 'rsa-sha256' });
    assert.equal(prepared.kind, 'ok');
    if (prepared.kind === 'ok' && loaded.kind === 'ok') {
      const split = signSeal(structuredClone(prepared.prepared), loaded.key);
      assert.deepEqual(split.headers, r.set.headers, c.name);
    }
    // What we sealed validates: pass for cv=none/pass; a cv=fail seal ends the chain.
    const sealed = prepend(c.message, ...r.set.headers);
    const v = await validateWholeMessage(sealed, { dns: createFixtureResolver(c.fixture), now: () => c.t * 1000 });
    const want = r.set.cv === 'fail' ? 'fail' : 'pass';
    if (v.state !== want) wrong.push(`${c.name}: sealed message validates as ${v.state} (${v.reason})`);
  }
  assert.deepEqual(wrong, []);
});
