// Unit tests for protocol/dmarc/evaluate.ts (discovery included): a generated matrix (alignment modes x p/sp/np x From
// domain positions x SPF/DKIM outcomes) against an oracle written from RFC 7489 sections 3.1, 6.3 and 6.6.3;
// missing, multiple and broken records; DNS temperror; pct= sampling with injected randomness; A-R text; fo=.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { discoverPolicy, dmarcAuthResults, evaluateDmarc, failureReportWanted } from '../../../protocol/dmarc/evaluate.js';
import type { DkimOutcome, DmarcInput, DmarcPolicy, DmarcResolver, DmarcResult, SpfOutcome } from '../../../protocol/dmarc/types.js';

const never = (): number => assert.fail('random() must not be called');

/** The fixture resolver, counting lookups by name. */
function dns(fixture: DnsFixture): DmarcResolver & { asked: string[] } {
  const r = createFixtureResolver(fixture);
  const asked: string[] = [];
  return {
    asked,
    lookup: (name, type) => {
      asked.push(`${name}/${type}`);
      return r.lookup(name, type);
    },
  };
}

async function evaluate(fixture: DnsFixture, input: DmarcInput, random: () => number = never): Promise<DmarcResult> {
  return evaluateDmarc(input, { dns: dns(fixture), random });
}

// ---------------------------------------------------------------------------------------------------------------
// The matrix.

const ADKIM = [undefined, 'r', 's'] as const;
const POLICIES: DmarcPolicy[] = ['none', 'quarantine', 'reject'];
const SUBPOLICIES = [undefined, ...POLICIES];

/** Where the From domain sits: the org domain, a subdomain that exists, one that does not, one with its own record. */
const FROMS = ['example.com', 'mail.example.com', 'ghost.example.com', 'own.example.com'] as const;
const OWN_RECORD = 'v=DMARC1; p=quarantine; adkim=s; aspf=s';

/** Identifiers relative to the From domain. */
const IDS = ['exact', 'parent', 'sibling', 'foreign'] as const;
type Id = (typeof IDS)[number];
const idDomain = (id: Id, from: string): string =>
  ({ exact: from, parent: 'example.com', sibling: 'news.example.com', foreign: 'example.net' })[id];

type Auth = { kind: 'absent' } | { kind: 'pass' | 'fail'; id: Id };
const AUTHS: Auth[] = [{ kind: 'absent' }, ...IDS.map((id) => ({ kind: 'pass' as const, id })), { kind: 'fail', id: 'exact' }];

/** Oracle: alignment by hand. Every test domain's Organizational Domain is its last two labels. */
function oracleAligned(id: string, from: string, mode: 'r' | 's'): boolean {
  const org = (d: string): string => d.split('.').slice(-2).join('.');
  return mode === 's' ? id === from : org(id) === org(from);
}

interface Expect {
  status: string;
  domainPolicy: string;
  usedDomain: string;
  spfAligned: boolean;
  dkimAligned: boolean;
}

function oracle(rec: { p: DmarcPolicy; sp?: DmarcPolicy; np?: DmarcPolicy; adkim?: 'r' | 's'; aspf?: 'r' | 's' },
  from: (typeof FROMS)[number], spf: Auth, dkim: Auth): Expect {
  const own = from === 'own.example.com';
  const r = own ? { p: 'quarantine' as DmarcPolicy, adkim: 's' as const, aspf: 's' as const } : rec;
  const usedDomain = own ? from : 'example.com';
  const spfAligned = spf.kind === 'pass' && oracleAligned(idDomain(spf.id, from), from, r.aspf ?? 'r');
  const dkimAligned = dkim.kind === 'pass' && oracleAligned(idDomain(dkim.id, from), from, r.adkim ?? 'r');
  const pass = spfAligned || dkimAligned;
  let policy: DmarcPolicy = r.p;
  if (!own && from !== 'example.com') {
    // np= needs existence lookups, made only for failing messages: a pass reports sp (or p).
    if (!pass && from === 'ghost.example.com' && rec.np !== undefined) policy = rec.np;
    else if (rec.sp !== undefined) policy = rec.sp;
  }
  const status = pass ? 'accept' : policy;
  return { status, domainPolicy: policy, usedDomain, spfAligned, dkimAligned };
}

test('generated matrix: alignment modes x p/sp/np x From positions x SPF/DKIM outcomes', async () => {
  let n = 0;
  for (const adkim of ADKIM) for (const aspf of ADKIM) for (const p of POLICIES) for (const sp of SUBPOLICIES) {
    for (const np of SUBPOLICIES) {
      const text = ['v=DMARC1', `p=${p}`, sp && `sp=${sp}`, np && `np=${np}`, adkim && `adkim=${adkim}`, aspf && `aspf=${aspf}`]
        .filter(Boolean).join('; ');
      const fixture: DnsFixture = {
        '_dmarc.example.com': { TXT: [[text], ['v=spf1 -all']] },
        'mail.example.com': { A: ['192.0.2.1'] },
        'own.example.com': { MX: [{ exchange: 'mx.example.com', priority: 10 }] },
        '_dmarc.own.example.com': { TXT: [[OWN_RECORD]] },
      };
      const resolver = createFixtureResolver(fixture);
      for (const from of FROMS) for (const s of AUTHS) for (const d of AUTHS) {
        const spf: SpfOutcome | undefined = s.kind === 'absent' ? undefined : { domain: idDomain(s.id, from), result: s.kind };
        const dk: DkimOutcome[] = d.kind === 'absent' ? [] : [{ domain: idDomain(d.id, from), result: d.kind, selector: 's1' }];
        const got = await evaluateDmarc({ from, ...(spf ? { spf } : {}), dkim: dk }, { dns: resolver, random: never });
        const want = oracle({ p, ...(sp ? { sp } : {}), ...(np ? { np } : {}), ...(adkim ? { adkim } : {}), ...(aspf ? { aspf } : {}) },
          from, s, d);
        const label = `${text} | From ${from} | spf ${JSON.stringify(s)} | dkim ${JSON.stringify(d)}`;
        assert.deepEqual({
          status: got.status, domainPolicy: got.domainPolicy, usedDomain: got.usedDomain, spfAligned: got.spfAligned,
          dkimAligned: got.dkimAligned,
        }, want, label);
        assert.equal(got.authResult, want.status === 'accept' ? 'pass' : 'fail', label);
        assert.equal(got.disposition, want.status === 'accept' ? 'none' : want.status, label);
        n++;
      }
    }
  }
  assert.equal(n, 3 * 3 * 3 * 4 * 4 * 4 * 6 * 6);
});

// ---------------------------------------------------------------------------------------------------------------
// Missing, multiple and broken records; DNS trouble.

const FAIL: Pick<DmarcInput, 'spf' | 'dkim'> = { spf: { domain: 'example.net', result: 'pass' }, dkim: [] };

test('no record at the From domain or its Organizational Domain: norecord, dmarc=none', async () => {
  const r = await evaluate({}, { from: 'a.b.example.com', ...FAIL });
  assert.deepEqual([r.status, r.authResult, r.domainPolicy, r.usedDomain, r.statusText], ['norecord', 'none', '', 'example.com', 'No DMARC record']);
  assert.equal(dmarcAuthResults(r), 'dmarc=none header.from=a.b.example.com');
});

test('only the lookups the RFC asks for: the org domain only when the From domain has no record', async () => {
  const d = dns({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] } });
  await evaluateDmarc({ from: 'example.com', ...FAIL }, { dns: d, random: never });
  assert.deepEqual(d.asked, ['_dmarc.example.com/TXT']);
  const d2 = dns({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject; sp=none']] } });
  await evaluateDmarc({ from: 'x.y.example.com', ...FAIL }, { dns: d2, random: never });
  assert.deepEqual(d2.asked, ['_dmarc.x.y.example.com/TXT', '_dmarc.example.com/TXT']);
});

test('TXT records that are not DMARC are discarded; a lower-case v=dmarc1 is not a record', async () => {
  const r = await evaluate({ '_dmarc.example.com': { TXT: [['v=spf1 -all'], ['v=dmarc1; p=reject'], ['hello']] } },
    { from: 'example.com', ...FAIL });
  assert.equal(r.status, 'norecord');
  assert.equal(r.authResult, 'none');
});

test('a record split over several strings is joined without spaces', async () => {
  const r = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=rej', 'ect; pct=100']] } }, { from: 'example.com', ...FAIL });
  assert.deepEqual([r.status, r.domainPolicy], ['reject', 'reject']);
});

test('several DMARC records: no DMARC (permerror), and no fallback to the Organizational Domain', async () => {
  const fx: DnsFixture = {
    '_dmarc.sub.example.com': { TXT: [['v=DMARC1; p=reject'], ['v=DMARC1; p=none']] },
    '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] },
  };
  const r = await evaluate(fx, { from: 'sub.example.com', ...FAIL });
  assert.deepEqual([r.status, r.authResult, r.usedDomain, r.domainPolicy], ['norecord', 'permerror', 'sub.example.com', '']);
  assert.match(r.statusText, /2 DMARC records/);
  const org = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject'], ['v=DMARC1; p=reject']] } },
    { from: 'sub.example.com', ...FAIL });
  assert.deepEqual([org.status, org.authResult, org.usedDomain], ['norecord', 'permerror', 'example.com']);
});

test('an unusable record at the From domain stops discovery; one with a valid rua= becomes p=none', async () => {
  const fx: DnsFixture = {
    '_dmarc.sub.example.com': { TXT: [['v=DMARC1; p=reject; p=none']] },
    '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] },
  };
  const r = await evaluate(fx, { from: 'sub.example.com', ...FAIL });
  assert.deepEqual([r.status, r.authResult], ['norecord', 'permerror']);
  assert.match(r.statusText, /duplicate tag p=/);
  const lax = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=hold; rua=mailto:d@example.com']] } },
    { from: 'example.com', ...FAIL });
  assert.deepEqual([lax.status, lax.authResult, lax.domainPolicy, lax.record?.assumedNone], ['none', 'fail', 'none', true]);
  assert.deepEqual(lax.rua.map((u) => u.address), ['d@example.com']);
});

test('DNS failure: temperror at the From domain or at the Organizational Domain', async () => {
  for (const failure of ['SERVFAIL', 'TIMEOUT'] as const) {
    const r = await evaluate({ '_dmarc.example.com': failure }, { from: 'example.com', ...FAIL });
    assert.deepEqual([r.status, r.authResult, r.domainPolicy, r.usedDomain], ['temperror', 'temperror', '', 'example.com']);
    assert.equal(dmarcAuthResults(r), 'dmarc=temperror header.from=example.com');
    const o = await evaluate({ '_dmarc.example.com': { TXT: failure } }, { from: 'mail.example.com', ...FAIL });
    assert.deepEqual([o.status, o.usedDomain], ['temperror', 'example.com']);
  }
  // A failure at the From domain is not hidden by a record at the Organizational Domain.
  const hidden = await evaluate({ '_dmarc.mail.example.com': 'SERVFAIL', '_dmarc.example.com': { TXT: [['v=DMARC1; p=none']] } },
    { from: 'mail.example.com', ...FAIL });
  assert.equal(hidden.status, 'temperror');
});

test('np= lookups: a temporary failure counts as existing (sp applies); checkNonexistent off ignores np=', async () => {
  const fx: DnsFixture = { '_dmarc.example.com': { TXT: [['v=DMARC1; p=none; sp=quarantine; np=reject']] }, 'flaky.example.com': 'SERVFAIL' };
  assert.equal((await evaluate(fx, { from: 'flaky.example.com', ...FAIL })).status, 'quarantine');
  assert.equal((await evaluate(fx, { from: 'ghost.example.com', ...FAIL })).status, 'reject');
  const off = await evaluateDmarc({ from: 'ghost.example.com', ...FAIL }, { dns: dns(fx), random: never, checkNonexistent: false });
  assert.deepEqual([off.status, off.policySource], ['quarantine', 'sp']);
  // A passing message needs no existence lookups.
  const d = dns(fx);
  await evaluateDmarc({ from: 'ghost.example.com', spf: { domain: 'example.com', result: 'pass' } }, { dns: d, random: never });
  assert.deepEqual(d.asked, ['_dmarc.ghost.example.com/TXT', '_dmarc.example.com/TXT']);
});

test('a From domain that is a public suffix has no Organizational Domain to fall back on', async () => {
  const r = await evaluate({ '_dmarc.co.uk': { TXT: [['v=DMARC1; p=reject']] } }, { from: 'co.uk', ...FAIL });
  assert.equal(r.status, 'reject');
  assert.equal(r.orgDomain, null);
  const d = dns({});
  const none = await evaluateDmarc({ from: 'com', ...FAIL }, { dns: d, random: never });
  assert.deepEqual([none.status, d.asked], ['norecord', ['_dmarc.com/TXT']]);
});

test('nofrom: from fromDomain() or an unusable domain string; never a lookup', async () => {
  const d = dns({});
  for (const from of [{ kind: 'nofrom', reason: '2 From: fields' } as const, '', '.', 'a..b']) {
    const r = await evaluateDmarc({ from, ...FAIL }, { dns: d, random: never });
    assert.deepEqual([r.status, r.authResult, r.fromDomain, r.usedDomain, r.domainPolicy], ['nofrom', 'permerror', '', '', '']);
    assert.equal(dmarcAuthResults(r), 'dmarc=permerror');
  }
  assert.deepEqual(d.asked, []);
  const ok = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] } },
    { from: { kind: 'ok', domain: 'Example.COM', address: 'a@example.com' }, spf: { domain: 'EXAMPLE.com.', result: 'pass' } });
  assert.deepEqual([ok.status, ok.fromDomain], ['accept', 'example.com']);
});

test('discoverPolicy reports where the record came from', async () => {
  const resolver = dns({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] } });
  const d = await discoverPolicy('a.example.com', { dns: resolver });
  assert.equal(d.kind, 'found');
  assert.deepEqual(d.kind === 'found' && [d.domain, d.atOrg, d.record.p], ['example.com', true, 'reject']);
});

// ---------------------------------------------------------------------------------------------------------------
// pct= sampling.

test('pct= sampling: reject -> quarantine and quarantine -> none when the draw is not below pct', async () => {
  const fx = (p: string, pct: number): DnsFixture => ({ '_dmarc.example.com': { TXT: [[`v=DMARC1; p=${p}; pct=${pct}`]] } });
  const cases: [string, number, number, string, boolean][] = [
    ['reject', 50, 0.49, 'reject', false],
    ['reject', 50, 0.5, 'quarantine', true],
    ['reject', 50, 0.999, 'quarantine', true],
    ['quarantine', 50, 0.0, 'quarantine', false],
    ['quarantine', 50, 0.75, 'none', true],
    ['reject', 0, 0, 'quarantine', true],
    ['reject', 1, 0.0099, 'reject', false],
    ['reject', 1, 0.01, 'quarantine', true],
    ['reject', 99, 0.989, 'reject', false],
    ['reject', 99, 0.99, 'quarantine', true],
  ];
  for (const [p, pct, draw, status, sampledOut] of cases) {
    let calls = 0;
    const r = await evaluate(fx(p, pct), { from: 'example.com', ...FAIL }, () => (calls++, draw));
    assert.deepEqual([r.status, r.disposition, r.sampledOut, r.domainPolicy, r.pct, calls], [status, status, sampledOut, p, pct, 1],
      `${p} pct=${pct} draw ${draw}`);
    if (sampledOut) assert.match(r.statusText, new RegExp(`${p} not applied: pct=${pct}`));
  }
});

test('pct= draws nothing at 100, for p=none, or for a pass', async () => {
  for (const rec of ['v=DMARC1; p=reject', 'v=DMARC1; p=reject; pct=100', 'v=DMARC1; p=none; pct=10']) {
    await evaluate({ '_dmarc.example.com': { TXT: [[rec]] } }, { from: 'example.com', ...FAIL });
  }
  const pass = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject; pct=10']] } },
    { from: 'example.com', dkim: [{ domain: 'example.com', result: 'pass' }] });
  assert.equal(pass.status, 'accept');
});

test('pct= over many draws: the share of enforced rejects follows pct', async () => {
  let seed = 42;
  const lcg = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const fx: DnsFixture = { '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject; pct=30']] } };
  const resolver = createFixtureResolver(fx);
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const r = await evaluateDmarc({ from: 'example.com', ...FAIL }, { dns: resolver, random: lcg });
    if (r.status === 'reject') rejected++;
    else assert.equal(r.status, 'quarantine');
  }
  assert.ok(rejected > 500 && rejected < 700, `rejected ${rejected} of 2000`);
});

// ---------------------------------------------------------------------------------------------------------------
// Authentication-Results and fo=.

test('Authentication-Results dmarc= piece', async () => {
  const fx: DnsFixture = { '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject; sp=quarantine; pct=50']] } };
  const pass = await evaluate(fx, { from: 'example.com', spf: { domain: 'bounce.example.com', result: 'pass' } });
  assert.equal(dmarcAuthResults(pass), 'dmarc=pass (p=reject dis=none) header.from=example.com');
  const sub = await evaluate(fx, { from: 'a.example.com', ...FAIL }, () => 0.9);
  assert.equal(dmarcAuthResults(sub), 'dmarc=fail (p=quarantine dis=none) header.from=a.example.com');
  const bad = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=x']] } }, { from: 'example.com', ...FAIL });
  assert.equal(dmarcAuthResults(bad), 'dmarc=permerror header.from=example.com');
});

test('fo=: which failures ask for a failure report', async () => {
  const rec = (fo: string): DnsFixture => ({ '_dmarc.example.com': { TXT: [[`v=DMARC1; p=none; ruf=mailto:f@example.com; fo=${fo}`]] } });
  const spfOnly: DmarcInput = { from: 'example.com', spf: { domain: 'example.com', result: 'pass' }, dkim: [{ domain: 'example.com', result: 'fail' }] };
  const nothing: DmarcInput = { from: 'example.com', spf: { domain: 'example.net', result: 'fail' } };
  const wanted = async (fo: string, input: DmarcInput): Promise<boolean> =>
    failureReportWanted(await evaluate(rec(fo), input), input);
  assert.equal(await wanted('0', nothing), true);
  assert.equal(await wanted('0', spfOnly), false);
  assert.equal(await wanted('1', spfOnly), true);
  assert.equal(await wanted('d', spfOnly), true);
  assert.equal(await wanted('s', spfOnly), false);
  assert.equal(await wanted('s', nothing), true);
  assert.equal(await wanted('d:s', { from: 'example.com', dkim: [{ domain: 'example.com', result: 'pass' }] }), false);
  const noRuf = await evaluate({ '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject']] } }, nothing);
  assert.equal(failureReportWanted(noRuf, nothing), false);
});
