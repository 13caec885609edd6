// DKIM key records (RFC 6376 section 3.6.1, RFC 8463 section 4 for k=ed25519, RFC 8301 section 3.2 for RSA
// key sizes): reading the TXT record and turning p= into a public key.
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { colonList, decodeBase64, parseTagList } from './tags.js';
import type { DkimCode, DkimHash, KeyType } from './types.js';

export interface DkimKey {
  readonly keyType: KeyType;
  readonly publicKey: KeyObject;
  /** RSA modulus bits; 256 for ed25519. */
  readonly bits: number;
  /** The key's h= (acceptable hashes), when given. */
  readonly hashes?: readonly string[];
  /** t=y: the domain is testing. */
  readonly testing: boolean;
  /** t=s: i= must be exactly d=, not a subdomain. */
  readonly strict: boolean;
}

export type KeyParse = { kind: 'ok'; key: DkimKey } | { kind: 'error'; code: DkimCode; reason: string };

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key octets. */
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

/** RSA keys smaller than this never verify (RFC 8301 section 3.2). */
export const MIN_RSA_BITS = 1024;
/** Larger RSA keys are refused: they only cost work (RFC 8301 asks for up to 4096). */
export const MAX_RSA_BITS = 8192;

/**
 * Reads one key record (its character-strings already joined without spaces). v=, if present, must be the first
 * tag and be DKIM1; k= defaults to rsa; p= is required, and empty means the key was revoked; s= must allow
 * email. Unknown tags are ignored.
 */
export function parseKeyRecord(text: string): KeyParse {
  const parsed = parseTagList(text);
  if (parsed.kind === 'error') return { kind: 'error', code: 'key_syntax', reason: `key record: ${parsed.reason}` };
  const tags = parsed.tags;
  const v = tags.get('v');
  if (v !== undefined && (v !== 'DKIM1' || tags.keys().next().value !== 'v')) {
    return { kind: 'error', code: 'key_syntax', reason: 'key record: v= is not DKIM1 or not first' };
  }
  const k = (tags.get('k') ?? 'rsa').toLowerCase();
  if (k !== 'rsa' && k !== 'ed25519') return { kind: 'error', code: 'key_type', reason: `unknown key type k=${k}` };
  const p = tags.get('p');
  if (p === undefined) return { kind: 'error', code: 'key_syntax', reason: 'key record has no p=' };
  if (p.replace(/[ \t\r\n]+/g, '') === '') return { kind: 'error', code: 'key_revoked', reason: 'key revoked (empty p=)' };
  const service = tags.get('s');
  if (service !== undefined && !colonList(service).some((x) => x === '*' || x.toLowerCase() === 'email')) {
    return { kind: 'error', code: 'key_service', reason: `key not for email (s=${service})` };
  }
  const flags = colonList(tags.get('t') ?? '').map((f) => f.toLowerCase());
  const h = tags.get('h');
  const der = decodeBase64(p);
  if (!der) return { kind: 'error', code: 'key_der', reason: 'p= is not base64' };

  let publicKey: KeyObject;
  let bits: number;
  if (k === 'ed25519') {
    if (der.length !== 32) return { kind: 'error', code: 'key_der', reason: `ed25519 key is ${der.length} octets, not 32` };
    try {
      publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI, der]), format: 'der', type: 'spki' });
    } catch {
      return { kind: 'error', code: 'key_der', reason: 'ed25519 key does not decode' };
    }
    bits = 256;
  } else {
    const key = rsaKey(der);
    if (!key) return { kind: 'error', code: 'key_der', reason: 'RSA key does not decode' };
    publicKey = key;
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  }
  const key: { -readonly [K in keyof DkimKey]: DkimKey[K] } = {
    keyType: k,
    publicKey,
    bits,
    testing: flags.includes('y'),
    strict: flags.includes('s'),
  };
  if (h !== undefined) key.hashes = colonList(h).map((x) => x.toLowerCase());
  return { kind: 'ok', key };
}

/** An RSA public key from SubjectPublicKeyInfo (what RFC 6376 specifies) or a bare RSAPublicKey (seen in use). */
function rsaKey(der: Buffer): KeyObject | null {
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      const key = createPublicKey({ key: der, format: 'der', type });
      if (key.asymmetricKeyType === 'rsa') return key;
    } catch {
      // try the next form
    }
  }
  return null;
}

/**
 * Whether a key may verify a signature: types agree, the key's h= allows the hash, t=s holds, the RSA size is
 * within bounds. Returns null when it may, else the result to report.
 */
export function keyRefusal(
  key: DkimKey,
  sig: { keyType: KeyType; hash: DkimHash; domain: string; identityDomain: string },
  minRsaBits: number,
): { status: 'fail' | 'permerror'; code: DkimCode; reason: string } | null {
  if (key.keyType !== sig.keyType) {
    return { status: 'permerror', code: 'key_type', reason: `key type ${key.keyType} does not match a=${sig.keyType}` };
  }
  if (key.hashes && !key.hashes.includes(sig.hash)) {
    return { status: 'permerror', code: 'key_hash', reason: `key does not allow ${sig.hash} (h=${key.hashes.join(':')})` };
  }
  if (key.strict && sig.identityDomain !== sig.domain) {
    return { status: 'permerror', code: 'key_strict', reason: 'key has t=s but i= is a subdomain of d=' };
  }
  if (key.keyType === 'rsa') {
    if (key.bits < minRsaBits) return { status: 'fail', code: 'key_too_small', reason: `${key.bits}-bit key is below ${minRsaBits} bits` };
    if (key.bits > MAX_RSA_BITS) return { status: 'permerror', code: 'key_too_large', reason: `${key.bits}-bit key is above ${MAX_RSA_BITS} bits` };
  }
  return null;
}

/** Joins one TXT record's character-strings as DKIM reads them: with nothing between (section 3.6.2.2). */
export function joinTxt(record: readonly string[]): string {
  return record.join('');
}
