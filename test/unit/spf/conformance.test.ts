// The OpenSPF conformance suites through checkHost: all of rfc7208-tests.yml must pass (RFC 7208); the older
// rfc4408-tests.yml is run and counted (RFC 4408 differs, so not all of it can pass).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkHost } from '../../../protocol/spf/index.js';
import type { SpfResult } from '../../../protocol/spf/index.js';
import { loadSuite } from './suite.js';
import type { SuiteCase } from './suite.js';

/** Like pyspf's driver (set_default_explanation('DEFAULT')): the default explanation is the literal DEFAULT. */
async function run(c: SuiteCase): Promise<SpfResult> {
  const helo = c.mailfrom === '';
  const sender = helo ? `postmaster@${c.helo}` : c.mailfrom;
  const domain = sender.slice(sender.lastIndexOf('@') + 1);
  return checkHost(
    { ip: c.host, domain, sender, helo: c.helo, identity: helo ? 'helo' : 'mailfrom' },
    { dns: c.dns, now: () => Date.UTC(2024, 0, 1), receiver: 'receiver.example', defaultExplanation: 'DEFAULT' },
  );
}

type Verdict = 'ok' | 'wrong';

/** A listed alternative result counts; an expected explanation must match exactly. */
function judge(c: SuiteCase, r: SpfResult): Verdict {
  if (!c.results.includes(r.kind)) return 'wrong';
  if (c.explanation === undefined) return 'ok';
  return r.explanation === c.explanation ? 'ok' : 'wrong';
}

function describeCase(c: SuiteCase, r: SpfResult): string {
  return `${c.name} (${c.spec}): expected ${c.results.join('|')}${c.explanation !== undefined ? ` "${c.explanation}"` : ''}, ` +
    `got ${r.kind}${r.explanation !== undefined ? ` "${r.explanation}"` : ''}${r.reason ? ` [${r.reason}]` : ''}`;
}

describe('RFC 7208 suite (rfc7208-tests.yml)', () => {
  const cases = loadSuite('rfc7208-tests.yml');

  test('has 203 cases in 16 scenarios', () => {
    assert.equal(cases.length, 203);
    assert.equal(new Set(cases.map((c) => c.scenario)).size, 16);
  });

  for (const c of cases) {
    test(`${c.scenario}: ${c.name}`, async () => {
      const r = await run(c);
      assert.equal(judge(c, r), 'ok', describeCase(c, r));
    });
  }
});

describe('RFC 4408 suite (rfc4408-tests.yml), counted', () => {
  test('runs every case; the count passing does not fall', async (t) => {
    const cases = loadSuite('rfc4408-tests.yml');
    assert.equal(cases.length, 191);
    const failures: string[] = [];
    for (const c of cases) {
      const r = await run(c);
      if (judge(c, r) === 'wrong') failures.push(`${c.scenario}: ${describeCase(c, r)}`);
    }
    const passed = cases.length - failures.length;
    t.diagnostic(`rfc4408: ${passed}/${cases.length} pass`);
    for (const f of failures) t.diagnostic(`rfc4408 differs: ${f}`);
    assert.ok(passed >= RFC4408_EXPECTED_PASS, `${passed} < ${RFC4408_EXPECTED_PASS}`);
  });
});

/** Measured: every case passes, RFC 4408 behaviour that RFC 7208 changed being listed there as an alternative result. */
const RFC4408_EXPECTED_PASS = 191;
