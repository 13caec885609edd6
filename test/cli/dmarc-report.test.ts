// `petrel dmarc report` (issue 6 items 3 and 7): aggregate reports from a synthetic dmarc_history_file. The XML is
// read back and checked against the shape of RFC 7489 appendix C; file name, gzip, Subject and the mail as section
// 7.2.1.1 has them; reports go only to destinations verified by section 7.1 and within their "!size" limits; and with
// --queue they are put in the spool of a running daemon, which delivers them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { startDeliveryDaemon } from '../helpers/delivery.js';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { startPeer } from '../helpers/smtp-peer.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { entity, get, multipart, param } from '../unit/dsn/mime.js';
import { parseXml } from '../unit/dmarc/xml.js';
import type { XmlElement } from '../unit/dmarc/xml.js';
import { petrel, tempDir } from './helpers.js';

const DAY = 1704067200; // 2024-01-01T00:00:00Z
const END = DAY + 86399;

interface Rec {
  job: string; received: number; ip: string; from: string; mfrom?: string; spf: number; dkim?: [string, string, number][];
  pdomain: string; policy: number; rua: string[]; pct?: number; p?: number; sp?: number; alignDkim: boolean; alignSpf: boolean; action: number;
}

/** One record of the history file in the OpenDMARC import format, written here by hand (not by protocol/dmarc). */
function record(r: Rec): string {
  return [
    `job ${r.job}`, 'reporter mx.petrel.test', `received ${r.received}`, `ipaddr ${r.ip}`, `from ${r.from}`, `mfrom ${r.mfrom ?? r.from}`,
    `spf ${r.spf}`, ...(r.dkim ?? []).map(([d, s, code]) => `dkim ${d} ${s} ${code}`), `pdomain ${r.pdomain}`, `policy ${r.policy}`,
    ...(r.rua.length > 0 ? r.rua.map((u) => `rua ${u}`) : ['rua -']), `pct ${r.pct ?? 100}`, 'adkim 114', 'aspf 114',
    `p ${r.p ?? 114}`, `sp ${r.sp ?? 0}`, `align_dkim ${r.alignDkim ? 4 : 5}`, `align_spf ${r.alignSpf ? 4 : 5}`, `action ${r.action}`,
    'arc 11', 'arc_policy 1 json:[]',
  ].join('\n') + '\n';
}

const pass = (job: string, over: Partial<Rec> = {}): Rec => ({
  job, received: DAY + 3600, ip: '192.0.2.1', from: 'example.com', spf: 0, dkim: [['example.com', 's1', 0]], pdomain: 'example.com',
  policy: 15, rua: ['mailto:dmarc@example.com'], alignDkim: true, alignSpf: true, action: 2, ...over,
});

const HISTORY = [
  pass('a1'), pass('a2', { received: DAY + 7200 }), pass('a3', { received: END }),
  // A failing message under p=reject: rejected.
  pass('a4', { ip: '198.51.100.7', spf: 7, mfrom: 'evil.example', dkim: [['example.com', 's1', 7]], policy: 16, alignDkim: false, alignSpf: false, action: 0 }),
  // Outside the period: the day before and the day after.
  pass('old', { received: DAY - 1 }), pass('new', { received: END + 1 }),
  // A third party that authorized reports for shop.example.net.
  pass('b1', { from: 'shop.example.net', pdomain: 'shop.example.net', dkim: [['shop.example.net', 'k', 0]], rua: ['mailto:reports@thirdparty.example!10m'] }),
  // Reports wanted at a domain that never agreed to receive them.
  pass('c1', { from: 'evil.example', pdomain: 'evil.example', dkim: [], rua: ['mailto:collect@unverified.example'] }),
  // The destination's limit is too small for any report.
  pass('d1', { from: 'big.example', pdomain: 'big.example', dkim: [], rua: ['mailto:agg@big.example!600'] }),
  // The authorizing record names its own rua=, which replaces the original address.
  pass('e1', { from: 'redirect.example', pdomain: 'redirect.example', dkim: [], rua: ['mailto:x@agg.example'] }),
  // No DMARC record: nothing to report.
  pass('f1', { from: 'none.example', pdomain: 'none.example', policy: 14, rua: [], alignDkim: false, alignSpf: false }),
].map(record).join('');

const DNS = {
  'shop.example.net._report._dmarc.thirdparty.example': { TXT: [['v=DMARC1']] },
  'redirect.example._report._dmarc.agg.example': { TXT: [['v=DMARC1; rua=mailto:y@agg.example']] },
};

// RFC 7489 appendix C, as element sequences: [name, min, max, content] where content is a nested type, an
// enumeration, or a pattern for text.
type Content = Spec[] | readonly string[] | RegExp;
type Spec = readonly [string, number, number, Content];
const INT = /^\d+$/;
const TEXT = /^[^<>]*$/;
const DKIM_RESULT = ['none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror'];
const SPF_RESULT = ['none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror'];
const FEEDBACK: Spec[] = [
  ['version', 0, 1, /^\d+(\.\d+)?$/],
  ['report_metadata', 1, 1, [
    ['org_name', 1, 1, TEXT], ['email', 1, 1, TEXT], ['extra_contact_info', 0, 1, TEXT], ['report_id', 1, 1, TEXT],
    ['date_range', 1, 1, [['begin', 1, 1, INT], ['end', 1, 1, INT]]], ['error', 0, Infinity, TEXT],
  ]],
  ['policy_published', 1, 1, [
    ['domain', 1, 1, TEXT], ['adkim', 0, 1, ['r', 's']], ['aspf', 0, 1, ['r', 's']], ['p', 1, 1, ['none', 'quarantine', 'reject']],
    ['sp', 1, 1, ['none', 'quarantine', 'reject']], ['pct', 1, 1, INT],
  ]],
  ['record', 1, Infinity, [
    ['row', 1, 1, [
      ['source_ip', 1, 1, /^[0-9a-fA-F:.]+$/], ['count', 1, 1, INT],
      ['policy_evaluated', 1, 1, [
        ['disposition', 1, 1, ['none', 'quarantine', 'reject']], ['dkim', 1, 1, ['pass', 'fail']], ['spf', 1, 1, ['pass', 'fail']],
        ['reason', 0, Infinity, [['type', 1, 1, ['forwarded', 'sampled_out', 'trusted_forwarder', 'mailing_list', 'local_policy', 'other']], ['comment', 0, 1, TEXT]]],
      ]],
    ]],
    ['identifiers', 1, 1, [['envelope_to', 0, 1, TEXT], ['header_from', 1, 1, TEXT]]],
    ['auth_results', 1, 1, [
      ['dkim', 0, Infinity, [['domain', 1, 1, TEXT], ['selector', 0, 1, TEXT], ['result', 1, 1, DKIM_RESULT], ['human_result', 0, 1, TEXT]]],
      ['spf', 1, Infinity, [['domain', 1, 1, TEXT], ['scope', 0, 1, ['helo', 'mfrom']], ['result', 1, 1, SPF_RESULT], ['human_result', 0, 1, TEXT]]],
    ]],
  ]],
];

/** Checks an element's children against a sequence; returns the problems found. */
function conform(el: XmlElement, specs: readonly Spec[], path: string): string[] {
  const problems: string[] = [];
  let i = 0;
  for (const [name, min, max, content] of specs) {
    let n = 0;
    while (i < el.children.length && el.children[i]?.name === name) {
      const child = el.children[i] as XmlElement;
      const where = `${path}/${name}`;
      if (Array.isArray(content) && typeof content[0] !== 'string') {
        if (child.text.trim() !== '') problems.push(`${where}: text in a structured element`);
        problems.push(...conform(child, content as Spec[], where));
      } else if (child.children.length > 0) problems.push(`${where}: expected text`);
      else if (content instanceof RegExp ? !content.test(child.text) : !(content as readonly string[]).includes(child.text)) {
        problems.push(`${where}: ${JSON.stringify(child.text)} is not allowed`);
      }
      n++;
      i++;
    }
    if (n < min || n > max) problems.push(`${path}/${name}: ${n} times, expected ${min}..${max}`);
  }
  if (i < el.children.length) problems.push(`${path}: unexpected <${el.children[i]?.name}>`);
  return problems;
}

const child = (el: XmlElement, ...path: string[]): XmlElement => {
  let cur = el;
  for (const p of path) {
    const next = cur.children.find((c) => c.name === p);
    assert.ok(next, `no <${p}> in <${cur.name}>`);
    cur = next;
  }
  return cur;
};
const textOf = (el: XmlElement, ...path: string[]): string => child(el, ...path).text;

describe('petrel dmarc report', () => {
  const tmp = tempDir('dmarc-report');
  const history = join(tmp.dir, 'history');
  const dns = join(tmp.dir, 'dns.json');
  const out = join(tmp.dir, 'out');
  let summary: { reports: { policyDomain: string; messages: number; filename: string; sent: { to: string }[]; skipped: { uri: string; reason: string }[] }[]; queued: number; verdicts: { read: number; inPeriod: number } };
  let stderr = '';

  before(async () => {
    writeFileSync(history, HISTORY);
    writeFileSync(dns, JSON.stringify(DNS));
    const r = await petrel(['dmarc', 'report', '--history', history, '--period', '2024-01-01', '--reporter', 'mx.petrel.test',
      '--org-name', 'Petrel Test', '--email', 'DMARC reports <dmarc-reports@petrel.test>', '--out', out, '--dns-cache', dns, '--now', String(END + 600)]);
    assert.equal(r.code, 0, r.stderr);
    summary = JSON.parse(r.stdout) as typeof summary;
    stderr = r.stderr;
  });
  after(() => tmp.cleanup());

  test('one report per policy domain with a record, verdicts of the period only', () => {
    assert.deepEqual(summary.verdicts, { read: 11, inPeriod: 9 });
    assert.deepEqual(summary.reports.map((r) => [r.policyDomain, r.messages]),
      [['example.com', 4], ['shop.example.net', 1], ['evil.example', 1], ['big.example', 1], ['redirect.example', 1]]);
    assert.equal(summary.queued, 0);
  });

  test('the XML has the shape of RFC 7489 appendix C and counts the rows', () => {
    const gz = readFileSync(join(out, 'mx.petrel.test!example.com!1704067200!1704153599.xml.gz'));
    assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b], 'gzip');
    const xml = gunzipSync(gz).toString('utf8');
    const fb = parseXml(xml);
    assert.equal(fb.name, 'feedback');
    assert.deepEqual(conform(fb, FEEDBACK, 'feedback'), []);
    assert.deepEqual([textOf(fb, 'report_metadata', 'org_name'), textOf(fb, 'report_metadata', 'email'), textOf(fb, 'report_metadata', 'report_id')],
      ['Petrel Test', 'dmarc-reports@petrel.test', '1704067200.example.com']);
    assert.deepEqual([textOf(fb, 'report_metadata', 'date_range', 'begin'), textOf(fb, 'report_metadata', 'date_range', 'end')], [String(DAY), String(END)]);
    assert.deepEqual(['domain', 'adkim', 'aspf', 'p', 'sp', 'pct'].map((n) => textOf(fb, 'policy_published', n)),
      ['example.com', 'r', 'r', 'reject', 'reject', '100']);
    const rows = fb.children.filter((c) => c.name === 'record').map((rec) => [
      textOf(rec, 'row', 'source_ip'), textOf(rec, 'row', 'count'), textOf(rec, 'row', 'policy_evaluated', 'disposition'),
      textOf(rec, 'row', 'policy_evaluated', 'dkim'), textOf(rec, 'row', 'policy_evaluated', 'spf'), textOf(rec, 'auth_results', 'dkim', 'result'),
      textOf(rec, 'auth_results', 'spf', 'domain'), textOf(rec, 'auth_results', 'spf', 'result'),
    ]);
    assert.deepEqual(rows, [
      ['192.0.2.1', '3', 'none', 'pass', 'pass', 'pass', 'example.com', 'pass'],
      ['198.51.100.7', '1', 'reject', 'fail', 'fail', 'fail', 'evil.example', 'fail'],
    ]);
  });

  test('the mail: Subject, From, To and the gzipped report attached as section 7.2.1.1 says', () => {
    const name = 'mx.petrel.test!example.com!1704067200!1704153599';
    const raw = readFileSync(join(out, `${name}.dmarc@example.com.eml`), 'latin1');
    const top = entity(raw);
    assert.equal(get(top.fields, 'Subject'), 'Report Domain: example.com Submitter: mx.petrel.test Report-ID: <1704067200.example.com>');
    assert.equal(get(top.fields, 'To'), 'dmarc@example.com');
    assert.equal(get(top.fields, 'From'), 'DMARC reports <dmarc-reports@petrel.test>');
    assert.match(get(top.fields, 'Content-Type') ?? '', /^multipart\/mixed;/);
    const parts = multipart(top.body, param(get(top.fields, 'Content-Type') ?? '', 'boundary') ?? '');
    const attachment = parts.parts.map(entity).find((p) => /^application\/gzip/.test(get(p.fields, 'Content-Type') ?? ''));
    assert.ok(attachment, 'an application/gzip part');
    assert.equal(param(get(attachment.fields, 'Content-Disposition') ?? '', 'filename'), `${name}.xml.gz`);
    assert.equal(get(attachment.fields, 'Content-Transfer-Encoding'), 'base64');
    assert.ok(Buffer.from(attachment.body.replace(/\s+/g, ''), 'base64').equals(readFileSync(join(out, `${name}.xml.gz`))));
  });

  test('only verified destinations: same organization, an authorizing record (with its rua= replacement)', () => {
    const to = Object.fromEntries(summary.reports.map((r) => [r.policyDomain, r.sent.map((s) => s.to)]));
    assert.deepEqual(to, {
      'example.com': ['dmarc@example.com'],
      'shop.example.net': ['reports@thirdparty.example'],
      'evil.example': [],
      'big.example': [],
      'redirect.example': ['y@agg.example'],
    });
    const mails = readdirSync(out).filter((f) => f.endsWith('.eml')).sort();
    assert.equal(mails.length, 3);
    assert.ok(!mails.some((f) => /unverified|big\.example/.test(f)));
  });

  test('an unverified external rua is skipped with a message; so is a report over the size limit', () => {
    assert.match(stderr, /evil\.example: no report to mailto:collect@unverified\.example: external destination not verified \(RFC 7489 section 7\.1\): no v=DMARC1 record at evil\.example\._report\._dmarc\.unverified\.example/);
    assert.match(stderr, /big\.example: no report to mailto:agg@big\.example: the report mail has \d+ octets, over the destination's limit of 600/);
    assert.equal(stderr.trim().split('\n').length, 2, stderr);
    // The report itself is still written to --out.
    assert.ok(existsSync(join(out, 'mx.petrel.test!evil.example!1704067200!1704153599.xml.gz')));
  });

  test('--from/--to choose another period; no verdicts is said, not an error', async () => {
    const r = await petrel(['dmarc', 'report', '--history', history, '--from', String(END + 1), '--to', String(END + 2), '--reporter', 'mx.petrel.test',
      '--dns-cache', dns, '--now', String(END + 600)]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as typeof summary;
    assert.deepEqual(s.reports.map((x) => [x.policyDomain, x.messages]), [['example.com', 1]]);
    const none = await petrel(['dmarc', 'report', '--history', history, '--period', '2023-06-01', '--dns-cache', dns]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /no DMARC verdicts with a policy record/);
  });

  test('user errors: one line on stderr, a non-zero exit, no stack trace', async () => {
    const cases: [string[], number, RegExp][] = [
      [['--history', join(tmp.dir, 'missing')], 66, /cannot read history file/],
      [['--history', history, '--period', '2024-1-1'], 64, /--period wants YYYY-MM-DD/],
      [['--history', history, '--from', 'soon', '--to', '1'], 64, /--from wants seconds/],
      [['--history', history, '--from', '10'], 64, /--from and --to go together/],
      [['--history', history, '--email', 'nobody'], 64, /--email/],
      [['--history', history, '--config', join(tmp.dir, 'missing.json')], 78, /missing\.json/],
    ];
    for (const [args, code, message] of cases) {
      const r = await petrel(['dmarc', 'report', '--dns-cache', dns, ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

describe('petrel dmarc report --queue', { timeout: 60_000 }, () => {
  const tmp = tempDir('dmarc-queue');
  let peer: SmtpPeer;
  let d: DeliveryDaemon;

  before(async () => {
    peer = await startPeer();
    // No queue runs: the reports leave only because the command tells the daemon (SIGUSR1).
    d = await startDeliveryDaemon({
      queue_run_interval: 0,
      route_list: [{ domains: 'example.com : thirdparty.example : agg.example', hosts: peer.hostPort }],
    });
  });
  after(async () => {
    await d?.stop();
    d?.cleanup();
    await peer?.close();
    tmp.cleanup();
  });

  test('the report mails go into the spool and the daemon delivers them to the verified destinations', async () => {
    const history = join(tmp.dir, 'history');
    const dns = join(tmp.dir, 'dns.json');
    writeFileSync(history, HISTORY);
    writeFileSync(dns, JSON.stringify(DNS));
    const r = await petrel(['dmarc', 'report', '--config', d.configFile, '--history', history, '--period', '2024-01-01', '--queue', '--dns-cache', dns]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { queued: number; daemonTold: boolean; reporter: string };
    assert.equal(s.queued, 3);
    assert.equal(s.daemonTold, true);
    assert.equal(s.reporter, 'mx.petrel.test', 'primary_hostname of the config');
    await peer.waitForTransactions(3, 30_000);
    const got = peer.transactions.map((t) => ({
      from: t.from, to: t.rcpts.map((x) => x.address).join(','),
      subject: get(entity(t.data.toString('latin1')).fields, 'Subject'),
    })).sort((a, b) => a.to.localeCompare(b.to));
    // dsn_from of the config in From:, the null envelope sender.
    assert.deepEqual(got, [
      { from: '', to: 'dmarc@example.com', subject: 'Report Domain: example.com Submitter: mx.petrel.test Report-ID: <1704067200.example.com>' },
      { from: '', to: 'reports@thirdparty.example', subject: 'Report Domain: shop.example.net Submitter: mx.petrel.test Report-ID: <1704067200.shop.example.net>' },
      { from: '', to: 'y@agg.example', subject: 'Report Domain: redirect.example Submitter: mx.petrel.test Report-ID: <1704067200.redirect.example>' },
    ]);
    assert.match(peer.transactions[0]?.data.toString('latin1') ?? '', /^From: Mail Delivery System <Mailer-Daemon@mx\.petrel\.test>\r$/m);
  });
});
