// DKIM's public shapes (RFC 6376, RFC 8463, RFC 8301): algorithms, header fields, body hashes, ports, results.

/** Header or body canonicalization (RFC 6376 section 3.4). */
export type Canon = 'simple' | 'relaxed';

/** Hash algorithms of the a= tag. sha1 is verify-only and weak (RFC 8301 section 3.1). */
export type DkimHash = 'sha256' | 'sha1';

/** Key types of the k= tag (RFC 6376 section 3.6.1, RFC 8463 section 3). */
export type KeyType = 'rsa' | 'ed25519';

/** The a= values Petrel understands. */
export type DkimAlgorithm = 'rsa-sha256' | 'rsa-sha1' | 'ed25519-sha256';

/** The algorithms Petrel signs with (RFC 8301: never rsa-sha1). */
export type SigningAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

/**
 * One header field exactly as received: `raw` is the whole field ("Name: value", continuation lines with
 * their CRLFs) without the CRLF that ends it. A string holds octets as UTF-8; a Buffer is taken as it is.
 */
export interface RawField {
  readonly name: string;
  readonly raw: string | Buffer;
}

/** Which body hash a signature needs: the body canonicalization, the hash, and l= if any. */
export interface BodyHashSpec {
  readonly canon: Canon;
  readonly hash: DkimHash;
  /** The l= value; undefined hashes the whole body. */
  readonly limit?: number;
}

/** A finished body hash (plain data: structured-cloneable). */
export interface BodyHashResult extends BodyHashSpec {
  /** The hash, base64 (the form bh= takes). */
  readonly bh: string;
  /** Octets of canonical body that went into the hash: min(limit, canonicalLength). */
  readonly hashedLength: number;
  /** Octets of the whole canonical body, including any beyond the limit. */
  readonly canonicalLength: number;
}

/** A TXT lookup as the DNS port answers it; extra fields (ttl, ad) are allowed and ignored. */
export type DkimDnsResult =
  | { kind: 'ok'; records: readonly (readonly string[])[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'temperror'; reason: string };

/** The DNS port: TXT records as lists of character-strings, not joined. net/dns's `Resolver` satisfies it. */
export interface DkimResolver {
  lookup(name: string, type: 'TXT'): Promise<DkimDnsResult>;
}

/** What verification needs from the outside world. */
export interface DkimPorts {
  readonly dns: DkimResolver;
  /** Milliseconds since the epoch, like Date.now. */
  readonly now: () => number;
  /**
   * Parsed key records by their text, kept by the caller: decoding a public key costs more than verifying
   * with it (RFC 6376 section 3.6.1 records are the same for every message of a signer).
   */
  readonly keyCache?: KeyRecordCache;
}

/** What parseKeyRecord gave for a record's text; the caller bounds its size. */
export interface KeyRecordCache {
  get(record: string): unknown;
  set(record: string, parsed: unknown): void;
}

/**
 * Per-signature results, named as Authentication-Results names them (RFC 8601 section 2.7.1):
 * - pass: the signature verified.
 * - fail: it did not (body hash or signature mismatch), or its RSA key is under the minimum (RFC 8301).
 * - neutral: the signature is malformed or uses something unsupported (syntax, version, algorithm, i=).
 * - policy: well formed but not acceptable here: expired, dated in the future, hash not accepted, not evaluated.
 * - permerror: the key cannot be used: absent, malformed, revoked, wrong type, or l= beyond the body.
 * - temperror: the key could not be fetched now.
 * `none` (no signature at all) is a message-level result: an empty list of signatures.
 */
export type DkimStatus = 'pass' | 'fail' | 'neutral' | 'policy' | 'permerror' | 'temperror';

/** Exim's $dkim_verify_status and $dkim_verify_reason for one signature. */
export interface EximDkimStatus {
  readonly status: 'pass' | 'fail' | 'invalid';
  /** pubkey_unavailable, pubkey_dns_syntax, pubkey_der_syntax, bodyhash_mismatch, signature_incorrect, or ''. */
  readonly reason: string;
}

/** Stable machine-readable causes; `reason` carries the human text. */
export type DkimCode =
  | 'ok'
  | 'syntax' // tag-list or a tag value malformed
  | 'version' // v= is not 1
  | 'missing_tag'
  | 'algorithm' // a= unknown
  | 'canonicalization'
  | 'query_method'
  | 'from_not_signed'
  | 'identity_mismatch' // i= not within d=
  | 'timestamps' // x= not after t=
  | 'expired'
  | 'future'
  | 'hash_not_accepted'
  | 'keytype_not_accepted'
  | 'not_evaluated'
  | 'no_body_hash'
  | 'body_length' // l= beyond the canonical body
  | 'bodyhash_mismatch'
  | 'signature_incorrect'
  | 'key_unavailable'
  | 'key_temperror'
  | 'key_syntax'
  | 'key_der'
  | 'key_revoked'
  | 'key_type'
  | 'key_hash'
  | 'key_service'
  | 'key_strict'
  | 'key_too_small'
  | 'key_too_large';

/** The outcome for one DKIM-Signature field. Fields are present as far as the signature could be read. */
export interface DkimResult {
  readonly status: DkimStatus;
  readonly code: DkimCode;
  readonly reason: string;
  /** Index of the signature's field in the header list given to verifyMessage. */
  readonly fieldIndex: number;
  /** d= (lower case, A-labels). */
  readonly domain?: string;
  /** s= */
  readonly selector?: string;
  /** a= as written (lower case). */
  readonly algorithm?: string;
  readonly keyType?: KeyType;
  readonly hash?: DkimHash;
  /** sha1 signatures are weak (RFC 8301); policy may reject them even when they pass. */
  readonly weak?: boolean;
  /** Bits of the key (RSA modulus; 256 for ed25519), once the key was read. */
  readonly keyLength?: number;
  readonly canonHeaders?: Canon;
  readonly canonBody?: Canon;
  /** i= (decoded), or "@" + d= when absent. */
  readonly identity?: string;
  /** l= */
  readonly bodyLength?: number;
  /** l= was given and the canonical body has more octets than it: content nobody signed. */
  readonly unsignedTrailingContent?: boolean;
  /** h= as written, in order (names as the signer spelt them). */
  readonly headersSigned?: readonly string[];
  /** t= and x=, seconds since the epoch. */
  readonly timestamp?: number;
  readonly expiration?: number;
  /** The key record says t=y: the domain is testing DKIM. */
  readonly testing?: boolean;
  /** b= with whitespace removed (header.b in Authentication-Results uses its start). */
  readonly b?: string;
  readonly exim: EximDkimStatus;
}

export interface DkimVerification {
  /** One result per DKIM-Signature field evaluated, top to bottom. Empty: the message is unsigned (none). */
  readonly signatures: readonly DkimResult[];
  /** DKIM-Signature fields beyond the evaluation limit, not looked at. */
  readonly skipped: number;
}

/** Exim's view of an RFC 8601 result. */
export function eximStatus(status: DkimStatus, code: DkimCode): EximDkimStatus {
  if (status === 'pass') return { status: 'pass', reason: '' };
  if (code === 'bodyhash_mismatch') return { status: 'fail', reason: 'bodyhash_mismatch' };
  if (code === 'signature_incorrect') return { status: 'fail', reason: 'signature_incorrect' };
  if (status === 'fail' || status === 'policy') return { status: 'fail', reason: '' };
  switch (code) {
    case 'key_unavailable':
    case 'key_temperror':
    case 'key_revoked':
      return { status: 'invalid', reason: 'pubkey_unavailable' };
    case 'key_der':
    case 'key_type':
      return { status: 'invalid', reason: 'pubkey_der_syntax' };
    case 'key_syntax':
    case 'key_hash':
    case 'key_service':
      return { status: 'invalid', reason: 'pubkey_dns_syntax' };
    default:
      return { status: 'invalid', reason: '' };
  }
}
