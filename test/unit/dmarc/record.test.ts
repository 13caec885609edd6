// Unit tests for protocol/dmarc/record.ts: v=DMARC1 recognition (RFC 7489 sections 6.3, 6.4), tags and defaults,
// bad input (unknown and duplicate tags, odd values), reporting URIs and size limits, the p=none fallback of
// section 6.6.3 step 6.
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatDmarcRecord, isDmarcRecord, parseDmarcRecord, parseDmarcUri, reportingUris } from '../../../protocol/dmarc/record.js';
import type { DmarcRecord } from '../../../protocol/dmarc/types.js';

function record(text: string): DmarcRecord {
  const r = parseDmarcRecord(text);
  assert.equal(r.kind, 'record', `${text}: ${JSON.stringify(r)}`);
  return (r as { record: DmarcRecord }).record;
}

function invalid(text: string, reason: RegExp): void {
  const r = parseDmarcRecord(text);
  assert.equal(r.kind, 'invalid', `${text}: ${JSON.stringify(r)}`);
  assert.match((r as { reason: string }).reason, reason);
}

test('v=DMARC1: exact value, first, any case of the tag name, spaces around "=" and before ";"', () => {
  for (const ok of ['v=DMARC1; p=none', 'V=DMARC1; p=none', 'v = DMARC1 ; p=none', 'v=DMARC1;p=none', 'v=DMARC1 ',
    'v=DMARC1', 'v=DMARC1\t;\tp=reject', 'v=DMARC1;']) {
    assert.equal(isDmarcRecord(ok), true, ok);
  }
  for (const bad of ['v=dmarc1; p=none', 'v=Dmarc1; p=none', 'v=DMARC2; p=none', 'v=DMARC1x; p=none', 'v=DMARC10',
    ' v=DMARC1; p=none', 'p=none; v=DMARC1', 'v=DMARC1 p=none', 'v=spf1 -all', '', 'v=', 'DMARC1', 'v=DMARC 1',
    '\tv=DMARC1; p=none', 'v==DMARC1', 'vv=DMARC1']) {
    assert.equal(isDmarcRecord(bad), false, JSON.stringify(bad));
    assert.equal(parseDmarcRecord(bad).kind, 'notdmarc', JSON.stringify(bad));
  }
});

test('a full record: every tag read, values case-insensitive, URIs with size limits', () => {
  const r = record('v=DMARC1; p=Reject; sp=quarantine; np=REJECT; pct=25; adkim=S; aspf=s; ' +
    'rua=mailto:agg@example.com!10m, mailto:other@Reports.Example.NET; ruf=mailto:ruf@example.com!512k; ' +
    'fo=1:d:S; rf=afrf; ri=3600');
  assert.equal(r.p, 'reject');
  assert.equal(r.sp, 'quarantine');
  assert.equal(r.np, 'reject');
  assert.equal(r.pct, 25);
  assert.equal(r.adkim, 's');
  assert.equal(r.aspf, 's');
  assert.deepEqual(r.rua, [
    { uri: 'mailto:agg@example.com', scheme: 'mailto', maxSize: 10 * 1024 * 1024, address: 'agg@example.com', domain: 'example.com' },
    { uri: 'mailto:other@Reports.Example.NET', scheme: 'mailto', address: 'other@reports.example.net', domain: 'reports.example.net' },
  ]);
  assert.deepEqual(r.ruf.map((u) => [u.address, u.maxSize]), [['ruf@example.com', 512 * 1024]]);
  assert.deepEqual(r.fo, ['1', 'd', 's']);
  assert.deepEqual(r.rf, ['afrf']);
  assert.equal(r.ri, 3600);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.assumedNone, false);
  assert.match(formatDmarcRecord(r), /^v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=25; rua=mailto:agg@example.com!10485760,/);
});

test('defaults (section 6.3): pct 100, relaxed alignment, fo 0, rf afrf, ri 86400, no sp/np', () => {
  const r = record('v=DMARC1; p=none');
  assert.deepEqual(
    [r.p, r.sp, r.np, r.pct, r.adkim, r.aspf, r.fo, r.rf, r.ri, r.rua, r.ruf],
    ['none', undefined, undefined, 100, 'r', 'r', ['0'], ['afrf'], 86400, [], []],
  );
});

test('unknown tags are ignored but kept; DMARCbis psd= and t= are unknown here', () => {
  const r = record('v=DMARC1; p=quarantine; x_custom=yes; psd=n; t=y; Foo_Bar9=1');
  assert.equal(r.p, 'quarantine');
  assert.equal(r.tags.get('x_custom'), 'yes');
  assert.equal(r.tags.get('psd'), 'n');
  assert.equal(r.tags.get('foo_bar9'), '1');
  assert.deepEqual(r.warnings, []);
  // Not a tag name (RFC 6376 tag-name = ALPHA *ALNUMPUNC): skipped as a syntax error, the record still counts.
  const odd = record('v=DMARC1; x-custom=yes; 9x=1; p=reject');
  assert.equal(odd.p, 'reject');
  assert.equal(odd.warnings.length, 2);
});

test('duplicate tags make the record invalid, whatever their case or values', () => {
  invalid('v=DMARC1; p=none; p=reject', /duplicate tag p=/);
  invalid('v=DMARC1; p=none; P=none', /duplicate tag p=/);
  invalid('v=DMARC1; p=reject; rua=mailto:a@example.com; rua=mailto:b@example.com', /duplicate tag rua=/);
  invalid('v=DMARC1; v=DMARC1; p=reject', /duplicate tag v=/);
  invalid('v=DMARC1; p=reject; pct=50; x=1; x=2', /duplicate tag x=/);
});

test('missing or invalid p=, invalid sp=/np=: p=none with a valid rua=, otherwise invalid (6.6.3 step 6)', () => {
  invalid('v=DMARC1', /no p=/);
  invalid('v=DMARC1; p=block', /invalid p=block/);
  invalid('v=DMARC1; p=', /invalid p=/);
  invalid('v=DMARC1; p=reject; sp=maybe', /invalid sp=maybe/);
  invalid('v=DMARC1; p=reject; np=x', /invalid np=x/);
  invalid('v=DMARC1; p=bad; rua=reports@example.com', /no valid rua=/);
  const r = record('v=DMARC1; p=reject; sp=bogus; rua=mailto:dmarc@example.com');
  assert.equal(r.p, 'none');
  assert.equal(r.sp, undefined);
  assert.equal(r.assumedNone, true);
  assert.match(r.warnings.join(), /invalid sp=bogus.*p=none assumed/);
  assert.equal(record('v=DMARC1; rua=mailto:dmarc@example.com').p, 'none');
  assert.equal(record('v=DMARC1; rua=https://reports.example/dmarc').p, 'none');
});

test('p= need not come second (DMARCbis); a record without ";" after v is its own value', () => {
  assert.equal(record('v=DMARC1; rua=mailto:a@example.com; p=reject').p, 'reject');
  assert.equal(parseDmarcRecord('v=DMARC1 p=reject').kind, 'notdmarc');
});

test('bad optional values fall back to defaults with a warning', () => {
  const r = record('v=DMARC1; p=reject; pct=150; adkim=x; aspf=relaxed; fo=2; rf=iodef; ri=soon; garbage; =x');
  assert.deepEqual([r.pct, r.adkim, r.aspf, r.fo, r.rf, r.ri], [100, 'r', 'r', ['0'], ['afrf'], 86400]);
  assert.equal(r.warnings.length, 8, r.warnings.join(' | '));
  for (const pct of ['-1', '1.5', '50%', ' ', '0x10', '1000']) assert.equal(record(`v=DMARC1; p=none; pct=${pct}`).pct, 100, pct);
  assert.equal(record('v=DMARC1; p=none; pct=0').pct, 0);
  assert.equal(record('v=DMARC1; p=none; pct=007').pct, 7);
});

test('empty segments and trailing separators are harmless', () => {
  const r = record('v=DMARC1;; p=reject ;;; sp=none;');
  assert.deepEqual([r.p, r.sp, r.warnings], ['reject', 'none', []]);
});

test('reporting URIs: odd ones are dropped, good ones kept, sizes in powers of two', () => {
  const r = record('v=DMARC1; p=none; rua=reports@example.com, mailto:, mailto:noat, mailto:a@b@c, mailto:x@[192.0.2.1], ' +
    'mailto:a@example.com!, mailto:a@example.com!10x, mailto:a@example.com!1!2, mailto:a@-bad-.com, ' +
    'http://reports.example/in, mailto:%7Eme@example.com?subject=hi, MAILTO:Big@Example.com!2G, mailto:a%2Cb@example.com, mailto:%zz@example.com, ' +
    'mailto:t@example.com!3t,,mailto:b@example.com!100');
  assert.deepEqual(r.rua.map((u) => [u.scheme, u.address ?? u.uri, u.maxSize]), [
    ['http', 'http://reports.example/in', undefined],
    ['mailto', '~me@example.com', undefined],
    ['mailto', 'Big@example.com', 2 * 2 ** 30],
    ['mailto', 't@example.com', 3 * 2 ** 40],
    ['mailto', 'b@example.com', 100],
  ]);
  assert.equal(r.warnings.filter((w) => w.startsWith('ignored invalid rua=')).length, 11, r.warnings.join('\n'));
  assert.equal(parseDmarcUri('mailto:a@example.com!99999999999999999'), undefined);
  assert.equal(parseDmarcUri('mailto:a@example.com!999999999999999t')?.maxSize, Number.MAX_SAFE_INTEGER);
  assert.equal(parseDmarcUri('mailto:a@bücher.example')?.domain, 'xn--bcher-kva.example');
  assert.equal(parseDmarcUri('mailto:a b@example.com'), undefined);
});

test('reportingUris reads the rua=/ruf= of an authorizing record, which needs no p=', () => {
  assert.deepEqual(reportingUris('v=DMARC1'), {});
  assert.deepEqual(reportingUris('v=DMARC1; rua=mailto:x@thirdparty.example')?.rua?.map((u) => u.address), ['x@thirdparty.example']);
  assert.equal(reportingUris('v=DMARC1; rua=a; rua=b'), undefined);
  assert.equal(reportingUris('v=dmarc1'), undefined);
});

test('bounded work: a long record with many tags parses in linear time', () => {
  const long = 'v=DMARC1; p=reject; ' + Array.from({ length: 3000 }, (_, i) => `x${i}=${'v'.repeat(10)}`).join('; ') +
    '; rua=' + Array.from({ length: 500 }, (_, i) => `mailto:r${i}@example.com`).join(',');
  const t0 = process.hrtime.bigint();
  const r = record(long);
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 500);
  assert.equal(r.rua.length, 500);
});
