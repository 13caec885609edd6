// Unit tests for policy/expand.ts: variables, headers, escapes and errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import { expand } from '../../../policy/expand.js';

const vars = (name: string): string | undefined =>
  ({ sender_address: 'a@b.test', acl_m_x: '42', local_part: 'bob' } as Record<string, string>)[name];
const headers = (name: string): string | undefined =>
  ({ subject: '  Hello\r\n world  ', 'x-spam-score': '7' } as Record<string, string>)[name.toLowerCase()];

function ok(text: string): string {
  const r = expand(text, vars, headers);
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r.kind === 'ok' ? r.value : '';
}

test('plain text passes through', () => {
  assert.equal(ok('no variables here'), 'no variables here');
  assert.equal(ok(''), '');
});

test('$name and ${name}', () => {
  assert.equal(ok('from $sender_address!'), 'from a@b.test!');
  assert.equal(ok('${local_part}x'), 'bobx');
  assert.equal(ok('$acl_m_x$acl_m_x'), '4242');
});

test('$h_ and $header_ give the first header, unfolded and trimmed', () => {
  assert.equal(ok('[$h_Subject:]'), '[Hello world]');
  assert.equal(ok('[$header_subject:]'), '[Hello world]');
  assert.equal(ok('score=$h_X-Spam-Score: points'), 'score=7 points');
  assert.equal(ok('[$h_X-Absent:]'), '[]');
  assert.equal(ok('[${h_subject}]'), '[Hello world]');
  // No header source at all (before DATA): headers expand to nothing.
  assert.deepEqual(expand('$h_subject:', vars), { kind: 'ok', value: '' });
});

test('escapes: \\$ \\\\ \\n; other backslashes stay', () => {
  assert.equal(ok('cost \\$5'), 'cost $5');
  assert.equal(ok('a\\\\b'), 'a\\b');
  assert.equal(ok('X-A: 1\\nX-B: 2'), 'X-A: 1\nX-B: 2');
  assert.equal(ok('^\\d+@example\\.com'), '^\\d+@example\\.com');
});

test('a dollar not followed by a name is literal (regex anchors survive)', () => {
  assert.equal(ok('^bob@example\\.com$'), '^bob@example\\.com$');
  assert.equal(ok('5 $ each'), '5 $ each');
});

test('errors: unknown variable, unsupported item, unclosed brace', () => {
  const unknown = expand('hi $nosuch there', vars);
  assert.equal(unknown.kind, 'error');
  assert.match(unknown.kind === 'error' ? unknown.reason : '', /unknown variable "\$nosuch"/);
  const braced = expand('${nosuch}', vars);
  assert.equal(braced.kind, 'error');
  const item = expand('${if eq{a}{b}{y}{n}}', vars);
  assert.match(item.kind === 'error' ? item.reason : '', /unsupported expansion item/);
  const open = expand('${local_part', vars);
  assert.match(open.kind === 'error' ? open.reason : '', /missing "}"/);
});
