// `petrel dkim sign` and `petrel dkim keygen` (issue 5 item 7 and its conformance line): re-signing the RFC 8463
// message reproduces both b= values; keys made by keygen sign, and what they sign verifies (through `petrel auth
// report`) with the printed TXT record as DNS; line ends are kept; user errors are one line.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseSignature, splitHeaderFields, splitMessage } from '../../protocol/dkim/index.js';
import { CONFORMANCE, petrel, tempDir } from './helpers.js';
import type { Run } from './helpers.js';

const DIR = join(CONFORMANCE, 'dkim-rfc8463-mailauth');
const SIGNED = join(DIR, 'signed.eml');
const T = 1528637909;
const tmp = tempDir('dkim');
after(() => tmp.cleanup());

const file = (name: string, content: string | Buffer): string => {
  const path = join(tmp.dir, name);
  writeFileSync(path, content);
  return path;
};

/** The DKIM-Signature fields of a message, parsed, top to bottom. */
function signatures(message: Buffer): { raw: string; b: string; headers: readonly string[]; timestamp?: number; expiration?: number; canon: string }[] {
  const crlf = Buffer.from(message.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  return splitHeaderFields(splitMessage(crlf).header)
    .filter((f) => f.name.toLowerCase() === 'dkim-signature')
    .map((f) => {
      const raw = Buffer.from(f.raw as Buffer).toString('latin1');
      const p = parseSignature(raw);
      assert.equal(p.kind, 'ok', raw);
      if (p.kind !== 'ok') throw new Error('unreadable');
      return {
        raw, b: p.sig.b, headers: p.sig.headers, canon: `${p.sig.canonHeaders}/${p.sig.canonBody}`,
        ...(p.sig.timestamp !== undefined ? { timestamp: p.sig.timestamp } : {}),
        ...(p.sig.expiration !== undefined ? { expiration: p.sig.expiration } : {}),
      };
    });
}

async function ok(args: string[]): Promise<Run> {
  const r = await petrel(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
}

interface Verified { status: string; reason: string; keyLength: number; d: string; s: string; a: string }

async function verify(message: string, dns: string, now = T): Promise<Verified[]> {
  const r = await ok(['auth', 'report', '--dns-cache', dns, '--now', String(now), '--authserv-id', 'mx.petrel.test', message]);
  return (JSON.parse(r.stdout) as { dkim: { signatures: Verified[] } }).dkim.signatures;
}

describe('petrel dkim sign', () => {
  test('RFC 8463: re-signing with the same h= and t= reproduces both b= exactly', async () => {
    const original = readFileSync(SIGNED);
    const [ed, rsa] = signatures(original);
    assert.ok(ed && rsa);
    for (const [selector, key, want] of [['brisbane', 'private-ec.key', ed], ['test', 'private-rsa.key', rsa]] as const) {
      const r = await ok(['dkim', 'sign', '--domain', 'football.example.com', '--selector', selector, '--key', join(DIR, key),
        '--header-list', want.headers.join(':'), '--now', String(want.timestamp), '--identity', '@football.example.com',
        '--query-method', '--spaced-header-list', SIGNED]);
      const [made] = signatures(r.stdoutBytes);
      assert.ok(made);
      assert.equal(made.b, want.b, `${selector}: b= differs`);
      assert.deepEqual(made.headers, want.headers);
      assert.equal(made.timestamp, T);
      // The file follows, octet for octet (it has Unix line ends, so the new field has them too).
      const top = made.raw.replace(/\r\n/g, '\n') + '\n';
      assert.equal(r.stdoutBytes.subarray(0, top.length).toString('latin1'), top);
      assert.ok(r.stdoutBytes.subarray(top.length).equals(original), 'the message follows unchanged');
    }
  });

  test('CRLF stays CRLF; the signed message verifies with the RFC 8463 keys, a changed copy does not', async () => {
    const crlf = file('crlf.eml', readFileSync(SIGNED, 'latin1').replace(/\r?\n/g, '\r\n'));
    const r = await ok(['dkim', 'sign', '--domain', 'football.example.com', '--selector', 'test', '--key', join(DIR, 'private-rsa.key'),
      '--now', String(T), '--headers', 'from:to:subject:date:+message-id', '--canon', 'simple', crlf]);
    const text = r.stdoutBytes.toString('latin1');
    assert.doesNotMatch(text, /[^\r]\n/, 'every line ends with CRLF');
    assert.ok(r.stdoutBytes.subarray(r.stdoutBytes.length - statSync(crlf).size).equals(readFileSync(crlf)));
    const [sig] = signatures(r.stdoutBytes);
    assert.deepEqual(sig?.headers, ['from', 'to', 'subject', 'date', 'message-id', 'message-id'], 'present once each, message-id oversigned');
    assert.equal(sig?.canon, 'simple/simple', '--canon simple is both, as Exim\'s dkim_canon');
    const signedFile = file('crlf-signed.eml', r.stdoutBytes);
    const [mine] = await verify(signedFile, join(DIR, 'dns.json'));
    assert.deepEqual([mine?.status, mine?.s, mine?.keyLength], ['pass', 'test', 1024]);
    const changed = file('crlf-changed.eml', text.replace('Subject: Is dinner ready?', 'Subject: Is dinner ready??'));
    const [bad] = await verify(changed, join(DIR, 'dns.json'));
    assert.deepEqual([bad?.status, bad?.reason], ['fail', 'signature did not verify']);
  });

  test('--expire writes x=; --no-timestamp leaves t= out', async () => {
    const r = await ok(['dkim', 'sign', '--domain', 'football.example.com', '--selector', 'brisbane', '--key', join(DIR, 'private-ec.key'),
      '--now', String(T), '--expire', '3600', SIGNED]);
    const [sig] = signatures(r.stdoutBytes);
    assert.deepEqual([sig?.timestamp, sig?.expiration], [T, T + 3600]);
    assert.deepEqual(sig?.headers.slice(-1), ['from'], 'From oversigned by default');
    const n = await ok(['dkim', 'sign', '--domain', 'football.example.com', '--selector', 'brisbane', '--key', join(DIR, 'private-ec.key'),
      '--no-timestamp', SIGNED]);
    assert.equal(signatures(n.stdoutBytes)[0]?.timestamp, undefined);
  });

  test('user errors: one line on stderr, a non-zero exit, no stack trace', async () => {
    const base = ['--domain', 'football.example.com', '--selector', 'test'];
    const cases: [string[], number, RegExp][] = [
      [[...base, '--key', join(DIR, 'private-rsa.key'), join(tmp.dir, 'none.eml')], 66, /cannot read message/],
      [[...base, '--key', join(tmp.dir, 'none.key'), SIGNED], 66, /cannot read private key/],
      [[...base, '--key', SIGNED, SIGNED], 65, /cannot read the private key/],
      [[...base, '--key', join(DIR, 'private-rsa.key'), '--algorithm', 'ed25519-sha256', SIGNED], 64, /does not match the rsa key/],
      [[...base, '--key', join(DIR, 'private-rsa.key'), '--algorithm', 'rsa-sha1', SIGNED], 64, /--algorithm wants/],
      [[...base, '--key', join(DIR, 'private-rsa.key'), '--canon', 'loose', SIGNED], 64, /--canon wants/],
      [[...base, '--key', join(DIR, 'private-rsa.key'), '--identity', 'joe@elsewhere.example', SIGNED], 64, /not within football\.example\.com/],
      [[...base, '--key', join(DIR, 'private-rsa.key'), '--header-list', 'to:subject', SIGNED], 64, /h= must include From/],
    ];
    for (const [args, code, message] of cases) {
      const r = await petrel(['dkim', 'sign', ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(r.stdout, '');
    }
  });
});

/** The zone-file line keygen prints, read back: owner name and the character-strings. */
function readTxtLine(line: string): { name: string; strings: string[] } {
  const m = /^(\S+)\. IN TXT ((?:"[^"]*" ?)+)$/.exec(line.trim());
  assert.ok(m, line);
  return { name: m[1] as string, strings: [...(m[2] as string).matchAll(/"([^"]*)"/g)].map((x) => x[1] as string) };
}

describe('petrel dkim keygen', () => {
  for (const type of ['rsa', 'ed25519'] as const) {
    test(`${type}: the key (mode 0600) signs, and the message verifies with the printed TXT record`, async () => {
      const key = join(tmp.dir, `${type}.key`);
      const r = await ok(['dkim', 'keygen', '--type', type, '--domain', 'Petrel.Example', '--selector', `k-${type}`, '--out', key]);
      assert.equal(statSync(key).mode & 0o777, 0o600);
      assert.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
      const { name, strings } = readTxtLine(r.stdout);
      assert.equal(name, `k-${type}._domainkey.petrel.example`);
      assert.ok(strings.every((s) => Buffer.byteLength(s) <= 255));
      assert.equal(strings.length, type === 'rsa' ? 2 : 1, 'RSA-2048 needs two character-strings');
      assert.match(strings.join(''), new RegExp(`^v=DKIM1; k=${type}; p=[A-Za-z0-9+/]+=*$`));

      const message = file(`${type}.eml`, 'From: Ann <ann@petrel.example>\r\nTo: bob@example.org\r\nSubject: keygen\r\n' +
        'Date: Fri, 1 Mar 2024 10:00:00 +0000\r\nMessage-ID: <k@petrel.example>\r\n\r\nHello.\r\n');
      const signed = await ok(['dkim', 'sign', '--domain', 'petrel.example', '--selector', `k-${type}`, '--key', key, '--now', '1709287200', message]);
      const signedFile = file(`${type}-signed.eml`, signed.stdoutBytes);
      const dns = file(`${type}.json`, JSON.stringify({ [name]: { TXT: [strings] } }));
      const [v] = await verify(signedFile, dns, 1709287200);
      assert.deepEqual([v?.status, v?.d, v?.s, v?.a, v?.keyLength],
        ['pass', 'petrel.example', `k-${type}`, type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', type === 'rsa' ? 2048 : 256]);
    });
  }

  test('an existing key file is kept unless --force; bad sizes and types are refused', async () => {
    const key = join(tmp.dir, 'exists.key');
    await ok(['dkim', 'keygen', '--type', 'ed25519', '--domain', 'petrel.example', '--selector', 's', '--out', key]);
    const before = readFileSync(key, 'utf8');
    const again = await petrel(['dkim', 'keygen', '--type', 'ed25519', '--domain', 'petrel.example', '--selector', 's', '--out', key]);
    assert.equal(again.code, 73);
    assert.match(again.stderr, /exists \(use --force/);
    assert.equal(readFileSync(key, 'utf8'), before);
    await ok(['dkim', 'keygen', '--type', 'ed25519', '--domain', 'petrel.example', '--selector', 's', '--out', key, '--force']);
    assert.notEqual(readFileSync(key, 'utf8'), before);
    for (const [args, message] of [
      [['--type', 'rsa', '--bits', '512'], /--bits wants a whole number from 1024 to 8192/],
      [['--type', 'dsa'], /--type wants rsa or ed25519/],
      [['--type', 'rsa', '--domain', 'bad..example'], /--domain/],
    ] as const) {
      const r = await petrel(['dkim', 'keygen', '--domain', 'petrel.example', '--selector', 's', '--out', join(tmp.dir, 'x.key'), ...args]);
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
