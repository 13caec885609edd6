// The smtp transport's signing options (Exim's dkim_* and arc_sign, RFC 6376, RFC 8463, RFC 8617): checked
// and their private keys read at config load, so that a bad key is a ConfigError naming the key, not a
// surprise at the first delivery. A reload (SIGHUP) reads the keys again.
import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { parseTime } from './units.js';

/** A private key as read at load: its PEM (for the worker pool), the parsed key (for inline signing). */
export interface SigningKey {
  /** Where it came from: the file, or "(inline)". */
  readonly source: string;
  readonly pem: string;
  readonly object: KeyObject;
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** RSA modulus length; 256 for Ed25519. */
  readonly bits: number;
}

/** One entry of dkim_sign_headers: once ("name"), every instance ("=name"), every instance plus one ("+name"). */
export interface SignHeader {
  readonly name: string;
  readonly mode: 'once' | 'all' | 'over';
}

export type HeaderCanon = 'relaxed/relaxed' | 'relaxed/simple' | 'simple/relaxed' | 'simple/simple';

/** One DKIM-Signature to add to every outgoing message. */
export interface DkimSigner {
  readonly domain: string;
  readonly selector: string;
  readonly key: SigningKey;
  readonly canon: HeaderCanon;
  readonly identity?: string;
  readonly headers: readonly SignHeader[];
  /** dkim_timestamps in seconds: t= always, x= = t + this when above 0. Undefined: neither tag. */
  readonly timestamps?: number;
}

/** arc_sign: the ADMD (authserv-id of our Authentication-Results, and d= of the set), selector, key, options. */
export interface ArcSigner {
  readonly admd: string;
  readonly selector: string;
  readonly key: SigningKey;
  readonly timestamps: boolean;
  /** x= on the AMS: at a fixed time, or this many seconds after signing. */
  readonly expire?: { readonly at: number } | { readonly in: number };
}

export interface TransportSigning {
  readonly dkim: readonly DkimSigner[];
  /** dkim_strict: a failure to sign defers the message rather than sending it unsigned. */
  readonly strict: boolean;
  readonly arc?: ArcSigner;
}

/** The options as the schema gives them (before normalisation). */
export interface SigningInput {
  readonly dkim_domain?: string | readonly string[];
  readonly dkim_selector?: string | readonly string[];
  readonly dkim_private_key?: string | readonly string[];
  readonly dkim_canon: string;
  readonly dkim_hash: string;
  readonly dkim_identity?: string;
  readonly dkim_sign_headers?: string | readonly string[];
  readonly dkim_strict: boolean | string;
  readonly dkim_timestamps?: number | string;
  readonly arc_sign?: string;
}

/** Exim's default dkim_sign_headers (pdkim.h PDKIM_DEFAULT_SIGN_HEADERS, RFC 4871's list): each name once. */
export const EXIM_SIGN_HEADERS: readonly string[] = [
  'From', 'Sender', 'Reply-To', 'Subject', 'Date', 'Message-ID', 'To', 'Cc', 'MIME-Version', 'Content-Type',
  'Content-Transfer-Encoding', 'Content-ID', 'Content-Description', 'Resent-Date', 'Resent-From', 'Resent-Sender',
  'Resent-To', 'Resent-Cc', 'Resent-Message-ID', 'In-Reply-To', 'References', 'List-Id', 'List-Help',
  'List-Unsubscribe', 'List-Subscribe', 'List-Post', 'List-Owner', 'List-Archive',
];

/** Exim's macros for dkim_sign_headers: the default list, and its oversigning variant ("+" on every name). */
const MACROS: Readonly<Record<string, readonly string[]>> = {
  _DKIM_SIGN_HEADERS: EXIM_SIGN_HEADERS,
  _DKIM_OVERSIGN_HEADERS: EXIM_SIGN_HEADERS.map((h) => `+${h}`),
};

/** Exim's default x= offset for arc_sign's "expire" (ARC_SIGN_DEFAULT_EXPIRE_DELTA): 30 days. */
export const ARC_DEFAULT_EXPIRE = 30 * 24 * 3600;
const MIN_RSA_BITS = 1024;

/**
 * An Exim-style list: an array as it is, or a string split on ":" ("::" is a colon; "<X" first picks
 * separator X). A PEM text is one item.
 */
export function splitSigningList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v !== 'string') return v.map((x) => x.trim());
  const s = v.trim();
  if (s === '') return [];
  if (s.startsWith('-----BEGIN')) return [s];
  let sep = ':';
  let text = s;
  const m = /^<(\S)\s*/.exec(s);
  if (m) {
    sep = m[1] as string;
    text = s.slice(m[0].length);
  }
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === sep && text[i + 1] === sep) {
      cur += sep;
      i++;
    } else if (c === sep) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

const DOMAIN = /^(?=.{1,253}$)[\p{L}\p{N}_](?:[\p{L}\p{N}_-]*[\p{L}\p{N}_])?(?:\.[\p{L}\p{N}_](?:[\p{L}\p{N}_-]*[\p{L}\p{N}_])?)*$/u;
const SELECTOR = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** Reads and checks a private key: a file (relative to cwd) or the PEM text itself. */
function readKey(spec: string, cwd: string, key: string, problems: string[]): SigningKey | undefined {
  const inline = spec.startsWith('-----BEGIN');
  const source = inline ? '(inline)' : resolve(cwd, spec);
  let pem: string;
  try {
    pem = inline ? spec : readFileSync(source, 'utf8');
  } catch (e) {
    problems.push(`${key}: cannot read ${source}: ${(e as Error).message}`);
    return undefined;
  }
  let object: KeyObject;
  try {
    object = createPrivateKey(pem);
  } catch (e) {
    problems.push(`${key}: ${source} is not a PEM private key: ${(e as Error).message}`);
    return undefined;
  }
  const type = object.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ed25519') {
    problems.push(`${key}: ${source} is a ${String(type)} key; DKIM signs with rsa or ed25519 keys`);
    return undefined;
  }
  const bits = type === 'rsa' ? (object.asymmetricKeyDetails?.modulusLength ?? 0) : 256;
  if (type === 'rsa' && bits < MIN_RSA_BITS) {
    problems.push(`${key}: ${source} is an RSA key of ${bits} bits, below the ${MIN_RSA_BITS} RFC 8301 requires`);
    return undefined;
  }
  // OpenSSL signs with an inconsistent RSA key without a word (and the signatures fail at every receiver):
  // one signature, verified with the key's own public half, tells.
  const hash = type === 'rsa' ? 'sha256' : null;
  const probe = Buffer.from('petrel signing key check');
  try {
    if (!verify(hash, probe, createPublicKey(object), sign(hash, probe, object))) throw new Error('its signature does not verify with its own public key');
  } catch (e) {
    problems.push(`${key}: ${source} cannot sign: ${(e as Error).message}`);
    return undefined;
  }
  // PKCS#1 or PKCS#8 alike: the worker pool gets one canonical form.
  const canonical = object.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { source, pem: canonical, object, algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', bits };
}

function parseSignHeaders(v: string | readonly string[] | undefined, problems: string[]): SignHeader[] {
  const key = 'smtp_transport.dkim_sign_headers';
  if (v === undefined) return EXIM_SIGN_HEADERS.map((name) => ({ name, mode: 'once' }));
  const items = splitSigningList(v).flatMap((item) => MACROS[item] ?? [item]);
  const out: SignHeader[] = [];
  for (const item of items) {
    if (item === '') continue;
    const mode = item[0] === '=' ? 'all' : item[0] === '+' ? 'over' : 'once';
    const name = mode === 'once' ? item : item.slice(1).trim();
    if (!FIELD_NAME.test(name)) {
      problems.push(`${key}: "${item}" is not a header field name`);
      continue;
    }
    out.push({ name, mode });
  }
  if (!out.some((h) => h.name.toLowerCase() === 'from')) problems.push(`${key}: From must be signed (RFC 6376 section 5.4)`);
  return out;
}

function parseStrict(v: boolean | string): boolean {
  return v === true || v === 'true' || v === '1';
}

/** `arc_sign = <admd-id> : <selector> : <private key> [: <options>]` (Exim's experimental-spec). */
function parseArcSign(spec: string, cwd: string, problems: string[]): ArcSigner | undefined {
  const key = 'smtp_transport.arc_sign';
  // An inline PEM key has no colon in it (unencrypted PKCS#1 or PKCS#8), so the list splits as written.
  const parts = spec.trim().startsWith('-----BEGIN') ? [spec] : splitSigningList(spec);
  if (parts.length === 0 || parts.every((p) => p === '')) return undefined;
  const [admd = '', selector = '', keySpec = '', options = '', ...rest] = parts;
  if (rest.length > 0) problems.push(`${key}: expected "<admd-id> : <selector> : <private key> [: <options>]", got ${parts.length} elements`);
  if (!DOMAIN.test(admd)) problems.push(`${key}: admd-id "${admd}" is not a domain (it is both the authserv-id and d=)`);
  if (!SELECTOR.test(selector)) problems.push(`${key}: "${selector}" is not a selector`);
  if (keySpec === '') {
    problems.push(`${key}: no private key`);
    return undefined;
  }
  const signingKey = readKey(keySpec, cwd, key, problems);
  let timestamps = false;
  let expire: ArcSigner['expire'];
  for (const raw of options.split(',')) {
    const opt = raw.trim();
    if (opt === '') continue;
    if (opt === 'timestamps') timestamps = true;
    else if (opt === 'expire') expire = { in: ARC_DEFAULT_EXPIRE };
    else if (opt.startsWith('expire=+')) {
      const n = opt.slice('expire=+'.length);
      if (!/^\d*$/.test(n)) problems.push(`${key}: "${opt}": expected expire=+<seconds>`);
      // As Exim: an offset of 0 (or none) means the default month.
      else expire = { in: Number(n) > 0 ? Number(n) : ARC_DEFAULT_EXPIRE };
    } else if (opt.startsWith('expire=')) {
      const n = opt.slice('expire='.length);
      if (!/^\d+$/.test(n) || Number(n) <= 0) problems.push(`${key}: "${opt}": expected expire=<seconds since the epoch>`);
      else expire = { at: Number(n) };
    } else problems.push(`${key}: unknown option "${opt}" (known: timestamps, expire, expire=<time>, expire=+<seconds>)`);
  }
  if (!signingKey) return undefined;
  return { admd: admd.toLowerCase(), selector, key: signingKey, timestamps, ...(expire ? { expire } : {}) };
}

/**
 * Checks the signing options and reads the keys. Lists pair by position (Exim expands dkim_selector and
 * dkim_private_key per domain; Petrel has no expansion there): domains with selectors, keys with the pairs,
 * a one-element list standing for every position. `$dkim_domain` and `$dkim_selector` in a key's file name
 * are replaced, so one pattern can serve every pair. Problems are pushed, each naming its key.
 */
export function compileSigning(t: SigningInput, cwd: string, problems: string[]): TransportSigning {
  const k = (name: string): string => `smtp_transport.${name}`;
  const strict = parseStrict(t.dkim_strict);
  const arc = t.arc_sign === undefined ? undefined : parseArcSign(t.arc_sign, cwd, problems);
  const domains = splitSigningList(t.dkim_domain).map((d) => d.toLowerCase());
  const selectors = splitSigningList(t.dkim_selector);
  const keys = splitSigningList(t.dkim_private_key);
  const noKey = keys.length === 0 || (keys.length === 1 && ['', '0', 'false'].includes((keys[0] as string).toLowerCase()));

  const hash = t.dkim_hash.trim().toLowerCase();
  if (hash === 'sha1') problems.push(`${k('dkim_hash')}: sha1 is refused for signing (RFC 8301: rsa-sha1 MUST NOT be used)`);
  else if (hash !== 'sha256') problems.push(`${k('dkim_hash')}: "${t.dkim_hash}" is not supported for signing (sha256 is)`);

  let timestamps: number | undefined;
  if (t.dkim_timestamps !== undefined) {
    const ms = parseTime(t.dkim_timestamps);
    if (ms === null || ms % 1000 !== 0) problems.push(`${k('dkim_timestamps')}: expected a whole number of seconds (or a time such as "14d")`);
    else timestamps = ms / 1000;
  }
  const headers = parseSignHeaders(t.dkim_sign_headers, problems);
  const canon = (t.dkim_canon.includes('/') ? t.dkim_canon : `${t.dkim_canon}/${t.dkim_canon}`) as HeaderCanon;

  if (domains.length === 0 || domains.every((d) => d === '')) {
    if (selectors.length > 0 || (keys.length > 0 && !noKey)) problems.push(`${k('dkim_domain')}: dkim_selector and dkim_private_key need dkim_domain`);
    return { dkim: [], strict, ...(arc ? { arc } : {}) };
  }
  for (const d of domains) if (!DOMAIN.test(d)) problems.push(`${k('dkim_domain')}: "${d}" is not a domain`);
  if (selectors.length === 0) {
    problems.push(`${k('dkim_selector')}: needed with dkim_domain`);
    return { dkim: [], strict, ...(arc ? { arc } : {}) };
  }
  for (const s of selectors) if (!SELECTOR.test(s)) problems.push(`${k('dkim_selector')}: "${s}" is not a selector`);
  if (noKey) {
    // Exim: a private key of "", "0" or "false" means no signing, and no error even with dkim_strict.
    if (t.dkim_private_key === undefined) problems.push(`${k('dkim_private_key')}: needed with dkim_domain`);
    return { dkim: [], strict, ...(arc ? { arc } : {}) };
  }
  const n = Math.max(domains.length, selectors.length);
  if (domains.length !== 1 && selectors.length !== 1 && domains.length !== selectors.length) {
    problems.push(`${k('dkim_selector')}: ${selectors.length} selectors for ${domains.length} domains (give one, or one per domain)`);
    return { dkim: [], strict, ...(arc ? { arc } : {}) };
  }
  if (keys.length !== 1 && keys.length !== n) {
    problems.push(`${k('dkim_private_key')}: ${keys.length} keys for ${n} signatures (give one, or one per selector)`);
    return { dkim: [], strict, ...(arc ? { arc } : {}) };
  }

  const loaded = new Map<string, SigningKey | undefined>();
  const dkim: DkimSigner[] = [];
  for (let i = 0; i < n; i++) {
    const domain = (domains.length === 1 ? domains[0] : domains[i]) as string;
    const selector = (selectors.length === 1 ? selectors[0] : selectors[i]) as string;
    const spec = ((keys.length === 1 ? keys[0] : keys[i]) as string)
      .replace(/\$\{?dkim_domain\}?/g, domain)
      .replace(/\$\{?dkim_selector\}?/g, selector);
    if (!loaded.has(spec)) loaded.set(spec, readKey(spec, cwd, k('dkim_private_key'), problems));
    const key = loaded.get(spec);
    if (t.dkim_identity !== undefined) {
      const at = t.dkim_identity.lastIndexOf('@');
      const idDomain = at < 0 ? '' : t.dkim_identity.slice(at + 1).toLowerCase();
      if (idDomain !== domain && !idDomain.endsWith(`.${domain}`)) {
        problems.push(`${k('dkim_identity')}: "${t.dkim_identity}" is not within the signing domain ${domain} (RFC 6376 section 3.5, i=)`);
      }
    }
    if (!key) continue;
    dkim.push({
      domain, selector, key, canon, headers,
      ...(t.dkim_identity !== undefined ? { identity: t.dkim_identity } : {}),
      ...(timestamps !== undefined ? { timestamps } : {}),
    });
  }
  return { dkim, strict, ...(arc ? { arc } : {}) };
}
