// The DNS client's cache (net/dns/cache.ts, client.ts): TTL expiry on an injected clock, negative caching with the
// SOA values (RFC 2308 5), no caching of temporary failures, LRU bound.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AnswerCache } from '../../../net/dns/cache.js';
import { createResolver } from '../../../net/dns/resolver.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import type { TestDnsServer } from '../../helpers/dns-server.js';
import { SYNTHETIC, manualClock } from './dns-common.js';

const T = { timeout: 10_000 };

describe('AnswerCache', () => {
  test('expires at the TTL and reports what is left, rounded up', T, () => {
    const clock = manualClock();
    const c = new AnswerCache(10, clock.now);
    c.set('k', { kind: 'ok', records: ['192.0.2.1'], ad: false, ttl: 10 });
    assert.deepEqual(c.get('k'), { kind: 'ok', records: ['192.0.2.1'], ad: false, ttl: 10 });
    clock.advance(2500);
    assert.equal(c.get('k')?.ttl, 8);
    clock.advance(7499);
    assert.equal(c.get('k')?.ttl, 1);
    clock.advance(1);
    assert.equal(c.get('k'), undefined);
    assert.equal(c.size, 0, 'an expired entry is dropped when seen');
  });

  test('TTL 0 is not stored; size 0 stores nothing', T, () => {
    const clock = manualClock();
    const c = new AnswerCache(10, clock.now);
    c.set('zero', { kind: 'nodata', ad: false, ttl: 0 });
    assert.equal(c.get('zero'), undefined);
    const off = new AnswerCache(0, clock.now);
    off.set('k', { kind: 'nodata', ad: false, ttl: 30 });
    assert.equal(off.get('k'), undefined);
  });

  test('least recently used out first', T, () => {
    const clock = manualClock();
    const c = new AnswerCache(3, clock.now);
    for (const k of ['a', 'b', 'c']) c.set(k, { kind: 'nxdomain', ad: false, ttl: 60 });
    assert.ok(c.get('a'), 'a is now the most recent');
    c.set('d', { kind: 'nxdomain', ad: false, ttl: 60 });
    assert.equal(c.size, 3);
    assert.equal(c.get('b'), undefined, 'b was the least recently used');
    assert.ok(c.get('a') && c.get('c') && c.get('d'));
  });
});

describe('resolver cache against the test server', () => {
  let srv: TestDnsServer;
  before(async () => {
    srv = await startDnsServer(SYNTHETIC);
  });
  after(() => srv.close());
  const count = (name: string) => srv.queries.filter((q) => q.name === name).length;

  test('a cached answer sends no query until its TTL runs out', T, async () => {
    const clock = manualClock();
    const r = createResolver({ servers: [srv.server], now: clock.now });
    const start = count('host.example');
    assert.equal((await r.lookup('host.example', 'A')).kind, 'ok');
    assert.equal(count('host.example'), start + 1);
    clock.advance(100_000);
    assert.deepEqual(await r.lookup('HOST.example.', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 200 }, 'same entry for any case and a trailing dot');
    clock.advance(199_999);
    assert.equal((await r.lookup('host.example', 'A')).kind === 'ok', true);
    assert.equal(count('host.example'), start + 1, 'still cached just before 300 s');
    clock.advance(1);
    assert.deepEqual(await r.lookup('host.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
    assert.equal(count('host.example'), start + 2, 'asked again at 300 s');
    // Other types of the same name are separate entries.
    await r.lookup('host.example', 'AAAA');
    assert.equal(count('host.example'), start + 3);
  });

  test('NODATA and NXDOMAIN are cached for the SOA minimum', T, async () => {
    const clock = manualClock();
    const r = createResolver({ servers: [srv.server], now: clock.now });
    const nodata0 = count('v4only.example');
    const nx0 = count('gone.example');
    assert.deepEqual(await r.lookup('v4only.example', 'AAAA'), { kind: 'nodata', ad: false, ttl: 30 });
    assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 30 });
    clock.advance(29_999);
    assert.deepEqual(await r.lookup('v4only.example', 'AAAA'), { kind: 'nodata', ad: false, ttl: 1 });
    assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 1 });
    assert.equal(count('v4only.example'), nodata0 + 1);
    assert.equal(count('gone.example'), nx0 + 1);
    clock.advance(1);
    await r.lookup('v4only.example', 'AAAA');
    await r.lookup('gone.example', 'A');
    assert.equal(count('v4only.example'), nodata0 + 2);
    assert.equal(count('gone.example'), nx0 + 2);
  });

  test('the negative TTL is the lower of the SOA TTL and MINIMUM', T, async () => {
    const low = await startDnsServer(SYNTHETIC, { soaMinimum: 5 });
    const lowTtl = await startDnsServer(SYNTHETIC, { soaMinimum: 600, soaTtl: 20 });
    try {
      const clock = manualClock();
      const r = createResolver({ servers: [low.server], now: clock.now });
      assert.deepEqual(await r.lookup('gone.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 5 });
      clock.advance(4999);
      await r.lookup('gone.example', 'A');
      assert.equal(low.queries.length, 1);
      clock.advance(1);
      await r.lookup('gone.example', 'A');
      assert.equal(low.queries.length, 2);
      const r2 = createResolver({ servers: [lowTtl.server], now: clock.now });
      assert.deepEqual(await r2.lookup('host.example', 'MX'), { kind: 'nodata', ad: false, ttl: 20 });
    } finally {
      await low.close();
      await lowTtl.close();
    }
  });

  test('temporary failures are not cached', T, async () => {
    const own = await startDnsServer({ 'flaky.example': 'SERVFAIL', 'slow.example': 'TIMEOUT' });
    try {
      const r = createResolver({ servers: [own.server], timeoutMs: 150, retries: 0, now: () => 0 });
      assert.equal((await r.lookup('flaky.example', 'A')).kind, 'temperror');
      assert.equal((await r.lookup('flaky.example', 'A')).kind, 'temperror');
      assert.equal(own.queries.length, 2, 'SERVFAIL asked again');
      assert.equal((await r.lookup('slow.example', 'A')).kind, 'temperror');
      own.setFixture({ 'flaky.example': { A: ['192.0.2.5'] }, 'slow.example': { A: ['192.0.2.6'] } });
      assert.deepEqual(await r.lookup('flaky.example', 'A'), { kind: 'ok', records: ['192.0.2.5'], ad: false, ttl: 300 });
      assert.deepEqual(await r.lookup('slow.example', 'A'), { kind: 'ok', records: ['192.0.2.6'], ad: false, ttl: 300 });
      // Now cached: a change on the server is not seen until the TTL runs out.
      own.setFixture({ 'flaky.example': { A: ['192.0.2.55'] } });
      assert.deepEqual(await r.lookup('flaky.example', 'A'), { kind: 'ok', records: ['192.0.2.5'], ad: false, ttl: 300 });
      r.clearCache();
      assert.deepEqual(await r.lookup('flaky.example', 'A'), { kind: 'ok', records: ['192.0.2.55'], ad: false, ttl: 300 });
    } finally {
      await own.close();
    }
  });

  test('cacheSize bounds the entries (LRU); 0 turns the cache off', T, async () => {
    const clock = manualClock();
    const r = createResolver({ servers: [srv.server], now: clock.now, cacheSize: 2 });
    const before = srv.queries.length;
    await r.lookup('host.example', 'A');
    await r.lookup('v4only.example', 'A');
    await r.lookup('host.example', 'A'); // hit; v4only is now the least recently used
    await r.lookup('example.com', 'MX'); // evicts v4only
    assert.equal(srv.queries.length - before, 3);
    await r.lookup('host.example', 'A');
    assert.equal(srv.queries.length - before, 3, 'host.example kept');
    await r.lookup('v4only.example', 'A');
    assert.equal(srv.queries.length - before, 4, 'v4only.example was evicted');

    const off = createResolver({ servers: [srv.server], now: clock.now, cacheSize: 0 });
    const mark = srv.queries.length;
    await off.lookup('host.example', 'A');
    await off.lookup('host.example', 'A');
    assert.equal(srv.queries.length - mark, 2);
  });

  test('a CNAME chain is cached under the asked name for the lowest TTL along it', T, async () => {
    const short = await startDnsServer(SYNTHETIC, { ttl: 40 });
    try {
      const clock = manualClock();
      const r = createResolver({ servers: [short.server], now: clock.now });
      assert.deepEqual(await r.lookup('alias2.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 40 });
      clock.advance(39_000);
      assert.equal((await r.lookup('alias2.example', 'A')).kind, 'ok');
      assert.equal(short.queries.length, 1);
      clock.advance(1_000);
      await r.lookup('alias2.example', 'A');
      assert.equal(short.queries.length, 2);
    } finally {
      await short.close();
    }
  });
});
