// Shared pieces of the DKIM tests: generated keys published in a DNS fixture, sample messages, and signing and
// verifying whole messages through Petrel's streaming API.
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import {
  BodyHashSet,
  bodyHashSpecs,
  createBodyHasher,
  signMessage,
  splitHeaderFields,
  splitMessage,
  verifyMessage,
} from '../../../protocol/dkim/index.js';
import type { DkimPorts, DkimResolver, DkimVerification, SignOptions, VerifyOptions } from '../../../protocol/dkim/index.js';

export const DOMAIN = 'example.org';

/** A key pair with its TXT record split into 255-octet character-strings, as DNS carries it. */
export interface TestKey {
  readonly selector: string;
  readonly privateKey: KeyObject;
  readonly pem: string;
  readonly txt: string[];
}

/** A record cut into character-strings of at most 255 octets. */
export function txtStrings(record: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < record.length; i += 255) out.push(record.slice(i, i + 255));
  return out;
}

export function rsaKey(selector: string, bits: number): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const p = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  return { selector, privateKey, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), txt: txtStrings(`v=DKIM1; k=rsa; p=${p}`) };
}

export function edKey(selector: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  return { selector, privateKey, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), txt: [`v=DKIM1; k=ed25519; p=${raw}`] };
}

/** Keys generated once per test process. */
export const KEYS = {
  rsa: rsaKey('rsa2048', 2048),
  ed: edKey('ed'),
};

export function keyFixture(keys: readonly TestKey[], extra: DnsFixture = {}): DnsFixture {
  const f: DnsFixture = { ...extra };
  for (const k of keys) f[`${k.selector}._domainkey.${DOMAIN}`] = { TXT: [k.txt] };
  return f;
}

/** A fixture resolver that counts lookups. */
export function countingResolver(fixture: DnsFixture): DkimResolver & { count: number } {
  const inner = createFixtureResolver(fixture);
  const r = {
    count: 0,
    lookup: async (name: string, type: 'TXT') => {
      r.count++;
      return inner.lookup(name, type);
    },
  };
  return r;
}

/** mailauth's resolver shape, backed by the same fixture: records of a name, or an ENOTFOUND error. */
export function mailauthResolver(fixture: DnsFixture): (name: string, type: string) => Promise<string[][]> {
  const inner = createFixtureResolver(fixture);
  return async (name, type) => {
    const answer = await inner.lookup(name, type as 'TXT');
    if (answer.kind === 'ok') return answer.records;
    const err = new Error(`${name}: ${answer.kind}`) as Error & { code: string };
    err.code = answer.kind === 'temperror' ? 'ETIMEOUT' : 'ENOTFOUND';
    throw err;
  };
}

export const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

/** Messages whose canonical forms differ between simple and relaxed in every way the RFC names. */
export const MESSAGES: Record<string, Buffer> = {
  plain: crlf(
    'From: Alice <alice@example.org>\nTo: Bob <bob@example.net>\nSubject: Lunch\nDate: Mon, 1 Jan 2024 12:00:00 +0000\n' +
      'Message-ID: <m1@example.org>\n\nHi Bob,\n\nLunch at noon?\n',
  ),
  messy: crlf(
    'From:   "Alice A."   <alice@example.org>  \nTo: bob@example.net,\n\tcarol@example.net\nSubject:  Re:  lots   of\n   space \t\n' +
      'Date: Mon, 1 Jan 2024 12:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nX-Unsigned: yes\n\n' +
      'Line with trailing space   \n\ttabbed\t \tline\n\n   \nmiddle   after spaces\n\n\n \t\n\n',
  ),
  utf8: crlf('From: J\u00f6rg <joerg@example.org>\nSubject: Gr\u00fc\u00dfe \u2603\nTo: x@example.net\n\nK\u00e4se\n'),
  emptyBody: crlf('From: a@example.org\nSubject: nothing\n\n'),
  noFinalNewline: Buffer.concat([crlf('From: a@example.org\nSubject: cut\n\nno newline at the end'), Buffer.from('  ')]),
};

/** Hashes a body the way the receiver does: in small chunks, split at awkward places. */
export function streamHash(body: Buffer, hashers: { update(b: Buffer): void }, chunk = 7): void {
  for (let i = 0; i < body.length; i += chunk) hashers.update(body.subarray(i, i + chunk));
}

/** Signs a whole message with Petrel and returns it with the DKIM-Signature field on top. */
export function petrelSign(message: Buffer, opts: Omit<SignOptions, 'algorithm' | 'domain' | 'selector'> & { key: TestKey; domain?: string }): Buffer {
  const { header, body } = splitMessage(message);
  const canon = opts.canon ?? 'relaxed/relaxed';
  const hasher = createBodyHasher(canon.split('/')[1] as 'simple' | 'relaxed', 'sha256');
  streamHash(body, hasher);
  const signed = signMessage(splitHeaderFields(header), hasher.digest(), {
    ...opts,
    domain: opts.domain ?? DOMAIN,
    selector: opts.key.selector,
    privateKey: opts.key.pem,
  });
  if (signed.kind !== 'ok') throw new Error(signed.reason);
  return Buffer.concat([Buffer.from(`${signed.header}\r\n`, 'latin1'), message]);
}

/** Verifies a whole message with Petrel the way the receiver does: specs from the header, body streamed. */
export async function petrelVerify(message: Buffer, ports: DkimPorts, opts: VerifyOptions = {}): Promise<DkimVerification> {
  const { header, body } = splitMessage(message);
  const fields = splitHeaderFields(header);
  const set = new BodyHashSet(bodyHashSpecs(fields, opts));
  streamHash(body, set, 13);
  return verifyMessage(fields, set.digest(), ports, opts);
}

/** Changes one octet of the body (the first letter or digit after the blank line). */
export function tamperBody(message: Buffer): Buffer {
  const copy = Buffer.from(message);
  const { header } = splitMessage(copy);
  for (let i = header.length + 2; i < copy.length; i++) {
    const c = copy[i] as number;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
      copy[i] = c ^ 0x20;
      return copy;
    }
  }
  return Buffer.concat([copy, Buffer.from('tampered\r\n')]);
}

/** Replaces the value of the first Subject field. */
export function tamperSubject(message: Buffer): Buffer {
  return Buffer.from(message.toString('latin1').replace(/^Subject:[^\r]*/m, 'Subject: changed'), 'latin1');
}

/** Adds a second From at the top of the header section, or at its bottom. */
export function addFrom(message: Buffer, where: 'top' | 'bottom'): Buffer {
  const extra = Buffer.from('From: Mallory <mallory@evil.example>\r\n');
  if (where === 'top') return Buffer.concat([extra, message]);
  const { header } = splitMessage(message);
  return Buffer.concat([message.subarray(0, header.length), extra, message.subarray(header.length)]);
}
