// DNS fixtures (net/dns/fixture.ts): validation, the fixture resolver, and the same answers from the fixture
// resolver as from the network resolver talking to the test server serving that fixture.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DNS_TYPES,
  DnsConfigError,
  createFixtureResolver,
  createResolver,
  loadDnsFixture,
  loadDnsFixtureSync,
  lookupAddresses,
  lookupTxtRaw,
  parseDnsFixture,
} from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import { SYNTHETIC } from './dns-common.js';

const T = { timeout: 20_000 };
// dist/test/unit/net -> the repository, then the shared conformance data beside it.
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const DKIM_DNS = join(REPO, '../shared/conformance/dkim-rfc8463-mailauth/dns.json');

function configError(pattern: RegExp) {
  return (err: unknown) => err instanceof DnsConfigError && err.code === 'DNS_CONFIG' && pattern.test(err.message);
}

test('the DKIM conformance dns.json loads and answers its TXT records', T, async () => {
  const fixture = await loadDnsFixture(DKIM_DNS);
  assert.deepEqual(loadDnsFixtureSync(DKIM_DNS), fixture);
  const r = createFixtureResolver(fixture);
  const ed = await r.lookup('brisbane._domainkey.football.example.com', 'TXT');
  assert.deepEqual(ed, { kind: 'ok', records: [['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']], ad: false, ttl: 300 });
  const rsa = await r.lookup('test._domainkey.football.example.com', 'TXT');
  assert.equal(rsa.kind, 'ok');
  if (rsa.kind === 'ok') {
    assert.equal(rsa.records.length, 1);
    assert.equal(rsa.records[0]?.length, 4, 'four character-strings, not joined');
    assert.match(rsa.records[0]?.join('') ?? '', /^v=DKIM1; k=rsa; p=MIGf.*IDAQAB$/);
  }
  assert.deepEqual(await r.lookup('football.example.com', 'A'), { kind: 'nodata', ad: false, ttl: 30 });
  assert.deepEqual(await r.lookup('nope._domainkey.football.example.com', 'TXT'), { kind: 'nxdomain', ad: false, ttl: 30 });
});

test('fixture resolver: outcomes, names normalized, TIMEOUT at once, the ad option', T, async () => {
  const r = createFixtureResolver(SYNTHETIC);
  assert.deepEqual(await r.lookup('HOST.Example.', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
  assert.deepEqual(await r.lookup('host.example', 'AAAA'), { kind: 'ok', records: ['2001:db8::1'], ad: false, ttl: 300 });
  assert.deepEqual(await r.lookup('example.com', 'MX'), {
    kind: 'ok',
    records: [{ exchange: 'mx1.example.com', priority: 10 }, { exchange: 'mx2.example.com', priority: 20 }],
    ad: false,
    ttl: 300,
  });
  assert.deepEqual(await r.lookup('alias2.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
  assert.deepEqual(await r.lookup('alias2.example', 'CNAME'), { kind: 'ok', records: ['alias.example'], ad: false, ttl: 300 });
  assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 30 });
  assert.deepEqual(await r.lookup('never-listed.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 30 });
  assert.deepEqual(await r.lookup('host.example', 'MX'), { kind: 'nodata', ad: false, ttl: 30 });
  const start = Date.now();
  const timeout = await r.lookup('timeout.example', 'TXT');
  assert.equal(timeout.kind, 'temperror');
  assert.ok(Date.now() - start < 50);
  assert.equal((await r.lookup('servfail.example', 'A')).kind, 'temperror');
  assert.equal((await r.lookup('partial.example', 'AAAA')).kind, 'temperror');
  assert.equal((await r.lookup('partial.example', 'MX')).kind, 'temperror');
  assert.equal((await r.lookup('d0.example', 'A')).kind, 'temperror', 'more than 8 CNAMEs');
  assert.equal((await r.lookup('loop1.example', 'A')).kind, 'temperror');
  const raw = await lookupTxtRaw(r, 'utf8.example');
  assert.equal(raw.kind, 'ok');
  if (raw.kind === 'ok') assert.deepEqual(raw.records, [[Buffer.from('h\u00e9llo w\u00f6rld \u2603', 'utf8')]]);
  const ad = createFixtureResolver(SYNTHETIC, { ad: true });
  assert.deepEqual(await ad.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: true, ttl: 30 });
});

test('fixture validation: keys normalized, unknown types ignored, faults named', T, async () => {
  // JSON fixtures may carry types the client does not ask for (SPF, NS): ignored, but the name exists.
  const withSpf = JSON.parse('{ "Mixed.Example.": { "A": ["192.0.2.1"] }, "spf.example": { "SPF": [["v=spf1"]] } }') as DnsFixture;
  const r = createFixtureResolver(withSpf);
  assert.equal((await r.lookup('mixed.example', 'A')).kind, 'ok');
  assert.deepEqual(await r.lookup('spf.example', 'TXT'), { kind: 'nodata', ad: false, ttl: 30 });
  const bad: [unknown, RegExp][] = [
    [[], /top level/],
    [null, /top level/],
    [{ 'a.example': 'GONE' }, /a\.example/],
    [{ 'a.example': { txt: [['x']] } }, /a\.example\.txt: record types are upper case/],
    [{ 'a..example': { A: [] } }, /not a valid domain name/],
    [{ 'a.example': {}, 'A.example.': {} }, /listed twice/],
    [{ 'a.example': { A: '192.0.2.1' } }, /a\.example\.A: expected a list/],
    [{ 'a.example': { A: ['192.0.2.256'] } }, /a\.example\.A\[0\]: expected an IPv4/],
    [{ 'a.example': { AAAA: ['192.0.2.1'] } }, /expected an IPv6/],
    [{ 'a.example': { MX: [{ exchange: 'mx.example' }] } }, /MX\[0\]/],
    [{ 'a.example': { MX: [{ exchange: 'mx.example', priority: 70000 }] } }, /MX\[0\]/],
    [{ 'a.example': { TXT: ['not a list of lists'] } }, /TXT\[0\]: expected a list of strings/],
    [{ 'a.example': { TXT: [['x'.repeat(256)]] } }, /at most 255 octets/],
    [{ 'a.example': { TXT: [['\u00e9'.repeat(128)]] } }, /at most 255 octets/],
    [{ 'a.example': { TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: 'abc' }] } }, /data must be hex/],
    [{ 'a.example': { TLSA: [{ usage: 256, selector: 1, matchingType: 1, data: '' }] } }, /TLSA\[0\]/],
    [{ 'a.example': { CNAME: ['b.example', 'c.example'] } }, /at most one CNAME/],
    [{ 'a.example': { PTR: ['bad..name'] } }, /invalid domain name/],
  ];
  for (const [value, pattern] of bad) assert.throws(() => parseDnsFixture(value), configError(pattern), JSON.stringify(value));
  assert.throws(() => createFixtureResolver({ 'a.example': { A: ['nope'] } }), configError(/IPv4/));
});

test('loadDnsFixture: unreadable file and bad JSON are DnsConfigErrors', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-dns-fixture-'));
  try {
    await assert.rejects(loadDnsFixture(join(dir, 'missing.json')), configError(/cannot read/));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "a.example": ');
    await assert.rejects(loadDnsFixture(broken), configError(/not JSON/));
    assert.throws(() => loadDnsFixtureSync(broken), configError(/not JSON/));
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ 'a.example': { A: ['x'] } }));
    await assert.rejects(loadDnsFixture(wrong), configError(/wrong\.json: a\.example\.A\[0\]/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every (name, type) of the fixture, plus absent names, asked of both resolvers; temperror compared by kind. */
async function assertSameAnswers(fixture: DnsFixture, ad: boolean): Promise<number> {
  const srv = await startDnsServer(fixture, { ad });
  try {
    const net = createResolver({ servers: [srv.server], timeoutMs: 300, retries: 0, now: () => 0 });
    const mem = createFixtureResolver(fixture, { ad });
    const names = [...Object.keys(fixture), 'absent.example', 'deeper.absent.example'];
    const pairs = names.flatMap((name) => DNS_TYPES.map((type) => [name, type] as const));
    const summarize = <R extends { kind: string }>(r: R): R | { kind: string } => (r.kind === 'temperror' ? { kind: r.kind } : r);
    await Promise.all(
      pairs.map(async ([name, type]) => {
        const [a, b] = await Promise.all([net.lookup(name, type), mem.lookup(name, type)]);
        assert.deepEqual(summarize(a), summarize(b), `${name} ${type}`);
      }),
    );
    await Promise.all(
      names.map(async (name) => {
        const [a, b] = await Promise.all([lookupTxtRaw(net, name), lookupTxtRaw(mem, name)]);
        assert.deepEqual(summarize(a), summarize(b), `${name} raw TXT`);
        const [x, y] = await Promise.all([lookupAddresses(net, name), lookupAddresses(mem, name)]);
        assert.deepEqual(x.kind === 'temperror' ? x.kind : x, y.kind === 'temperror' ? y.kind : y, `${name} addresses`);
      }),
    );
    return pairs.length;
  } finally {
    await srv.close();
  }
}

test('network and fixture resolvers agree on the DKIM conformance dns.json', T, async () => {
  const n = await assertSameAnswers(await loadDnsFixture(DKIM_DNS), false);
  assert.equal(n, 5 * DNS_TYPES.length);
});

test('network and fixture resolvers agree on the synthetic fixture (with and without AD)', T, async () => {
  const n = await assertSameAnswers(SYNTHETIC, false);
  assert.ok(n > 150);
  await assertSameAnswers(SYNTHETIC, true);
});
