// ARC sealing (RFC 8617 section 5.1): the AAR, AMS and AS of a new ARC Set, split so that the private-key
// operations can run elsewhere (prepareSeal -> signSeal, or signInput / sealInput / finishSeal step by step).
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  asciiLower,
  DEFAULT_SIGNED_HEADERS,
  FieldIndex,
  finishSignature,
  headerHashInput,
  loadPrivateKey,
  normalizeDomain,
  normalizeSelector,
  relaxedField,
  signInput,
  toField,
} from '../dkim/index.js';
import type { BodyHashResult, RawField, SigningAlgorithm } from '../dkim/index.js';
import { encodeValue } from '../authres/index.js';
import { arcStateIn, buildResultsField, ourResults } from './aar.js';
import { checkChain, collect, MAX_ARC_FIELDS } from './chain.js';
import { layoutTags } from './layout.js';
import type { Tag } from './layout.js';
import { MAX_INSTANCE } from './types.js';
import type { ArcState, ChainStatus } from './types.js';

/** Never in an AMS's h= (section 4.1.2): ARC's own fields, and Authentication-Results, which receivers remove. */
const NEVER_SIGNED = new Set(['arc-seal', 'arc-message-signature', 'arc-authentication-results', 'authentication-results']);

/** Signed when present: DKIM's list plus DKIM-Signature, which the AMS SHOULD cover (section 4.1.2). */
export const ARC_SIGNED_HEADERS: readonly string[] = [...DEFAULT_SIGNED_HEADERS, 'dkim-signature'];

export interface SealOptions {
  /** The authserv-id of our ADMD: whose Authentication-Results become the AAR. */
  readonly authservId: string;
  /** d= and s= of both the AMS and the AS. */
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: SigningAlgorithm;
  /**
   * Our validation of the arriving chain (validateChain's state). Default: the arc= result among our
   * Authentication-Results, or none when the message has no ARC field.
   */
  readonly chainState?: ArcState;
  /** Names signed as many times as present. Default ARC_SIGNED_HEADERS. */
  readonly headers?: readonly string[];
  /** An exact h= list, used as it is (ARC fields and Authentication-Results are refused). */
  readonly headerList?: readonly string[];
  /** Milliseconds since the epoch; needed for t= and x=. */
  readonly now?: number;
  /** Write t= on the AMS and the AS (Exim's "timestamps"). Default false. */
  readonly timestamps?: boolean;
  /** Write x= on the AMS, this many seconds after now (Exim's "expire=+N"). */
  readonly expiresIn?: number;
  /** Write x= on the AMS at this time, seconds since the epoch (Exim's "expire=N"). */
  readonly expiresAt?: number;
  /**
   * folded (default): i= first as the ABNF has it, lines of 78 octets, b= last and folded. sorted: the
   * suite's normalization (tags in alphabetical order, one line, "; " between tags), for byte-exact tests.
   */
  readonly layout?: 'folded' | 'sorted';
}

/** Exim's default for "expire" without a value: one month. */
export const DEFAULT_EXPIRE_SECONDS = 30 * 24 * 3600;

/** Everything needed to finish the set; plain data (structured-cloneable), so it can go to a worker. */
export interface PreparedSeal {
  readonly algorithm: SigningAlgorithm;
  readonly instance: number;
  readonly cv: ChainStatus;
  /** The ARC-Authentication-Results field, finished (UTF-8 text, no final CRLF). */
  readonly results: string;
  /** The AMS: sign `input` (signInput); the field is head + signature + tail (folded in the folded layout). */
  readonly signature: { readonly input: Uint8Array; readonly head: string; readonly tail: string };
  /** The AS: its input is `prefix` (octets as latin1) + the finished AMS + itself, made by sealInput. */
  readonly seal: { readonly head: string; readonly tail: string; readonly prefix: string };
  readonly fold: boolean;
}

/** A finished ARC Set. Prepend `headers` in this order (ARC-Seal on top); none ends with CRLF. */
export interface SealedSet {
  readonly instance: number;
  readonly cv: ChainStatus;
  readonly seal: string;
  readonly signature: string;
  readonly results: string;
  readonly headers: readonly [string, string, string];
}

/** No set is added, by the RFC's rules or for want of data; log the reason and send the message as it is. */
export type SealSkip = {
  readonly kind: 'skip';
  readonly code: 'ARC_SEAL_CHAIN_FAILED' | 'ARC_SEAL_LIMIT' | 'ARC_SEAL_NO_AUTHRES' | 'ARC_SEAL_NO_STATE' | 'ARC_SEAL_BROKEN';
  readonly reason: string;
};
export type SealError = { readonly kind: 'error'; readonly code: 'ARC_SEAL_OPTIONS' | 'ARC_SEAL_KEY'; readonly reason: string };
export type SealPrepareResult = { readonly kind: 'ok'; readonly prepared: PreparedSeal } | SealSkip | SealError;
export type SealResult = { readonly kind: 'ok'; readonly set: SealedSet } | SealSkip | SealError;

function skip(code: SealSkip['code'], reason: string): SealSkip {
  return { kind: 'skip', code, reason };
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function optionError(reason: string): SealError {
  return { kind: 'error', code: 'ARC_SEAL_OPTIONS', reason };
}

/** The h= list: present fields once per instance, in the order of `names`; never ARC fields or A-R. */
function chooseHeaders(index: FieldIndex, opts: SealOptions): string[] | SealError {
  if (opts.headerList) {
    if (opts.headerList.some((h) => NEVER_SIGNED.has(asciiLower(h)))) return optionError('the AMS may not sign ARC fields or Authentication-Results');
    if (opts.headerList.some((h) => !/^[\x21-\x39\x3b-\x7e]+$/.test(h))) return optionError('invalid field name in the header list');
    return [...opts.headerList];
  }
  const list: string[] = [];
  const seen = new Set<string>();
  for (const name of opts.headers ?? ARC_SIGNED_HEADERS) {
    const lower = asciiLower(name);
    if (seen.has(lower) || NEVER_SIGNED.has(lower)) continue;
    seen.add(lower);
    for (let i = index.count(lower); i > 0; i--) list.push(lower);
  }
  return list;
}

/** t= and x= (seconds), as the options ask. */
function times(opts: SealOptions): { t?: number; x?: number } | SealError {
  const wantNow = opts.timestamps === true || opts.expiresIn !== undefined;
  if (wantNow && (opts.now === undefined || !Number.isFinite(opts.now))) return optionError('t= and expiresIn need the current time (now)');
  const now = Math.floor((opts.now ?? 0) / 1000);
  const out: { t?: number; x?: number } = {};
  if (opts.timestamps) out.t = now;
  if (opts.expiresIn !== undefined) {
    if (!Number.isSafeInteger(opts.expiresIn) || opts.expiresIn <= 0) return optionError('expiresIn must be a positive number of seconds');
    out.x = now + opts.expiresIn;
  }
  if (opts.expiresAt !== undefined) {
    if (!Number.isSafeInteger(opts.expiresAt) || opts.expiresAt <= 0) return optionError('expiresAt must be seconds since the epoch');
    out.x = opts.expiresAt;
  }
  if (out.x !== undefined && out.t !== undefined && out.x <= out.t) return optionError(`x=${out.x} must be after t=${out.t}`);
  return out;
}

/**
 * Builds the new ARC Set without touching the private key (RFC 8617 section 5.1). `headers` are the message's
 * fields as they will leave (DKIM signatures already added: step 1), `bodyHash` its relaxed/sha256 body hash.
 * Skips, with a reason, when the newest seal says cv=fail (step 2), when the chain already has 50 sets, when our
 * ADMD has no Authentication-Results, or when the chain state is unknown. A chain whose state is fail, or whose
 * structure is broken, gets cv=fail and a seal over the new set alone (section 5.1.2).
 */
export function prepareSeal(headers: readonly RawField[], bodyHash: BodyHashResult, opts: SealOptions): SealPrepareResult {
  const domain = normalizeDomain(opts.domain);
  if (!domain) return optionError(`invalid signing domain ${JSON.stringify(opts.domain)}`);
  const selector = normalizeSelector(opts.selector);
  if (!selector) return optionError(`invalid selector ${JSON.stringify(opts.selector)}`);
  if (opts.algorithm !== 'rsa-sha256' && opts.algorithm !== 'ed25519-sha256') return optionError(`cannot seal with ${String(opts.algorithm)}`);
  if (opts.authservId.trim() === '' || hasControl(opts.authservId)) return optionError(`invalid authserv-id ${JSON.stringify(opts.authservId)}`);
  if (bodyHash.canon !== 'relaxed' || bodyHash.hash !== 'sha256' || bodyHash.limit !== undefined) {
    return optionError('the AMS needs the relaxed/sha256 hash of the whole body');
  }
  const time = times(opts);
  if ('kind' in time) return time;

  const fields = headers.map(toField);
  const chain = collect(fields);
  if (chain.count > MAX_ARC_FIELDS) return skip('ARC_SEAL_LIMIT', `${chain.count} ARC header fields: no room for another set`);
  if (chain.count > 0 && chain.highest === 0) return skip('ARC_SEAL_BROKEN', 'ARC header fields without a usable instance: no number for a new set');
  const top = chain.slots.get(chain.highest)?.seal ?? [];
  if (top.some((f) => asciiLower(f.tags?.get('cv') ?? '') === 'fail')) {
    return skip('ARC_SEAL_CHAIN_FAILED', `the newest ARC-Seal (i=${chain.highest}) says cv=fail: the chain has ended`);
  }
  const instance = chain.highest + 1;
  if (instance > MAX_INSTANCE) return skip('ARC_SEAL_LIMIT', `the chain already has ${chain.highest} sets`);

  const ours = ourResults(fields, opts.authservId);
  if (ours.fields === 0) return skip('ARC_SEAL_NO_AUTHRES', `no Authentication-Results field for ${opts.authservId}`);
  const state = opts.chainState ?? arcStateIn(ours.results) ?? (instance === 1 ? 'none' : undefined);
  if (state === undefined) return skip('ARC_SEAL_NO_STATE', `the message has an ARC chain (i=${chain.highest}) and no arc= result says how it validated`);
  if (instance === 1 && state !== 'none') return optionError(`the message has no ARC chain, yet its state is ${state}`);
  if (instance > 1 && state === 'none') return skip('ARC_SEAL_NO_STATE', `the message has an ARC chain (i=${chain.highest}) but its state says none`);

  // A pass needs every earlier set, in order, for the seal's input; a chain that is not whole cannot pass.
  const check = state === 'pass' ? checkChain(fields) : null;
  const cv: ChainStatus = instance === 1 ? 'none' : check?.kind === 'ok' ? 'pass' : 'fail';
  let prefix = '';
  if (cv === 'pass' && check?.kind === 'ok') {
    for (const set of check.sets) {
      prefix += `${relaxedField(set.results.field.raw)}\r\n${relaxedField(set.signature.field.raw)}\r\n${relaxedField(set.seal.field.raw)}\r\n`;
    }
  }

  const results = buildResultsField(instance, encodeValue(opts.authservId.trim()), ours.results);
  prefix += `${relaxedField(results)}\r\n`;

  const index = new FieldIndex(fields);
  const headerList = chooseHeaders(index, opts);
  if ('kind' in headerList) return headerList;
  const fold = (opts.layout ?? 'folded') === 'folded';

  const amsTags: Tag[] = [['i', String(instance)], ['a', opts.algorithm], ['c', 'relaxed/relaxed'], ['d', domain], ['s', selector]];
  if (time.t !== undefined) amsTags.push(['t', String(time.t)]);
  if (time.x !== undefined) amsTags.push(['x', String(time.x)]);
  amsTags.push(['h', headerList.join(':')], ['bh', bodyHash.bh]);
  const ams = layoutTags('ARC-Message-Signature', amsTags, fold);
  const data = headerHashInput(index, index.select(headerList), ams.head + ams.tail, 'relaxed');

  const asTags: Tag[] = [['i', String(instance)], ['a', opts.algorithm], ['cv', cv], ['d', domain], ['s', selector]];
  if (time.t !== undefined) asTags.push(['t', String(time.t)]);
  const as = layoutTags('ARC-Seal', asTags, fold);

  const prepared: PreparedSeal = {
    algorithm: opts.algorithm,
    instance,
    cv,
    results: Buffer.from(results, 'latin1').toString('utf8'),
    signature: { input: signingInput(opts.algorithm, data), head: ams.head, tail: ams.tail },
    seal: { head: as.head, tail: as.tail, prefix },
    fold,
  };
  return { kind: 'ok', prepared };
}

/** What signInput signs: the data for RSA, its SHA-256 for Ed25519 (RFC 8463 section 3), as protocol/dkim does. */
function signingInput(algorithm: SigningAlgorithm, data: Buffer): Buffer {
  return algorithm === 'ed25519-sha256' ? createHash('sha256').update(data).digest() : data;
}

function finishField(t: { readonly head: string; readonly tail: string }, signature: string, fold: boolean): string {
  return fold ? finishSignature(t.head, signature) + t.tail : t.head + signature + t.tail;
}

/** The AS's signing input, once the AMS is signed (the seal covers the finished AMS). */
export function sealInput(prepared: PreparedSeal, signatureB64: string): Buffer {
  const ams = finishField(prepared.signature, signatureB64, prepared.fold);
  const text = `${prepared.seal.prefix}${relaxedField(ams)}\r\n${relaxedField(prepared.seal.head + prepared.seal.tail)}`;
  return signingInput(prepared.algorithm, Buffer.from(text, 'latin1'));
}

/** The three fields, from the two base64 signatures. */
export function finishSeal(prepared: PreparedSeal, signatureB64: string, sealB64: string): SealedSet {
  const signature = finishField(prepared.signature, signatureB64, prepared.fold);
  const seal = finishField(prepared.seal, sealB64, prepared.fold);
  return { instance: prepared.instance, cv: prepared.cv, seal, signature, results: prepared.results, headers: [seal, signature, prepared.results] };
}

/**
 * Both private-key operations in one call (one worker task): the AMS, then the AS over it. Pure and synchronous;
 * `key` as loadPrivateKey gives it.
 */
export function signSeal(prepared: PreparedSeal, key: KeyObject): SealedSet {
  const amsB64 = signInput(prepared.algorithm, prepared.signature.input, key);
  const asB64 = signInput(prepared.algorithm, sealInput(prepared, amsB64), key);
  return finishSeal(prepared, amsB64, asB64);
}

/** Seals in one step: prepareSeal, then signSeal with the key. The algorithm follows the key. */
export function sealMessage(
  headers: readonly RawField[],
  bodyHash: BodyHashResult,
  opts: Omit<SealOptions, 'algorithm'> & { readonly privateKey: string | Buffer | KeyObject; readonly algorithm?: SigningAlgorithm },
): SealResult {
  const loaded = loadPrivateKey(opts.privateKey);
  if (loaded.kind === 'error') return { kind: 'error', code: 'ARC_SEAL_KEY', reason: loaded.reason };
  if (opts.algorithm !== undefined && opts.algorithm !== loaded.algorithm) {
    return optionError(`algorithm ${opts.algorithm} does not match the ${String(loaded.key.asymmetricKeyType)} key`);
  }
  const prepared = prepareSeal(headers, bodyHash, { ...opts, algorithm: loaded.algorithm });
  if (prepared.kind !== 'ok') return prepared;
  return { kind: 'ok', set: signSeal(prepared.prepared, loaded.key) };
}
