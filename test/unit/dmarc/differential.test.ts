// Differential test against mailauth 4 (an independent DMARC implementation): verdicts on a generated set covering
// alignment modes, p/sp, subdomains with and without their own record, and missing records. The one expected
// disagreement is strict alignment: mailauth 4.13 passes its `{ strict }` option object as a boolean, so it always
// aligns relaxed; every mismatch must be exactly that case. (mailauth has no np=; it is left out here.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { dmarc } from 'mailauth/lib/dmarc/index.js';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { evaluateDmarc } from '../../../protocol/dmarc/evaluate.js';
import { sameOrganization } from '../../../protocol/dmarc/psl.js';
import type { DmarcPolicy } from '../../../protocol/dmarc/types.js';

function mailauthResolver(fixture: DnsFixture): (name: string, type: string) => Promise<string[][]> {
  const inner = createFixtureResolver(fixture);
  return async (name, type) => {
    const answer = await inner.lookup(name, type as 'TXT');
    if (answer.kind === 'ok') return answer.records;
    const err = new Error(`${name}: ${answer.kind}`) as Error & { code: string };
    err.code = answer.kind === 'temperror' ? 'ETIMEOUT' : answer.kind === 'nodata' ? 'ENODATA' : 'ENOTFOUND';
    throw err;
  };
}

const MODES = [undefined, 'r', 's'] as const;
const POLICIES: DmarcPolicy[] = ['none', 'quarantine', 'reject'];
const FROMS = ['example.com', 'mail.example.com', 'a.b.example.com', 'own.example.com', 'unrelated.example'];
const IDS = [undefined, 'example.com', 'mail.example.com', 'news.example.com', 'example.net'];

test('mailauth agrees on every verdict except its relaxed reading of strict alignment', { timeout: 120_000 }, async (t) => {
  let agree = 0;
  let strictOnly = 0;
  for (const p of POLICIES) for (const sp of [undefined, ...POLICIES]) for (const adkim of MODES) for (const aspf of MODES) {
    const text = ['v=DMARC1', `p=${p}`, sp && `sp=${sp}`, adkim && `adkim=${adkim}`, aspf && `aspf=${aspf}`].filter(Boolean).join('; ');
    const fixture: DnsFixture = {
      '_dmarc.example.com': { TXT: [[text]] },
      '_dmarc.own.example.com': { TXT: [['v=DMARC1; p=quarantine']] },
    };
    const ours = createFixtureResolver(fixture);
    const theirs = mailauthResolver(fixture);
    for (const from of FROMS) for (const spfId of IDS) for (const dkimId of IDS) {
      const label = `${text} | From ${from} | spf ${spfId} | dkim ${dkimId}`;
      const r = await evaluateDmarc({
        from, ...(spfId ? { spf: { domain: spfId, result: 'pass' as const } } : {}),
        dkim: dkimId ? [{ domain: dkimId, result: 'pass' as const }] : [],
      }, { dns: ours, random: () => 0 });
      const m = await dmarc({ headerFrom: `user@${from}`, spfDomains: spfId ? [spfId] : [], dkimDomains: dkimId ? [{ domain: dkimId }] : [],
        resolver: theirs as never });
      assert.ok(m !== false, label);
      const mine = { result: r.authResult, policy: r.domainPolicy || undefined };
      const other = { result: m.status.result, policy: m.policy };
      if (JSON.stringify(mine) === JSON.stringify(other)) {
        agree++;
        continue;
      }
      // The only disagreement allowed: we fail under strict alignment where relaxed alignment would pass.
      const relaxedPass = [spfId, dkimId].some((id) => id !== undefined && sameOrganization(id, from));
      const strict = adkim === 's' || aspf === 's';
      assert.ok(strict && relaxedPass && mine.result === 'fail' && other.result === 'pass',
        `${label}: petrel ${JSON.stringify(mine)} mailauth ${JSON.stringify(other)}`);
      strictOnly++;
    }
  }
  t.diagnostic(`agree ${agree}, differ only by strict alignment ${strictOnly}, of ${agree + strictOnly}`);
  assert.ok(agree > strictOnly);
});

test('mailauth and Petrel agree on missing records and DNS failures', async () => {
  const fixture: DnsFixture = { '_dmarc.broken.example': 'SERVFAIL', '_dmarc.spf-only.example': { TXT: [['v=spf1 -all']] } };
  for (const [from, want] of [['nothing.example', 'none'], ['spf-only.example', 'none'], ['broken.example', 'temperror']] as const) {
    const r = await evaluateDmarc({ from, dkim: [] }, { dns: createFixtureResolver(fixture), random: () => 0 });
    const m = await dmarc({ headerFrom: `a@${from}`, spfDomains: [], dkimDomains: [], resolver: mailauthResolver(fixture) as never });
    assert.equal(r.authResult, want, from);
    assert.equal(m && m.status.result, want, from);
  }
});
