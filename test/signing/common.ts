// Shared pieces of the signing tests: keys written to files and published in a DNS fixture, verification of
// what a sink received with Petrel's own DKIM/ARC code and with mailauth 4 (an independent implementation).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate } from 'mailauth';
import type { AuthenticateOptions } from 'mailauth';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { createFixtureResolver } from '../../net/dns/resolver.js';
import type { DnsFixture } from '../../net/dns/resolver.js';
import { BodyHashSet, bodyHashSpecs, splitHeaderFields, splitMessage, verifyMessage } from '../../protocol/dkim/index.js';
import type { DkimVerification } from '../../protocol/dkim/index.js';
import { arcBodyHashSpecs, validateChain } from '../../protocol/arc/index.js';
import type { ArcValidation } from '../../protocol/arc/index.js';
import { mailauthResolver } from '../unit/dkim/common.js';

export interface FileKey {
  readonly domain: string;
  readonly selector: string;
  readonly type: 'rsa' | 'ed25519';
  readonly file: string;
  readonly pem: string;
  /** The DNS TXT record, as character-strings of at most 255 octets. */
  readonly txt: string[];
}

function txtStrings(record: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < record.length; i += 255) out.push(record.slice(i, i + 255));
  return out;
}

/** A key pair, its private half written to dir/<selector>.<domain>.pem, its public half as a TXT record. */
export function writeKey(dir: string, domain: string, selector: string, type: 'rsa' | 'ed25519', bits = 2048): FileKey {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits }) : generateKeyPairSync('ed25519');
  const der = pair.publicKey.export({ format: 'der', type: 'spki' });
  const p = type === 'rsa' ? der.toString('base64') : der.subarray(12).toString('base64');
  const pem = pair.privateKey.export({ format: 'pem', type: type === 'rsa' ? 'pkcs1' : 'pkcs8' }).toString();
  const file = join(dir, `${selector}.${domain}.pem`);
  writeFileSync(file, pem, { mode: 0o600 });
  return { domain, selector, type, file, pem, txt: txtStrings(`v=DKIM1; k=${type}; p=${p}`) };
}

export function fixtureOf(keys: readonly FileKey[]): DnsFixture {
  const f: DnsFixture = {};
  for (const k of keys) f[`${k.selector}._domainkey.${k.domain}`] = { TXT: [k.txt] };
  return f;
}

/** DKIM as Petrel's receiving side checks it: body hashed in pieces, then every signature verified. */
export async function petrelDkim(message: Buffer, fixture: DnsFixture): Promise<DkimVerification> {
  const { header, body } = splitMessage(message);
  const fields = splitHeaderFields(header);
  const set = new BodyHashSet(bodyHashSpecs(fields));
  for (let i = 0; i < body.length; i += 1000) set.update(body.subarray(i, i + 1000));
  return verifyMessage(fields, set.digest(), { dns: createFixtureResolver(fixture), now: Date.now });
}

/** mailauth's view of each DKIM-Signature: [status, signing domain]. */
export async function mailauthDkim(message: Buffer, fixture: DnsFixture): Promise<{ status: string; domain: string; info: string }[]> {
  const res = await dkimVerify(message, { resolver: mailauthResolver(fixture) });
  return res.results.map((r) => ({ status: r.status.result, domain: String(r.signingDomain ?? ''), info: String(r.info ?? '') }));
}

/** The ARC chain as Petrel validates it. */
export async function petrelArc(message: Buffer, fixture: DnsFixture): Promise<ArcValidation> {
  const { header, body } = splitMessage(message);
  const fields = splitHeaderFields(header);
  const set = new BodyHashSet([...bodyHashSpecs(fields), ...arcBodyHashSpecs(fields)]);
  set.update(body);
  return validateChain(fields, set.digest(), { dns: createFixtureResolver(fixture), now: Date.now });
}

/** The ARC chain as mailauth validates it: its result and comment. */
export async function mailauthArc(message: Buffer, fixture: DnsFixture): Promise<{ result: string; comment: string }> {
  const opts: AuthenticateOptions = {
    resolver: mailauthResolver(fixture), ip: '127.0.0.1', helo: 'mx.petrel.test', sender: 'sender@client.petrel.test', mta: 'sink.test', disableDmarc: true, disableBimi: true,
  };
  const res = await authenticate(message, opts);
  return { result: res.arc ? res.arc.status.result : 'none', comment: res.arc ? String(res.arc.status.comment ?? '') : '' };
}

/** The value of every field with this name (unfolded), top to bottom. */
export function fieldValues(message: Buffer, name: string): string[] {
  const { header } = splitMessage(message);
  return splitHeaderFields(header)
    .filter((f) => f.name.toLowerCase() === name.toLowerCase())
    .map((f) => Buffer.from(f.raw).toString('latin1').slice(f.name.length + 1).replace(/\r\n[ \t]/g, ' ').trim());
}

/** A tag of a DKIM-Signature (or ARC) value, whitespace removed. */
export function tag(value: string, name: string): string | undefined {
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).replace(/\s+/g, '');
  }
  return undefined;
}
