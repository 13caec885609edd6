// Unit tests for externalReportAuthorized (protocol/dmarc/evaluate.ts): RFC 7489 section 7.1 verification of
// external report destinations, with its override URIs; reports never go to an unverified destination.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { externalReportAuthorized } from '../../../protocol/dmarc/evaluate.js';

async function check(fixture: DnsFixture, policy: string, dest: string) {
  const asked: string[] = [];
  const r = createFixtureResolver(fixture);
  const result = await externalReportAuthorized(policy, dest, {
    dns: { lookup: (name, type) => (asked.push(name), r.lookup(name, type)) },
  });
  return { result, asked };
}

test('the same Organizational Domain needs no query', async () => {
  const { result, asked } = await check({}, 'example.com', 'reports.example.com');
  assert.deepEqual(result, { kind: 'authorized', via: 'same-organization' });
  assert.deepEqual(asked, []);
  assert.equal((await check({}, 'Mail.Example.COM.', 'example.com')).result.kind, 'authorized');
});

test('another organization must publish <policy>._report._dmarc.<destination> starting with v=DMARC1', async () => {
  const fx: DnsFixture = {
    'example.com._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1']] },
    'semicolon.example._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1;']] },
    'lower.example._report._dmarc.thirdparty.example': { TXT: [['v=dmarc1']] },
    'spf.example._report._dmarc.thirdparty.example': { TXT: [['v=spf1 -all']] },
  };
  const ok = await check(fx, 'example.com', 'thirdparty.example');
  assert.deepEqual(ok.result, { kind: 'authorized', via: 'dns' });
  assert.deepEqual(ok.asked, ['example.com._report._dmarc.thirdparty.example']);
  assert.equal((await check(fx, 'semicolon.example', 'thirdparty.example')).result.kind, 'authorized');
  for (const policy of ['lower.example', 'spf.example', 'absent.example']) {
    const r = (await check(fx, policy, 'thirdparty.example')).result;
    assert.equal(r.kind, 'unauthorized', policy);
  }
});

test('a DNS failure is temperror: nothing is sent meanwhile', async () => {
  const r = (await check({ 'example.com._report._dmarc.thirdparty.example': 'SERVFAIL' }, 'example.com', 'thirdparty.example')).result;
  assert.equal(r.kind, 'temperror');
});

test('override URIs replace the original; an override leading elsewhere voids the authorization', async () => {
  const fx: DnsFixture = {
    'example.com._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1; rua=mailto:in@reports.thirdparty.example!5m']] },
    'b.example._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1; rua=mailto:x@evil.example']] },
    'c.example._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1; ruf=https://thirdparty.example/in']] },
    'd.example._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1; rua=a; rua=b']] },
  };
  const a = (await check(fx, 'example.com', 'thirdparty.example')).result;
  assert.equal(a.kind, 'authorized');
  assert.deepEqual(a.kind === 'authorized' && a.rua?.map((u) => [u.address, u.maxSize]), [['in@reports.thirdparty.example', 5 * 2 ** 20]]);
  assert.equal(a.kind === 'authorized' && a.ruf, undefined);
  const b = (await check(fx, 'b.example', 'thirdparty.example')).result;
  assert.equal(b.kind, 'unauthorized');
  assert.match(b.kind === 'unauthorized' ? b.reason : '', /outside thirdparty.example/);
  assert.equal((await check(fx, 'c.example', 'thirdparty.example')).result.kind, 'unauthorized');
  assert.deepEqual((await check(fx, 'd.example', 'thirdparty.example')).result, { kind: 'authorized', via: 'dns' });
});

test('empty domains are never authorized', async () => {
  assert.equal((await check({}, '', 'x.example')).result.kind, 'unauthorized');
  assert.equal((await check({}, 'x.example', '.')).result.kind, 'unauthorized');
});
