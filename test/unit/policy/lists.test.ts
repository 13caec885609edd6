// Unit tests for policy/lists.ts: Exim list splitting, the four matchers, named lists and validation.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  ListError, emptyNamedLists, matchAddress, matchDomain, matchHost, matchLocalPart, splitList, splitListKeepEmpty, validateList,
} from '../../../policy/lists.js';
import type { ListSpec, MatchContext, NamedLists } from '../../../policy/lists.js';

function ctxWith(partial: Partial<Record<keyof NamedLists, Record<string, ListSpec>>> = {}): MatchContext {
  const named = emptyNamedLists();
  const toMap = (r: Record<string, ListSpec> | undefined) => new Map(Object.entries(r ?? {}));
  return {
    named: {
      domains: partial.domains ? toMap(partial.domains) : named.domains,
      hosts: partial.hosts ? toMap(partial.hosts) : named.hosts,
      addresses: partial.addresses ? toMap(partial.addresses) : named.addresses,
      localParts: partial.localParts ? toMap(partial.localParts) : named.localParts,
    },
    primaryHostname: 'mx.example.net',
  };
}
const ctx = ctxWith();

test('splitList: colons, trimming, doubled colon, trailing separator', () => {
  assert.deepEqual(splitList(' a : b:c  :'), ['a', 'b', 'c']);
  assert.deepEqual(splitList('127.0.0.1 : ::::1'), ['127.0.0.1', '::1']);
  assert.deepEqual(splitList('a :: b'), ['a : b']);
  assert.deepEqual(splitList(''), []);
  assert.deepEqual(splitList('a : : b'), ['a', 'b']);
});

test('splitList: <X changes the separator', () => {
  assert.deepEqual(splitList('<; 127.0.0.1 ; ::1 ; 2001:db8::/32'), ['127.0.0.1', '::1', '2001:db8::/32']);
  assert.deepEqual(splitList('<, a, b ,, c'), ['a', 'b , c']);
  assert.deepEqual(splitList('<\n a\n b\n'), ['a', 'b']);
  // `<>` is the null-sender item, not a separator change to ">".
  assert.deepEqual(splitList('<> : a@b'), ['<>', 'a@b']);
});

test('splitList: arrays are trimmed and empties dropped', () => {
  assert.deepEqual(splitList([' ::1 ', '', '10.0.0.0/8']), ['::1', '10.0.0.0/8']);
});

test('splitListKeepEmpty keeps inner empties but not a trailing one', () => {
  assert.deepEqual(splitListKeepEmpty('a : : b :'), ['a', '', 'b']);
  assert.deepEqual(splitListKeepEmpty(':'), ['']);
});

test('matchDomain: exact, case, wildcards, @, regex', () => {
  assert.equal(matchDomain('Example.COM', 'example.com', ctx), true);
  assert.equal(matchDomain('example.org', 'example.com', ctx), false);
  assert.equal(matchDomain('anything.test', '*', ctx), true);
  assert.equal(matchDomain('a.example.com', '*.example.com', ctx), true);
  assert.equal(matchDomain('example.com', '*.example.com', ctx), false);
  assert.equal(matchDomain('example.com', '*example.com', ctx), true);
  assert.equal(matchDomain('fooexample.com', '*example.com', ctx), true);
  assert.equal(matchDomain('MX.example.net', '@', ctx), true);
  assert.equal(matchDomain('other.example.net', '@', ctx), false);
  assert.equal(matchDomain('mail7.Example.org', '^mail\\d+\\.example\\.org$', ctx), true);
  assert.equal(matchDomain('mailx.example.org', '^mail\\d+\\.example\\.org$', ctx), false);
});

test('matchDomain: first match decides; negation', () => {
  const list = '!a.b.c : *.b.c';
  assert.equal(matchDomain('a.b.c', list, ctx), false);
  assert.equal(matchDomain('x.b.c', list, ctx), true);
  assert.equal(matchDomain('x.y.z', list, ctx), false);
  assert.equal(matchDomain('a.b.c', '*.b.c : !a.b.c', ctx), true);
});

test('matchDomain: a list ending with a negative item matches what it does not exclude (Exim rule)', () => {
  assert.equal(matchDomain('x.y.z', '!a.b.c', ctx), true);
  assert.equal(matchDomain('a.b.c', '!a.b.c', ctx), false);
  assert.equal(matchDomain('x.y.z', '', ctx), false);
});

test('matchDomain: named lists, negated named lists, unknown and looping names', () => {
  const c = ctxWith({ domains: { local: 'example.com : example.org', relay: ['partner.test'], loop1: '+loop2', loop2: '+loop1' } });
  assert.equal(matchDomain('example.org', '+local', c), true);
  assert.equal(matchDomain('partner.test', '+local : +relay', c), true);
  assert.equal(matchDomain('example.org', '!+local : *', c), false);
  assert.equal(matchDomain('other.test', '!+local : *', c), true);
  assert.throws(() => matchDomain('x', '+nope', c), (e: unknown) => e instanceof ListError && e.code === 'POLICY_LIST' && /\+nope/.test(e.message));
  assert.throws(() => matchDomain('x', '+loop1', c), /refers to itself/);
});

test('matchHost: IPv4, CIDR, IPv6, IPv4-mapped clients', () => {
  assert.equal(matchHost('192.0.2.7', '192.0.2.7', ctx), true);
  assert.equal(matchHost('192.0.2.8', '192.0.2.7', ctx), false);
  assert.equal(matchHost('10.200.3.4', '10.0.0.0/8', ctx), true);
  assert.equal(matchHost('11.0.0.1', '10.0.0.0/8', ctx), false);
  assert.equal(matchHost('::1', ['::1'], ctx), true);
  assert.equal(matchHost('::1', '::::1', ctx), true);
  assert.equal(matchHost('2001:db8:5::1', '<; 2001:db8::/32', ctx), true);
  assert.equal(matchHost('2001:db9::1', '<; 2001:db8::/32', ctx), false);
  assert.equal(matchHost('::ffff:10.1.2.3', '10.0.0.0/8', ctx), true);
  assert.equal(matchHost('10.1.2.3', ['::ffff:10.0.0.0/104'], ctx), true);
  assert.equal(matchHost('10.1.2.3', ['2001:db8::/32'], ctx), false);
  assert.equal(matchHost('2001:db8::1', '10.0.0.0/8', ctx), false);
  assert.equal(matchHost('203.0.113.9', '*', ctx), true);
});

test('matchHost: negation and named host lists', () => {
  const c = ctxWith({ hosts: { relay: ['127.0.0.1', '::1', '192.168.0.0/16'] } });
  assert.equal(matchHost('192.168.4.4', '+relay', c), true);
  assert.equal(matchHost('192.168.4.4', '!192.168.4.4 : +relay', c), false);
  assert.equal(matchHost('8.8.8.8', '+relay', c), false);
  assert.equal(matchHost('::1', '+relay', c), true);
});

test('matchHost: host names are refused at match time', () => {
  assert.throws(() => matchHost('192.0.2.1', 'localhost', ctx), /host names in host lists are not supported yet/);
});

test('matchLocalPart: case-insensitive exact, *, regex, negation, named', () => {
  const c = ctxWith({ localParts: { admins: 'root : postmaster' } });
  assert.equal(matchLocalPart('Postmaster', 'postmaster', c), true);
  assert.equal(matchLocalPart('bob', 'postmaster', c), false);
  assert.equal(matchLocalPart('bob', '*', c), true);
  assert.equal(matchLocalPart('user-123', '^user-\\d+$', c), true);
  assert.equal(matchLocalPart('root', '+admins', c), true);
  assert.equal(matchLocalPart('root', '!+admins : *', c), false);
});

test('matchAddress: forms of items', () => {
  const a = { local: 'Bob', domain: 'Sub.Example.com' };
  assert.equal(matchAddress(a, 'bob@sub.example.com', ctx), true);
  assert.equal(matchAddress(a, 'alice@sub.example.com', ctx), false);
  assert.equal(matchAddress(a, '*@sub.example.com', ctx), true);
  assert.equal(matchAddress(a, '@sub.example.com', ctx), true);
  assert.equal(matchAddress(a, 'bob@*', ctx), true);
  assert.equal(matchAddress(a, '*@*.example.com', ctx), true);
  assert.equal(matchAddress(a, '*@example.com', ctx), false);
  assert.equal(matchAddress(a, 'sub.example.com', ctx), true);
  assert.equal(matchAddress(a, '*.example.com', ctx), true);
  assert.equal(matchAddress(a, '^bob@sub\\.', ctx), true);
  assert.equal(matchAddress(a, '*', ctx), true);
  assert.equal(matchAddress({ local: 'list-request', domain: 'x.test' }, '*-request@x.test', ctx), true);
  assert.equal(matchAddress(a, '!bob@sub.example.com : *', ctx), false);
});

test('matchAddress: the null sender matches <> only', () => {
  assert.equal(matchAddress(null, '<>', ctx), true);
  assert.equal(matchAddress(null, '*', ctx), false);
  assert.equal(matchAddress(null, '*@*', ctx), false);
  assert.equal(matchAddress(null, 'example.com', ctx), false);
  assert.equal(matchAddress({ local: 'a', domain: 'b.test' }, '<>', ctx), false);
  assert.equal(matchAddress(null, 'a@b.test : <>', ctx), true);
});

test('matchAddress: named address lists and named domain lists in the domain part', () => {
  const c = ctxWith({ addresses: { vip: ['ceo@corp.test'] }, domains: { hostile: 'spam.test' } });
  assert.equal(matchAddress({ local: 'ceo', domain: 'corp.test' }, '+vip', c), true);
  assert.equal(matchAddress({ local: 'x', domain: 'spam.test' }, '*@+hostile', c), true);
  assert.equal(matchAddress({ local: 'x', domain: 'ok.test' }, '*@+hostile', c), false);
});

test('validateList: accepts sound lists', () => {
  const named = ctxWith({ domains: { local: 'example.com' }, hosts: { relay: '127.0.0.1' } }).named;
  assert.equal(validateList('domain', '+local : *.example.org : ^a.*$ : @', named), null);
  assert.equal(validateList('host', ['+relay', '::1', '10.0.0.0/8', '!192.0.2.1', '*'], named), null);
  assert.equal(validateList('address', '<> : *@+local : ^x : bob@example.com', named), null);
  assert.equal(validateList('localPart', 'postmaster : ^abuse', named), null);
});

test('validateList: names the bad item', () => {
  const named = ctxWith({ hosts: { bad: 'localhost' }, domains: { a: '+b', b: '+a' } }).named;
  assert.match(validateList('host', '127.0.0.1 : localhost', named) ?? '', /"localhost".*host names in host lists are not supported yet/);
  assert.match(validateList('host', '+bad', named) ?? '', /localhost.*in named host list "\+bad"/);
  assert.match(validateList('host', '::1', named) ?? '', /":1".*doubled/);
  assert.match(validateList('host', '10.0.0.0/33', named) ?? '', /prefix length/);
  assert.match(validateList('domain', '+missing', named) ?? '', /unknown named domain list "\+missing"/);
  assert.match(validateList('domain', '+a', named) ?? '', /refers to itself/);
  assert.match(validateList('domain', '^a(', named) ?? '', /bad regular expression/);
  assert.match(validateList('domain', 'lsearch;/etc/domains', named) ?? '', /lookups/);
  assert.match(validateList('address', 'bob@+nolist', named) ?? '', /unknown named domain list "\+nolist"/);
  assert.match(validateList('address', ':', named) ?? '', /null sender as "<>"/);
  assert.match(validateList('domain', '!', named) ?? '', /nothing after "!"/);
});
