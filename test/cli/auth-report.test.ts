// `petrel auth report` (issue 5 item 7, issue 6 item 7): the RFC 8463 message's two signatures through the command,
// SPF with --client-ip, DMARC from the From domain with the SPF and DKIM results, the Authentication-Results field,
// ARC validation, and `--seal` printing the ARC set Petrel would add, which the next hop then validates.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAuthResults } from '../../protocol/authres/index.js';
import { CONFORMANCE, petrel, tempDir } from './helpers.js';

const DIR = join(CONFORMANCE, 'dkim-rfc8463-mailauth');
const SIGNED = join(DIR, 'signed.eml');
const T = 1528637909;

interface Report {
  authservId: string;
  spf: null | { result: string; identity: string; domain: string; mechanism: string | null; explanation: string | null; heloIdentity: { result: string } };
  dkim: { signatures: { status: string; reason: string; d: string; s: string; a: string; keyLength: number; h: string[]; t: number }[]; skipped: number };
  dmarc: { status: string; result: string; fromDomain: string; policy: string | null; disposition: string; spfAligned: boolean; dkimAligned: boolean; alignedDkim: string[]; usedDomain: string; rua: string[] };
  arc: { state: string; reason: string; domains: string[]; oldestPass: number; instances: number };
  authenticationResults: string;
  removedAuthenticationResults: number;
  arcSeal?: { instance: number; cv: string; headers: [string, string, string] } | { skipped: string; reason: string };
}

async function report(args: string[]): Promise<Report> {
  const r = await petrel(['auth', 'report', ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return JSON.parse(r.stdout) as Report;
}

/** The results of an Authentication-Results value as "method=result" strings. */
function methods(value: string): string[] {
  const p = parseAuthResults(value);
  assert.equal(p.kind, 'ok', value);
  return p.kind === 'ok' ? p.value.results.map((r) => `${r.method}=${r.result}`) : [];
}

const tmp = tempDir('auth-report');
const baseDns = JSON.parse(readFileSync(join(DIR, 'dns.json'), 'utf8')) as Record<string, unknown>;
const file = (name: string, content: string | Buffer): string => {
  const path = join(tmp.dir, name);
  writeFileSync(path, content);
  return path;
};

describe('petrel auth report', () => {
  let withDmarc = '';
  let arcDns = '';
  let arcKey = '';
  let arcPublic = '';

  before(() => {
    withDmarc = file('dmarc.json', JSON.stringify({
      ...baseDns,
      '_dmarc.football.example.com': { TXT: [['v=DMARC1; p=reject; rua=mailto:dmarc@example.com']] },
    }));
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    arcKey = file('arc.pem', pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    arcPublic = pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const txt = `v=DKIM1; k=rsa; p=${arcPublic}`;
    arcDns = file('arc.json', JSON.stringify({
      ...baseDns,
      '_dmarc.football.example.com': { TXT: [['v=DMARC1; p=reject']] },
      'arc._domainkey.forwarder.example': { TXT: [[txt.slice(0, 255), txt.slice(255)]] },
      'arc._domainkey.list.example': { TXT: [[txt.slice(0, 255), txt.slice(255)]] },
    }));
  });
  after(() => tmp.cleanup());

  test('the RFC 8463 message: both signatures pass, SPF with --client-ip, the Authentication-Results field', async () => {
    const r = await report(['--dns-cache', join(DIR, 'dns.json'), '--client-ip', '213.165.64.12', '--helo', 'mail.football.example.com',
      '--sender', 'joe@football.example.com', '--now', String(T + 60), '--authserv-id', 'mx.petrel.test', SIGNED]);
    assert.equal(r.authservId, 'mx.petrel.test');
    assert.equal(r.dkim.signatures.length, 2);
    const [ed, rsa] = r.dkim.signatures;
    assert.deepEqual([ed?.status, ed?.a, ed?.s, ed?.keyLength, ed?.d], ['pass', 'ed25519-sha256', 'brisbane', 256, 'football.example.com']);
    assert.deepEqual([rsa?.status, rsa?.a, rsa?.s, rsa?.keyLength], ['pass', 'rsa-sha256', 'test', 1024]);
    assert.deepEqual(ed?.h, ['from', 'to', 'subject', 'date', 'message-id', 'from', 'subject', 'date']);
    assert.equal(ed?.t, T);
    assert.deepEqual([r.spf?.result, r.spf?.identity, r.spf?.domain, r.spf?.mechanism], ['pass', 'mailfrom', 'football.example.com', 'ip4:213.165.64.12/32']);
    assert.equal(r.spf?.heloIdentity.result, 'none');
    // No DMARC record at football.example.com or example.com.
    assert.deepEqual([r.dmarc.status, r.dmarc.result, r.dmarc.fromDomain], ['norecord', 'none', 'football.example.com']);
    assert.equal(r.arc.state, 'none');
    assert.match(r.authenticationResults, /^mx\.petrel\.test;\r\n\t/);
    assert.deepEqual(methods(r.authenticationResults), ['spf=pass', 'dkim=pass', 'dkim=pass', 'dmarc=none', 'arc=none']);
    assert.match(r.authenticationResults, /header\.s=brisbane header\.a=ed25519-sha256/);
    assert.match(r.authenticationResults, /spf=pass smtp\.mailfrom=football\.example\.com;/);
    assert.ok(!('arcSeal' in r));
  });

  test('the same message with CRLF line ends gives the same verdicts; without --client-ip there is no SPF', async () => {
    const crlf = file('crlf.eml', readFileSync(SIGNED, 'latin1').replace(/\r?\n/g, '\r\n'));
    const r = await report(['--dns-cache', join(DIR, 'dns.json'), '--now', String(T), '--authserv-id', 'mx.petrel.test', crlf]);
    assert.deepEqual(r.dkim.signatures.map((s) => s.status), ['pass', 'pass']);
    assert.equal(r.spf, null);
    assert.deepEqual(methods(r.authenticationResults), ['dkim=pass', 'dkim=pass', 'dmarc=none', 'arc=none']);
  });

  test('DMARC: an aligned DKIM pass is accept; a tampered body under p=reject is reject', async () => {
    const pass = await report(['--dns-cache', withDmarc, '--client-ip', '192.0.2.9', '--helo', 'relay.example',
      '--sender', 'bounce@relay.example', '--now', String(T), '--authserv-id', 'mx.petrel.test', SIGNED]);
    assert.deepEqual([pass.dmarc.status, pass.dmarc.result, pass.dmarc.policy, pass.dmarc.dkimAligned, pass.dmarc.spfAligned],
      ['accept', 'pass', 'reject', true, false]);
    assert.deepEqual(pass.dmarc.alignedDkim, ['football.example.com', 'football.example.com']);
    assert.deepEqual(pass.dmarc.rua, ['mailto:dmarc@example.com']);
    assert.match(pass.authenticationResults, /dmarc=pass \(p=reject dis=none\) header\.from=football\.example\.com/);

    const tampered = file('tampered.eml', readFileSync(SIGNED, 'latin1').replace('We lost the game.', 'We won the game.'));
    const fail = await report(['--dns-cache', withDmarc, '--client-ip', '198.51.100.1', '--helo', 'evil.example',
      '--sender', 'joe@football.example.com', '--now', String(T), '--authserv-id', 'mx.petrel.test', tampered]);
    assert.deepEqual(fail.dkim.signatures.map((s) => [s.status, s.reason]), [['fail', 'body hash did not verify'], ['fail', 'body hash did not verify']]);
    assert.equal(fail.spf?.result, 'softfail');
    assert.deepEqual([fail.dmarc.status, fail.dmarc.result, fail.dmarc.disposition], ['reject', 'fail', 'reject']);
    assert.deepEqual(methods(fail.authenticationResults), ['spf=softfail', 'dkim=fail', 'dkim=fail', 'dmarc=fail', 'arc=none']);
    assert.match(fail.authenticationResults, /dmarc=fail \(p=reject dis=reject\)/);
  });

  test('--seal prints the ARC set; the next hop validates the chain and seals on top of it', async () => {
    // Hop 1: a forwarder receives the signed message, seals it (cv=none, instance 1).
    const hop1 = await report(['--dns-cache', arcDns, '--client-ip', '213.165.64.12', '--helo', 'mail.football.example.com',
      '--sender', 'joe@football.example.com', '--now', String(T), '--authserv-id', 'mx.forwarder.example',
      '--seal', `forwarder.example:arc:${arcKey}:timestamps`, SIGNED]);
    assert.ok(hop1.arcSeal && 'headers' in hop1.arcSeal, JSON.stringify(hop1.arcSeal));
    assert.deepEqual([hop1.arcSeal.instance, hop1.arcSeal.cv], [1, 'none']);
    const [as1, ams1, aar1] = hop1.arcSeal.headers;
    assert.match(as1.replace(/\r\n /g, ' '), /^ARC-Seal: i=1; a=rsa-sha256; cv=none; d=forwarder\.example; s=arc; t=1528637909;/);
    assert.match(ams1.replace(/\r\n /g, ' '), /^ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed\/relaxed; d=forwarder\.example;/);
    assert.match(aar1, /^ARC-Authentication-Results: i=1; mx\.forwarder\.example;/);
    assert.match(aar1, /dkim=pass/);
    assert.match(aar1, /dmarc=pass/);

    // What the forwarder sends: the ARC set, its Authentication-Results, the message (CRLF).
    const original = readFileSync(SIGNED, 'latin1').replace(/\r?\n/g, '\r\n');
    const forwarded = `${as1}\r\n${ams1}\r\n${aar1}\r\nAuthentication-Results: ${hop1.authenticationResults}\r\n${original}`;
    const hop2file = file('hop2.eml', forwarded);
    const hop2 = await report(['--dns-cache', arcDns, '--client-ip', '203.0.113.5', '--helo', 'mx.forwarder.example',
      '--sender', 'srs@forwarder.example', '--now', String(T + 30), '--authserv-id', 'mx.list.example',
      '--seal', `list.example:arc:${arcKey}`, hop2file]);
    assert.deepEqual([hop2.arc.state, hop2.arc.instances, hop2.arc.domains, hop2.arc.oldestPass], ['pass', 1, ['forwarder.example'], 1]);
    assert.match(hop2.authenticationResults, /arc=pass \(i=1\) header\.oldest-pass=0 smtp\.remote-ip=203\.0\.113\.5/);
    assert.equal(hop2.removedAuthenticationResults, 0, 'the forwarder\'s field is not ours');
    assert.ok(hop2.arcSeal && 'headers' in hop2.arcSeal, JSON.stringify(hop2.arcSeal));
    assert.deepEqual([hop2.arcSeal.instance, hop2.arcSeal.cv], [2, 'pass']);
    assert.doesNotMatch(hop2.arcSeal.headers[0], / t=/, 'no timestamps option: no t=');

    // Hop 3 sees two sets that verify.
    const [as2, ams2, aar2] = hop2.arcSeal.headers;
    const hop3file = file('hop3.eml', `${as2}\r\n${ams2}\r\n${aar2}\r\nAuthentication-Results: ${hop2.authenticationResults}\r\n${forwarded}`);
    const hop3 = await report(['--dns-cache', arcDns, '--now', String(T + 60), '--authserv-id', 'mx.final.example', hop3file]);
    assert.deepEqual([hop3.arc.state, hop3.arc.instances, hop3.arc.domains], ['pass', 2, ['forwarder.example', 'list.example']]);

    // A change to the body after the seals: the chain fails, and sealing it again gives cv=fail.
    const broken = file('broken.eml', readFileSync(hop3file, 'latin1').replace('Are you hungry yet?', 'Are you hungry now?'));
    const bad = await report(['--dns-cache', arcDns, '--now', String(T + 60), '--authserv-id', 'mx.final.example',
      '--seal', `final.example:arc:${arcKey}`, broken]);
    assert.equal(bad.arc.state, 'fail');
    assert.match(bad.authenticationResults, /arc=fail \(i=2\)/);
    assert.ok(bad.arcSeal && 'headers' in bad.arcSeal);
    assert.deepEqual([bad.arcSeal.instance, bad.arcSeal.cv], [3, 'fail']);
  });

  test('an arriving Authentication-Results claiming our authserv-id is removed, not sealed', async () => {
    const forged = file('forged.eml', `Authentication-Results: mx.petrel.test; dkim=pass header.d=paypal.example; arc=pass\n${readFileSync(SIGNED, 'latin1')}`);
    const r = await report(['--dns-cache', arcDns, '--now', String(T), '--authserv-id', 'mx.petrel.test',
      '--seal', `petrel.test:arc:${arcKey}`, forged]);
    assert.equal(r.removedAuthenticationResults, 1);
    assert.ok(r.arcSeal && 'headers' in r.arcSeal, JSON.stringify(r.arcSeal));
    assert.equal(r.arcSeal.cv, 'none');
    assert.doesNotMatch(r.arcSeal.headers[2], /paypal/);
  });

  test('the sender defaults to the Return-Path field', async () => {
    const withPath = file('return-path.eml', `Return-Path: <joe@football.example.com>\n${readFileSync(SIGNED, 'latin1')}`);
    const r = await report(['--dns-cache', join(DIR, 'dns.json'), '--client-ip', '213.165.64.12', '--helo', 'h.example', '--now', String(T), withPath]);
    assert.deepEqual([r.spf?.result, r.spf?.identity], ['pass', 'mailfrom']);
  });

  test('user errors: one line on stderr, a non-zero exit, no stack trace', async () => {
    const cases: [string[], number, RegExp][] = [
      [[join(tmp.dir, 'missing.eml')], 66, /cannot read message .*missing\.eml: ENOENT/],
      [['--seal', 'only-a-domain', SIGNED], 64, /--seal wants ADMD:SELECTOR:KEYFILE/],
      [['--seal', `d.example:s:${join(tmp.dir, 'no-key.pem')}`, SIGNED], 66, /cannot read private key/],
      [['--seal', `d.example:s:${SIGNED}`, SIGNED], 65, /--seal: cannot read the private key/],
      [['--seal', `d.example:s:${arcKey}:sometimes`, SIGNED], 64, /unknown option "sometimes"/],
      [['--client-ip', 'mx.example', SIGNED], 64, /wants an IPv4 or IPv6 address/],
      [['--authserv-id', 'a;b', SIGNED], 64, /--authserv-id/],
    ];
    for (const [args, code, message] of cases) {
      const r = await petrel(['auth', 'report', '--dns-cache', join(DIR, 'dns.json'), ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(r.stdout, '');
    }
  });
});
