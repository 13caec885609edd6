// Unit tests for protocol/spf/record.ts: record selection (RFC 7208 section 4.5) and parsing (sections 4.6, 5, 6):
// well-formed records, and malformed ones that must be permerrors before anything is evaluated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSpfRecord, parseRecord, selectRecord } from '../../../protocol/spf/record.js';
import type { Mechanism } from '../../../protocol/spf/record.js';

function mechanisms(text: string): Mechanism[] {
  const r = parseRecord(text);
  assert.equal(r.kind, 'ok', r.kind === 'error' ? r.reason : '');
  return r.kind === 'ok' ? r.record.directives.map((d) => d.mechanism) : [];
}

describe('selection (section 4.5)', () => {
  test('the version: v=spf1 in any case, then a space or the end', () => {
    for (const t of ['v=spf1', 'v=spf1 -all', 'V=SpF1 ~all', 'v=spf1  ']) assert.ok(isSpfRecord(t), t);
    for (const t of ['v=spf10', 'v=spf1mx', ' v=spf1 -all', 'v=spf2.0/pra', 'spf1', '', 'v=spf1\t-all']) assert.ok(!isSpfRecord(t), t);
  });

  test('character-strings are joined with nothing between them', () => {
    assert.deepEqual(selectRecord([['v=spf1 ip4:', '192.0.2.5 -all']]), { kind: 'found', text: 'v=spf1 ip4:192.0.2.5 -all' });
    assert.deepEqual(selectRecord([['v=spf1', 'mx']]), { kind: 'none' }, 'joins to v=spf1mx');
    assert.deepEqual(selectRecord([[], ['v=spf1 -all']]), { kind: 'found', text: 'v=spf1 -all' }, 'a record with no strings is skipped');
  });

  test('other records are ignored whatever they hold; two SPF records are "multiple", even identical', () => {
    assert.deepEqual(selectRecord([['google-site-verification=x'], ['\u0096'], ['v=spf1 -all']]), { kind: 'found', text: 'v=spf1 -all' });
    assert.deepEqual(selectRecord([['v=spf1 -all'], ['v=spf1 -all']]), { kind: 'multiple', count: 2 });
    assert.deepEqual(selectRecord([['v=spf1 -all'], ['V=SPF1 +all']]), { kind: 'multiple', count: 2 });
    assert.deepEqual(selectRecord([['v=spf10'], ['v=spf1 mx']]), { kind: 'found', text: 'v=spf1 mx' });
    assert.deepEqual(selectRecord([]), { kind: 'none' });
  });
});

describe('parsing well-formed records', () => {
  test('qualifiers, names in any case, the default qualifier is +', () => {
    const r = parseRecord('v=spf1 +a -MX ~Ptr ?all IP4:192.0.2.0/24');
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(r.record.directives.map((d) => [d.qualifier, d.mechanism.type, d.text]), [
      ['+', 'a', '+a'], ['-', 'mx', '-MX'], ['~', 'ptr', '~Ptr'], ['?', 'all', '?all'], ['+', 'ip4', 'IP4:192.0.2.0/24'],
    ]);
  });

  test('dual-cidr-length on a and mx; defaults /32 and /128', () => {
    const [a1, a2, a3, m1, m2] = mechanisms('v=spf1 a a/24 a:foo.example//64 mx/0//0 mx:foo:bar/baz.example.com');
    assert.deepEqual(a1, { type: 'a', cidr4: 32, cidr6: 128 });
    assert.deepEqual(a2, { type: 'a', cidr4: 24, cidr6: 128 });
    assert.equal(a3?.type === 'a' && a3.domain?.source, 'foo.example');
    assert.equal(a3?.type === 'a' && a3.cidr6, 64);
    assert.deepEqual(m1, { type: 'mx', cidr4: 0, cidr6: 0 });
    assert.equal(m2?.type === 'mx' && m2.domain?.source, 'foo:bar/baz.example.com', 'a "/" inside a domain-spec is not a CIDR');
  });

  test('ip4 and ip6 networks', () => {
    const [v4, v6, v6b, v6c] = mechanisms('v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 ip6:::1.1.1.1/0 ip6:1:2:3:4:5:6:7::');
    assert.deepEqual(v4, { type: 'ip4', network: { version: 4, bytes: [192, 0, 2, 1] }, prefix: 32 });
    assert.equal(v6?.type === 'ip6' && v6.prefix, 32);
    assert.equal(v6b?.type === 'ip6' && v6b.prefix, 0);
    assert.equal(v6c?.type, 'ip6');
  });

  test('modifiers: redirect, exp, unknown ones ignored; names are case-insensitive', () => {
    const r = parseRecord('v=spf1 Redirect=_spf.example.com EXP=explain.%{d} moo.cow-far_out=man:dog/cat default=+ x=%{c}');
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.record.redirect?.source, '_spf.example.com');
    assert.equal(r.record.exp?.source, 'explain.%{d}');
    assert.equal(r.record.directives.length, 0);
  });

  test('runs of spaces and trailing spaces; an empty record', () => {
    assert.equal(mechanisms('v=spf1   a    -all   ').length, 2);
    assert.equal(mechanisms('v=spf1').length, 0);
  });
});

describe('malformed records are permerrors', () => {
  const bad: [string, string][] = [
    ['v=spf1 ip4:1.2.3.4 -all moo', 'an unknown mechanism anywhere'],
    ['v=spf1 -all.', 'all with a dot'],
    ['v=spf1 -all:foo', 'all with an argument'],
    ['v=spf1 all/8', 'all with a CIDR'],
    ['v=spf1 include', 'include without a domain'],
    ['v=spf1 include:', 'include with an empty domain'],
    ['v=spf1 include:ip5.example.com/24', 'include with a CIDR'],
    ['v=spf1 exists', 'exists without a domain'],
    ['v=spf1 exists:mail.example.com/24', 'exists with a CIDR'],
    ['v=spf1 ptr/0', 'ptr with a CIDR'],
    ['v=spf1 ptr:', 'ptr with an empty domain'],
    ['v=spf1 a:', 'a with an empty domain'],
    ['v=spf1 a/33', 'ip4 CIDR over 32'],
    ['v=spf1 a//129', 'ip6 CIDR over 128'],
    ['v=spf1 a/24/64', 'a single slash before the ip6 CIDR'],
    ['v=spf1 mx/032', 'a leading zero in a CIDR'],
    ['v=spf1 a:museum', 'a domain of one label'],
    ['v=spf1 a:111.222.33.44', 'an address where a domain belongs'],
    ['v=spf1 a:example.com:8080', 'a port'],
    ['v=spf1 ip4', 'ip4 without a network'],
    ['v=spf1 ip4:', 'ip4 with an empty network'],
    ['v=spf1 ip4:1.2.3', 'a short IPv4 network'],
    ['v=spf1 ip4:1.2.3.04', 'a leading zero in IPv4'],
    ['v=spf1 ip4:1.2.3.256', 'an octet over 255'],
    ['v=spf1 ip4:1.2.3.4//32', 'dual CIDR on ip4'],
    ['v=spf1 ip4:1.2.3.4:8080', 'ip4 with a port'],
    ['v=spf1 ip6:::1.1.1.1//33', 'dual CIDR on ip6'],
    ['v=spf1 ip6::CAFE::BABE', 'a malformed IPv6 network'],
    ['v=spf1 ip6:1:2:3:4:5:6:7:8:9', 'nine IPv6 groups'],
    ['v=spf1 ip6:fe80::1%eth0', 'an IPv6 zone'],
    ['v=spf1 ip6:12345::', 'a five-digit IPv6 group'],
    ['v=spf1 ip6:1.2.3.4::', 'IPv4 before ::'],
    ['v=spf1 redirect:example.com', 'redirect used as a mechanism'],
    ['v=spf1 redirect=', 'an empty redirect'],
    ['v=spf1 exp=', 'an empty exp'],
    ['v=spf1 redirect=-all', 'redirect to a non-domain'],
    ['v=spf1 redirect=a.example.com redirect=b.example.com', 'redirect twice'],
    ['v=spf1 exp=a.example.com exp=b.example.com', 'exp twice'],
    ['v=spf1 exp=%{r}.example.com', 'a c/r/t macro outside an explanation'],
    ['v=spf1 1up=foo', 'a modifier name starting with a digit'],
    ['v=spf1 =all', 'an empty modifier name'],
    ['v=spf1 foo=%abc', 'bad macro syntax in an unknown modifier'],
    ['v=spf1 moo.cow/far_out=man:dog/cat', 'a "/" before "=" is not a modifier name'],
    ['v=spf1 a:ctrl.example.com\rptr -all', 'a control character between terms'],
    ['v=spf1 ip4:192.0.2.5\n include:x.example ~all', 'a newline after a network'],
    ['v=spf1 \u0080a:example.net -all', 'a non-ASCII octet before a mechanism'],
    ['v=spf1 a:\u00ef\u00bb\u00bfgarbage.example.net -all', 'a byte-order mark in a domain'],
    ['v=spf1 a:example.net \u0096all', 'a non-ASCII octet in a qualifier'],
    ['v=spf1 a:foo.example.com\u0000', 'a NUL'],
    ['v=spf1 a:%{a}.example.com', 'an undefined macro letter'],
  ];
  for (const [record, what] of bad) {
    test(what, () => assert.equal(parseRecord(record).kind, 'error', record));
  }

  test('a reason names the bad term', () => {
    const r = parseRecord('v=spf1 ip4:192.0.2.1 bogus:thing -all');
    assert.equal(r.kind === 'error' && r.reason, 'unknown mechanism "bogus" in "bogus:thing"');
  });
});
