// DMARC policy records (RFC 7489 sections 6.3 and 6.4): recognising "v=DMARC1", the tag list, defaults, reporting
// URIs with size limits, and the p=none fallback of section 6.6.3 step 6.
//
// DMARCbis differences noted where they matter: np= (kept here), psd= and t= (new, ignored here as unknown tags),
// pct=, rf= and ri= (removed there), "!size" on URIs (obsolete there), and p= may be absent when rua= is present.
import { domainToASCII } from 'node:url';
import { DMARC_POLICIES } from './types.js';
import type { AlignmentMode, DmarcPolicy, DmarcRecord, DmarcUri, FailureOption } from './types.js';

export type RecordParse =
  | { readonly kind: 'record'; readonly record: DmarcRecord }
  /** Does not start with v=DMARC1: not a DMARC record at all; discovery discards it (section 6.6.3 step 2). */
  | { readonly kind: 'notdmarc' }
  /** A DMARC record that cannot be used: duplicate tags, or no valid p= and no valid rua= to fall back on. */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Section 6.4: dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31. The tag name is a quoted ABNF
 * string (any case); the value is given in %x form, so exactly "DMARC1". Nothing may come before it (the record
 * must *start* with the v= tag, step 2 of section 6.6.3), so a leading space disqualifies a record too.
 */
const VERSION = /^[vV][ \t]*=[ \t]*DMARC1[ \t]*(?:;|$)/;

/** Does this TXT record (strings joined) claim to be a DMARC record? */
export function isDmarcRecord(text: string): boolean {
  return VERSION.test(text);
}

const TAG = /^([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*([\s\S]*)$/;
const WSP = /^[ \t]+|[ \t]+$/g;

/**
 * The tag list of a record whose v=DMARC1 was checked: names lower-cased, values trimmed. A segment that is not
 * tag=value is skipped with a warning (section 6.3: syntax errors are discarded); an empty one (";;", a final ";")
 * is skipped silently. A name given twice makes the whole list invalid (RFC 6376 section 3.2, which DMARC's tag
 * syntax follows).
 */
function tagList(text: string, warnings: string[]): Map<string, string> | string {
  const tags = new Map<string, string>();
  for (const segment of text.split(';')) {
    const s = segment.replace(WSP, '');
    if (s === '') continue;
    const m = TAG.exec(s);
    if (m === null) {
      warnings.push(`ignored malformed tag "${s.slice(0, 40)}"`);
      continue;
    }
    const name = (m[1] as string).toLowerCase();
    if (tags.has(name)) return `duplicate tag ${name}=`;
    tags.set(name, (m[2] as string).replace(WSP, ''));
  }
  return tags;
}

const policyOf = (v: string | undefined): DmarcPolicy | undefined => {
  const l = v?.toLowerCase();
  return DMARC_POLICIES.find((p) => p === l);
};

/** Units of the size suffix: powers of two (section 6.4). */
const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):(\S+)$/;
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A domain in A-labels, lower case; undefined when it is not a host name. */
export function hostName(domain: string): string | undefined {
  const d = /^\p{ASCII}*$/u.test(domain) ? domain.toLowerCase() : domainToASCII(domain);
  if (d === '' || d.length > 253) return undefined;
  return d.split('.').every((l) => LABEL.test(l)) ? d : undefined;
}

/** The address of a mailto: URI body (RFC 6068): percent-decoded, one address, no headers; undefined if unusable. */
function mailtoAddress(body: string): { address: string; domain: string } | undefined {
  const to = body.split('?')[0] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(to);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (decoded.includes(',') || /[\s<>()\x00-\x1f\x7f]/.test(decoded)) return undefined;
  const at = decoded.lastIndexOf('@');
  if (at <= 0 || (decoded.indexOf('@') !== at && !decoded.startsWith('"'))) return undefined;
  const domain = hostName(decoded.slice(at + 1));
  if (domain === undefined) return undefined;
  return { address: `${decoded.slice(0, at)}@${domain}`, domain };
}

/**
 * One dmarc-uri: URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]. Commas and "!" inside the URI itself must be
 * percent-encoded, so any other "!" makes the URI invalid. A mailto: URI must name one usable address; other
 * schemes are kept (Petrel sends by mail only).
 */
export function parseDmarcUri(text: string): DmarcUri | undefined {
  let uri = text.replace(WSP, '');
  let maxSize: number | undefined;
  const bang = uri.indexOf('!');
  if (bang >= 0) {
    const m = /^(\d{1,15})([kmgtKMGT]?)$/.exec(uri.slice(bang + 1));
    if (m === null) return undefined;
    maxSize = Math.min(Number(m[1]) * (UNITS[(m[2] as string).toLowerCase()] ?? 1), Number.MAX_SAFE_INTEGER);
    uri = uri.slice(0, bang);
  }
  const s = SCHEME.exec(uri);
  if (s === null) return undefined;
  const scheme = (s[1] as string).toLowerCase();
  const base = maxSize === undefined ? { uri, scheme } : { uri, scheme, maxSize };
  if (scheme !== 'mailto') return base;
  const to = mailtoAddress(s[2] as string);
  return to === undefined ? undefined : { ...base, ...to };
}

/** A comma-separated URI list; invalid entries are dropped with a warning. */
function uriList(tag: string, value: string, warnings: string[]): DmarcUri[] {
  const out: DmarcUri[] = [];
  for (const item of value.split(',')) {
    if (item.replace(WSP, '') === '') continue;
    const u = parseDmarcUri(item);
    if (u === undefined) warnings.push(`ignored invalid ${tag}= URI "${item.replace(WSP, '').slice(0, 80)}"`);
    else out.push(u);
  }
  return out;
}

function alignment(tag: string, value: string | undefined, warnings: string[]): AlignmentMode {
  if (value === undefined) return 'r';
  const l = value.toLowerCase();
  if (l === 'r' || l === 's') return l;
  warnings.push(`ignored invalid ${tag}=${value.slice(0, 20)}`);
  return 'r';
}

function integer(tag: string, value: string | undefined, max: number, dflt: number, warnings: string[]): number {
  if (value === undefined) return dflt;
  if (/^\d{1,10}$/.test(value) && Number(value) <= max) return Number(value);
  warnings.push(`ignored invalid ${tag}=${value.slice(0, 20)}`);
  return dflt;
}

function colonList<T extends string>(tag: string, value: string | undefined, allowed: readonly T[], dflt: T[],
  warnings: string[]): T[] {
  if (value === undefined) return dflt;
  const items = value.split(':').map((v) => v.replace(WSP, '').toLowerCase());
  if (items.length > 0 && items.every((v) => (allowed as readonly string[]).includes(v))) return [...new Set(items)] as T[];
  warnings.push(`ignored invalid ${tag}=${value.slice(0, 20)}`);
  return dflt;
}

/**
 * Parses one TXT record (its strings already joined). Unknown tags are ignored; bad values of optional tags give
 * their defaults (section 6.3). A missing or invalid p=, or an invalid sp= (or np=), falls back to p=none when rua=
 * holds a valid URI, and makes the record unusable otherwise (section 6.6.3 step 6). RFC 7489 wants v then p "in
 * that order"; p= is accepted anywhere after v= here, as DMARCbis allows.
 */
export function parseDmarcRecord(text: string): RecordParse {
  if (!isDmarcRecord(text)) return { kind: 'notdmarc' };
  const warnings: string[] = [];
  const tags = tagList(text, warnings);
  if (typeof tags === 'string') return { kind: 'invalid', reason: tags };

  const rua = uriList('rua', tags.get('rua') ?? '', warnings);
  const ruf = uriList('ruf', tags.get('ruf') ?? '', warnings);
  let p = policyOf(tags.get('p'));
  let sp = policyOf(tags.get('sp'));
  let np = policyOf(tags.get('np'));
  const faults: string[] = [];
  if (p === undefined) faults.push(tags.has('p') ? `invalid p=${tags.get('p')?.slice(0, 20)}` : 'no p=');
  if (tags.has('sp') && sp === undefined) faults.push(`invalid sp=${tags.get('sp')?.slice(0, 20)}`);
  if (tags.has('np') && np === undefined) faults.push(`invalid np=${tags.get('np')?.slice(0, 20)}`);
  let assumedNone = false;
  if (faults.length > 0) {
    if (rua.length === 0) return { kind: 'invalid', reason: `${faults.join(', ')} and no valid rua=` };
    warnings.push(`${faults.join(', ')}: p=none assumed because rua= is valid`);
    p = 'none';
    sp = undefined;
    np = undefined;
    assumedNone = true;
  }

  const record: DmarcRecord = {
    p: p as DmarcPolicy,
    ...(sp !== undefined ? { sp } : {}),
    ...(np !== undefined ? { np } : {}),
    pct: integer('pct', tags.get('pct'), 100, 100, warnings),
    adkim: alignment('adkim', tags.get('adkim'), warnings),
    aspf: alignment('aspf', tags.get('aspf'), warnings),
    rua,
    ruf,
    fo: colonList<FailureOption>('fo', tags.get('fo'), ['0', '1', 'd', 's'], ['0'], warnings),
    rf: colonList('rf', tags.get('rf'), ['afrf'], ['afrf'], warnings),
    ri: integer('ri', tags.get('ri'), 0xffffffff, 86400, warnings),
    tags,
    warnings,
    assumedNone,
    text,
  };
  return { kind: 'record', record };
}

/**
 * The rua= and ruf= of a record that needs no p= (the authorizing record of section 7.1); a tag that is absent stays
 * undefined. undefined: not a usable tag list.
 */
export function reportingUris(text: string): { rua?: DmarcUri[]; ruf?: DmarcUri[] } | undefined {
  if (!isDmarcRecord(text)) return undefined;
  const warnings: string[] = [];
  const tags = tagList(text, warnings);
  if (typeof tags === 'string') return undefined;
  const rua = tags.get('rua');
  const ruf = tags.get('ruf');
  return {
    ...(rua !== undefined ? { rua: uriList('rua', rua, warnings) } : {}),
    ...(ruf !== undefined ? { ruf: uriList('ruf', ruf, warnings) } : {}),
  };
}

/** The tags of a record for display or the history file: p=reject; sp=none; ... in a fixed order. */
export function formatDmarcRecord(r: DmarcRecord): string {
  const parts = ['v=DMARC1', `p=${r.p}`];
  if (r.sp !== undefined) parts.push(`sp=${r.sp}`);
  if (r.np !== undefined) parts.push(`np=${r.np}`);
  parts.push(`adkim=${r.adkim}`, `aspf=${r.aspf}`, `pct=${r.pct}`);
  const uris = (l: readonly DmarcUri[]): string =>
    l.map((u) => (u.maxSize === undefined ? u.uri : `${u.uri}!${u.maxSize}`)).join(',');
  if (r.rua.length > 0) parts.push(`rua=${uris(r.rua)}`);
  if (r.ruf.length > 0) parts.push(`ruf=${uris(r.ruf)}`);
  parts.push(`fo=${r.fo.join(':')}`, `ri=${r.ri}`);
  return parts.join('; ');
}
