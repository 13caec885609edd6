// DKIM verification (RFC 6376 section 6, RFC 8463, RFC 8301): each DKIM-Signature of a message checked against
// body hashes computed while the message streamed in, with keys fetched through the DNS port.
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { bodyHashKey, hashBody } from './body.js';
import { FieldIndex, headerHashInput, splitHeaderFields, splitMessage, toField } from './fields.js';
import type { Field } from './fields.js';
import { joinTxt, keyRefusal, MIN_RSA_BITS, parseKeyRecord } from './key.js';
import type { DkimKey, KeyParse } from './key.js';
import { parseSignature } from './signature.js';
import type { DkimSignature } from './signature.js';
import { eximStatus } from './types.js';
import type {
  BodyHashResult,
  BodyHashSpec,
  DkimCode,
  DkimHash,
  DkimPorts,
  DkimResolver,
  DkimResult,
  DkimStatus,
  DkimVerification,
  KeyRecordCache,
  KeyType,
  RawField,
} from './types.js';

export interface VerifyOptions {
  /** DKIM-Signature fields evaluated, from the top; the rest are counted as skipped. Default 50. */
  readonly maxSignatures?: number;
  /** Distinct body hashes (canon, hash, l=) computed per message; see bodyHashSpecs. Default 8. */
  readonly maxBodyHashes?: number;
  /** RSA keys below this fail (RFC 8301: 1024). */
  readonly minRsaBits?: number;
  /** Hashes accepted (Exim's dkim_verify_hashes); others give `policy`. Default sha256 and sha1 (sha1 marked weak). */
  readonly hashes?: readonly DkimHash[];
  /** Seconds a t= may lie in the future (clock skew) before the signature is refused. Default 300. */
  readonly futureSkew?: number;
  /** Key types accepted (Exim's dkim_verify_keytypes); others give `policy`. Default ed25519 and rsa. */
  readonly keyTypes?: readonly KeyType[];
}

const DEFAULTS = {
  maxSignatures: 50, maxBodyHashes: 8, minRsaBits: MIN_RSA_BITS, hashes: ['sha256', 'sha1'] as const, futureSkew: 300,
  keyTypes: ['ed25519', 'rsa'] as const,
};

/** Indexes of the DKIM-Signature fields, top to bottom. */
function signatureIndexes(fields: readonly Field[]): number[] {
  const out: number[] = [];
  fields.forEach((f, i) => {
    if (f.lower === 'dkim-signature') out.push(i);
  });
  return out;
}

/**
 * The body hashes the message's signatures need, known once the header section has been read: one per distinct
 * (body canonicalization, hash, l=) among the first maxSignatures well-formed signatures whose hash is accepted,
 * at most maxBodyHashes of them. Feed a BodyHashSet made from these with the body, then pass its digest to
 * verifyMessage.
 */
export function bodyHashSpecs(headers: readonly RawField[], opts: VerifyOptions = {}): BodyHashSpec[] {
  const max = opts.maxSignatures ?? DEFAULTS.maxSignatures;
  const maxHashes = opts.maxBodyHashes ?? DEFAULTS.maxBodyHashes;
  const accepted: readonly DkimHash[] = opts.hashes ?? DEFAULTS.hashes;
  const specs = new Map<string, BodyHashSpec>();
  let seen = 0;
  for (const h of headers) {
    if (seen >= max || specs.size >= maxHashes) break;
    const f = toField(h);
    if (f.lower !== 'dkim-signature') continue;
    seen++;
    const parsed = parseSignature(f.raw);
    if (parsed.kind !== 'ok' || !accepted.includes(parsed.sig.hash)) continue;
    if (!(opts.keyTypes ?? DEFAULTS.keyTypes).includes(parsed.sig.keyType)) continue;
    const { canonBody: canon, hash, bodyLength: limit } = parsed.sig;
    const spec: BodyHashSpec = limit === undefined ? { canon, hash } : { canon, hash, limit };
    specs.set(bodyHashKey(spec), spec);
  }
  return [...specs.values()];
}

/** A key record fetched and read (shared with ARC, RFC 8617, which looks keys up the same way). */
export type KeyFetch = { kind: 'ok'; key: DkimKey } | { kind: 'error'; status: DkimStatus; code: DkimCode; reason: string };

/** Fetches and reads a key record; never throws. The first record that reads as a key is used. */
export async function fetchKey(dns: DkimResolver, name: string, cache?: KeyRecordCache): Promise<KeyFetch> {
  let answer;
  try {
    answer = await dns.lookup(name, 'TXT');
  } catch (err) {
    return { kind: 'error', status: 'temperror', code: 'key_temperror', reason: `key lookup failed: ${(err as Error).message}` };
  }
  if (answer.kind === 'temperror') return { kind: 'error', status: 'temperror', code: 'key_temperror', reason: `key lookup: ${answer.reason}` };
  if (answer.kind !== 'ok' || answer.records.length === 0) {
    return { kind: 'error', status: 'permerror', code: 'key_unavailable', reason: `no key record at ${name}` };
  }
  let first: KeyFetch | null = null;
  for (const record of answer.records) {
    const text = joinTxt(record);
    let parsed = cache?.get(text) as KeyParse | undefined;
    if (parsed === undefined) {
      parsed = parseKeyRecord(text);
      cache?.set(text, parsed);
    }
    if (parsed.kind === 'ok') return parsed;
    first ??= { kind: 'error', status: 'permerror', code: parsed.code, reason: parsed.reason };
  }
  return first as KeyFetch;
}

/** Checks the signature value over the header hash input (RFC 8463 section 3: ed25519 signs its SHA-256). */
export function verifySignatureValue(sig: Pick<DkimSignature, 'keyType' | 'hash' | 'signature'>, input: Buffer, key: DkimKey): boolean {
  try {
    if (sig.keyType === 'ed25519') return cryptoVerify(null, createHash('sha256').update(input).digest(), key.publicKey, sig.signature);
    return cryptoVerify(sig.hash, input, key.publicKey, sig.signature);
  } catch {
    return false;
  }
}

/**
 * Verifies the DKIM signatures of a message. `headers` are the message's fields, raw and in order; `bodyHashes`
 * are the finished hashes for the specs bodyHashSpecs named (others are ignored). Work is bounded: at most
 * maxSignatures signatures, one DNS lookup per distinct key name, one public-key operation per signature.
 */
export async function verifyMessage(
  headers: readonly RawField[],
  bodyHashes: readonly BodyHashResult[],
  ports: DkimPorts,
  opts: VerifyOptions = {},
): Promise<DkimVerification> {
  const fields = headers.map(toField);
  const index = new FieldIndex(fields);
  const all = signatureIndexes(fields);
  const max = opts.maxSignatures ?? DEFAULTS.maxSignatures;
  const evaluated = all.slice(0, max);
  const hashes = new Map(bodyHashes.map((h) => [bodyHashKey(h), h]));
  const keys = new Map<string, Promise<KeyFetch>>();
  const now = Math.floor(ports.now() / 1000);
  const accepted: readonly DkimHash[] = opts.hashes ?? DEFAULTS.hashes;
  const minRsaBits = opts.minRsaBits ?? DEFAULTS.minRsaBits;
  const futureSkew = opts.futureSkew ?? DEFAULTS.futureSkew;
  const keyTypes: readonly KeyType[] = opts.keyTypes ?? DEFAULTS.keyTypes;

  const one = async (fieldIndex: number): Promise<DkimResult> => {
    const field = fields[fieldIndex] as Field;
    const parsed = parseSignature(field.raw);
    if (parsed.kind === 'error') return result('neutral', parsed.code, parsed.reason, { fieldIndex, ...parsed.partial });
    const sig = parsed.sig;
    const info: Info = {
      fieldIndex,
      domain: sig.domain,
      selector: sig.selector,
      algorithm: sig.algorithm,
      keyType: sig.keyType,
      hash: sig.hash,
      weak: sig.hash === 'sha1',
      canonHeaders: sig.canonHeaders,
      canonBody: sig.canonBody,
      identity: sig.identity,
      headersSigned: sig.headers,
      b: sig.b,
    };
    if (sig.bodyLength !== undefined) info.bodyLength = sig.bodyLength;
    if (sig.timestamp !== undefined) info.timestamp = sig.timestamp;
    if (sig.expiration !== undefined) info.expiration = sig.expiration;

    if (!accepted.includes(sig.hash)) return result('policy', 'hash_not_accepted', `${sig.hash} is not an accepted hash`, info);
    if (!keyTypes.includes(sig.keyType)) return result('policy', 'keytype_not_accepted', `${sig.keyType} is not an accepted key type`, info);
    if (sig.expiration !== undefined && sig.expiration < now) return result('policy', 'expired', `signature expired at ${sig.expiration}`, info);
    if (sig.timestamp !== undefined && sig.timestamp > now + futureSkew) {
      return result('policy', 'future', `signature timestamp ${sig.timestamp} is in the future`, info);
    }

    const spec: BodyHashSpec = sig.bodyLength === undefined
      ? { canon: sig.canonBody, hash: sig.hash }
      : { canon: sig.canonBody, hash: sig.hash, limit: sig.bodyLength };
    const body = hashes.get(bodyHashKey(spec));
    if (!body) return result('policy', 'no_body_hash', 'body hash not computed (too many distinct body hashes)', info);
    if (sig.bodyLength !== undefined) {
      if (sig.bodyLength > body.canonicalLength) {
        return result('permerror', 'body_length', `l=${sig.bodyLength} exceeds the body (${body.canonicalLength} octets)`, info);
      }
      info.unsignedTrailingContent = body.canonicalLength > sig.bodyLength;
    }
    if (!Buffer.from(body.bh, 'base64').equals(sig.bodyHash)) return result('fail', 'bodyhash_mismatch', 'body hash did not verify', info);

    const name = `${sig.selector}._domainkey.${sig.domain}`;
    let pending = keys.get(name);
    if (!pending) {
      pending = fetchKey(ports.dns, name, ports.keyCache);
      keys.set(name, pending);
    }
    const fetched = await pending;
    if (fetched.kind === 'error') return result(fetched.status, fetched.code, fetched.reason, info);
    const key = fetched.key;
    info.keyLength = key.bits;
    info.testing = key.testing;
    const refusal = keyRefusal(key, sig, minRsaBits);
    if (refusal) return result(refusal.status, refusal.code, refusal.reason, info);

    const input = headerHashInput(index, index.select(sig.headers, fieldIndex), field.raw, sig.canonHeaders);
    if (!verifySignatureValue(sig, input, key)) return result('fail', 'signature_incorrect', 'signature did not verify', info);
    return result('pass', 'ok', 'signature verified', info);
  };

  const signatures = await Promise.all(evaluated.map(one));
  return { signatures, skipped: all.length - evaluated.length };
}

type Info = { -readonly [K in keyof Omit<DkimResult, 'status' | 'code' | 'reason' | 'exim'>]: DkimResult[K] };

function result(status: DkimStatus, code: DkimCode, reason: string, info: Info): DkimResult {
  return { status, code, reason, ...info, exim: eximStatus(status, code) };
}

/**
 * Verifies a whole message held in memory (tests, the command line). The daemon does not use this: it hashes the
 * body while it streams in (bodyHashSpecs, BodyHashSet) and calls verifyMessage.
 */
export async function verifyWholeMessage(message: Buffer, ports: DkimPorts, opts: VerifyOptions = {}): Promise<DkimVerification> {
  const { header, body } = splitMessage(message);
  const headers = splitHeaderFields(header);
  return verifyMessage(headers, hashBody(body, bodyHashSpecs(headers, opts)), ports, opts);
}
