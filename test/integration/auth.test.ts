// End-to-end: inbound message authentication in the daemon (issues 5 and 6). SPF, DKIM, ARC and DMARC checked
// against a real DNS server on loopback; the SPF, DKIM and DATA ACL conditions; ${authresults}; stripping of forged
// Authentication-Results; the DMARC history file and failure reports; controls.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { spawnSync } from 'node:child_process';
import { PETREL, startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { TestDnsServer } from '../helpers/dns-server.js';
import type { DnsFixture } from '../../net/dns/fixture.js';
import { closeClients, connectEhlo, expectReply, queueShow, queueShowText, queuedFrom, until } from '../helpers/integration.js';
import type { RawClient, Reply } from '../helpers/smtp-client.js';
import { writeKey, fixtureOf } from '../signing/common.js';
import type { FileKey } from '../signing/common.js';
import { createBodyHasher, splitHeaderFields, splitMessage } from '../../protocol/dkim/index.js';
import { sealMessage } from '../../protocol/arc/index.js';

const T = { timeout: 60_000 };
const ID = 'mx.petrel.test';

const MAIL_ACL = [
  'deny    senders = *@spffail.test',
  '        spf = fail',
  '        message = SPF says $spf_result for $spf_used_domain',
  'accept',
].join('\n');

const RCPT_ACL = [
  'warn    control = dmarc_enable_forensic',
  'warn    senders = *@freeze.test',
  '        control = freeze',
  'accept',
].join('\n');

const DKIM_ACL = [
  'deny    senders = *@bank.test',
  '        dkim_signers = bank.test',
  '        dkim_status = none:invalid:fail',
  '        message = bank.test mail must carry a valid bank.test signature ($dkim_verify_status)',
  'warn    add_header = X-DKIM-Seen: $dkim_cur_signer=$dkim_verify_status',
  'accept',
].join('\n');

const DATA_ACL = [
  'deny    dmarc_status = reject',
  '        !verify = arc/pass',
  '        message = Rejected by the DMARC policy of $dmarc_used_domain',
  'warn    add_header = :at_start:${authresults{' + ID + '}}',
  'warn    senders = alice@example.test',
  '        add_header = X-SPF-Lookup: ${lookup{$sender_address}spf{$sender_host_address}} ${lookup{$sender_address}spf{192.0.2.1}}',
  'warn    verify = arc/pass',
  '        add_header = X-ARC-Chain: $arc_state $arc_domains',
  'accept',
].join('\n');

function crlf(s: string): Buffer {
  return Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
}

function plain(from: string, subject: string, extra = ''): Buffer {
  return crlf(`${extra}From: <${from}>\nTo: <rcpt@mx.petrel.test>\nSubject: ${subject}\nDate: Sun, 22 Nov 2026 08:00:00 +0000\nMessage-ID: <${subject.replace(/\W/g, '')}@petrel.test>\n\nHello,\nthis is ${subject}.\n`);
}

async function mailauthSign(message: Buffer, key: FileKey): Promise<Buffer> {
  const algorithm = key.type === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256';
  const res = await dkimSign(message, {
    canonicalization: 'relaxed/relaxed',
    algorithm,
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.pem, algorithm }],
  } as Parameters<typeof dkimSign>[1]);
  assert.deepEqual(res.errors, [], 'mailauth signs');
  return Buffer.concat([Buffer.from(res.signatures, 'latin1'), message]);
}

/** One ARC hop with Petrel's sealer: its Authentication-Results on top, then the seal. */
function arcHop(message: Buffer, key: FileKey, results: string): Buffer {
  const withAr = Buffer.concat([Buffer.from(`Authentication-Results: ${results}\r\n`, 'latin1'), message]);
  const { header, body } = splitMessage(withAr);
  const hasher = createBodyHasher('relaxed', 'sha256');
  hasher.update(body);
  const r = sealMessage(splitHeaderFields(header), hasher.digest(), {
    domain: key.domain, selector: key.selector, privateKey: key.pem, algorithm: 'rsa-sha256', authservId: results.split(';')[0] as string, now: Date.now(),
  });
  if (r.kind !== 'ok') throw new Error(`${r.code}: ${r.reason}`);
  return Buffer.concat([Buffer.from(r.set.headers.map((h) => `${h}\r\n`).join(''), 'latin1'), withAr]);
}

async function send(port: number, from: string, data: Buffer, helo = 'client.petrel.test'): Promise<{ mail: Reply; end: Reply | null; c: RawClient }> {
  const { c } = await connectEhlo(port, helo);
  const mail = await c.cmd(`MAIL FROM:<${from}>`);
  assert.ok(mail, 'MAIL answered');
  if (mail.code !== 250) return { mail, end: null, c };
  expectReply(await c.cmd('RCPT TO:<rcpt@mx.petrel.test>'), 250, '2.1.5', 'RCPT');
  expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
  c.write(data);
  c.write('.\r\n');
  const end = await c.read();
  return { mail, end, c };
}

/** The header section of the one message queued from a sender, as stored (edits applied). */
async function storedHeader(d: Daemon, sender: string): Promise<{ id: string; header: string }> {
  const q = await queuedFrom(d, sender);
  assert.equal(q.length, 1, `one message from ${sender}`);
  const id = (q[0] as { id: string }).id;
  const text = await queueShowText(d, id);
  const start = text.search(/^(Authentication-Results|Received|ARC-|DKIM-|X-)/m);
  return { id, header: text.slice(start, text.indexOf('\n\n', start) > 0 ? text.indexOf('\n\n', start) : undefined) };
}

describe('inbound authentication in the daemon', () => {
  let dir: string;
  let dns: TestDnsServer;
  let d: Daemon;
  let keys: Record<'rsa' | 'ed' | 'arc' | 'bank', FileKey>;
  const history = (): string => join(dir, 'dmarc-history');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'petrel-auth-'));
    keys = {
      rsa: writeKey(dir, 'example.test', 'rsa1', 'rsa'),
      ed: writeKey(dir, 'example.test', 'ed1', 'ed25519'),
      arc: writeKey(dir, 'lists.test', 'arc1', 'rsa'),
      bank: writeKey(dir, 'bank.test', 'b1', 'rsa'),
    };
    const fixture: DnsFixture = {
      ...fixtureOf(Object.values(keys)),
      'example.test': { TXT: [['v=spf1 ip4:127.0.0.1 -all']] },
      '_dmarc.example.test': { TXT: [['v=DMARC1; p=reject; ruf=mailto:ruf@example.test; fo=1']] },
      'forger.test': { TXT: [['v=spf1 ip4:192.0.2.1 -all']] },
      'spffail.test': { TXT: [['v=spf1 -all']] },
      'lists.test': { TXT: [['v=spf1 ip4:127.0.0.1 -all']] },
      'bank.test': { TXT: [['v=spf1 ip4:127.0.0.1 -all']] },
      '_dmarc.bank.test': { TXT: [['v=DMARC1; p=none']] },
      'freeze.test': { TXT: [['v=spf1 ip4:127.0.0.1 -all']] },
    };
    dns = await startDnsServer(fixture);
    // A public suffix list where .test is the suffix: example.test is an organizational domain.
    writeFileSync(join(dir, 'psl.dat'), '// test suffixes\ntest\n');
    d = await startDaemon({
      config: {
        dns_servers: [dns.server],
        relay_from_hosts: [],
        acl_smtp_mail: MAIL_ACL,
        acl_smtp_rcpt: RCPT_ACL,
        acl_smtp_dkim: DKIM_ACL,
        acl_smtp_data: DATA_ACL,
        dkim_verify_signers: '$dkim_signers:bank.test',
        dmarc_tld_file: join(dir, 'psl.dat'),
        dmarc_history_file: history(),
        dmarc_forensic_sender: 'dmarc-reports@${primary_hostname}',
      },
    });
  });
  after(async () => {
    closeClients();
    await d?.stop();
    d?.cleanup();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('signed by rsa and ed25519, SPF pass: DKIM ACL per signer, Authentication-Results on top, DMARC pass', T, async () => {
    const signed = await mailauthSign(await mailauthSign(plain('alice@example.test', 'two signatures'), keys.rsa), keys.ed);
    const { end } = await send(d.port, 'alice@example.test', signed);
    expectReply(end, 250, '2.0.0', 'end of data');
    const { id, header } = await storedHeader(d, 'alice@example.test');
    const first = header.split('\n')[0] ?? '';
    assert.match(first, new RegExp(`^Authentication-Results: ${ID.replace(/\./g, '\\.')};`), `A-R first:\n${header}`);
    const ar = header.slice(0, header.search(/\n\S/)).replace(/\s+/g, ' ');
    assert.match(ar, /spf=pass smtp\.mailfrom=example\.test/);
    assert.match(ar, /dkim=pass[^;]*header\.d=example\.test[^;]*header\.s=rsa1/);
    assert.match(ar, /dkim=pass[^;]*header\.d=example\.test[^;]*header\.s=ed1/);
    assert.match(ar, /dmarc=pass[^;]*header\.from=example\.test/);
    assert.match(ar, /arc=none/);
    // The DKIM ACL ran for the signer in the message and for bank.test (listed in dkim_verify_signers, no signature).
    assert.match(header, /^X-DKIM-Seen: example\.test=pass$/m);
    assert.match(header, /^X-DKIM-Seen: bank\.test=none$/m);
    // Exim's ${lookup{address}spf{ip}}: this client passes, another address fails.
    assert.match(header, /^X-SPF-Lookup: pass fail$/m);
    const env = (await queueShow(d, id)).envelope as unknown as { auth?: { spf?: string; dkim?: { domain: string; status: string }[]; dmarc?: string } };
    assert.equal(env.auth?.spf, 'pass');
    assert.equal(env.auth?.dmarc, 'accept', 'Exim names a DMARC pass "accept"');
    assert.deepEqual(env.auth?.dkim?.map((s) => `${s.domain} ${s.status}`), ['example.test pass', 'example.test pass']);
  });

  test('a From: of a p=reject domain from a forger: 550 from the DATA ACL, history written, failure report queued', T, async () => {
    const before = await queuedFrom(d, 'dmarc-reports@mx.petrel.test');
    const forged = plain('ceo@example.test', 'wire the money');
    const { end } = await send(d.port, 'bounce@forger.test', forged);
    expectReply(end, 550, '5.7.1', 'DMARC reject');
    assert.match(end.text, /Rejected by the DMARC policy of example\.test/);
    assert.equal((await queuedFrom(d, 'bounce@forger.test')).length, 0, 'nothing kept');
    await until(() => {
      try {
        return /^pdomain example\.test$/m.test(readFileSync(history(), 'utf8'));
      } catch {
        return false;
      }
    }, 10_000, 'a DMARC history record for example.test with the reject policy');
    const hist = readFileSync(history(), 'utf8');
    assert.match(hist, /^ipaddr 127\.0\.0\.1$/m, hist);
    assert.match(hist, /^from example\.test$/m, hist);
    assert.match(hist, /^mfrom forger\.test$/m, hist);
    assert.match(hist, /^align_spf 5$/m, hist);
    // The failure report (RFC 6591) goes to ruf@example.test from dmarc_forensic_sender.
    await until(async () => (await queuedFrom(d, 'dmarc-reports@mx.petrel.test')).length > before.length, 10_000, 'a failure report in the queue');
    const reports = await queuedFrom(d, 'dmarc-reports@mx.petrel.test');
    const report = reports.find((r) => !before.some((b) => b.id === r.id));
    assert.deepEqual(report?.recipients.map((r) => r.address), ['ruf@example.test']);
    const text = await queueShowText(d, (report as { id: string }).id);
    assert.match(text, /Feedback-Type: auth-failure/i);
    assert.match(text, /Auth-Failure: dmarc/i);
    assert.match(text, /Subject: wire the money/);
  });

  test('a mailing list that broke the signature but sealed an ARC chain: verify = arc lets it through', T, async () => {
    const original = await mailauthSign(plain('news@example.test', 'list post'), keys.rsa);
    // The list rewrote the subject (breaking DKIM) and sealed what it saw: dkim=pass at its hop.
    const changed = Buffer.from(original.toString('latin1').replace('Subject: list post', 'Subject: [list] list post'), 'latin1');
    const sealed = arcHop(changed, keys.arc, 'mx.lists.test; dkim=pass header.d=example.test; spf=pass smtp.mailfrom=example.test');
    const { end } = await send(d.port, 'owner@lists.test', sealed);
    expectReply(end, 250, '2.0.0', 'end of data');
    const { header } = await storedHeader(d, 'owner@lists.test');
    const ar = header.slice(0, header.search(/\n\S/)).replace(/\s+/g, ' ');
    assert.match(ar, /dkim=fail[^;]*header\.d=example\.test/, ar);
    assert.match(ar, /dmarc=fail/, ar);
    assert.match(ar, /arc=pass/, ar);
    assert.match(header, /^X-ARC-Chain: pass lists\.test$/m);
  });

  test('Authentication-Results claiming our authserv-id are dropped from outside; others are kept', T, async () => {
    const forged = plain('carol@example.test', 'forged results',
      `Authentication-Results: ${ID}; dkim=pass header.d=bank.test\nAuthentication-Results: elsewhere.test; spf=pass smtp.mailfrom=x.test\n`);
    const { end } = await send(d.port, 'carol@example.test', forged);
    expectReply(end, 250, '2.0.0', 'end of data');
    const { header } = await storedHeader(d, 'carol@example.test');
    const ours = header.match(new RegExp(`^Authentication-Results: ${ID.replace(/\./g, '\\.')};`, 'gm')) ?? [];
    assert.equal(ours.length, 1, `only the one we added:\n${header}`);
    assert.doesNotMatch(header, /header\.d=bank\.test/);
    assert.match(header, /^Authentication-Results: elsewhere\.test; spf=pass/m);
  });

  test('SPF fail at MAIL: 550 with the ACL message naming the result and domain', T, async () => {
    const { mail } = await send(d.port, 'x@spffail.test', plain('x@spffail.test', 'spf'));
    expectReply(mail, 550, '5.7.1', 'MAIL from an SPF -all domain');
    assert.match(mail.text, /SPF says fail for spffail\.test/);
  });

  test('DKIM ACL: an unsigned message naming bank.test is refused; a signed one is accepted', T, async () => {
    const unsigned = await send(d.port, 'pay@bank.test', plain('pay@bank.test', 'unsigned bank'));
    expectReply(unsigned.end, 550, '5.7.1', 'unsigned bank.test');
    assert.match(unsigned.end.text, /bank\.test mail must carry a valid bank\.test signature \(none\)/);
    const signed = await send(d.port, 'pay@bank.test', await mailauthSign(plain('pay@bank.test', 'signed bank'), keys.bank));
    expectReply(signed.end, 250, '2.0.0', 'signed bank.test');
  });

  test('control = freeze: accepted and frozen in the queue', T, async () => {
    const { end } = await send(d.port, 'ice@freeze.test', plain('ice@freeze.test', 'cold'));
    expectReply(end, 250, '2.0.0', 'end of data');
    const q = await queuedFrom(d, 'ice@freeze.test');
    assert.equal(q.length, 1);
    const show = await queueShow(d, (q[0] as { id: string }).id);
    assert.equal((show.envelope as unknown as { frozen?: boolean }).frozen, true);
  });
});

/** `petrel config check` on a config file holding these keys (and a spool directory). */
function configCheck(keys: Record<string, unknown>): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-authcfg-'));
  try {
    const file = join(dir, 'petrel.config.json');
    writeFileSync(file, JSON.stringify({ spool_directory: join(dir, 'spool'), ...keys }));
    const r = spawnSync(process.execPath, [PETREL, 'config', 'check', file], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('authentication config errors', () => {
  test('an unknown result word and a bad hash name are refused at load: exit 78 naming the keys', T, () => {
    const r = configCheck({ acl_smtp_data: 'deny dmarc_status = rejected\naccept', dkim_verify_hashes: 'sha256:md5' });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /acl_smtp_data.*rejected|rejected.*acl_smtp_data/s);
    assert.match(r.stderr, /dkim_verify_hashes: unknown value "md5"/);
  });

  test('every part is checked and every problem reported at once: ACL, authentication, TLS files', T, () => {
    const r = configCheck({
      acl_smtp_dkim: 'accept dkim_status = good',
      dkim_verify_keytypes: 'rsa:dsa',
      tls_certificate: '/nonexistent/cert.pem',
      tls_privatekey: '/nonexistent/key.pem',
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /acl_smtp_dkim: line 1: dkim_status: unknown result "good"/);
    assert.match(r.stderr, /dkim_verify_keytypes: unknown value "dsa"/);
    assert.match(r.stderr, /tls_certificate \/ tls_privatekey: .*nonexistent/);
  });

  test('an unknown control is refused at load', T, () => {
    const r = configCheck({ acl_smtp_rcpt: 'warn control = dmarc_enable_forensics\naccept' });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /acl_smtp_rcpt/);
    assert.match(r.stderr, /dmarc_enable_forensics/);
  });
});
