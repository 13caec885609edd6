// DKIM signing (RFC 6376 sections 3.5, 5 and 5.4.1, RFC 8463, RFC 8301): the DKIM-Signature field, split so that
// the private-key operation can run elsewhere (prepareSignature -> signInput -> finishSignature).
import { createHash, createPrivateKey, KeyObject, sign as cryptoSign } from 'node:crypto';
import { FieldIndex, headerHashInput, toField } from './fields.js';
import { MIN_RSA_BITS } from './key.js';
import { asciiLower, encodeQuotedPrintable, normalizeDomain, normalizeSelector } from './tags.js';
import type { BodyHashResult, Canon, RawField, SigningAlgorithm } from './types.js';

/**
 * Fields signed when present (RFC 6376 section 5.4.1's list, with the MIME fields and Message-ID added).
 * Received, Return-Path and trace fields are left out: they change in transit.
 */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  'from', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'to', 'cc',
  'mime-version', 'content-type', 'content-transfer-encoding', 'content-id', 'content-description',
  'resent-date', 'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-message-id',
  'in-reply-to', 'references',
  'list-id', 'list-help', 'list-unsubscribe', 'list-unsubscribe-post', 'list-subscribe', 'list-post', 'list-owner', 'list-archive',
];

/** Oversigned by default: one From more than present, so that a second From cannot be added (section 8.15). */
export const DEFAULT_OVERSIGNED: readonly string[] = ['from'];

export interface SignOptions {
  /** d= */
  readonly domain: string;
  /** s= */
  readonly selector: string;
  readonly algorithm: SigningAlgorithm;
  /** c=, default relaxed/relaxed. */
  readonly canon?: `${Canon}/${Canon}`;
  /** i=: "local@domain" or "@domain", domain equal to d= or below it. Written only when given. */
  readonly identity?: string;
  /** Names signed as many times as present. Default DEFAULT_SIGNED_HEADERS. */
  readonly headers?: readonly string[];
  /** Names listed once more than present (absent ones once): true = all of `headers`. Default DEFAULT_OVERSIGNED. */
  readonly oversign?: boolean | readonly string[];
  /** An exact h= list, used as it is instead of `headers` and `oversign` (must name From). */
  readonly headerList?: readonly string[];
  /** Milliseconds since the epoch, for t= and x=. */
  readonly now?: number;
  /** Write t= (needs `now`). Default true when `now` is given. */
  readonly timestamp?: boolean;
  /** Write x= this many seconds after `now`. */
  readonly expiresIn?: number;
  /** Write q=dns/txt (the default query method; some signers spell it out). Default false. */
  readonly queryMethod?: boolean;
  /** Write h= as "from : to : subject" (the RFC examples' style) rather than "from:to:subject". Default false. */
  readonly spacedHeaderList?: boolean;
}

/** The signing input and everything needed to finish the field; plain data (structured-cloneable). */
export interface PreparedSignature {
  readonly algorithm: SigningAlgorithm;
  /**
   * The octets to give signInput: for rsa-sha256 the header hash input (RSA-SHA256 hashes it), for ed25519-sha256
   * its SHA-256 (what Ed25519 signs, RFC 8463 section 3).
   */
  readonly input: Buffer;
  /** The whole DKIM-Signature field up to and including "b=". */
  readonly template: string;
}

export type SignError = { kind: 'error'; code: 'DKIM_SIGN_OPTIONS' | 'DKIM_SIGN_KEY'; reason: string };
export type PrepareResult = { kind: 'ok'; prepared: PreparedSignature; header: (signature: string) => string } | SignError;
export type SignResult = { kind: 'ok'; header: string; algorithm: SigningAlgorithm } | SignError;

const LINE = 78;

function optionError(reason: string): SignError {
  return { kind: 'error', code: 'DKIM_SIGN_OPTIONS', reason };
}

/** The h= list for a message: present fields once each, then the oversigned names once more. */
function chooseHeaders(index: FieldIndex, opts: SignOptions): string[] {
  if (opts.headerList) return [...opts.headerList];
  const names = opts.headers ?? DEFAULT_SIGNED_HEADERS;
  const list: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const lower = asciiLower(name);
    if (seen.has(lower)) continue;
    seen.add(lower);
    for (let i = index.count(lower); i > 0; i--) list.push(name);
  }
  const over = opts.oversign === undefined ? DEFAULT_OVERSIGNED : opts.oversign === true ? names : opts.oversign === false ? [] : opts.oversign;
  const overSeen = new Set<string>();
  for (const name of over) {
    const lower = asciiLower(name);
    if (overSeen.has(lower)) continue;
    overSeen.add(lower);
    list.push(name);
  }
  return list;
}

/** Lays tag pieces out on lines of at most 78 octets; `glued` pieces follow the previous one without a space. */
function layout(pieces: readonly { text: string; glued: boolean }[]): string[] {
  const lines: string[] = [];
  let line = 'DKIM-Signature:';
  for (const { text, glued } of pieces) {
    const sep = glued ? '' : ' ';
    if (line.length + sep.length + text.length > LINE && line.trim() !== '') {
      lines.push(line);
      line = ` ${text}`;
    } else {
      line += sep + text;
    }
  }
  lines.push(line);
  return lines;
}

/** The field up to "b=" for the given tags. */
function buildTemplate(tags: readonly [string, string][], headerList: readonly string[], spaced: boolean): string {
  const pieces: { text: string; glued: boolean }[] = [];
  for (const [name, value] of tags) {
    if (name !== 'h') {
      pieces.push({ text: `${name}=${value};`, glued: false });
      continue;
    }
    headerList.forEach((h, i) => {
      const last = i === headerList.length - 1;
      const text = `${i === 0 ? 'h=' : ''}${h}${last ? ';' : spaced ? ' :' : ':'}`;
      pieces.push({ text, glued: i > 0 && !spaced });
    });
  }
  pieces.push({ text: 'b=', glued: false });
  return layout(pieces).join('\r\n');
}

/** Appends the base64 signature to a template, folded to the line length (the fold is inside b=, so unsigned). */
export function finishSignature(template: string, signature: string): string {
  const lastLine = template.slice(template.lastIndexOf('\n') + 1);
  let room = Math.max(LINE - lastLine.length, 8);
  let out = template;
  let rest = signature;
  while (rest.length > 0) {
    out += rest.slice(0, room);
    rest = rest.slice(room);
    if (rest.length > 0) {
      out += '\r\n ';
      room = LINE - 1;
    }
  }
  return out;
}

/**
 * Builds the DKIM-Signature field for a message without touching the private key: the caller signs `input`
 * (signInput, possibly in a worker) and passes the base64 result to `header` (or to finishSignature with the
 * template). `bodyHash` must be a relaxed-or-simple sha256 hash matching c=; its limit, if any, becomes l=.
 */
export function prepareSignature(headers: readonly RawField[], bodyHash: BodyHashResult, opts: SignOptions): PrepareResult {
  const domain = normalizeDomain(opts.domain);
  if (!domain) return optionError(`invalid signing domain ${JSON.stringify(opts.domain)}`);
  const selector = normalizeSelector(opts.selector);
  if (!selector) return optionError(`invalid selector ${JSON.stringify(opts.selector)}`);
  if (opts.algorithm !== 'rsa-sha256' && opts.algorithm !== 'ed25519-sha256') return optionError(`cannot sign with ${String(opts.algorithm)}`);
  const canon = opts.canon ?? 'relaxed/relaxed';
  const [headCanon, bodyCanon] = canon.split('/') as [Canon, Canon];
  if (!['simple', 'relaxed'].includes(headCanon) || !['simple', 'relaxed'].includes(bodyCanon)) return optionError(`invalid canonicalization ${canon}`);
  if (bodyHash.canon !== bodyCanon || bodyHash.hash !== 'sha256') {
    return optionError(`body hash is ${bodyHash.canon}/${bodyHash.hash}, the signature needs ${bodyCanon}/sha256`);
  }

  const index = new FieldIndex(headers.map(toField));
  const headerList = chooseHeaders(index, opts);
  if (!headerList.some((h) => asciiLower(h) === 'from')) return optionError('h= must include From');
  if (opts.headerList === undefined && index.count('from') === 0) return optionError('the message has no From field');
  if (headerList.some((h) => !/^[\x21-\x39\x3b-\x7e]+$/.test(h))) return optionError('invalid field name in the header list');

  const tags: [string, string][] = [['v', '1'], ['a', opts.algorithm], ['c', canon], ['d', domain]];
  if (opts.identity !== undefined) {
    const at = opts.identity.lastIndexOf('@');
    const idDomain = at < 0 ? null : normalizeDomain(opts.identity.slice(at + 1));
    if (!idDomain || (idDomain !== domain && !idDomain.endsWith(`.${domain}`))) {
      return optionError(`identity ${JSON.stringify(opts.identity)} is not within ${domain}`);
    }
    tags.push(['i', encodeQuotedPrintable(opts.identity.slice(0, at)) + '@' + idDomain]);
  }
  if (opts.queryMethod) tags.push(['q', 'dns/txt']);
  tags.push(['s', selector]);
  const wantTime = opts.timestamp ?? opts.now !== undefined;
  if ((wantTime || opts.expiresIn !== undefined) && (opts.now === undefined || !Number.isFinite(opts.now))) {
    return optionError('t= and x= need the current time (now)');
  }
  const seconds = Math.floor((opts.now ?? 0) / 1000);
  if (wantTime) tags.push(['t', String(seconds)]);
  if (opts.expiresIn !== undefined) {
    if (!Number.isSafeInteger(opts.expiresIn) || opts.expiresIn <= 0) return optionError('expiresIn must be a positive number of seconds');
    tags.push(['x', String(seconds + opts.expiresIn)]);
  }
  if (bodyHash.limit !== undefined) tags.push(['l', String(bodyHash.hashedLength)]);
  tags.push(['h', '']);
  tags.push(['bh', bodyHash.bh]);

  const template = buildTemplate(tags, headerList, opts.spacedHeaderList ?? false);
  const data = headerHashInput(index, index.select(headerList), template, headCanon);
  const input = opts.algorithm === 'ed25519-sha256' ? createHash('sha256').update(data).digest() : data;
  const prepared: PreparedSignature = { algorithm: opts.algorithm, input, template };
  return { kind: 'ok', prepared, header: (signature) => finishSignature(template, signature) };
}

/** The private-key step: signs a prepared input, returning base64. Deterministic for both algorithms. */
export function signInput(algorithm: SigningAlgorithm, input: Uint8Array, key: KeyObject): string {
  const data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return cryptoSign(algorithm === 'ed25519-sha256' ? null : 'sha256', data, key).toString('base64');
}

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410), before the 32-octet seed. */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A private key from PEM (PKCS#1, PKCS#8), a KeyObject, or the bare base64 Ed25519 seed RFC 8463 publishes.
 * RSA keys under 1024 bits are refused (RFC 8301).
 */
export function loadPrivateKey(key: string | Buffer | KeyObject): { kind: 'ok'; key: KeyObject; algorithm: SigningAlgorithm } | SignError {
  let obj: KeyObject;
  try {
    if (key instanceof KeyObject) obj = key;
    else {
      const text = Buffer.isBuffer(key) ? key.toString('latin1') : key;
      const seed = /^\s*[A-Za-z0-9+/]{43}=\s*$/.test(text) ? Buffer.from(text.trim(), 'base64') : null;
      obj = seed && seed.length === 32
        ? createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' })
        : createPrivateKey(key);
    }
  } catch (err) {
    return { kind: 'error', code: 'DKIM_SIGN_KEY', reason: `cannot read the private key: ${(err as Error).message}` };
  }
  if (obj.type !== 'private') return { kind: 'error', code: 'DKIM_SIGN_KEY', reason: 'not a private key' };
  if (obj.asymmetricKeyType === 'ed25519') return { kind: 'ok', key: obj, algorithm: 'ed25519-sha256' };
  if (obj.asymmetricKeyType === 'rsa') {
    const bits = obj.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return { kind: 'error', code: 'DKIM_SIGN_KEY', reason: `RSA key of ${bits} bits is below ${MIN_RSA_BITS}` };
    return { kind: 'ok', key: obj, algorithm: 'rsa-sha256' };
  }
  return { kind: 'error', code: 'DKIM_SIGN_KEY', reason: `unsupported key type ${String(obj.asymmetricKeyType)}` };
}

/** Signs in one step: prepareSignature, then signInput with the key. The algorithm follows the key. */
export function signMessage(
  headers: readonly RawField[],
  bodyHash: BodyHashResult,
  opts: Omit<SignOptions, 'algorithm'> & { readonly privateKey: string | Buffer | KeyObject; readonly algorithm?: SigningAlgorithm },
): SignResult {
  const loaded = loadPrivateKey(opts.privateKey);
  if (loaded.kind === 'error') return loaded;
  if (opts.algorithm !== undefined && opts.algorithm !== loaded.algorithm) {
    return optionError(`algorithm ${opts.algorithm} does not match the ${loaded.key.asymmetricKeyType} key`);
  }
  const prepared = prepareSignature(headers, bodyHash, { ...opts, algorithm: loaded.algorithm });
  if (prepared.kind === 'error') return prepared;
  const signature = signInput(loaded.algorithm, prepared.prepared.input, loaded.key);
  return { kind: 'ok', header: prepared.header(signature), algorithm: loaded.algorithm };
}
