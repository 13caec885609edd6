// Unit tests for policy/acl-parse.ts: statements, items, continuations, and errors with line numbers.
import test from 'node:test';
import assert from 'node:assert/strict';
import { AclSyntaxError, parseAcl, parseEximTime, splitSetValue } from '../../../policy/acl-parse.js';

const SAMPLE = `
  # comment
  accept  hosts = +relay_from_hosts
  deny    message = relay not permitted
          !domains = +local_domains : +relay_to_domains
  require verify = recipient
  warn    add_header = X-Stage: rcpt
          set acl_m_seen = yes
  accept
`;

test('parses the sample ACL into statements and items', () => {
  const acl = parseAcl(SAMPLE);
  assert.deepEqual(acl.statements.map((s) => [s.verb, s.line, s.items.length]), [
    ['accept', 3, 1], ['deny', 4, 2], ['require', 6, 1], ['warn', 7, 2], ['accept', 9, 0],
  ]);
  const deny = acl.statements[1];
  assert.deepEqual(deny?.items[0], { kind: 'modifier', name: 'message', value: 'relay not permitted', negated: false, line: 4 });
  assert.deepEqual(deny?.items[1], {
    kind: 'condition', name: 'domains', value: '+local_domains : +relay_to_domains', negated: true, line: 5,
  });
  const warn = acl.statements[3];
  assert.deepEqual(warn?.items[0], { kind: 'modifier', name: 'add_header', value: 'X-Stage: rcpt', negated: false, line: 7 });
  assert.deepEqual(warn?.items[1], { kind: 'modifier', name: 'set', value: 'acl_m_seen = yes', negated: false, line: 8 });
});

test('values keep "=" and "#" after the first "="; spaces around "=" are optional', () => {
  const acl = parseAcl('deny condition=a=b # not a comment\n  ! hosts =10.0.0.1');
  const items = acl.statements[0]?.items ?? [];
  assert.equal(items[0]?.value, 'a=b # not a comment');
  assert.equal(items[1]?.negated, true);
  assert.equal(items[1]?.name, 'hosts');
  assert.equal(items[1]?.value, '10.0.0.1');
});

test('backslash continuation joins lines; comments inside a continuation are skipped', () => {
  const acl = parseAcl('accept hosts = 10.0.0.1 : \\\n   # in between\n      10.0.0.2\n  endpass\n  verify = recipient');
  const s = acl.statements[0];
  assert.equal(s?.items[0]?.value, '10.0.0.1 : 10.0.0.2');
  assert.equal(s?.items[1]?.name, 'endpass');
  assert.equal(s?.items[1]?.value, '');
  assert.equal(s?.items[2]?.line, 5);
});

test('CRLF text and an empty ACL', () => {
  assert.equal(parseAcl('accept\r\ndeny\r\n').statements.length, 2);
  assert.deepEqual(parseAcl('  \n# only comments\n').statements, []);
});

function syntaxError(text: string, line: number, pattern: RegExp): void {
  assert.throws(() => parseAcl(text), (e: unknown) => {
    assert.ok(e instanceof AclSyntaxError);
    assert.equal(e.code, 'ACL_SYNTAX');
    assert.equal(e.line, line);
    assert.match(e.message, pattern);
    return true;
  });
}

test('errors carry the right line number', () => {
  syntaxError('hosts = 1.2.3.4', 1, /^line 1: expected a verb \(accept, defer, deny, discard, drop, require, warn\)$/);
  syntaxError('# c\n\naccept\n  hostz = 1.2.3.4', 4, /^line 4: unknown condition or modifier "hostz"$/);
  syntaxError('deny hosts = *\n\n\n\n  !message = no', 5, /^line 5: "message" is a modifier and cannot be negated$/);
  syntaxError('accept\n  hosts 1.2.3.4', 2, /expected "=" after "hosts"/);
  syntaxError('accept\n  set foo = 1', 2, /"set" needs/);
  syntaxError('accept\n  set acl_mx = 1', 2, /"set" needs/);
  syntaxError('deny endpass', 1, /only allowed with accept or discard/);
  syntaxError('accept endpass = x', 1, /takes no value/);
  syntaxError('deny\n delay = soon', 2, /bad time "soon"/);
  syntaxError('deny\n verify = not_blind', 2, /not supported yet/);
  syntaxError('deny\n verify = recipient/callout', 2, /options/);
  syntaxError('deny\n verify = everything', 2, /unknown verify "everything"/);
  syntaxError('deny\n dnslists = zen.example', 2, /"dnslists" is an Exim condition or modifier that Petrel does not support yet/);
  syntaxError('accept\n\tacl = other arg', 2, /arguments/);
});

test('a continued statement reports the line it starts on', () => {
  syntaxError('accept\n  hostz = 1 : \\\n   2', 2, /hostz/);
});

test('delay with a variable is checked only at run time', () => {
  assert.equal(parseAcl('warn delay = $acl_c_delay').statements[0]?.items[0]?.value, '$acl_c_delay');
});

test('parseEximTime', () => {
  assert.equal(parseEximTime('30s'), 30_000);
  assert.equal(parseEximTime('2m'), 120_000);
  assert.equal(parseEximTime('1h'), 3_600_000);
  assert.equal(parseEximTime('500ms'), 500);
  assert.equal(parseEximTime('1h30m'), 5_400_000);
  assert.equal(parseEximTime(' 7 '), 7000);
  assert.equal(parseEximTime('1d'), 86_400_000);
  assert.equal(parseEximTime(''), null);
  assert.equal(parseEximTime('5x'), null);
  assert.equal(parseEximTime('m5'), null);
  assert.equal(parseEximTime('1.5s'), null);
});

test('splitSetValue', () => {
  assert.deepEqual(splitSetValue('acl_m_seen = yes'), { name: 'acl_m_seen', text: 'yes' });
  assert.deepEqual(splitSetValue('acl_c0=a = b'), { name: 'acl_c0', text: 'a = b' });
  assert.equal(splitSetValue('acl_x_y = 1'), null);
});
