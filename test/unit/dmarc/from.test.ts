// Unit tests for protocol/dmarc/from.ts: the RFC5322.From domain (RFC 7489 section 6.6.1) with the address grammar
// of RFC 5322 section 3.4; every ambiguous or broken From gives nofrom, never a convenient address.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseHeaders } from '../../../protocol/message/headers.js';
import { fromDomain, parseFromValue } from '../../../protocol/dmarc/from.js';

const domainOf = (value: string): string => {
  const r = parseFromValue(value);
  assert.equal(r.kind, 'ok', `${value}: ${JSON.stringify(r)}`);
  return (r as { domain: string }).domain;
};

const nofrom = (value: string, reason?: RegExp): void => {
  const r = parseFromValue(value);
  assert.equal(r.kind, 'nofrom', `${JSON.stringify(value)} gave ${JSON.stringify(r)}`);
  if (reason) assert.match((r as { reason: string }).reason, reason);
};

test('one mailbox in its usual forms', () => {
  assert.equal(domainOf('alice@example.com'), 'example.com');
  assert.equal(domainOf('Alice <alice@Example.COM>'), 'example.com');
  assert.equal(domainOf('"Doe, Alice" <alice@example.com>'), 'example.com');
  assert.equal(domainOf('"a@evil.example" <alice@example.com>'), 'example.com');
  assert.equal(domainOf('alice@example.com (Alice, from accounts@evil.example)'), 'example.com');
  assert.equal(domainOf('(comment (nested) ) Alice (x) < alice @ mail . example . com > (trailing)'), 'mail.example.com');
  assert.equal(domainOf('"quoted local"@example.com'), 'example.com');
  assert.equal(domainOf('Dr. Alice J. Doe <alice@example.com>'), 'example.com');
  assert.equal(domainOf('<@relay.example,@other.example:alice@example.com>'), 'example.com');
  assert.equal(domainOf('=?utf-8?q?J=C3=BCrgen?= <j@example.de>'), 'example.de');
  assert.equal(domainOf('Jürgen <jürgen@bücher.example>'), 'xn--bcher-kva.example');
  assert.equal(domainOf('a@example.com,'), 'example.com');
  assert.equal(domainOf('sender: a@example.com;'), 'example.com');
  assert.equal(parseFromValue('Alice <alice@example.com>').kind === 'ok' &&
    (parseFromValue('Alice <alice@example.com>') as { address: string }).address, 'alice@example.com');
});

test('several addresses, in any disguise, give nofrom', () => {
  nofrom('alice@example.com, mallory@evil.example', /2 addresses/);
  nofrom('Alice <alice@example.com>, <mallory@evil.example>', /2 addresses/);
  nofrom('alice@example.com, alice@example.com', /2 addresses/);
  nofrom('friends: a@example.com, b@evil.example;', /2 addresses/);
  nofrom('a@example.com, friends: b@evil.example;', /2 addresses/);
  nofrom('<a@example.com> <b@evil.example>');
  nofrom('a@example.com b@evil.example');
  nofrom('<a@example.com, b@evil.example>');
});

test('no address, no domain, or a domain that is not a name give nofrom', () => {
  nofrom('', /no address/);
  nofrom('   ', /no address/);
  nofrom('undisclosed-recipients:;', /no address/);
  nofrom('Alice', /without a domain/);
  nofrom('alice', /without a domain/);
  nofrom('<alice>', /without a domain/);
  nofrom('alice@', /without a domain/);
  nofrom('Alice <alice@>', /without a domain/);
  nofrom('<>', /without a domain/);
  nofrom('@example.com', /empty local part/);
  nofrom('alice@[192.0.2.1]', /domain literal/);
  nofrom('alice@example..com', /malformed domain/);
  nofrom('alice@example.com.', /ends with a dot/);
  nofrom('alice@-example.com', /not a domain name/);
  nofrom('alice@exa_mple!.com');
  nofrom('alice@a@b.example', /several "@"/);
});

test('broken syntax gives nofrom', () => {
  nofrom('Alice <alice@example.com', /angle/);
  nofrom('Alice alice@example.com>', /angle|several|malformed/);
  nofrom('Alice <alice@example.com> trailing', /angle/);
  nofrom('"unterminated <alice@example.com>', /unterminated quoted/);
  nofrom('(unterminated alice@example.com', /unterminated comment/);
  nofrom('alice@example.com)', /unexpected/);
  nofrom('a@example.com <b@example.com>', /display name/);
  nofrom('group: a@example.com', /unterminated group/);
  nofrom('Re: hello <a@example.com>', /unterminated group/);
  nofrom('x'.repeat(20_000) + '@example.com', /too long/);
});

test('fromDomain counts From: fields in the header section', () => {
  const fields = (text: string) => parseHeaders(text);
  assert.deepEqual(fromDomain(fields('To: b@example.org\r\nFrom: Alice <alice@example.com>\r\nSubject: hi\r\n')),
    { kind: 'ok', domain: 'example.com', address: 'alice@example.com' });
  assert.deepEqual(fromDomain(fields('FROM: alice@example.com\r\n')).kind, 'ok');
  assert.match(JSON.stringify(fromDomain(fields('To: b@example.org\r\nSubject: x\r\n'))), /no From: field/);
  assert.match(JSON.stringify(fromDomain(fields('From: a@example.com\r\nFrom: a@example.com\r\n'))), /2 From: fields/);
  assert.match(JSON.stringify(fromDomain(fields('From: a@example.com\r\nfrom: m@evil.example\r\n'))), /2 From: fields/);
  // Folded over several lines, still one field.
  assert.equal(fromDomain(fields('From: "Alice\r\n Doe"\r\n <alice@example.com>\r\n')).kind, 'ok');
  // Resent-From and Sender are not From.
  assert.equal(fromDomain(fields('Resent-From: a@example.com\r\nSender: b@example.com\r\n')).kind, 'nofrom');
  assert.equal(fromDomain([{ name: 'From', value: '' }]).kind, 'nofrom');
});
