// Unit tests for routing/aliases.ts: the alias file format (comments, continuations, refused
// targets, duplicates) and expansion (recursion, self-reference, loops, depth, duplicates, domains).
import test from 'node:test';
import assert from 'node:assert/strict';
import { AliasError, expandAliases, parseAliases } from '../../../routing/aliases.js';
import type { AliasAddress } from '../../../routing/aliases.js';

const FILE = '/etc/petrel/aliases';
const LOCAL = new Set(['petrel.example', 'localhost']);
const isLocal = (d: string): boolean => LOCAL.has(d.toLowerCase());
const at = (local: string, domain = 'petrel.example'): AliasAddress => ({ local, domain });
const show = (as: readonly AliasAddress[]): string[] => as.map((a) => `${a.local}@${a.domain}`);

function syntaxError(text: string, line: number, pattern: RegExp): void {
  assert.throws(() => parseAliases(text, FILE), (e: unknown) => {
    assert.ok(e instanceof AliasError, String(e));
    assert.equal(e.code, 'ALIAS_SYNTAX');
    assert.equal(e.line, line);
    assert.equal(e.file, FILE);
    assert.match(e.message, new RegExp(`^${FILE} line ${line}: `));
    assert.match(e.message, pattern);
    return true;
  });
}

test('the classic format: comments, blank lines, continuation lines, several targets', () => {
  const a = parseAliases([
    '# system aliases',
    '',
    'postmaster: root',
    'Root:  alice, bob@example.org ,',
    '   carol@petrel.example,',
    '  # a comment inside an entry does not end it',
    '\tdave',
    'webmaster:<www@petrel.example>',
    'quoted: "john smith"@example.org, "odd,name"',
    'keep: \\keep, other',
    '',
  ].join('\n'), FILE);
  assert.deepEqual([...a.entries.keys()], ['postmaster', 'root', 'webmaster', 'quoted', 'keep']);
  const root = a.entries.get('root');
  assert.equal(root?.name, 'Root');
  assert.equal(root?.line, 4);
  assert.deepEqual(root?.targets, [
    { local: 'alice', domain: null, noExpand: false },
    { local: 'bob', domain: 'example.org', noExpand: false },
    { local: 'carol', domain: 'petrel.example', noExpand: false },
    { local: 'dave', domain: null, noExpand: false },
  ]);
  assert.deepEqual(a.entries.get('webmaster')?.targets, [{ local: 'www', domain: 'petrel.example', noExpand: false }]);
  assert.deepEqual(a.entries.get('quoted')?.targets, [
    { local: '"john smith"', domain: 'example.org', noExpand: false },
    { local: '"odd,name"', domain: null, noExpand: false },
  ]);
  assert.deepEqual(a.entries.get('keep')?.targets[0], { local: 'keep', domain: null, noExpand: true });
  // CRLF files read the same.
  assert.equal(parseAliases('a: b,\r\n  c\r\n', FILE).entries.get('a')?.targets.length, 2);
});

test('refused targets name the line: :include:, pipes, files, special items', () => {
  syntaxError('a: b\nlist: :include:/etc/list\n', 2, /":include:" lists are not supported/);
  syntaxError('a: b\n\nprog: |/usr/bin/vacation alice\n', 3, /pipe targets are not supported/);
  syntaxError('prog: alice, "|/usr/bin/procmail -f-"\n', 1, /pipe targets are not supported/);
  syntaxError('save: alice,\n  /var/mail/archive\n', 1, /file targets are not supported/);
  syntaxError('save: "/var/mail/archive"\n', 1, /file targets are not supported/);
  syntaxError('null: :blackhole:\n', 1, /special item :blackhole: is not supported/);
});

test('duplicates name both lines; other syntax errors name their line', () => {
  syntaxError('root: alice\nbob: b\n# x\nROOT: carol\n', 4, /duplicate alias "ROOT" \(first defined at line 1\)/);
  syntaxError('  continued: x\n', 1, /continuation line with no alias/);
  syntaxError('a: b\nno colon here\n', 2, /no colon/);
  syntaxError(': b\n', 1, /missing alias name/);
  syntaxError('a b: c\n', 1, /bad alias name/);
  syntaxError('a@b.example: c\n', 1, /bad alias name/);
  syntaxError('a:\n', 1, /has no targets/);
  syntaxError('a: b,,c\n', 1, /empty target/);
  syntaxError('a: b,\n', 1, /empty target/);
  syntaxError('a: b@\n', 1, /bad target address/);
  syntaxError('a: b@-bad-.example\n', 1, /bad target address/);
  syntaxError('a: .b\n', 1, /bad target address/);
  syntaxError('a: b c\n', 1, /bad target address/);
  syntaxError('# x\na: b\n  c\n', 2, /bad target address "b c"/);
});

test('expansion is recursive, keeps the order, and only expands local domains', () => {
  const a = parseAliases([
    'postmaster: root',
    'root: alice, ops',
    'ops: bob@example.org, carol@localhost, staff@elsewhere.example',
    'staff: should-not-be-used',
    'carol: carol.real',
  ].join('\n'), FILE);
  const r = expandAliases(a, at('Postmaster'), isLocal);
  assert.deepEqual(r.kind === 'ok' && show(r.addresses),
    ['alice@petrel.example', 'bob@example.org', 'carol.real@localhost', 'staff@elsewhere.example']);
  // Not an alias, or not a local domain: nothing to do.
  assert.deepEqual(expandAliases(a, at('alice'), isLocal), { kind: 'none' });
  assert.deepEqual(expandAliases(a, at('root', 'example.org'), isLocal), { kind: 'none' });
  // Bare targets take the domain of the address being expanded.
  const viaLocalhost = expandAliases(a, at('root', 'localhost'), isLocal);
  assert.deepEqual(viaLocalhost.kind === 'ok' && show(viaLocalhost.addresses).slice(0, 1), ['alice@localhost']);
});

test('an alias naming itself means delivery to itself; a longer cycle is a loop', () => {
  const a = parseAliases([
    'root: root, admin',
    'self: self',
    'a: b',
    'b: c, x',
    'c: a',
    'x: y',
    'loopy: LOOPY@localhost, other',
  ].join('\n'), FILE);
  assert.deepEqual(expandAliases(a, at('root'), isLocal), { kind: 'ok', addresses: [at('root'), at('admin')] });
  assert.deepEqual(expandAliases(a, at('self'), isLocal), { kind: 'ok', addresses: [at('self')] });
  // Self-reference in another local domain is still the alias itself.
  const l = expandAliases(a, at('loopy'), isLocal);
  assert.deepEqual(l.kind === 'ok' && show(l.addresses), ['LOOPY@localhost', 'other@petrel.example']);
  assert.deepEqual(expandAliases(a, at('a'), isLocal), { kind: 'loop', chain: ['a', 'b', 'c', 'a'] });
  assert.deepEqual(expandAliases(a, at('c'), isLocal), { kind: 'loop', chain: ['c', 'a', 'b', 'c'] });
  // x is reachable from the cycle but is not part of it.
  assert.deepEqual(expandAliases(a, at('x'), isLocal), { kind: 'ok', addresses: [at('y')] });
});

test('a chain deeper than maxDepth is reported as a loop', () => {
  const lines = Array.from({ length: 12 }, (_, i) => `n${i}: n${i + 1}`);
  const a = parseAliases(lines.join('\n'), FILE);
  const deep = expandAliases(a, at('n0'), isLocal);
  assert.equal(deep.kind, 'loop');
  assert.deepEqual(deep.kind === 'loop' && deep.chain.length, 11);
  assert.deepEqual(expandAliases(a, at('n0'), isLocal, 20), { kind: 'ok', addresses: [at('n12')] });
  assert.deepEqual(expandAliases(a, at('n5'), isLocal), { kind: 'ok', addresses: [at('n12')] });
});

test('duplicates are removed case-insensitively; shared sub-aliases are not a loop', () => {
  const a = parseAliases([
    'team: dev, ops, Alice, alice@PETREL.example',
    'dev: alice, bob, shared',
    'ops: bob, shared, carol',
    'shared: dave, ALICE',
  ].join('\n'), FILE);
  const r = expandAliases(a, at('TEAM'), isLocal);
  assert.deepEqual(r.kind === 'ok' && show(r.addresses),
    ['alice@petrel.example', 'bob@petrel.example', 'dave@petrel.example', 'carol@petrel.example']);
});

test('a backslash target is delivered as it is, never expanded', () => {
  const a = parseAliases('alice: \\alice, archive\narchive: \\alice@localhost\n', FILE);
  assert.deepEqual(expandAliases(a, at('alice'), isLocal), { kind: 'ok', addresses: [at('alice'), at('alice', 'localhost')] });
});
