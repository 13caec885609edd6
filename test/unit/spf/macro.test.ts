// Unit tests for protocol/spf/macro.ts: macro-string syntax, domain-spec endings and expansion (RFC 7208 section 7),
// with the examples of section 7.4.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseClientIp } from '../../../protocol/spf/address.js';
import { expandMacroString, parseDomainSpec, parseMacroString, transform, urlEscape } from '../../../protocol/spf/macro.js';
import type { MacroContext, MacroUse } from '../../../protocol/spf/macro.js';

function context(over: Partial<MacroContext> & { ipText?: string } = {}): MacroContext {
  const ip = parseClientIp(over.ipText ?? '192.0.2.3');
  assert.ok(ip);
  return {
    sender: 'strong-bad@email.example.com',
    local: 'strong-bad',
    senderDomain: 'email.example.com',
    domain: 'email.example.com',
    ip,
    helo: 'mx.example.org',
    receiver: 'receiver.example.net',
    now: () => 1_700_000_000_123,
    validatedName: async () => 'unknown',
    ...over,
  };
}

async function expand(text: string, ctx = context(), use: MacroUse = 'explanation'): Promise<string> {
  const p = parseMacroString(text, use);
  assert.equal(p.kind, 'ok', `${text}: ${p.kind === 'error' ? p.reason : ''}`);
  return expandMacroString(p.kind === 'ok' ? p.value : { source: '', parts: [] }, ctx);
}

describe('expansion, RFC 7208 section 7.4 examples', () => {
  const table: [string, string][] = [
    ['%{s}', 'strong-bad@email.example.com'],
    ['%{o}', 'email.example.com'],
    ['%{d}', 'email.example.com'],
    ['%{d4}', 'email.example.com'],
    ['%{d3}', 'email.example.com'],
    ['%{d2}', 'example.com'],
    ['%{d1}', 'com'],
    ['%{dr}', 'com.example.email'],
    ['%{d2r}', 'example.email'],
    ['%{l}', 'strong-bad'],
    ['%{l-}', 'strong.bad'],
    ['%{lr}', 'strong-bad'],
    ['%{lr-}', 'bad.strong'],
    ['%{l1r-}', 'strong'],
    ['%{ir}.%{v}._spf.%{d2}', '3.2.0.192.in-addr._spf.example.com'],
    ['%{lr-}.lp._spf.%{d2}', 'bad.strong.lp._spf.example.com'],
    ['%{lr-}.lp.%{ir}.%{v}._spf.%{d2}', 'bad.strong.lp.3.2.0.192.in-addr._spf.example.com'],
    ['%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}', '3.2.0.192.in-addr.strong.lp._spf.example.com'],
    ['%{d2}.trusted-domains.example.net', 'example.com.trusted-domains.example.net'],
  ];
  for (const [macro, want] of table) {
    test(macro, async () => assert.equal(await expand(macro, context(), 'domain'), want));
  }

  test('IPv6: %{ir}.%{v}._spf.%{d2} with 2001:db8::cb01', async () => {
    // RFC 7208 section 7.4 prints the nibbles in lower case; its test suite (v-macro-ip6) expects
    // upper case in an explanation. DNS ignores the case, so the suite's form is used.
    assert.equal(
      await expand('%{ir}.%{v}._spf.%{d2}', context({ ipText: '2001:db8::cb01' })),
      '1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com',
    );
  });
});

describe('expansion, the other letters and escapes', () => {
  test('%% %_ %- are a percent, a space and %20', async () => {
    assert.equal(await expand('a%%b%_c%-d'), 'a%b c%20d');
  });

  test('%{c} is the readable address: dotted quad, RFC 5952 text for IPv6', async () => {
    assert.equal(await expand('%{c}'), '192.0.2.3');
    assert.equal(await expand('%{c}', context({ ipText: '2001:DB8:0:0:0:0:0:CB01' })), '2001:db8::cb01');
    // An IPv4-mapped client is IPv4 everywhere (section 5).
    assert.equal(await expand('%{c} %{i} %{v}', context({ ipText: '::ffff:192.0.2.3' })), '192.0.2.3 192.0.2.3 in-addr');
  });

  test('%{t} comes from the injected clock in seconds; %{r} is the receiver', async () => {
    assert.equal(await expand('%{t}'), '1700000000');
    assert.equal(await expand('%{r}'), 'receiver.example.net');
    assert.equal(await expand('%{r}', context({ receiver: '' })), 'unknown');
  });

  test('%{h} and %{p}', async () => {
    assert.equal(await expand('%{h}'), 'mx.example.org');
    assert.equal(await expand('%{p}', context({ validatedName: async (d) => `mail.${d}` })), 'mail.email.example.com');
  });

  test('upper-case letters are URL-escaped after the transformation', async () => {
    const ctx = context({ local: '~jack&jill=up-a_b3.c', sender: '~jack&jill=up-a_b3.c@email.example.com' });
    assert.equal(await expand('%{L}', ctx), '~jack%26jill%3Dup-a_b3.c');
    assert.equal(await expand('%{S}', ctx), '~jack%26jill%3Dup-a_b3.c%40email.example.com');
    assert.equal(await expand('%{D2R}', ctx), 'example.email');
    assert.equal(urlEscape('é /'), '%C3%A9%20%2F');
  });

  test('several delimiters; digits beyond the part count keep everything', async () => {
    assert.equal(transform('foo-bar+zip+quux', '+-', true, 2), 'bar.foo');
    assert.equal(transform('a.b.c', '.', false, 99), 'a.b.c');
    assert.equal(transform('a=b/c,d_e', '=/,_', false, undefined), 'a.b.c.d.e');
    assert.equal(await expand('%{d999999999999}'), 'email.example.com');
  });
});

describe('syntax', () => {
  test('a "%" must start %{...}, %%, %_ or %-', () => {
    for (const bad of ['%', 'a%', '%(ir)', 'foo%.example.com', '%{', '%{d', '%{}', '%{x}', '%{a}']) {
      assert.equal(parseMacroString(bad, 'explanation').kind, 'error', bad);
    }
  });

  test('c, r and t only in explanations', () => {
    for (const l of ['c', 'r', 't', 'C', 'R', 'T']) {
      assert.equal(parseMacroString(`%{${l}}.example.com`, 'domain').kind, 'error', l);
      assert.equal(parseMacroString(`%{${l}}`, 'explanation').kind, 'ok', l);
    }
  });

  test('transformers and delimiters', () => {
    assert.equal(parseMacroString('%{d0}', 'domain').kind, 'error', 'a zero digit transformer');
    assert.equal(parseMacroString('%{d2r.-+,/_=}', 'domain').kind, 'ok');
    assert.equal(parseMacroString('%{dR}', 'domain').kind, 'ok', 'ABNF literals are case-insensitive');
    assert.equal(parseMacroString('%{d-r}', 'domain').kind, 'error', 'r comes before the delimiters');
    assert.equal(parseMacroString('%{d:}', 'domain').kind, 'error');
  });

  test('spaces only in explanations; control and non-ASCII characters nowhere', () => {
    assert.equal(parseMacroString('a b', 'explanation').kind, 'ok');
    assert.equal(parseMacroString('a b', 'domain').kind, 'error');
    assert.equal(parseMacroString('a\tb', 'explanation').kind, 'error');
    assert.equal(parseMacroString('caf\u00e9', 'explanation').kind, 'error');
    assert.equal(parseMacroString('\u00ef\u00bb\u00bfExplanation', 'explanation').kind, 'error');
  });

  test('domain-spec: ends in a macro or in "." toplabel with an optional dot', () => {
    const good = ['example.com', 'example.com.', '%{d}', '%{d}.example.com', 'foo:bar/baz.example.com', 'a.xn--zckzah', '%{l}%%', '_spf.%{d2}', '.com'];
    const bad = ['', 'museum', 'museum.', 'example.-com', 'abc.123', '111.222.33.44', 'example.com:8080', 'foo.example.com/24', '%{d}.', 'foo%{d}com', '%{d}}'];
    for (const s of good) assert.equal(parseDomainSpec(s).kind, 'ok', s);
    for (const s of bad) assert.equal(parseDomainSpec(s).kind, 'error', s);
  });
});
