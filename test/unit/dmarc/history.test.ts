// Unit tests for protocol/dmarc/history.ts: the OpenDMARC history record (opendmarc-import's keys and codes) written
// from evaluations, read the way the importer reads it, and parsed back into verdicts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { evaluateDmarc } from '../../../protocol/dmarc/evaluate.js';
import { dmarcVerdict, formatHistory, historyRecord, parseHistory } from '../../../protocol/dmarc/history.js';
import type { DmarcVerdict, VerdictFacts } from '../../../protocol/dmarc/history.js';
import type { DmarcInput } from '../../../protocol/dmarc/types.js';

const FIXTURE: DnsFixture = {
  '_dmarc.example.com': { TXT: [['v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=40; rua=mailto:agg@example.com!10m,mailto:x@reports.example']] },
  '_dmarc.plain.example': { TXT: [['v=DMARC1; p=none']] },
};
const RECEIVED = Date.UTC(2024, 4, 6, 7, 8, 9);

async function facts(input: DmarcInput, random = (): number => 0.9, over: Partial<VerdictFacts> = {}): Promise<VerdictFacts> {
  const result = await evaluateDmarc(input, { dns: createFixtureResolver(FIXTURE), random });
  return { jobId: '01HXYZ0000ABCDEF', reporter: 'mx.petrel.example', received: RECEIVED, sourceIp: '192.0.2.25',
    mailFromDomain: 'bounce.example.com', input, result, ...over };
}

/** The keys opendmarc-import (OpenDMARC 1.4, reports/opendmarc-import.in) knows. */
const IMPORTER_KEYS = new Set(['action', 'adkim', 'align_dkim', 'align_spf', 'arc', 'arc_policy', 'aspf', 'dkim', 'from',
  'job', 'ipaddr', 'mfrom', 'p', 'pct', 'pdomain', 'policy', 'received', 'reporter', 'rua', 'sp', 'spf']);

/** Read a record as the importer does: `($key, $value, $data) = split / /, $_, 3`. */
function importerView(text: string): [string, string, string | undefined][] {
  assert.ok(text.endsWith('\n'));
  return text.slice(0, -1).split('\n').map((line) => {
    const [key, value, ...rest] = line.split(' ');
    assert.ok(key !== undefined && IMPORTER_KEYS.has(key), `unknown key in ${JSON.stringify(line)}`);
    assert.ok(value !== undefined && value !== '', `no value in ${JSON.stringify(line)}`);
    return [key, value, rest.length > 0 ? rest.join(' ') : undefined];
  });
}

test('a failing subdomain message, sampled out: every field, in Exim\'s order, with OpenDMARC\'s codes', async () => {
  const f = await facts({
    from: 'news.example.com',
    spf: { domain: 'bounce.example.com', result: 'softfail' },
    dkim: [{ domain: 'example.com', result: 'pass', selector: 'sel1' }, { domain: 'news.example.com', result: 'fail', selector: 'sel2' }],
  });
  assert.equal(f.result.status, 'none'); // sp=quarantine, pct=40, draw 0.9: sampled out
  const text = historyRecord(f);
  assert.equal(text, [
    'job 01HXYZ0000ABCDEF',
    'reporter mx.petrel.example',
    `received ${Math.floor(RECEIVED / 1000)}`,
    'ipaddr 192.0.2.25',
    'from news.example.com',
    'mfrom bounce.example.com',
    'spf 2',
    'dkim example.com sel1 0',
    'dkim news.example.com sel2 7',
    'pdomain example.com',
    'policy 17',
    'rua mailto:agg@example.com!10485760',
    'rua mailto:x@reports.example',
    'pct 40',
    'adkim 115',
    'aspf 114',
    'p 114',
    'sp 113',
    'align_dkim 5',
    'align_spf 5',
    'action 2',
    'arc 11',
    'arc_policy 1 json:[]',
    '',
  ].join('\n'));
  const view = importerView(text as string);
  assert.deepEqual(view.filter(([k]) => k === 'dkim').map(([, v, data]) => [v, data]), [['example.com', 'sel1 0'], ['news.example.com', 'sel2 7']]);
  assert.equal(view[0]?.[0], 'job');
});

test('pass, reject and quarantine map to policy 15/16/17 and action 2/0/4; no rua is "rua -"', async () => {
  const pass = formatHistory(dmarcVerdict(await facts({ from: 'example.com', dkim: [{ domain: 'example.com', result: 'pass' }] }))!);
  assert.match(pass, /\npolicy 15\n/);
  assert.match(pass, /\naction 2\n/);
  assert.match(pass, /\nalign_dkim 4\nalign_spf 5\n/);
  assert.match(pass, /\ndkim example.com - 0\n/);
  const reject = historyRecord(await facts({ from: 'example.com' }, () => 0.1)) as string;
  assert.match(reject, /\npolicy 16\n[^]*\naction 0\n/);
  const quarantined = historyRecord(await facts({ from: 'a.example.com' }, () => 0.1)) as string;
  assert.match(quarantined, /\npolicy 17\n[^]*\naction 4\n/);
  const none = historyRecord(await facts({ from: 'plain.example', spf: { domain: 'plain.example', result: 'fail' } })) as string;
  assert.match(none, /\nspf 7\n[^]*\npolicy 18\nrua -\npct 100\n[^]*\np 110\nsp 0\n[^]*\naction 2\n/);
  // No SPF result at all: the importer's column is NOT NULL, so "none" (6) is written.
  assert.match(historyRecord(await facts({ from: 'example.com' }, () => 0.1)) as string, /\nspf 6\n/);
});

test('what is not written: nofrom and temperror never, norecord only with recordAll', async () => {
  const nofrom = await facts({ from: { kind: 'nofrom', reason: 'no From: field' } });
  assert.equal(historyRecord(nofrom), undefined);
  assert.equal(historyRecord(nofrom, { recordAll: true }), undefined);
  const temp = { ...(await facts({ from: 'example.com' })) };
  const tempResult = await evaluateDmarc({ from: 'x.example' }, { dns: createFixtureResolver({ '_dmarc.x.example': 'SERVFAIL' }), random: () => 0 });
  assert.equal(historyRecord({ ...temp, result: tempResult }, { recordAll: true }), undefined);
  const norecord = await facts({ from: 'unknown.example' });
  assert.equal(norecord.result.status, 'norecord');
  assert.equal(historyRecord(norecord), undefined);
  const all = historyRecord(norecord, { recordAll: true }) as string;
  assert.match(all, /\npdomain unknown.example\npolicy 14\nrua -\n/);
  assert.match(all, /\np 0\nsp 0\n/);
});

test('values cannot break the format: whitespace and newlines are removed', async () => {
  const f = await facts({ from: 'example.com', dkim: [{ domain: 'example.com', result: 'fail', selector: 'a b\nc' }] }, () => 0.1,
    { jobId: 'id with\nnewline', reporter: 'host name', mailFromDomain: '' });
  const text = historyRecord(f) as string;
  importerView(text);
  assert.match(text, /^job idwithnewline\nreporter hostname\n/);
  assert.match(text, /\nmfrom -\n/);
  assert.match(text, /\ndkim example.com abc 7\n/);
});

test('ARC facts: arc and arc_policy with the seals as JSON', async () => {
  const f = await facts({ from: 'example.com' }, () => 0.1, {
    arc: { result: 'pass', policy: 'pass', seals: [{ i: 2, d: 'list.example', s: 's2', ip: '198.51.100.7' }, { i: 1, d: 'first.example', s: 's1' }] },
    override: { disposition: 'none', reason: { type: 'local_policy', comment: 'arc=pass' } },
  });
  const text = historyRecord(f) as string;
  assert.match(text, /\naction 2\narc 0\narc_policy 0 json:\[\{"i":2,"d":"list.example","s":"s2","ip":"198.51.100.7"\}, \{"i":1,"d":"first.example","s":"s1","ip":"-"\}\]\n$/);
  const [json] = importerView(text).filter(([k]) => k === 'arc_policy').map(([, , data]) => data);
  assert.deepEqual(JSON.parse((json as string).replace(/^json:/, '')).map((s: { i: number }) => s.i), [2, 1]);
});

test('parseHistory reads its own records back', async () => {
  const inputs: [DmarcInput, number][] = [
    [{ from: 'news.example.com', spf: { domain: 'bounce.example.com', result: 'softfail' }, dkim: [{ domain: 'example.com', result: 'pass', selector: 's' }] }, 0.9],
    [{ from: 'example.com', spf: { domain: 'bounce.example.com', result: 'pass' } }, 0.1],
    [{ from: 'example.com', dkim: [{ domain: 'other.example', result: 'permerror', selector: 'k' }] }, 0.9],
  ];
  const verdicts: DmarcVerdict[] = [];
  for (const [input, draw] of inputs) verdicts.push(dmarcVerdict(await facts(input, () => draw))!);
  const back = parseHistory(verdicts.map(formatHistory).join(''));
  assert.equal(back.length, 3);
  back.forEach((b, i) => {
    const v = verdicts[i]!;
    // The file keeps seconds, and only the SPF result (its domain is taken from mfrom; no result reads as none).
    assert.deepEqual({ ...b, spf: b.spf?.result }, { ...v, spf: v.spf?.result ?? 'none' });
  });
  assert.deepEqual(back[2]?.reasons, [{ type: 'sampled_out' }]);
});

test('parseHistory reads Exim and older OpenDMARC records; skips unknown keys; drops records the importer drops', () => {
  const text = [
    'job 1aBcDe-000001-XY', 'reporter mx.exim.example', 'received 1700000000', 'ipaddr 2001:db8::1', 'from example.org',
    'mfrom example.org', 'spf 0', 'dkim example.org 7', 'dkim example.org sel 0', 'pdomain example.org', 'policy 16',
    'rua mailto:d@example.org', 'pct 100', 'adkim 114', 'aspf 115', 'p 114', 'sp 0', 'align_dkim 4', 'align_spf 5',
    'action 1', 'arc 11', 'arc_policy 1 json:[]', 'mystery 42',
    'job no-from', 'pdomain example.net', 'policy 15',
    'job nopdomain', 'from example.net', 'policy 15',
    'job 2', 'from example.net', 'pdomain example.net', 'policy 16', 'action 4', 'pct 100', 'p 114',
  ].join('\n');
  const v = parseHistory(text);
  assert.equal(v.length, 2);
  const [exim, local] = v;
  assert.deepEqual([exim?.jobId, exim?.received, exim?.sourceIp, exim?.policy, exim?.disposition, exim?.aspf, exim?.sp, exim?.arc],
    ['1aBcDe-000001-XY', 1700000000000, '2001:db8::1', 'reject', 'reject', 's', undefined, undefined]);
  assert.deepEqual(exim?.dkim, [{ domain: 'example.org', result: 'fail' }, { domain: 'example.org', result: 'pass', selector: 'sel' }]);
  assert.deepEqual(exim?.spf, { domain: 'example.org', result: 'pass', scope: 'mfrom' });
  assert.deepEqual(local?.reasons, [{ type: 'local_policy' }]);
  assert.equal(parseHistory('').length, 0);
  assert.equal(parseHistory('reporter x\nfrom y\n').length, 0);
});
