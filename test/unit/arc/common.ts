// Shared pieces of the ARC tests: generated keys in a DNS fixture, sample messages, and sealing and validating
// whole messages through Petrel's streaming API (one BodyHashSet for DKIM and ARC, as the receiver does).
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { BodyHashSet, bodyHashSpecs, createBodyHasher, splitHeaderFields, splitMessage } from '../../../protocol/dkim/index.js';
import type { DkimPorts, DkimResolver } from '../../../protocol/dkim/index.js';
import { arcBodyHashSpecs, sealMessage, validateChain } from '../../../protocol/arc/index.js';
import { isOurs } from '../../../protocol/authres/index.js';
import type { ArcValidateOptions, ArcValidation, SealOptions, SealResult } from '../../../protocol/arc/index.js';

export interface TestKey {
  readonly domain: string;
  readonly selector: string;
  readonly privateKey: KeyObject;
  readonly pem: string;
  readonly txt: string[];
}

function txtStrings(record: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < record.length; i += 255) out.push(record.slice(i, i + 255));
  return out;
}

export function rsaKey(domain: string, selector: string, bits: number): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const p = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  return { domain, selector, privateKey, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), txt: txtStrings(`v=DKIM1; k=rsa; p=${p}`) };
}

export function edKey(domain: string, selector: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  return { domain, selector, privateKey, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), txt: [`v=DKIM1; k=ed25519; p=${raw}`] };
}

/** Keys generated once per test process: three sealers and an Ed25519 one. */
export const KEYS = {
  list: rsaKey('lists.example.org', 'arc2048', 2048),
  forwarder: rsaKey('fwd.example.net', 'arc1024', 1024),
  gateway: rsaKey('gw.example.com', 'sel', 1024),
  ed: edKey('ed.example.org', 'ed'),
};

export function keyFixture(keys: readonly TestKey[], extra: DnsFixture = {}): DnsFixture {
  const f: DnsFixture = { ...extra };
  for (const k of keys) f[`${k.selector}._domainkey.${k.domain}`] = { TXT: [k.txt] };
  return f;
}

export const FIXTURE = keyFixture(Object.values(KEYS));

/** A fixture resolver that counts lookups. */
export function countingResolver(fixture: DnsFixture = FIXTURE): DkimResolver & { count: number; names: string[] } {
  const inner = createFixtureResolver(fixture);
  const r = {
    count: 0,
    names: [] as string[],
    lookup: async (name: string, type: 'TXT') => {
      r.count++;
      r.names.push(name);
      return inner.lookup(name, type);
    },
  };
  return r;
}

export const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
export const PORTS: DkimPorts = { dns: createFixtureResolver(FIXTURE), now: () => NOW };

export const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

export const MESSAGES: Record<string, Buffer> = {
  plain: crlf(
    'From: Alice <alice@example.com>\nTo: list@lists.example.org\nSubject: Lunch\nDate: Mon, 1 Jan 2024 12:00:00 +0000\n' +
      'Message-ID: <m1@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHi all,\n\nLunch at noon?\n',
  ),
  messy: crlf(
    'From:   "Alice A."   <alice@example.com>  \nTo: list@lists.example.org,\n\tcarol@example.net\nSubject:  Re:  lots   of\n   space \t\n' +
      'Date: Mon, 1 Jan 2024 12:00:00 +0000\nX-Unsigned: yes\n\nLine with trailing space   \n\ttabbed\t \tline\n\n   \nend\n\n\n',
  ),
  utf8: crlf('From: J\u00f6rg <joerg@example.com>\nSubject: Gr\u00fc\u00dfe \u2603\nTo: x@lists.example.org\n\nK\u00e4se\n'),
  emptyBody: crlf('From: a@example.com\nSubject: nothing\n\n'),
};

/** Feeds a body in small chunks, split at awkward places. */
export function streamHash(body: Buffer, hashers: { update(b: Buffer): void }, chunk = 7): void {
  for (let i = 0; i < body.length; i += chunk) hashers.update(body.subarray(i, i + chunk));
}

export function prepend(message: Buffer, ...fields: string[]): Buffer {
  return Buffer.concat([Buffer.from(fields.map((f) => `${f}\r\n`).join(''), 'utf8'), message]);
}

/** Validates the way the receiver does: DKIM's and ARC's body hash specs in one set, the body streamed. */
export async function petrelValidate(message: Buffer, ports: DkimPorts = PORTS, opts: ArcValidateOptions = {}): Promise<ArcValidation> {
  const { header, body } = splitMessage(message);
  const fields = splitHeaderFields(header);
  const set = new BodyHashSet([...bodyHashSpecs(fields), ...arcBodyHashSpecs(fields)]);
  streamHash(body, set, 13);
  return validateChain(fields, set.digest(), ports, opts);
}

export type SealWith = Omit<SealOptions, 'algorithm' | 'domain' | 'selector'> & { key: TestKey };

/** Seals a whole message with Petrel; returns the result and the message with the set on top. */
export function petrelSealResult(message: Buffer, opts: SealWith): { result: SealResult; message: Buffer } {
  const { header, body } = splitMessage(message);
  const hasher = createBodyHasher('relaxed', 'sha256');
  streamHash(body, hasher);
  const result = sealMessage(splitHeaderFields(header), hasher.digest(), { ...opts, domain: opts.key.domain, selector: opts.key.selector, privateKey: opts.key.pem });
  return { result, message: result.kind === 'ok' ? prepend(message, ...result.set.headers) : message };
}

export function petrelSeal(message: Buffer, opts: SealWith): Buffer {
  const { result, message: out } = petrelSealResult(message, opts);
  if (result.kind !== 'ok') throw new Error(`${result.code}: ${result.reason}`);
  return out;
}

/** Removes the Authentication-Results fields that claim this authserv-id (RFC 8601 section 5, on arrival). */
export function removeOurAuthResults(message: Buffer, authservId: string): Buffer {
  const text = message.toString('latin1');
  const re = /^Authentication-Results:([^\r]*(?:\r\n[ \t][^\r]*)*)\r\n/gim;
  return Buffer.from(text.replace(re, (all, value: string) => (isOurs(value, authservId) ? '' : all)), 'latin1');
}

/**
 * One ARC intermediary: removes arriving Authentication-Results that claim its id, validates, records
 * arc=<state> in its own Authentication-Results, optionally changes the message, seals.
 */
export async function hop(message: Buffer, key: TestKey, change?: (m: Buffer) => Buffer, ports: DkimPorts = PORTS): Promise<Buffer> {
  const authservId = `mx.${key.domain}`;
  const arrived = removeOurAuthResults(message, authservId);
  const v = await petrelValidate(arrived, ports);
  let next = prepend(arrived, `Authentication-Results: ${authservId}; arc=${v.state}; spf=pass smtp.mailfrom=example.com`);
  if (change) next = change(next);
  return petrelSeal(next, { key, authservId, now: NOW, timestamps: true });
}

// A body octet changed: the same tampering the DKIM tests use.
export { tamperBody } from '../dkim/common.js';

function fieldRegExp(start: string, withCrlf: boolean): RegExp {
  const escaped = start.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped}[^\\r]*(?:\\r\\n[ \\t][^\\r]*)*${withCrlf ? '\\r\\n' : ''}`, 'im');
}

/**
 * Replaces the first header field that starts with `start` ("Subject:", "ARC-Seal: i=1;"), continuation lines
 * included.
 */
export function replaceField(message: Buffer, start: string, replacement: string | ((old: string) => string)): Buffer {
  const text = message.toString('latin1');
  const m = fieldRegExp(start, false).exec(text);
  if (!m) throw new Error(`no field starting ${start}`);
  const value = typeof replacement === 'string' ? replacement : replacement(m[0]);
  return Buffer.from(text.slice(0, m.index) + Buffer.from(value, 'utf8').toString('latin1') + text.slice(m.index + m[0].length), 'latin1');
}

/** Removes the first field that starts with `start`. */
export function removeField(message: Buffer, start: string): Buffer {
  const text = message.toString('latin1');
  const re = fieldRegExp(start, true);
  if (!re.test(text)) throw new Error(`no field starting ${start}`);
  return Buffer.from(text.replace(re, ''), 'latin1');
}
