// Unit tests for checkHost (RFC 7208 sections 4-6): processing limits (section 4.6.4), loops and bounded work,
// malformed records, oversized TXT answers, IPv6, explanations and DNS failures, over net/dns fixture resolvers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { checkHost } from '../../../protocol/spf/index.js';
import type { SpfResolver } from '../../../protocol/spf/index.js';
import { NOW, check, fixtureDns, txt } from './helpers.js';

const IP = '192.0.2.10';
const OTHER = { A: ['198.51.100.1'] };

/** `n` names host<i>.example, each with an address that is not the client's (no void lookups). */
function hosts(n: number, prefix = 'host'): DnsFixture {
  const f: DnsFixture = {};
  for (let i = 1; i <= n; i++) f[`${prefix}${i}.example`] = OTHER;
  return f;
}

function aTerms(n: number, prefix = 'host'): string {
  return Array.from({ length: n }, (_, i) => `a:${prefix}${i + 1}.example`).join(' ');
}

describe('limit of 10 DNS-querying terms', () => {
  test('10 are evaluated; the 11th is a permerror', async () => {
    const at = fixtureDns({ ...hosts(11), 'at.example': { TXT: [[`v=spf1 ${aTerms(10)} ip4:${IP} -all`]] } });
    assert.equal((await check(at, { ip: IP, sender: 'a@at.example' })).kind, 'pass');
    const over = fixtureDns({ ...hosts(11), 'over.example': { TXT: [[`v=spf1 ${aTerms(11)} ip4:${IP} -all`]] } });
    const r = await check(over, { ip: IP, sender: 'a@over.example' });
    assert.equal(r.kind, 'permerror');
    assert.equal(r.mechanism, 'a:host11.example');
    assert.match(r.reason ?? '', /more than 10 DNS-querying/);
    assert.ok(!over.queries.includes('A host11.example'), 'the 11th term sends no query');
  });

  test('terms in included records and redirect= count toward the same 10', async () => {
    const dns = fixtureDns({
      ...hosts(10),
      'top.example': { TXT: [[`v=spf1 ${aTerms(3)} include:inc.example redirect=red.example`]] },
      'inc.example': { TXT: [[`v=spf1 ${aTerms(3)}`]] },
      // 3 + include + 3 + redirect = 8, then 2 more are fine and the 3rd is one too many.
      'red.example': { TXT: [[`v=spf1 a:host1.example a:host2.example a:host3.example ip4:${IP}`]] },
    });
    const r = await check(dns, { ip: IP, sender: 'a@top.example' });
    assert.equal(r.kind, 'permerror');
    assert.equal(r.mechanism, 'a:host3.example');
  });

  test('all, ip4 and ip6 do not count; the limit is a port setting', async () => {
    const many = Array.from({ length: 50 }, (_, i) => `ip4:203.0.113.${i}`).join(' ');
    const dns = fixtureDns({ ...hosts(3), 'x.example': { TXT: [txt(`v=spf1 ${many} ${aTerms(3)} ip6:2001:db8::/32 -all`)] } });
    assert.equal((await check(dns, { ip: IP, sender: 'a@x.example' })).kind, 'fail');
    const r = await check(dns, { ip: IP, sender: 'a@x.example' }, { limits: { dnsTerms: 2 } });
    assert.equal(r.kind, 'permerror');
  });
});

describe('limit of 2 void lookups', () => {
  const zone: DnsFixture = {
    'two.example': { TXT: [['v=spf1 a:gone1.example exists:gone2.example ?all']] },
    'three.example': { TXT: [['v=spf1 a:gone1.example mx:nomx.example ptr ?all']] },
    'nomx.example': { A: ['198.51.100.9'] },
  };

  test('two are allowed', async () => {
    const r = await check(fixtureDns(zone), { ip: IP, sender: 'a@two.example' });
    assert.equal(r.kind, 'neutral');
  });

  test('the third (NXDOMAIN, no MX, no PTR alike) is a permerror', async () => {
    const r = await check(fixtureDns(zone), { ip: IP, sender: 'a@three.example' });
    assert.equal(r.kind, 'permerror');
    assert.equal(r.mechanism, 'ptr');
    assert.match(r.reason ?? '', /more than 2 void/);
  });

  test('the exp= lookup after a fail is not counted', async () => {
    const dns = fixtureDns({ 'e.example': { TXT: [['v=spf1 a:gone1.example a:gone2.example exp=gone3.example -all']] } });
    const r = await check(dns, { ip: IP, sender: 'a@e.example' });
    assert.equal(r.kind, 'fail');
    assert.ok(dns.queries.includes('TXT gone3.example'));
  });
});

describe('MX and PTR name limits', () => {
  function mxZone(n: number): DnsFixture {
    const mx = Array.from({ length: n }, (_, i) => ({ exchange: `mx${i}.example`, priority: i }));
    const f: DnsFixture = { 'm.example': { TXT: [['v=spf1 mx -all']], MX: mx } };
    for (let i = 0; i < n; i++) f[`mx${i}.example`] = { A: [i === n - 1 ? IP : '198.51.100.1'] };
    return f;
  }

  test('10 MX names are looked up; 11 is a permerror with no address lookups', async () => {
    assert.equal((await check(fixtureDns(mxZone(10)), { ip: IP, sender: 'a@m.example' })).kind, 'pass');
    const dns = fixtureDns(mxZone(11));
    const r = await check(dns, { ip: IP, sender: 'a@m.example' });
    assert.equal(r.kind, 'permerror');
    assert.deepEqual(dns.queries, ['TXT m.example', 'MX m.example']);
  });

  test('a null MX (RFC 7505) has no addresses', async () => {
    const dns = fixtureDns({ 'n.example': { TXT: [['v=spf1 mx -all']], MX: [{ exchange: '.', priority: 0 }] } });
    assert.equal((await check(dns, { ip: IP, sender: 'a@n.example' })).kind, 'fail');
    assert.deepEqual(dns.queries, ['TXT n.example', 'MX n.example']);
  });

  test('only the first 10 PTR names are examined', async () => {
    const names = Array.from({ length: 11 }, (_, i) => `h${i}.p.example`);
    const f: DnsFixture = { 'p.example': { TXT: [['v=spf1 ptr -all']] }, '10.2.0.192.in-addr.arpa': { PTR: names } };
    for (const n of names) f[n] = { A: [n === 'h10.p.example' ? IP : '198.51.100.1'] };
    const dns = fixtureDns(f);
    assert.equal((await check(dns, { ip: IP, sender: 'a@p.example' })).kind, 'fail');
    assert.ok(!dns.queries.includes('A h10.p.example'));
  });
});

describe('loops and bounded work', () => {
  test('include of itself is a permerror after 10 includes', async () => {
    const dns = fixtureDns({ 'loop.example': { TXT: [['v=spf1 include:loop.example -all']] } });
    const r = await check(dns, { ip: IP, sender: 'a@loop.example' });
    assert.equal(r.kind, 'permerror');
    assert.equal(dns.queries.length, 11);
  });

  test('mutual includes and redirects end the same way', async () => {
    const dns = fixtureDns({
      'a.example': { TXT: [['v=spf1 include:b.example']] },
      'b.example': { TXT: [['v=spf1 redirect=a.example']] },
    });
    const r = await check(dns, { ip: IP, sender: 'x@a.example' });
    assert.equal(r.kind, 'permerror');
    assert.ok(dns.queries.length <= 11);
  });

  test('a loop whose records each ask 10 MX names stays within 10 x (1 + 10) + 11 queries', async () => {
    const mx = Array.from({ length: 10 }, (_, i) => ({ exchange: `mx${i}.w.example`, priority: i }));
    const f: DnsFixture = {
      'w.example': { TXT: [['v=spf1 mx include:w.example -all']], MX: mx },
    };
    for (let i = 0; i < 10; i++) f[`mx${i}.w.example`] = { A: ['198.51.100.1'] };
    const dns = fixtureDns(f);
    const r = await check(dns, { ip: IP, sender: 'a@w.example' });
    assert.equal(r.kind, 'permerror');
    assert.ok(dns.queries.length <= 10 * 11 + 11, `${dns.queries.length} queries`);
  });

  test('%{p} is worked out once per check, however often it is used', async () => {
    const dns = fixtureDns({
      'pp.example': { TXT: [['v=spf1 exists:%{p}.a.example exists:%{p}.b.example exists:%{p}.c.example -all']] },
      '10.2.0.192.in-addr.arpa': { PTR: ['host.pp.example'] },
      'host.pp.example': { A: [IP] },
    });
    // The exists targets do not exist: allow those void lookups here.
    assert.equal((await check(dns, { ip: IP, sender: 'a@pp.example' }, { limits: { voidLookups: 3 } })).kind, 'fail');
    assert.ok(dns.queries.includes('A host.pp.example.c.example'));
    assert.equal(dns.queries.filter((q) => q.startsWith('PTR')).length, 1);
    assert.equal(dns.queries.filter((q) => q === 'A host.pp.example').length, 1);
  });
});

describe('malformed input', () => {
  test('a malformed domain is none, without a query', async () => {
    for (const d of ['localhost', '[192.0.2.1]', 'a..example', `${'x'.repeat(64)}.example`, 'bad domain.example', '1.2.3.4']) {
      const dns = fixtureDns({});
      const r = await checkHost({ ip: IP, domain: d, sender: `a@${d}`, helo: 'h.example' }, { dns, now: () => NOW, receiver: 'r.example' });
      assert.equal(r.kind, 'none', d);
      assert.equal(dns.queries.length, 0, d);
    }
  });

  test('an invalid client address is a permerror', async () => {
    for (const ip of ['', '192.0.2', '192.0.2.1/32', 'fe80::1%eth0', '[2001:db8::1]']) {
      const r = await check(fixtureDns({}), { ip, sender: 'a@x.example' });
      assert.equal(r.kind, 'permerror', ip);
    }
  });

  test('syntax errors, two records, an include or redirect without a record: permerror', async () => {
    const dns = fixtureDns({
      'syn.example': { TXT: [['v=spf1 ip4:192.0.2.10 -all bogus']] },
      'two.example': { TXT: [['v=spf1 -all'], ['v=spf1 +all']] },
      'inc.example': { TXT: [['v=spf1 include:none.example -all']] },
      'red.example': { TXT: [['v=spf1 redirect=none.example']] },
      'none.example': { TXT: [['not spf']] },
    });
    for (const d of ['syn', 'two', 'inc', 'red']) {
      assert.equal((await check(dns, { ip: IP, sender: `a@${d}.example` })).kind, 'permerror', d);
    }
  });

  test('no local-part means postmaster', async () => {
    const dns = fixtureDns({ 'pm.example': { TXT: [['v=spf1 -all exp=why.pm.example']] }, 'why.pm.example': { TXT: [['%{l} %{s}']] } });
    const r = await check(dns, { ip: IP, sender: '@pm.example' });
    assert.equal(r.explanation, 'postmaster postmaster@pm.example');
  });
});

describe('oversized TXT answers', () => {
  test('a 4 KB record in 255-octet strings, terms cut across strings, is joined and read', async () => {
    const filler = Array.from({ length: 300 }, (_, i) => `ip4:203.0.${Math.floor(i / 250)}.${i % 250}`).join(' ');
    const record = `v=spf1 ${filler} ip4:${IP} -all`;
    assert.ok(record.length > 4000);
    const strings = txt(record);
    const cutInside = strings.slice(0, -1).filter((s, i) => !s.endsWith(' ') && !(strings[i + 1] ?? ' ').startsWith(' '));
    assert.ok(cutInside.length > 0, 'some term is split between two strings');
    const dns = fixtureDns({ 'big.example': { TXT: [strings] } });
    const r = await check(dns, { ip: IP, sender: 'a@big.example' });
    assert.equal(r.kind, 'pass');
    assert.equal(r.mechanism, `ip4:${IP}`);
  });

  test('many TXT records, one of them SPF', async () => {
    const others = Array.from({ length: 150 }, (_, i) => [`verification-token-${i}=${'z'.repeat(200)}`]);
    const dns = fixtureDns({ 'many.example': { TXT: [...others.slice(0, 75), ['v=spf1 -all'], ...others.slice(75)] } });
    assert.equal((await check(dns, { ip: IP, sender: 'a@many.example' })).kind, 'fail');
  });

  test('a record of 20,000 ip4 terms is evaluated in linear time', async () => {
    const terms = Array.from({ length: 20_000 }, (_, i) => `ip4:10.${(i >> 8) & 255}.${i & 255}.0/24`).join(' ');
    const dns = fixtureDns({ 'huge.example': { TXT: [txt(`v=spf1 ${terms} -all`)] } });
    const start = performance.now();
    assert.equal((await check(dns, { ip: IP, sender: 'a@huge.example' })).kind, 'fail');
    assert.ok(performance.now() - start < 2000);
  });

  test('an explanation text over 1024 characters is ignored for the default', async () => {
    const dns = fixtureDns({ 'longexp.example': { TXT: [['v=spf1 -all exp=why.longexp.example']] }, 'why.longexp.example': { TXT: [txt('x'.repeat(2000))] } });
    const r = await check(dns, { ip: IP, sender: 'a@longexp.example' }, { defaultExplanation: 'DEFAULT' });
    assert.equal(r.explanation, 'DEFAULT');
  });
});

describe('IPv6', () => {
  const zone: DnsFixture = {
    'six.example': { TXT: [['v=spf1 ip6:2001:db8:1::/48 a:dual.example//64 mx -all']], MX: [{ exchange: 'mx.six.example', priority: 1 }] },
    'dual.example': { A: ['192.0.2.10'], AAAA: ['2001:db8:2:0:ffff::1'] },
    'mx.six.example': { AAAA: ['2001:db8:3::25'] },
    'v4.example': { TXT: [['v=spf1 ip4:192.0.2.0/24 ip6:::ffff:0:0/96 -all']] },
  };

  test('ip6 networks, a with an IPv6 CIDR, mx with AAAA records', async () => {
    const dns = fixtureDns(zone);
    assert.equal((await check(dns, { ip: '2001:db8:1:ffff::1', sender: 'a@six.example' })).mechanism, 'ip6:2001:db8:1::/48');
    assert.equal((await check(dns, { ip: '2001:DB8:2::99', sender: 'a@six.example' })).mechanism, 'a:dual.example//64');
    assert.equal((await check(dns, { ip: '2001:db8:3::25', sender: 'a@six.example' })).mechanism, 'mx');
    assert.equal((await check(dns, { ip: '2001:db8:4::1', sender: 'a@six.example' })).kind, 'fail');
  });

  test('IPv6 clients ask AAAA, IPv4 clients ask A', async () => {
    const dns = fixtureDns(zone);
    await check(dns, { ip: '2001:db8:9::1', sender: 'a@six.example' });
    assert.ok(dns.queries.includes('AAAA dual.example') && !dns.queries.includes('A dual.example'));
  });

  test('an IPv4-mapped client is IPv4: ip4 matches it, ip6 never does', async () => {
    const dns = fixtureDns(zone);
    const r = await check(dns, { ip: '::ffff:192.0.2.77', sender: 'a@v4.example' });
    assert.equal(r.kind, 'pass');
    assert.equal(r.mechanism, 'ip4:192.0.2.0/24');
    assert.equal((await check(dns, { ip: '::ffff:198.51.100.1', sender: 'a@v4.example' })).kind, 'fail');
  });

  test('ptr and %{i} with IPv6: nibble names', async () => {
    const ip = '2001:db8::cb01';
    const rev = '1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';
    const dns = fixtureDns({
      'p6.example': { TXT: [['v=spf1 exists:%{ir}.%{v}.list.example ptr:p6.example -all']] },
      [`${rev}.ip6.arpa`]: { PTR: ['mail.p6.example'] },
      'mail.p6.example': { AAAA: [ip] },
    });
    const r = await check(dns, { ip, sender: 'a@p6.example' });
    assert.equal(r.kind, 'pass');
    assert.equal(r.mechanism, 'ptr:p6.example');
    // %{i} is written with upper-case nibbles (as the RFC 7208 suite expects); PTR names are lower case.
    assert.ok(dns.queries.includes(`A ${rev.toUpperCase()}.ip6.list.example`));
  });
});

describe('explanations and errors', () => {
  test('exp= is expanded with c, r, t for a fail, and only a fail', async () => {
    const dns = fixtureDns({
      'x.example': { TXT: [['v=spf1 ?ip4:192.0.2.99 -all exp=why.%{d}']] },
      'why.x.example': { TXT: [['%{c} ', 'may not send for %{o} (%{r} at %{t})']] },
    });
    const r = await check(dns, { ip: IP, sender: 'a@x.example' });
    assert.equal(r.explanation, `192.0.2.10 may not send for x.example (mx.receiver.example at ${NOW / 1000})`);
    const n = await check(dns, { ip: '192.0.2.99', sender: 'a@x.example' });
    assert.equal(n.kind, 'neutral');
    assert.equal(n.explanation, undefined);
  });

  test('the default explanation, and one set by the caller', async () => {
    const dns = fixtureDns({ 'd.example': { TXT: [['v=spf1 -all']] } });
    const r = await check(dns, { ip: IP, sender: 'a@d.example' });
    assert.equal(r.explanation, 'd.example does not designate 192.0.2.10 as permitted sender of a@d.example');
    const own = await check(dns, { ip: IP, sender: 'a@d.example' }, { defaultExplanation: 'See https://d.example/spf?ip=%{i}' });
    assert.equal(own.explanation, 'See https://d.example/spf?ip=192.0.2.10');
    assert.equal((await check(dns, { ip: IP, sender: 'a@d.example' }, { defaultExplanation: '' })).explanation, '');
  });

  test('DNS trouble: temperror for the record, through include, and for a resolver that throws', async () => {
    const dns = fixtureDns({ 't.example': 'TIMEOUT', 'i.example': { TXT: [['v=spf1 include:t.example -all']] }, 's.example': 'SERVFAIL' });
    assert.equal((await check(dns, { ip: IP, sender: 'a@t.example' })).kind, 'temperror');
    assert.equal((await check(dns, { ip: IP, sender: 'a@s.example' })).kind, 'temperror');
    const inc = await check(dns, { ip: IP, sender: 'a@i.example' });
    assert.equal(inc.kind, 'temperror');
    assert.equal(inc.mechanism, 'include:t.example');
    const throwing: SpfResolver = {
      lookup: () => Promise.reject(new Error('socket closed')),
    };
    const r = await check(throwing, { ip: IP, sender: 'a@x.example' });
    assert.equal(r.kind, 'temperror');
    assert.match(r.reason ?? '', /socket closed/);
  });

  test('no record at all: none (NXDOMAIN, no TXT, no SPF TXT)', async () => {
    const dns = fixtureDns({ 'nospf.example': { TXT: [['hello']] }, 'notxt.example': { A: [IP] } });
    for (const d of ['nxdomain.example', 'nospf.example', 'notxt.example']) {
      assert.equal((await check(dns, { ip: IP, sender: `a@${d}` })).kind, 'none', d);
    }
  });

  test('past the time limit no query is sent and the result is temperror (section 4.6.4)', async () => {
    let clock = NOW;
    const inner = fixtureDns({ ...hosts(5), 'slow.example': { TXT: [[`v=spf1 ${aTerms(5)} -all`]] } });
    const slow: SpfResolver = {
      lookup: (name, type) => {
        clock += 6_000; // every answer takes 6 s
        return inner.lookup(name, type);
      },
    };
    const r = await check(slow, { ip: IP, sender: 'a@slow.example' }, { now: () => clock });
    assert.equal(r.kind, 'temperror');
    assert.equal(r.reason, 'SPF time limit exceeded');
    assert.equal(inner.queries.length, 4, 'TXT and 3 A queries fit in 20 s');
    clock = NOW;
    const unlimited = await check(slow, { ip: IP, sender: 'a@slow.example' }, { now: () => clock, limits: { timeMs: undefined } });
    assert.equal(unlimited.kind, 'fail');
  });

  test('reasons show control and non-ASCII octets escaped', async () => {
    const dns = fixtureDns({ 'c.example': { TXT: [['v=spf1 a:x.example\u0007 -all']] } });
    const r = await check(dns, { ip: IP, sender: 'a@c.example' });
    assert.equal(r.kind, 'permerror');
    assert.match(r.reason ?? '', /x\.example\\x07/);
  });
});
