// ARC chain validation (RFC 8617 section 5.2): structure, the newest ARC-Message-Signature, every ARC-Seal from
// the newest down, and the oldest AMS that still verifies; body hashes come from the same streaming hashers as DKIM.
import {
  bodyHashKey,
  fetchKey,
  FieldIndex,
  hashBody,
  headerHashInput,
  keyRefusal,
  MIN_RSA_BITS,
  relaxedField,
  splitHeaderFields,
  splitMessage,
  stripSignatureValue,
  toField,
  verifySignatureValue,
} from '../dkim/index.js';
import type { BodyHashResult, BodyHashSpec, DkimKey, DkimPorts, Field, KeyFetch, RawField } from '../dkim/index.js';
import { checkChain, collect } from './chain.js';
import type { ArcSet } from './chain.js';
import { bodySpec, readSeal, readSignature } from './signature.js';
import type { ArcMessageSignature, ArcSeal } from './signature.js';
import type { ArcCode, ArcSetInfo, ArcValidateOptions, ArcValidation } from './types.js';

export interface ArcBodyHashOptions {
  /** Distinct body hashes asked for, newest AMS first (older ones only feed oldestPass). Default 4. */
  readonly maxBodyHashes?: number;
}

/**
 * The body hashes the chain's ARC-Message-Signatures need, known once the header section has been read: the
 * newest AMS's first, then the older ones' (for oldestPass), at most maxBodyHashes distinct specs. Merge them
 * with protocol/dkim's bodyHashSpecs into one BodyHashSet (equal specs share a hasher), feed it the body, and pass
 * its digest to both verifyMessage and validateChain.
 */
export function arcBodyHashSpecs(headers: readonly RawField[], opts: ArcBodyHashOptions = {}): BodyHashSpec[] {
  const max = opts.maxBodyHashes ?? 4;
  const c = collect(headers.map(toField));
  const specs = new Map<string, BodyHashSpec>();
  for (let n = c.highest; n >= 1 && specs.size < max; n--) {
    const list = c.slots.get(n)?.signature;
    const tags = list?.length === 1 ? list[0]?.tags : null;
    if (!tags) continue;
    const sig = readSignature(tags, n);
    if (sig.kind !== 'ok') continue;
    const spec = bodySpec(sig.value);
    specs.set(bodyHashKey(spec), spec);
  }
  return [...specs.values()];
}

type Check = { ok: true } | { ok: false; code: ArcCode; reason: string };

const OK: Check = { ok: true };

function bad(code: ArcCode, reason: string): Check {
  return { ok: false, code, reason };
}

/** One validation: the message's fields, body hashes and a key cache (one DNS lookup per key name). */
class Validator {
  readonly #fields: readonly Field[];
  readonly #index: FieldIndex;
  readonly #hashes: ReadonlyMap<string, BodyHashResult>;
  readonly #ports: DkimPorts;
  readonly #minRsaBits: number;
  readonly #keys = new Map<string, Promise<KeyFetch>>();

  constructor(fields: readonly Field[], bodyHashes: readonly BodyHashResult[], ports: DkimPorts, minRsaBits: number) {
    this.#fields = fields;
    this.#index = new FieldIndex(fields);
    this.#hashes = new Map(bodyHashes.map((h) => [bodyHashKey(h), h]));
    this.#ports = ports;
    this.#minRsaBits = minRsaBits;
  }

  /** The key for d= and s=, refused when it cannot serve this signature. All failures are permanent (5.2.1). */
  async #key(sig: ArcMessageSignature | ArcSeal, what: string): Promise<{ ok: true; key: DkimKey } | Extract<Check, { ok: false }>> {
    const name = `${sig.selector}._domainkey.${sig.domain}`;
    let pending = this.#keys.get(name);
    if (!pending) {
      pending = fetchKey(this.#ports.dns, name, this.#ports.keyCache);
      this.#keys.set(name, pending);
    }
    const fetched = await pending;
    if (fetched.kind === 'error') return { ok: false, code: 'key', reason: `${what}: ${fetched.reason}` };
    const refusal = keyRefusal(fetched.key, { keyType: sig.keyType, hash: sig.hash, domain: sig.domain, identityDomain: sig.domain }, this.#minRsaBits);
    if (refusal) return { ok: false, code: 'key', reason: `${what}: ${refusal.reason}` };
    return { ok: true, key: fetched.key };
  }

  /** An ARC-Message-Signature as a DKIM signature: x=, body hash, key, header hash (RFC 6376 section 6.1). */
  async signature(set: ArcSet): Promise<Check> {
    const what = `ARC-Message-Signature i=${set.instance}`;
    const tags = set.signature.tags;
    if (!tags) return bad('signature_syntax', `${what}: ${set.signature.tagError ?? 'unreadable'}`);
    const read = readSignature(tags, set.instance);
    if (read.kind === 'error') return bad('signature_syntax', read.reason);
    const sig = read.value;
    if (sig.expiration !== undefined && sig.expiration < Math.floor(this.#ports.now() / 1000)) {
      return bad('expired', `${what} expired at ${sig.expiration}`);
    }
    const body = this.#hashes.get(bodyHashKey(bodySpec(sig)));
    if (!body) return bad('no_body_hash', `${what}: its body hash was not computed (see arcBodyHashSpecs)`);
    if (sig.bodyLength !== undefined && sig.bodyLength > body.canonicalLength) {
      return bad('body_length', `${what}: l=${sig.bodyLength} exceeds the body (${body.canonicalLength} octets)`);
    }
    if (!Buffer.from(body.bh, 'base64').equals(sig.bodyHash)) return bad('bodyhash_mismatch', `${what}: body hash did not verify`);
    const key = await this.#key(sig, what);
    if (!key.ok) return key;
    const field = set.signature.field;
    const input = headerHashInput(this.#index, this.#index.select(sig.headers, set.signature.index), field.raw, sig.canonHeaders);
    if (!verifySignatureValue(sig, input, key.key)) return bad('signature_incorrect', `${what}: signature did not verify`);
    return OK;
  }

  /**
   * An ARC-Seal over the sets 1..k in instance order, AAR then AMS then AS, relaxed, the seal itself last with its
   * b= value removed and no final CRLF (section 5.1.1).
   */
  async seal(sets: readonly ArcSet[], k: number): Promise<Check> {
    const set = sets[k - 1] as ArcSet;
    const what = `ARC-Seal i=${k}`;
    const read = readSeal(set.seal.tags ?? new Map(), k);
    if (read.kind === 'error') return bad('seal_syntax', read.reason);
    const key = await this.#key(read.value, what);
    if (!key.ok) return key;
    if (!verifySignatureValue(read.value, this.#sealInput(sets, k), key.key)) return bad('seal_incorrect', `${what}: signature did not verify`);
    return OK;
  }

  #sealInput(sets: readonly ArcSet[], k: number): Buffer {
    const parts: string[] = [];
    for (let j = 0; j < k; j++) {
      const s = sets[j] as ArcSet;
      parts.push(this.#index.canonical(s.results.index, 'relaxed'), '\r\n', this.#index.canonical(s.signature.index, 'relaxed'), '\r\n');
      if (j < k - 1) parts.push(this.#index.canonical(s.seal.index, 'relaxed'), '\r\n');
      else parts.push(relaxedField(stripSignatureValue((this.#fields[s.seal.index] as Field).raw)));
    }
    return Buffer.from(parts.join(''), 'latin1');
  }
}

/** A failure found after the structure checked out: every set is known, so domains and sets are complete. */
function failed(code: ArcCode, reason: string, sets: readonly ArcSetInfo[], failedInstance: number): ArcValidation {
  return { state: 'fail', code, reason, instances: sets.length, domains: sets.map((s) => s.sealDomain ?? ''), sets, failedInstance };
}

/**
 * Validates the Authenticated Received Chain of a message (RFC 8617 section 5.2). `headers` are the message's
 * fields, raw and in order; `bodyHashes` the finished hashes for the specs arcBodyHashSpecs named. Only the
 * newest AMS's x= consults the clock. Work is bounded: at most 150 ARC fields are looked at, one DNS lookup per
 * key name, at most 2N public-key operations for N sets (N seals, N signatures: the newest, then older ones for
 * oldestPass until one fails).
 */
export async function validateChain(
  headers: readonly RawField[],
  bodyHashes: readonly BodyHashResult[],
  ports: DkimPorts,
  opts: ArcValidateOptions = {},
): Promise<ArcValidation> {
  const fields = headers.map(toField);
  const check = checkChain(fields);
  if (check.kind === 'none') return { state: 'none', code: 'no_chain', reason: 'no ARC header fields', instances: 0, domains: [], sets: [] };
  if (check.kind === 'fail') {
    const base = { state: 'fail' as const, code: check.code, reason: check.reason, instances: check.highest, domains: check.sets.map((s) => s.sealDomain ?? ''), sets: check.sets };
    return check.failedInstance === undefined ? base : { ...base, failedInstance: check.failedInstance };
  }
  const { sets, info } = check;
  const n = sets.length;
  const v = new Validator(fields, bodyHashes, ports, opts.minRsaBits ?? MIN_RSA_BITS);

  const newest = await v.signature(sets[n - 1] as ArcSet);
  if (!newest.ok) return failed(newest.code, newest.reason, info, n);
  for (let k = n; k >= 1; k--) {
    const seal = await v.seal(sets, k);
    if (!seal.ok) return failed(seal.code, seal.reason, info, k);
  }
  // Step 5 (optional in the RFC, done here: Exim's $arc_oldest_pass): older AMSes, newest first, until one fails.
  let oldestPass = n;
  for (let k = n - 1; k >= 1; k--) {
    if (!(await v.signature(sets[k - 1] as ArcSet)).ok) break;
    oldestPass = k;
  }
  return {
    state: 'pass',
    code: 'ok',
    reason: `${n} ARC set${n === 1 ? '' : 's'} verified`,
    instances: n,
    domains: info.map((s) => s.sealDomain ?? ''),
    sets: info,
    oldestPass,
  };
}

/**
 * Validates a whole message held in memory (tests, the command line). The daemon hashes the body while it
 * streams in (arcBodyHashSpecs with DKIM's specs in one BodyHashSet) and calls validateChain.
 */
export async function validateWholeMessage(message: Buffer, ports: DkimPorts, opts: ArcValidateOptions = {}): Promise<ArcValidation> {
  const { header, body } = splitMessage(message);
  const headers = splitHeaderFields(header);
  return validateChain(headers, hashBody(body, arcBodyHashSpecs(headers)), ports, opts);
}
