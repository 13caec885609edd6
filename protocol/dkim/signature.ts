// DKIM-Signature header field: reading and checking its tags (RFC 6376 sections 3.5 and 6.1.1, RFC 8463
// section 3 for ed25519-sha256, RFC 8301 for rsa-sha1 being weak).
import { colonList, decodeBase64, decodeQuotedPrintable, normalizeDomain, normalizeSelector, parseTagList } from './tags.js';
import type { Canon, DkimAlgorithm, DkimCode, DkimHash, KeyType } from './types.js';

/** A DKIM-Signature whose tags are all usable. */
export interface DkimSignature {
  readonly algorithm: DkimAlgorithm;
  readonly keyType: KeyType;
  readonly hash: DkimHash;
  /** b= decoded, and as written without whitespace. */
  readonly signature: Buffer;
  readonly b: string;
  /** bh= decoded. */
  readonly bodyHash: Buffer;
  readonly canonHeaders: Canon;
  readonly canonBody: Canon;
  /** d=, lower case, A-labels. */
  readonly domain: string;
  /** s=, lower case. */
  readonly selector: string;
  /** h= in order, as written. */
  readonly headers: readonly string[];
  /** i= decoded, or "@" + d=. */
  readonly identity: string;
  /** The domain part of the identity, lower case. */
  readonly identityDomain: string;
  readonly bodyLength?: number;
  readonly timestamp?: number;
  readonly expiration?: number;
  /** z= as written (copied header fields), not interpreted. */
  readonly copiedHeaders?: string;
}

/** What could be read of a signature that is not usable, for reporting. */
export interface PartialSignature {
  readonly domain?: string;
  readonly selector?: string;
  readonly algorithm?: string;
  readonly b?: string;
}

export type SignatureParse =
  | { kind: 'ok'; sig: DkimSignature }
  | { kind: 'error'; code: DkimCode; reason: string; partial: PartialSignature };

const ALGORITHMS: Record<string, { keyType: KeyType; hash: DkimHash }> = {
  'rsa-sha256': { keyType: 'rsa', hash: 'sha256' },
  'rsa-sha1': { keyType: 'rsa', hash: 'sha1' },
  'ed25519-sha256': { keyType: 'ed25519', hash: 'sha256' },
};

/** Names in h=: printable ASCII except ":" (RFC 5322 field-name). */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
/** Longest decimal number of t=, x= (RFC 6376 says 12 digits) and l= (76 digits) we read exactly. */
const TIME = /^\d{1,12}$/;
const LENGTH = /^\d{1,76}$/;
/** More names in h= than this is an abuse, not a signature (bounded work). */
export const MAX_SIGNED_HEADERS = 256;

/**
 * Reads a DKIM-Signature field (the raw field, name included, as latin1 octets) and checks every tag that can
 * be checked without the key or the message: required tags, v=1, a supported a= and c=, q=dns/txt, From in h=,
 * i= within d=, x= after t=. Unknown tags are ignored.
 */
export function parseSignature(raw: string): SignatureParse {
  const colon = raw.indexOf(':');
  const parsed = parseTagList(colon < 0 ? '' : raw.slice(colon + 1));
  if (parsed.kind === 'error') return { kind: 'error', code: 'syntax', reason: parsed.reason, partial: {} };
  const tags = parsed.tags;
  const partial: { domain?: string; selector?: string; algorithm?: string; b?: string } = {};
  const d = tags.get('d');
  const s = tags.get('s');
  const a = tags.get('a');
  const bRaw = tags.get('b');
  if (d !== undefined) partial.domain = normalizeDomain(d) ?? d.toLowerCase();
  if (s !== undefined) partial.selector = s.toLowerCase();
  if (a !== undefined) partial.algorithm = a.toLowerCase();
  if (bRaw !== undefined) partial.b = bRaw.replace(/[ \t\r\n]+/g, '');
  const fail = (code: DkimCode, reason: string): SignatureParse => ({ kind: 'error', code, reason, partial });

  for (const required of ['v', 'a', 'b', 'bh', 'd', 'h', 's']) {
    if (!tags.has(required)) return fail('missing_tag', `missing ${required}= tag`);
  }
  if (tags.get('v') !== '1') return fail('version', `unsupported version v=${tags.get('v')}`);

  const alg = ALGORITHMS[(a as string).toLowerCase()];
  if (!alg) return fail('algorithm', `unsupported algorithm a=${a}`);

  const signature = decodeBase64(bRaw as string);
  if (!signature || signature.length === 0) return fail('syntax', 'b= is not base64');
  const bodyHash = decodeBase64(tags.get('bh') as string);
  if (!bodyHash || bodyHash.length === 0) return fail('syntax', 'bh= is not base64');

  const canon = parseCanon(tags.get('c'));
  if (!canon) return fail('canonicalization', `unsupported canonicalization c=${tags.get('c')}`);

  const domain = normalizeDomain(d as string);
  if (!domain) return fail('syntax', `invalid domain d=${d}`);
  const selector = normalizeSelector(s as string);
  if (!selector) return fail('syntax', `invalid selector s=${s}`);

  const headers = colonList(tags.get('h') as string);
  if (headers.length > MAX_SIGNED_HEADERS) return fail('syntax', `h= lists more than ${MAX_SIGNED_HEADERS} fields`);
  if (headers.some((h) => !FIELD_NAME.test(h))) return fail('syntax', 'h= has an invalid field name');
  if (!headers.some((h) => h.toLowerCase() === 'from')) return fail('from_not_signed', 'h= does not include From');

  let identity = `@${domain}`;
  let identityDomain = domain;
  const i = tags.get('i');
  if (i !== undefined) {
    const decoded = decodeQuotedPrintable(i);
    const at = decoded === null ? -1 : decoded.lastIndexOf('@');
    const idDomain = decoded === null || at < 0 ? null : normalizeDomain(decoded.slice(at + 1));
    if (decoded === null || idDomain === null) return fail('syntax', `invalid identity i=${i}`);
    if (idDomain !== domain && !idDomain.endsWith(`.${domain}`)) {
      return fail('identity_mismatch', `i= domain ${idDomain} is not within d=${domain}`);
    }
    identity = decoded;
    identityDomain = idDomain;
  }

  const q = tags.get('q');
  if (q !== undefined && !colonList(q).some((m) => m.toLowerCase() === 'dns/txt')) {
    return fail('query_method', `unsupported query method q=${q}`);
  }

  const sig: {
    -readonly [K in keyof DkimSignature]: DkimSignature[K];
  } = {
    algorithm: (a as string).toLowerCase() as DkimAlgorithm,
    keyType: alg.keyType,
    hash: alg.hash,
    signature,
    b: partial.b as string,
    bodyHash,
    canonHeaders: canon[0],
    canonBody: canon[1],
    domain,
    selector,
    headers,
    identity,
    identityDomain,
  };

  const l = tags.get('l');
  if (l !== undefined) {
    if (!LENGTH.test(l)) return fail('syntax', `invalid body length l=${l}`);
    sig.bodyLength = Number(l);
  }
  const t = tags.get('t');
  if (t !== undefined) {
    if (!TIME.test(t)) return fail('syntax', `invalid timestamp t=${t}`);
    sig.timestamp = Number(t);
  }
  const x = tags.get('x');
  if (x !== undefined) {
    if (!TIME.test(x)) return fail('syntax', `invalid expiration x=${x}`);
    sig.expiration = Number(x);
    if (sig.timestamp !== undefined && sig.expiration <= sig.timestamp) {
      return fail('timestamps', `x=${x} is not after t=${t}`);
    }
  }
  const z = tags.get('z');
  if (z !== undefined) sig.copiedHeaders = z;
  return { kind: 'ok', sig };
}

/** c= (default simple/simple; a header canonicalization alone means simple body). */
function parseCanon(value: string | undefined): [Canon, Canon] | null {
  if (value === undefined) return ['simple', 'simple'];
  const parts = value.toLowerCase().split('/');
  if (parts.length > 2) return null;
  const head = parts[0];
  const body = parts[1] ?? 'simple';
  if ((head !== 'simple' && head !== 'relaxed') || (body !== 'simple' && body !== 'relaxed')) return null;
  return [head, body];
}
