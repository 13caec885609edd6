// Unit tests for protocol/smtp/address.ts: RFC 5321 section 4.1.2 paths and mailboxes, RFC 6531 UTF-8 addresses.
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatMailbox, isAddressLiteral, isDomain, parseMailbox, parsePath } from '../../../../protocol/smtp/address.js';
import type { Mailbox, PathResult } from '../../../../protocol/smtp/address.js';

const MAIL = { allowNull: true, utf8: false } as const;
const RCPT = { allowNull: false, utf8: false, allowPostmaster: true } as const;

function ok(r: PathResult): { mailbox: Mailbox | null; rest: string } {
  if (r.kind !== 'ok') assert.fail(`expected ok, got error: ${r.reason}`);
  return r;
}

function reason(r: PathResult | ReturnType<typeof parseMailbox>): string {
  if (r.kind !== 'error') assert.fail(`expected an error, got ${JSON.stringify(r)}`);
  return r.reason;
}

test('parsePath: plain mailbox in angle brackets', () => {
  assert.deepEqual(ok(parsePath('<alice@example.com>', MAIL)), {
    kind: 'ok',
    mailbox: { local: 'alice', domain: 'example.com', utf8: false, literal: false },
    rest: '',
  });
});

test('parsePath: null reverse-path only where allowed', () => {
  assert.deepEqual(parsePath('<>', MAIL), { kind: 'ok', mailbox: null, rest: '' });
  assert.deepEqual(parsePath('<> SIZE=100', MAIL), { kind: 'ok', mailbox: null, rest: 'SIZE=100' });
  assert.equal(reason(parsePath('<>', RCPT)), 'null address not allowed here');
});

test('parsePath: a source route is accepted and ignored (RFC 5321 section 4.1.2, appendix C)', () => {
  const r = ok(parsePath('<@hop1.example,@hop2.example:bob@dest.example>', RCPT));
  assert.deepEqual(r.mailbox, { local: 'bob', domain: 'dest.example', utf8: false, literal: false });
  const single = ok(parsePath('<@relay.example:bob@dest.example>', RCPT));
  assert.equal(single.mailbox?.domain, 'dest.example');
  assert.equal(reason(parsePath('<@relay.example bob@dest.example>', RCPT)), 'malformed source route');
  assert.equal(reason(parsePath('<@relay.example,hop2:bob@dest.example>', RCPT)), 'malformed source route');
  assert.equal(reason(parsePath('<@:bob@dest.example>', RCPT)), 'malformed source route');
  assert.equal(reason(parsePath('<@-bad.example:bob@dest.example>', RCPT)), 'malformed source route');
});

test('parsePath: quoted local parts, with escaped quote and with @ and > inside the quotes', () => {
  const esc = ok(parsePath('<"john\\"doe"@example.com>', MAIL));
  assert.equal(esc.mailbox?.local, '"john\\"doe"');
  assert.equal(esc.mailbox?.domain, 'example.com');

  const at = ok(parsePath('<"user@internal"@example.com>', MAIL));
  assert.equal(at.mailbox?.local, '"user@internal"');
  assert.equal(at.mailbox?.domain, 'example.com');

  const gt = ok(parsePath('<"a>b"@example.com> SIZE=5', MAIL));
  assert.equal(gt.mailbox?.local, '"a>b"');
  assert.equal(gt.rest, 'SIZE=5');

  const spaced = ok(parsePath('<"john smith"@example.com>', MAIL));
  assert.equal(spaced.mailbox?.local, '"john smith"');

  // A quoted string must be closed right before the "@"; a lone quote or text after it is not.
  assert.equal(reason(parsePath('<"abc"def@example.com>', MAIL)), 'address must be local-part@domain');
  assert.equal(reason(parsePath('<"abc@example.com>', MAIL)), 'missing ">" after address');
  // A backslash may not escape the closing quote away.
  assert.equal(reason(parseMailbox('"abc\\"@example.com', false)), 'address must be local-part@domain');
  // Control characters are not allowed even inside quotes.
  assert.equal(reason(parseMailbox('"a\tb"@example.com', false)), 'malformed local part');
});

test('parseMailbox: address literals (RFC 5321 section 4.1.3)', () => {
  const v4 = parseMailbox('root@[192.0.2.1]', false);
  assert.deepEqual(v4, { kind: 'ok', mailbox: { local: 'root', domain: '[192.0.2.1]', utf8: false, literal: true } });
  for (const good of [
    '[IPv6:2001:db8::1]',
    '[IPv6:2001:0db8:0000:0000:0000:0000:0000:0001]',
    '[ipv6:::1]',
    '[IPv6:::ffff:192.0.2.1]',
    '[IPv6:2001:db8:1:2:3:4:192.0.2.1]',
    '[x-tag:some-content]',
  ]) {
    assert.equal(isAddressLiteral(good), true, good);
    const r = parseMailbox(`u@${good}`, false);
    assert.equal(r.kind, 'ok', good);
    if (r.kind === 'ok') assert.equal(r.mailbox.literal, true);
  }
  for (const bad of [
    '[256.0.0.1]',
    '[192.0.2]',
    '[192.0.2.1.5]',
    '[IPv6:2001:db8::1::2]',
    '[IPv6:1:2:3:4:5:6:7:8:9]',
    '[IPv6:1:2:3:4:5:6:7]',
    '[IPv6:12345::1]',
    '[IPv6:g::1]',
    '[IPv6:::ffff:300.0.2.1]',
    '[]',
    '[tag-:content]',
    '[tag:with space]',
    '[tag:with[bracket]',
    '192.0.2.1',
  ]) {
    assert.equal(isAddressLiteral(bad), false, bad);
  }
  assert.equal(reason(parseMailbox('u@[256.0.0.1]', false)), 'malformed domain');
  assert.equal(reason(parseMailbox('u@[192.0.2.1', false)), 'malformed domain');
});

test('parseMailbox: local part is at most 64 octets (RFC 5321 section 4.5.3.1.1)', () => {
  assert.equal(parseMailbox(`${'a'.repeat(64)}@example.com`, false).kind, 'ok');
  assert.equal(reason(parseMailbox(`${'a'.repeat(65)}@example.com`, false)), 'local part longer than 64 octets');
  // Octets, not characters: 32 two-octet characters fit, 33 do not.
  assert.equal(parseMailbox(`${'é'.repeat(32)}@example.com`, true).kind, 'ok');
  assert.equal(reason(parseMailbox(`${'é'.repeat(33)}@example.com`, true)), 'local part longer than 64 octets');
});

test('isDomain: at most 255 octets, labels 1..63, LDH only', () => {
  const label63 = 'a'.repeat(63);
  const d255 = [label63, label63, label63, 'b'.repeat(63)].join('.');
  assert.equal(d255.length, 255);
  assert.equal(isDomain(d255), true);
  const d256 = [label63, label63, label63, 'b'.repeat(62), 'c'].join('.');
  assert.equal(d256.length, 256);
  assert.equal(isDomain(d256), false);
  assert.equal(isDomain('a'.repeat(64) + '.example'), false);
  assert.equal(parseMailbox(`u@${d255}`, false).kind, 'ok');
  assert.equal(reason(parseMailbox(`u@${d256}`, false)), 'malformed domain');
  for (const bad of ['', 'exa mple.com', '-a.example', 'a-.example', 'under_score.example', 'a..example', '.example', 'example.']) {
    assert.equal(isDomain(bad), false, JSON.stringify(bad));
  }
  assert.equal(isDomain('xn--bcher-kva.example'), true);
  assert.equal(isDomain('bücher.example'), false);
  assert.equal(isDomain('bücher.example', true), true);
});

test('parsePath: path is at most 256 octets, angle brackets included (RFC 5321 section 4.5.3.1.3)', () => {
  // local (64) + "@" + domain: "<" + 254 octets + ">" is exactly 256.
  const domainFor = (n: number): string => {
    const labels: string[] = [];
    let left = n;
    while (left > 0) {
      const len = Math.min(63, left);
      labels.push('d'.repeat(len));
      left -= len + 1;
    }
    return labels.join('.');
  };
  const local = 'l'.repeat(64);
  const fits = `${local}@${domainFor(254 - 65)}`;
  assert.equal(fits.length, 254);
  assert.equal(ok(parsePath(`<${fits}>`, MAIL)).mailbox?.local, local);
  const over = `${local}@${domainFor(255 - 65)}`;
  assert.equal(over.length, 255);
  assert.equal(parseMailbox(over, false).kind, 'ok', 'the mailbox alone is well-formed');
  assert.equal(reason(parsePath(`<${over}>`, MAIL)), 'path longer than 256 octets');
  // The source route counts towards the path too.
  const routed = `@${'r'.repeat(20)}.example:${fits}`;
  assert.equal(reason(parsePath(`<${routed}>`, RCPT)), 'path longer than 256 octets');
  // The lenient form without brackets has the same limit.
  assert.equal(reason(parsePath(over, MAIL)), 'path longer than 256 octets');
});

test('parseMailbox: leading, trailing and double dots are rejected in local part and domain', () => {
  for (const bad of ['.alice@example.com', 'alice.@example.com', 'al..ice@example.com', '.@example.com']) {
    assert.equal(reason(parseMailbox(bad, false)), 'malformed local part', bad);
  }
  for (const bad of ['alice@.example.com', 'alice@example.com.', 'alice@example..com']) {
    assert.equal(reason(parseMailbox(bad, false)), 'malformed domain', bad);
  }
  assert.equal(parseMailbox('a.l.i.c.e@example.com', false).kind, 'ok');
  // Dots inside quotes are fine.
  assert.equal(parseMailbox('"..alice."@example.com', false).kind, 'ok');
});

test('parseMailbox: atext specials allowed, others not', () => {
  assert.equal(parseMailbox("!#$%&'*+-/=?^_`{|}~@example.com", false).kind, 'ok');
  for (const bad of ['a b@example.com', 'a(b@example.com', 'a,b@example.com', 'a[b@example.com', 'a\\b@example.com']) {
    assert.equal(reason(parseMailbox(bad, false)), 'malformed local part', bad);
  }
  assert.equal(reason(parseMailbox('@example.com', false)), 'address must be local-part@domain');
  assert.equal(reason(parseMailbox('alice@', false)), 'address must be local-part@domain');
  assert.equal(reason(parseMailbox('alice', false)), 'address must be local-part@domain');
});

test('parseMailbox/parsePath: UTF-8 addresses only with the utf8 option (RFC 6531 section 3.3)', () => {
  assert.equal(reason(parseMailbox('jöran@example.com', false)), 'non-ASCII address without SMTPUTF8');
  assert.equal(reason(parseMailbox('user@bücher.example', false)), 'non-ASCII address without SMTPUTF8');
  assert.equal(reason(parsePath('<用户@例子.广告>', MAIL)), 'non-ASCII address without SMTPUTF8');
  assert.deepEqual(parseMailbox('jöran@bücher.example', true), {
    kind: 'ok', mailbox: { local: 'jöran', domain: 'bücher.example', utf8: true, literal: false },
  });
  const cjk = ok(parsePath('<用户@例子.广告>', { allowNull: true, utf8: true }));
  assert.deepEqual(cjk.mailbox, { local: '用户', domain: '例子.广告', utf8: true, literal: false });
  // An ASCII address parsed with utf8 allowed is not marked utf8.
  const ascii = ok(parsePath('<a@b.example>', { allowNull: true, utf8: true }));
  assert.equal(ascii.mailbox?.utf8, false);
  // A quoted UTF-8 local part follows the same rule.
  assert.equal(reason(parseMailbox('"jö ran"@example.com', false)), 'non-ASCII address without SMTPUTF8');
  assert.equal(parseMailbox('"jö ran"@example.com', true).kind, 'ok');
});

test('parsePath: <Postmaster> without a domain only with allowPostmaster (RFC 5321 section 4.5.1)', () => {
  assert.deepEqual(parsePath('<Postmaster>', RCPT), {
    kind: 'ok', mailbox: { local: 'Postmaster', domain: '', utf8: false, literal: false }, rest: '',
  });
  assert.equal(ok(parsePath('<POSTMASTER> NOTIFY=NEVER', RCPT)).rest, 'NOTIFY=NEVER');
  assert.equal(reason(parsePath('<Postmaster>', MAIL)), 'address must be local-part@domain');
  assert.equal(reason(parsePath('<postmasters>', RCPT)), 'address must be local-part@domain');
  const full = ok(parsePath('<postmaster@example.com>', RCPT));
  assert.equal(full.mailbox?.domain, 'example.com');
});

test('parsePath: missing ">" and text after ">" that is not parameters', () => {
  assert.equal(reason(parsePath('<alice@example.com', MAIL)), 'missing ">" after address');
  assert.equal(reason(parsePath('<alice@example.com>x', MAIL)), 'text after ">" must be parameters');
  assert.equal(reason(parsePath('<alice@example.com>>', MAIL)), 'text after ">" must be parameters');
  assert.equal(reason(parsePath('<alice@example.com><bob@example.com>', MAIL)), 'text after ">" must be parameters');
  assert.deepEqual(parsePath('<alice@example.com>  SIZE=1  BODY=8BITMIME ', MAIL), {
    kind: 'ok',
    mailbox: { local: 'alice', domain: 'example.com', utf8: false, literal: false },
    rest: 'SIZE=1  BODY=8BITMIME',
  });
});

test('parsePath: lenient form without brackets, and leading spaces ("MAIL FROM: <a@b>")', () => {
  assert.deepEqual(parsePath('alice@example.com SIZE=10', MAIL), {
    kind: 'ok',
    mailbox: { local: 'alice', domain: 'example.com', utf8: false, literal: false },
    rest: 'SIZE=10',
  });
  assert.equal(ok(parsePath('alice@example.com', MAIL)).rest, '');
  assert.equal(ok(parsePath(' <alice@example.com>', MAIL)).mailbox?.local, 'alice');
  assert.equal(ok(parsePath('   alice@example.com', MAIL)).mailbox?.local, 'alice');
  assert.equal(reason(parsePath('', MAIL)), 'missing address');
  assert.equal(reason(parsePath('   ', MAIL)), 'missing address');
  assert.equal(reason(parsePath('alice', MAIL)), 'address must be local-part@domain');
});

test('formatMailbox joins local part and domain', () => {
  assert.equal(formatMailbox({ local: '"a b"', domain: 'example.com', utf8: false, literal: false }), '"a b"@example.com');
  assert.equal(formatMailbox({ local: 'root', domain: '[192.0.2.1]', utf8: false, literal: true }), 'root@[192.0.2.1]');
});
