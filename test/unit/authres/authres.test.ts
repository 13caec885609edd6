// Authentication-Results (protocol/authres): building folded values, parsing them back, and isOurs against
// the tricks of CVE-2020-12272 (comments, quoting, folding, case, ids hidden in comments or after ";").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthResError,
  authResultsField,
  buildAuthResults,
  dkimAuthResults,
  isAuthResultsName,
  isOurs,
  parseAuthResults,
} from '../../../protocol/authres/index.js';
import type { AuthResult } from '../../../protocol/authres/index.js';
import type { DkimResult } from '../../../protocol/dkim/index.js';

const ID = 'mx.petrel.example';

const SAMPLE: AuthResult[] = [
  {
    method: 'dkim',
    result: 'pass',
    comment: '2048-bit key',
    properties: [
      { ptype: 'header', property: 'd', value: 'example.org' },
      { ptype: 'header', property: 'i', value: '@example.org' },
      { ptype: 'header', property: 's', value: 'sel2024' },
      { ptype: 'header', property: 'b', value: 'ab/cd+EF' },
    ],
  },
  { method: 'spf', result: 'softfail', reason: 'not permitted; "quoted"', properties: [{ ptype: 'smtp', property: 'mailfrom', value: 'bounce+x=y@example.org' }] },
  { method: 'dmarc', result: 'fail', properties: [{ ptype: 'header', property: 'from', value: 'example.org' }, { ptype: 'policy', property: 'dmarc', value: 'reject' }] },
];

test('buildAuthResults writes resinfo per method, quotes what the grammar needs, folds under 78', () => {
  const value = buildAuthResults(ID, SAMPLE);
  assert.equal(
    value,
    'mx.petrel.example;\r\n' +
      '\tdkim=pass (2048-bit key) header.d=example.org header.i=@example.org\r\n' +
      '\t  header.s=sel2024 header.b="ab/cd+EF";\r\n' +
      '\tspf=softfail reason="not permitted; \\"quoted\\""\r\n' +
      '\t  smtp.mailfrom=bounce+x=y@example.org;\r\n' +
      '\tdmarc=fail header.from=example.org policy.dmarc=reject',
  );
  for (const line of authResultsField(ID, SAMPLE).split('\r\n')) assert.ok(line.length <= 78, line);
  assert.equal(buildAuthResults(ID, []), 'mx.petrel.example; none');
  assert.equal(buildAuthResults(ID, [], { version: 1 }), 'mx.petrel.example 1; none');
});

test('values cannot break out: CR/LF, parentheses and quotes are neutralised', () => {
  const value = buildAuthResults(ID, [
    { method: 'spf', result: 'pass', comment: 'a) b ( c \\', reason: 'x\r\nAuthentication-Results: evil', properties: [{ ptype: 'smtp', property: 'helo', value: 'a b;c' }] },
  ]);
  assert.ok(!/\r\n(?![\t ])/.test(value), 'every line break is folding');
  const parsed = parseAuthResults(value);
  assert.equal(parsed.kind, 'ok');
  if (parsed.kind !== 'ok') return;
  assert.equal(parsed.value.results[0]?.reason, 'x  Authentication-Results: evil');
  assert.deepEqual(parsed.value.results[0]?.properties, [{ ptype: 'smtp', property: 'helo', value: 'a b;c' }]);
  assert.throws(() => buildAuthResults(ID, [{ method: 'dk im', result: 'pass' }]), (e: unknown) => e instanceof AuthResError && e.code === 'AUTHRES_INVALID');
});

test('parseAuthResults reads what buildAuthResults writes', () => {
  const parsed = parseAuthResults(buildAuthResults(ID, SAMPLE));
  assert.equal(parsed.kind, 'ok');
  if (parsed.kind !== 'ok') return;
  assert.equal(parsed.value.authservId, ID);
  assert.deepEqual(parsed.value.results.map((r) => [r.method, r.result]), [['dkim', 'pass'], ['spf', 'softfail'], ['dmarc', 'fail']]);
  assert.equal(parsed.value.results[1]?.reason, 'not permitted; "quoted"');
  assert.deepEqual(parsed.value.results[0]?.properties.map((p) => `${p.ptype}.${p.property}=${p.value}`), [
    'header.d=example.org', 'header.i=@example.org', 'header.s=sel2024', 'header.b=ab/cd+EF',
  ]);
});

test('parseAuthResults: RFC 8601 appendix examples and odd spacing', () => {
  const cases: [string, string, number][] = [
    ['example.org 1; none', 'example.org', 0],
    ['example.com; spf=pass smtp.mailfrom=example.net', 'example.com', 1],
    ['example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n          spf=pass smtp.mailfrom=example.net', 'example.com', 2],
    ['  (c1) "example.com" (c2) ;\tdkim = pass (good) header.d = example.org ;', 'example.com', 1],
    ['mail-router.example.net;\r\n dkim=pass (good signature) header.d=newyork.example.com\r\n header.b=oINEO8hg;\r\n dkim=fail (bad signature) header.d=newyork.example.com header.b=EToRSuvU', 'mail-router.example.net', 2],
    ['example.com; dkim/1=pass header.d=x.example', 'example.com', 1],
  ];
  for (const [value, id, n] of cases) {
    const parsed = parseAuthResults(value);
    assert.equal(parsed.kind, 'ok', `${value}: ${parsed.kind === 'error' ? parsed.reason : ''}`);
    if (parsed.kind !== 'ok') continue;
    assert.equal(parsed.value.authservId, id);
    assert.equal(parsed.value.results.length, n, value);
  }
  for (const bad of ['', '  (only a comment)', '; spf=pass', 'example.com; spf', 'example.com; spf=pass smtp.mailfrom', 'example.com (unterminated; spf=pass']) {
    assert.equal(parseAuthResults(bad).kind, 'error', bad);
  }
  const partial = parseAuthResults('example.com; spf=');
  assert.deepEqual(partial.kind === 'error' && partial.authservId, 'example.com');
});

test('isOurs finds our authserv-id however it is dressed', () => {
  const ours = [
    `${ID}; dkim=pass`,
    `  ${ID};spf=pass`,
    `MX.Petrel.EXAMPLE; spf=pass`,
    `${ID}.; spf=pass`,
    `(comment) ${ID}; dkim=pass`,
    `(nested (comment; with) semicolons) ${ID}; dkim=pass`,
    `\r\n\t(x)\r\n ${ID}\r\n ; dkim=pass`,
    `"${ID}"; dkim=pass`,
    `"mx.petrel\\.example"; dkim=pass`,
    `${ID}(trailing comment); dkim=pass`,
    `${ID} 1; none`,
    `${ID}`,
    // Hidden where a careless reader takes it: in a comment before the first ";".
    `other.example (${ID}); dkim=pass`,
    `other.example(${ID}; dkim=pass`,
    // Folded inside the name: a reader that deletes folding altogether sees our id.
    `mx.petrel.\r\n\texample; dkim=pass`,
    // Malformed, mentioning our id: removed rather than trusted.
    `; ${ID}; dkim=pass`,
    `other.example ${ID}; dkim=pass`,
    `other.example; ${ID}; dkim=pass`,
    `"${ID}; dkim=pass`,
  ];
  for (const value of ours) assert.equal(isOurs(value, ID), true, JSON.stringify(value));
  assert.equal(isOurs(`${ID}; dkim=pass`, 'MX.PETREL.EXAMPLE.'), true);

  const theirs = [
    'other.example; dkim=pass',
    `mx.petrel.example.evil.example; dkim=pass`,
    `evil-mx.petrel.example; dkim=pass`,
    `xmx.petrel.example; dkim=pass`,
    `other.example; dkim=pass header.d=${ID}`,
    `other.example; dkim=pass (${ID}) header.d=x.example`,
    `other.example; spf=pass smtp.mailfrom=user@${ID}`,
    `"other.example"; dkim=pass reason="${ID}"`,
  ];
  for (const value of theirs) assert.equal(isOurs(value, ID), false, JSON.stringify(value));
  assert.equal(isOurs('anything', ''), false);
  assert.equal(isAuthResultsName(' authentication-RESULTS '), true);
  assert.equal(isAuthResultsName('Authentication-Results-Original'), false);
});

test('dkimAuthResults: one entry per signature, unique header.b prefixes, dkim=none without signatures', () => {
  const base = { domain: 'example.org', selector: 's1', algorithm: 'rsa-sha256', identity: '@example.org', fieldIndex: 0 };
  const results: DkimResult[] = [
    { ...base, status: 'pass', code: 'ok', reason: 'signature verified', keyLength: 2048, b: 'AbCdEfGh1234', exim: { status: 'pass', reason: '' } },
    { ...base, status: 'fail', code: 'bodyhash_mismatch', reason: 'body hash did not verify', b: 'AbCdEfGh5678', exim: { status: 'fail', reason: 'bodyhash_mismatch' } },
  ];
  const entries = dkimAuthResults({ signatures: results, skipped: 0 });
  assert.deepEqual(entries.map((e) => e.properties?.find((p) => p.property === 'b')?.value), ['AbCdEfGh1', 'AbCdEfGh5']);
  assert.equal(entries[0]?.comment, '2048-bit key');
  assert.equal(entries[1]?.reason, 'body hash did not verify');
  assert.deepEqual(dkimAuthResults([]), [{ method: 'dkim', result: 'none' }]);
  const value = buildAuthResults(ID, entries);
  assert.match(value, /dkim=pass \(2048-bit key\) header\.d=example\.org/);
  assert.match(value, /dkim=fail reason="body hash did not verify"/);
});
