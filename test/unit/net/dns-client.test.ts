// The network DNS client (net/dns/client.ts) against the test DNS server over real UDP and TCP on 127.0.0.1:
// every type, truncation to TCP, negative answers, failures and retries, CNAME chains, the AD bit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createResolver, lookupAddresses, lookupTxtRaw } from '../../../net/dns/resolver.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import type { TestDnsServer } from '../../helpers/dns-server.js';
import { BIG_TXT, SYNTHETIC, closedUdpPort } from './dns-common.js';

const T = { timeout: 10_000 };

describe('DNS client against the test server', () => {
  let srv: TestDnsServer;
  before(async () => {
    srv = await startDnsServer(SYNTHETIC);
  });
  after(() => srv.close());

  /** A fresh resolver (empty cache) on the shared server; the clock stands still so TTLs are exact. */
  const resolver = (extra: { timeoutMs?: number; retries?: number } = {}) =>
    createResolver({ servers: [srv.server], timeoutMs: 1000, retries: 1, now: () => 0, ...extra });

  test('A and AAAA', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('host.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
    assert.deepEqual(await r.lookup('host.example', 'AAAA'), { kind: 'ok', records: ['2001:db8::1'], ad: false, ttl: 300 });
  });

  test('MX: exchange names lower-cased without the trailing dot; null MX is "."', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('Example.COM.', 'MX'), {
      kind: 'ok',
      records: [{ exchange: 'mx1.example.com', priority: 10 }, { exchange: 'mx2.example.com', priority: 20 }],
      ad: false,
      ttl: 300,
    });
    assert.deepEqual(await r.lookup('null-mx.example', 'MX'), { kind: 'ok', records: [{ exchange: '.', priority: 0 }], ad: false, ttl: 300 });
  });

  test('TXT: one string array per record, character-strings not joined; UTF-8; an empty record', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('example.com', 'TXT'), { kind: 'ok', records: [['v=spf1 -all'], ['first ', 'second']], ad: false, ttl: 300 });
    const utf8 = await r.lookup('utf8.example', 'TXT');
    assert.equal(utf8.kind, 'ok');
    if (utf8.kind === 'ok') assert.deepEqual(utf8.records, [['h\u00e9llo w\u00f6rld \u2603']]);
    const raw = await lookupTxtRaw(r, 'utf8.example');
    assert.equal(raw.kind, 'ok');
    if (raw.kind === 'ok') assert.deepEqual(raw.records[0]?.[0], Buffer.from('h\u00e9llo w\u00f6rld \u2603', 'utf8'));
    assert.deepEqual(await r.lookup('empty-txt.example', 'TXT'), { kind: 'ok', records: [[]], ad: false, ttl: 300 });
  });

  test('PTR, CNAME and TLSA', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('1.2.0.192.in-addr.arpa', 'PTR'), { kind: 'ok', records: ['host.example'], ad: false, ttl: 300 });
    // Asking for the CNAME itself gives the CNAME, not its target's records.
    assert.deepEqual(await r.lookup('alias2.example', 'CNAME'), { kind: 'ok', records: ['alias.example'], ad: false, ttl: 300 });
    const tlsa = await r.lookup('_25._tcp.mx1.example.com', 'TLSA');
    assert.deepEqual(tlsa, {
      kind: 'ok',
      records: [
        { usage: 3, selector: 1, matchingType: 1, data: Buffer.from('0123456789abcdef'.repeat(4), 'hex') },
        { usage: 2, selector: 0, matchingType: 2, data: Buffer.from([0xff, 0x00]) },
      ],
      ad: false,
      ttl: 300,
    });
  });

  test('a 3.5 KB TXT answer comes truncated over UDP and whole over TCP', T, async () => {
    const r = resolver();
    const before = srv.queries.length;
    const res = await r.lookup('big.example', 'TXT');
    assert.equal(res.kind, 'ok');
    if (res.kind === 'ok') assert.deepEqual(res.records, BIG_TXT);
    assert.deepEqual(srv.queries.slice(before), [
      { name: 'big.example', type: 'TXT', transport: 'udp' },
      { name: 'big.example', type: 'TXT', transport: 'tcp' },
    ]);
  });

  test('NXDOMAIN and NODATA carry the negative TTL from the SOA (min of TTL and MINIMUM: 30)', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 30 });
    assert.deepEqual(await r.lookup('absent.example', 'MX'), { kind: 'nxdomain', ad: false, ttl: 30 });
    assert.deepEqual(await r.lookup('v4only.example', 'AAAA'), { kind: 'nodata', ad: false, ttl: 30 });
    assert.deepEqual(await r.lookup('host.example', 'TXT'), { kind: 'nodata', ad: false, ttl: 30 });
  });

  test('SERVFAIL is a temperror, and a server that said it is not asked again', T, async () => {
    const r = resolver({ retries: 2 });
    const before = srv.queries.length;
    const res = await r.lookup('servfail.example', 'A');
    assert.equal(res.kind, 'temperror');
    if (res.kind === 'temperror') assert.match(res.reason, /SERVFAIL/);
    assert.equal(srv.queries.length - before, 1);
    const perType = await r.lookup('partial.example', 'MX');
    assert.equal(perType.kind, 'temperror');
  });

  test('TIMEOUT: bounded by timeoutMs x (1 + retries), then temperror', T, async () => {
    const r = resolver({ timeoutMs: 200, retries: 2 });
    const before = srv.queries.length;
    const start = Date.now();
    const res = await r.lookup('timeout.example', 'A');
    const elapsed = Date.now() - start;
    assert.equal(res.kind, 'temperror');
    if (res.kind === 'temperror') assert.match(res.reason, /timeout after 200 ms/);
    assert.equal(srv.queries.length - before, 3, 'one try and two retries');
    assert.ok(elapsed >= 550 && elapsed < 2000, `took ${elapsed} ms`);
  });

  test('CNAME chains in one answer are followed; the TTL is the lowest along the chain', T, async () => {
    const r = resolver();
    assert.deepEqual(await r.lookup('alias2.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
    assert.deepEqual(await r.lookup('c0.example', 'A'), { kind: 'ok', records: ['192.0.2.99'], ad: false, ttl: 300 }, '8 CNAMEs are allowed');
    assert.deepEqual(await r.lookup('alias.example', 'MX'), { kind: 'nodata', ad: false, ttl: 30 }, 'the target has no MX');
    assert.deepEqual(await r.lookup('dangling.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 30 }, 'the target does not exist');
    assert.equal((await r.lookup('d0.example', 'A')).kind, 'temperror', '9 CNAMEs are too many (the server says SERVFAIL)');
    assert.equal((await r.lookup('loop1.example', 'A')).kind, 'temperror');
  });

  test('invalid names are NXDOMAIN without a query', T, async () => {
    const r = resolver();
    const before = srv.queries.length;
    assert.deepEqual(await r.lookup('a..example', 'A'), { kind: 'nxdomain', ad: false, ttl: 0 });
    assert.deepEqual(await r.lookup(`${'a'.repeat(64)}.example`, 'A'), { kind: 'nxdomain', ad: false, ttl: 0 });
    assert.deepEqual(await r.lookup(`${'a'.repeat(60)}.`.repeat(5), 'A'), { kind: 'nxdomain', ad: false, ttl: 0 });
    assert.equal(srv.queries.length, before);
  });

  test('lookupAddresses: A and AAAA together', T, async () => {
    const r = resolver({ timeoutMs: 200, retries: 0 });
    assert.deepEqual(await lookupAddresses(r, 'host.example'), { kind: 'ok', addresses: ['192.0.2.1', '192.0.2.2', '2001:db8::1'], ad: false, ttl: 300 });
    assert.deepEqual(await lookupAddresses(r, 'v4only.example'), { kind: 'ok', addresses: ['192.0.2.3'], ad: false, ttl: 30 });
    assert.deepEqual(await lookupAddresses(r, 'partial.example'), { kind: 'ok', addresses: ['192.0.2.9'], ad: false, ttl: 300 }, 'AAAA timed out, A answered');
    assert.deepEqual(await lookupAddresses(r, 'gone.example'), { kind: 'nxdomain', ad: false, ttl: 30 });
    assert.deepEqual(await lookupAddresses(r, 'example.com'), { kind: 'nodata', ad: false, ttl: 30 });
    assert.equal((await lookupAddresses(r, 'timeout.example')).kind, 'temperror');
  });

  test('concurrent lookups of one name and type share one query', T, async () => {
    const r = resolver();
    const before = srv.queries.length;
    const results = await Promise.all(Array.from({ length: 20 }, () => r.lookup('host.example', 'A')));
    for (const res of results) assert.deepEqual(res, { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
    assert.equal(srv.queries.length - before, 1);
  });

  test('results are copies: changing one does not change the cache', T, async () => {
    const r = resolver();
    const first = await r.lookup('example.com', 'MX');
    assert.equal(first.kind, 'ok');
    if (first.kind === 'ok') {
      first.records.reverse();
      const mx = first.records[0];
      if (mx) mx.exchange = 'changed.example';
    }
    const second = await r.lookup('example.com', 'MX');
    assert.equal(second.kind, 'ok');
    if (second.kind === 'ok') assert.deepEqual(second.records[0], { exchange: 'mx1.example.com', priority: 10 });
  });
});

describe('DNS client: servers, failover, AD bit', () => {
  test('the next server answers when the first times out', T, async () => {
    const dead = await startDnsServer({ 'host.example': 'TIMEOUT' });
    const live = await startDnsServer(SYNTHETIC);
    try {
      const r = createResolver({ servers: [dead.server, live.server], timeoutMs: 200, retries: 0 });
      const start = Date.now();
      assert.deepEqual(await r.lookup('host.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
      assert.ok(Date.now() - start >= 190, 'waited for the first server');
      assert.equal(dead.queries.length, 1);
      assert.equal(live.queries.length, 1);
    } finally {
      await dead.close();
      await live.close();
    }
  });

  test('an unreachable server (port closed) fails at once and the next one is asked', T, async () => {
    const live = await startDnsServer(SYNTHETIC);
    try {
      const port = await closedUdpPort();
      const r = createResolver({ servers: [`127.0.0.1:${port}`, live.server], timeoutMs: 1500, retries: 0 });
      const start = Date.now();
      assert.equal((await r.lookup('host.example', 'A')).kind, 'ok');
      assert.ok(Date.now() - start < 1000, 'did not wait for the timeout');
      const alone = createResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 1500, retries: 1 });
      const res = await alone.lookup('host.example', 'A');
      assert.equal(res.kind, 'temperror');
      if (res.kind === 'temperror') assert.match(res.reason, /ECONNREFUSED/);
    } finally {
      await live.close();
    }
  });

  test('timeouts rotate over every server in each round', T, async () => {
    const a = await startDnsServer({ 'x.example': 'TIMEOUT' });
    const b = await startDnsServer({ 'x.example': 'TIMEOUT' });
    try {
      const r = createResolver({ servers: [a.server, b.server], timeoutMs: 150, retries: 1 });
      const start = Date.now();
      assert.equal((await r.lookup('x.example', 'A')).kind, 'temperror');
      const elapsed = Date.now() - start;
      assert.equal(a.queries.length, 2);
      assert.equal(b.queries.length, 2);
      assert.ok(elapsed >= 550 && elapsed < 2000, `took ${elapsed} ms`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('the AD bit is passed through, for answers and negative answers, over UDP and TCP', T, async () => {
    const validating = await startDnsServer(SYNTHETIC, { ad: true });
    try {
      const r = createResolver({ servers: [validating.server], now: () => 0 });
      assert.deepEqual(await r.lookup('host.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: true, ttl: 300 });
      assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: true, ttl: 30 });
      assert.deepEqual(await r.lookup('v4only.example', 'AAAA'), { kind: 'nodata', ad: true, ttl: 30 });
      const big = await r.lookup('big.example', 'TXT');
      assert.equal(big.kind === 'ok' && big.ad, true);
      assert.deepEqual(await lookupAddresses(r, 'host.example'), { kind: 'ok', addresses: ['192.0.2.1', '192.0.2.2', '2001:db8::1'], ad: true, ttl: 300 });
    } finally {
      await validating.close();
    }
  });

  test('CNAME-only answers (a server that does not chase) are followed by asking for the target', T, async () => {
    const auth = await startDnsServer(SYNTHETIC, { followCname: false, ad: true });
    try {
      const r = createResolver({ servers: [auth.server], now: () => 0, timeoutMs: 200, retries: 0 });
      assert.deepEqual(await r.lookup('alias2.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: true, ttl: 300 });
      assert.deepEqual(auth.queries.map((q) => q.name), ['alias2.example', 'alias.example', 'host.example']);
      // The targets were cached on the way: asking for one of them sends nothing.
      assert.equal((await r.lookup('alias.example', 'A')).kind, 'ok');
      assert.equal(auth.queries.length, 3);
      assert.deepEqual(await r.lookup('dangling.example', 'A'), { kind: 'nxdomain', ad: true, ttl: 30 });
      assert.equal((await r.lookup('c0.example', 'A')).kind, 'ok', '8 CNAMEs');
      const long = await r.lookup('d0.example', 'A');
      assert.equal(long.kind, 'temperror', '9 CNAMEs');
      if (long.kind === 'temperror') assert.match(long.reason, /CNAME chain/);
      const loop = await r.lookup('loop1.example', 'A');
      assert.equal(loop.kind, 'temperror');
      assert.ok(auth.queries.filter((q) => q.name.startsWith('loop')).length <= 9, 'a loop is bounded');
      assert.equal((await r.lookup('to-timeout.example', 'A')).kind, 'temperror');
    } finally {
      await auth.close();
    }
  });
});
