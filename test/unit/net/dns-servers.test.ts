// Server addresses for the DNS client (net/dns/servers.ts): `ip:port` strings, resolv.conf, and option errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DnsConfigError, createResolver, parseResolvConf, parseServer, readResolvConf } from '../../../net/dns/resolver.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import { SYNTHETIC } from './dns-common.js';

const T = { timeout: 10_000 };

test('parseServer: IPv4 and IPv6, with or without a port', T, () => {
  assert.deepEqual(parseServer('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353, family: 4, label: '127.0.0.1:5353' });
  assert.deepEqual(parseServer('192.0.2.53'), { address: '192.0.2.53', port: 53, family: 4, label: '192.0.2.53:53' });
  assert.deepEqual(parseServer('[::1]:53'), { address: '::1', port: 53, family: 6, label: '[::1]:53' });
  assert.deepEqual(parseServer('[2001:DB8:0:0::53]:1053'), { address: '2001:db8::53', port: 1053, family: 6, label: '[2001:db8::53]:1053' });
  assert.deepEqual(parseServer('[::1]'), { address: '::1', port: 53, family: 6, label: '[::1]:53' });
  assert.deepEqual(parseServer('::1'), { address: '::1', port: 53, family: 6, label: '[::1]:53' });
  assert.equal(parseServer(' 10.0.0.1:53 ').address, '10.0.0.1');
  assert.equal(parseServer('fe80::1%eth0').address, 'fe80::1%eth0');
});

test('parseServer: anything else is a DnsConfigError with code DNS_CONFIG', T, () => {
  for (const bad of ['', 'localhost', 'localhost:53', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:5x', '1.2.3', '01.2.3.4', '[127.0.0.1]:53', '[::1]:', '::1:53:x', '[::g]:53', '1.2.3.4:53:53']) {
    assert.throws(() => parseServer(bad), (err: unknown) => err instanceof DnsConfigError && err.code === 'DNS_CONFIG' && err.message.includes(`"${bad}"`), bad);
  }
});

test('createResolver: bad options are DnsConfigErrors at creation', T, () => {
  assert.throws(() => createResolver({ servers: ['127.0.0.1:53', 'nope'] }), { code: 'DNS_CONFIG', name: 'DnsConfigError' });
  assert.throws(() => createResolver({ servers: ['127.0.0.1'], timeoutMs: 0 }), { code: 'DNS_CONFIG' });
  assert.throws(() => createResolver({ servers: ['127.0.0.1'], retries: -1 }), { code: 'DNS_CONFIG' });
  assert.throws(() => createResolver({ servers: ['127.0.0.1'], retries: 1.5 }), { code: 'DNS_CONFIG' });
});

test('parseResolvConf: nameserver lines in order; comments, other keywords and bad addresses skipped', T, () => {
  const text = [
    '# generated',
    'search example.com',
    'nameserver 192.0.2.1',
    '; nameserver 192.0.2.99',
    'nameserver   ::1   # local',
    'nameserver not-an-ip',
    'nameserver 192.0.2.2:5353',
    'options timeout:1 attempts:2',
    '  nameserver\t198.51.100.7',
    'nameserverx 192.0.2.98',
    'nameserver fe80::1%eth0',
    '',
  ].join('\n');
  assert.deepEqual(
    parseResolvConf(text).map((s) => s.label),
    ['192.0.2.1:53', '[::1]:53', '198.51.100.7:53', '[fe80::1%eth0]:53'],
  );
  assert.deepEqual(parseResolvConf(''), []);
});

test('readResolvConf: a missing file or one with no nameserver means 127.0.0.1:53', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-dns-'));
  try {
    assert.deepEqual((await readResolvConf(join(dir, 'missing'))).map((s) => s.label), ['127.0.0.1:53']);
    const empty = join(dir, 'empty.conf');
    writeFileSync(empty, 'search example.com\n');
    assert.deepEqual((await readResolvConf(empty)).map((s) => s.label), ['127.0.0.1:53']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with no servers option, the resolver asks the resolv.conf servers (read at the first lookup)', T, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-dns-'));
  const srv = await startDnsServer(SYNTHETIC);
  try {
    const conf = join(dir, 'resolv.conf');
    writeFileSync(conf, '# test\nnameserver 127.0.0.1\n');
    // An explicit servers list wins over resolv.conf.
    const explicit = createResolver({ resolvConf: conf, servers: [srv.server] });
    assert.equal((await explicit.lookup('host.example', 'A')).kind, 'ok');
    // resolv.conf has no port syntax, so its server is 127.0.0.1:53: serve the fixture there if we may bind it.
    let onPort53: Awaited<ReturnType<typeof startDnsServer>> | null = null;
    try {
      onPort53 = await startDnsServer(SYNTHETIC, { port: 53 });
    } catch {
      onPort53 = null;
    }
    const r = createResolver({ resolvConf: conf, servers: [], timeoutMs: 300, retries: 0 });
    const res = await r.lookup('host.example', 'A');
    if (onPort53) {
      assert.deepEqual(res, { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 300 });
      assert.equal(onPort53.queries.length, 1);
      await onPort53.close();
    } else if (res.kind === 'temperror') {
      assert.match(res.reason, /127\.0\.0\.1:53/);
    } else {
      t.skip('port 53 is in use by another resolver and cannot be bound here');
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
