// Unit tests for protocol/dmarc/psl.ts: the Public Suffix List's own 78 algorithm cases (publicsuffix/list
// tests/tests.txt, read from ../shared/conformance/psl) with the list file there, and the same cases through tldts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getDomain } from 'tldts';
import { orgDomain, parsePublicSuffixList, sameOrganization } from '../../../protocol/dmarc/psl.js';

// dist/test/unit/dmarc -> the repository, then the shared conformance data beside it.
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const PSL_DIR = join(REPO, '../shared/conformance/psl');

interface Case {
  readonly input: string | null;
  readonly expected: string | null;
  readonly line: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  readFileSync(join(PSL_DIR, 'tests.txt'), 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('//')) return;
    const [input, expected] = line.split(/\s+/);
    assert.ok(input !== undefined && expected !== undefined, `tests.txt line ${i + 1}`);
    out.push({ input: input === 'null' ? null : input, expected: expected === 'null' ? null : expected, line: i + 1 });
  });
  return out;
}

const CASES = cases();
const LIST = parsePublicSuffixList(readFileSync(join(PSL_DIR, 'public_suffix_list.dat'), 'utf8'));

test('the suite has its 78 cases', () => {
  assert.equal(CASES.length, 78);
  assert.ok(LIST.size > 9000, `rules read: ${LIST.size}`);
});

test('PSL file: all 78 cases give the expected registrable domain', (t) => {
  const failed = CASES.filter((c) => orgDomain(c.input, LIST) !== c.expected)
    .map((c) => `line ${c.line}: ${c.input} -> ${orgDomain(c.input, LIST)}, want ${c.expected}`);
  assert.deepEqual(failed, []);
  t.diagnostic(`PSL file: ${CASES.length - failed.length}/${CASES.length}`);
});

test('tldts (the default) through orgDomain: all 78 cases', (t) => {
  const failed = CASES.filter((c) => orgDomain(c.input) !== c.expected)
    .map((c) => `line ${c.line}: ${c.input} -> ${orgDomain(c.input)}, want ${c.expected}`);
  assert.deepEqual(failed, []);
  t.diagnostic(`tldts via orgDomain: ${CASES.length - failed.length}/${CASES.length}`);
});

test('tldts called directly: counted, the misses are only case and leading dots', (t) => {
  const direct = (c: Case, opts: object): boolean =>
    (c.input === null ? null : getDomain(c.input, opts)) === c.expected;
  const privateToo = CASES.filter((c) => direct(c, { allowPrivateDomains: true }));
  const icannOnly = CASES.filter((c) => direct(c, {}));
  t.diagnostic(`tldts getDomain, private domains on: ${privateToo.length}/${CASES.length}; ICANN only: ${icannOnly.length}/${CASES.length}`);
  const misses = CASES.filter((c) => !direct(c, { allowPrivateDomains: true })).map((c) => c.input);
  for (const m of misses) assert.ok(m !== null && (m.startsWith('.') || m !== m.toLowerCase()), `unexpected tldts miss ${m}`);
});

test('sections: the ICANN-only list does not know uk.com (a PRIVATE entry)', () => {
  const icann = parsePublicSuffixList(readFileSync(join(PSL_DIR, 'public_suffix_list.dat'), 'utf8'), 'icann');
  assert.equal(orgDomain('a.b.example.uk.com', icann), 'uk.com');
  assert.equal(orgDomain('a.b.example.uk.com', LIST), 'example.uk.com');
});

test('a small list: rules, wildcards, exceptions, comments, whitespace after a rule', () => {
  const psl = parsePublicSuffixList([
    '// comment', '', 'com', 'co.uk    trailing words are ignored', '*.kobe.jp', '!city.kobe.jp', 'jp',
    '// ===BEGIN PRIVATE DOMAINS===', 'blogspot.com', '// ===END PRIVATE DOMAINS===',
  ].join('\r\n'));
  assert.equal(psl.size, 6);
  assert.equal(orgDomain('a.b.example.co.uk', psl), 'example.co.uk');
  assert.equal(orgDomain('co.uk', psl), null);
  assert.equal(orgDomain('x.y.kobe.jp', psl), 'x.y.kobe.jp');
  assert.equal(orgDomain('y.kobe.jp', psl), null);
  assert.equal(orgDomain('www.city.kobe.jp', psl), 'city.kobe.jp');
  assert.equal(orgDomain('me.blogspot.com', psl), 'me.blogspot.com');
  assert.equal(orgDomain('Example.COM.', psl), 'example.com');
  assert.equal(orgDomain('a..example.com', psl), null);
  assert.equal(orgDomain('', psl), null);
  assert.equal(orgDomain(undefined, psl), null);
});

test('relaxed alignment compares Organizational Domains; a public suffix aligns only with itself', () => {
  assert.equal(sameOrganization('mail.example.com', 'news.example.com', LIST), true);
  assert.equal(sameOrganization('a.example.co.uk', 'example.co.uk', LIST), true);
  assert.equal(sameOrganization('one.blogspot.com', 'two.blogspot.com', LIST), false);
  assert.equal(sameOrganization('one.blogspot.com', 'two.blogspot.com'), false);
  assert.equal(sameOrganization('co.uk', 'co.uk', LIST), true);
  assert.equal(sameOrganization('co.uk', 'x.co.uk', LIST), false);
  assert.equal(sameOrganization('example.com', '', LIST), false);
});
