// Reading ARC-Message-Signature and ARC-Seal tags (RFC 8617 sections 4.1.2 and 4.1.3): DKIM-Signature syntax
// (RFC 6376 section 3.5) without v= and with i= as the instance, sha256 algorithms only, and no h= on a seal.
import { asciiLower, colonList, decodeBase64, normalizeDomain, normalizeSelector } from '../dkim/index.js';
import type { BodyHashSpec, Canon, KeyType, SigningAlgorithm, TagList } from '../dkim/index.js';
import type { ChainStatus } from './types.js';

/** a= values ARC accepts. rsa-sha1 is refused (RFC 8301; ARC was never specified with it). */
const ALGORITHMS: Readonly<Record<string, KeyType>> = { 'rsa-sha256': 'rsa', 'ed25519-sha256': 'ed25519' };

/** Field names in h=: printable ASCII except ":" (RFC 5322 field-name). */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const TIME = /^\d{1,12}$/;
const LENGTH = /^\d{1,76}$/;
/** More names in h= than this is an abuse, not a signature (bounded work), as in protocol/dkim. */
export const MAX_ARC_SIGNED_HEADERS = 256;

/** What both ARC signatures carry. */
interface Signed {
  readonly instance: number;
  readonly algorithm: SigningAlgorithm;
  readonly keyType: KeyType;
  readonly hash: 'sha256';
  /** b= decoded, and as written without whitespace. */
  readonly signature: Buffer;
  readonly b: string;
  /** d= (lower case, A-labels) and s=. */
  readonly domain: string;
  readonly selector: string;
  readonly timestamp?: number;
}

export interface ArcMessageSignature extends Signed {
  readonly bodyHash: Buffer;
  readonly canonHeaders: Canon;
  readonly canonBody: Canon;
  /** h= names in order, empty entries dropped. May be empty: the suite's ams_fields_h_empty passes. */
  readonly headers: readonly string[];
  readonly bodyLength?: number;
  readonly expiration?: number;
}

export interface ArcSeal extends Signed {
  readonly cv: ChainStatus;
}

export type Read<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'error'; readonly reason: string };

function error<T>(reason: string): Read<T> {
  return { kind: 'error', reason };
}

type Common = { -readonly [K in keyof Signed]: Signed[K] };

/** The tags both signatures share: a=, b=, d=, s=, t=. */
function readCommon(tags: TagList, instance: number, what: string): Read<Common> {
  for (const required of ['a', 'b', 'd', 's']) {
    if (!tags.has(required)) return error(`${what} has no ${required}= tag`);
  }
  const a = asciiLower(tags.get('a') as string);
  const keyType = ALGORITHMS[a];
  if (!keyType) return error(`${what}: unsupported algorithm a=${tags.get('a')}`);
  const bRaw = tags.get('b') as string;
  const signature = decodeBase64(bRaw);
  if (!signature || signature.length === 0) return error(`${what}: b= is not base64`);
  const domain = normalizeDomain(tags.get('d') as string);
  if (!domain) return error(`${what}: invalid domain d=${tags.get('d')}`);
  const selector = normalizeSelector(tags.get('s') as string);
  if (!selector) return error(`${what}: invalid selector s=${tags.get('s')}`);
  const out: Common = {
    instance,
    algorithm: a as SigningAlgorithm,
    keyType,
    hash: 'sha256',
    signature,
    b: bRaw.replace(/[ \t\r\n]+/g, ''),
    domain,
    selector,
  };
  const t = tags.get('t');
  if (t !== undefined) {
    if (!TIME.test(t)) return error(`${what}: invalid timestamp t=${t}`);
    out.timestamp = Number(t);
  }
  return { kind: 'ok', value: out };
}

/**
 * c= of an ARC-Message-Signature. Absent means relaxed/relaxed, as dkimpy (the suite's reference) and mailauth
 * read it and as ams_fields_c_na requires; RFC 6376's simple/simple default is not used here. A header
 * canonicalization alone means a simple body (RFC 6376 section 3.5).
 */
function readCanon(value: string | undefined): [Canon, Canon] | null {
  if (value === undefined) return ['relaxed', 'relaxed'];
  const parts = asciiLower(value).split('/');
  if (parts.length > 2) return null;
  const head = parts[0];
  const body = parts[1] ?? 'simple';
  if ((head !== 'simple' && head !== 'relaxed') || (body !== 'simple' && body !== 'relaxed')) return null;
  return [head, body];
}

/**
 * Reads an ARC-Message-Signature tag-list (instance already checked). Required: a, b, bh, d, h, s. v= is ignored
 * (section 4.1.2), unknown tags too. h= may not name ARC-Seal (section 4.1.2; dkimpy and mailauth refuse it);
 * the other ARC fields are tolerated because the suite's own signatures cover ARC-Authentication-Results.
 */
export function readSignature(tags: TagList, instance: number): Read<ArcMessageSignature> {
  const what = `ARC-Message-Signature i=${instance}`;
  const common = readCommon(tags, instance, what);
  if (common.kind === 'error') return common;
  for (const required of ['bh', 'h']) {
    if (!tags.has(required)) return error(`${what} has no ${required}= tag`);
  }
  const bodyHash = decodeBase64(tags.get('bh') as string);
  if (!bodyHash || bodyHash.length === 0) return error(`${what}: bh= is not base64`);
  const canon = readCanon(tags.get('c'));
  if (!canon) return error(`${what}: unsupported canonicalization c=${tags.get('c')}`);
  const headers = colonList(tags.get('h') as string).filter((h) => h !== '');
  if (headers.length > MAX_ARC_SIGNED_HEADERS) return error(`${what}: h= lists more than ${MAX_ARC_SIGNED_HEADERS} fields`);
  if (headers.some((h) => !FIELD_NAME.test(h))) return error(`${what}: h= has an invalid field name`);
  if (headers.some((h) => asciiLower(h) === 'arc-seal')) return error(`${what}: h= includes ARC-Seal`);
  const value: { -readonly [K in keyof ArcMessageSignature]: ArcMessageSignature[K] } = {
    ...common.value,
    bodyHash,
    canonHeaders: canon[0],
    canonBody: canon[1],
    headers,
  };
  const l = tags.get('l');
  if (l !== undefined) {
    if (!LENGTH.test(l)) return error(`${what}: invalid body length l=${l}`);
    value.bodyLength = Number(l);
  }
  const x = tags.get('x');
  if (x !== undefined) {
    if (!TIME.test(x)) return error(`${what}: invalid expiration x=${x}`);
    value.expiration = Number(x);
    if (value.timestamp !== undefined && value.expiration <= value.timestamp) return error(`${what}: x=${x} is not after t=${value.timestamp}`);
  }
  return { kind: 'ok', value };
}

/**
 * Reads an ARC-Seal tag-list (instance already checked). Required: a, b, cv, d, s. An h= tag makes the seal
 * invalid (section 4.1.3); the seal has no body, so bh= and c= mean nothing and are ignored with other unknown tags.
 */
export function readSeal(tags: TagList, instance: number): Read<ArcSeal> {
  const what = `ARC-Seal i=${instance}`;
  if (tags.has('h')) return error(`${what} has an h= tag`);
  const common = readCommon(tags, instance, what);
  if (common.kind === 'error') return common;
  const cv = asciiLower(tags.get('cv') ?? '');
  if (cv !== 'none' && cv !== 'pass' && cv !== 'fail') return error(`${what}: invalid cv=${tags.get('cv') ?? ''}`);
  return { kind: 'ok', value: { ...common.value, cv } };
}

/** The body hash an ARC-Message-Signature needs. */
export function bodySpec(sig: Pick<ArcMessageSignature, 'canonBody' | 'hash' | 'bodyLength'>): BodyHashSpec {
  return sig.bodyLength === undefined ? { canon: sig.canonBody, hash: sig.hash } : { canon: sig.canonBody, hash: sig.hash, limit: sig.bodyLength };
}
