// DKIM tag=value lists (RFC 6376 section 3.2) and the value encodings the tags use: base64 with folding
// whitespace (section 2.4), dkim-quoted-printable (section 2.11), domain names and selectors.
import { domainToASCII } from 'node:url';

export type TagList = ReadonlyMap<string, string>;

export type TagListResult = { kind: 'ok'; tags: TagList } | { kind: 'error'; reason: string };

const TAG_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Folding whitespace inside a list: SP, HTAB, and CRLF followed by one of them. */
const FWS_RUN = /(?:[ \t]|\r\n(?=[ \t]))+/g;
/** VALCHAR is %x21-3A / %x3C-7E (plus the whitespace kept inside values); octets above 0x7F are let through (UTF-8 in notes and EAI names). */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * Parses a tag-list. Whitespace around names, "=" and values is dropped; whitespace inside a value is kept
 * (collapsed to what was written). Tags are case-sensitive. A tag given twice, a name that is not a tag-name,
 * a segment without "=", or a control character make the whole list invalid. Empty segments (";;", a final
 * ";") are tolerated, as deployed records have them.
 */
export function parseTagList(text: string): TagListResult {
  const tags = new Map<string, string>();
  for (const segment of text.split(';')) {
    const spec = segment.replace(FWS_RUN, ' ').trim();
    if (spec === '') continue;
    const eq = spec.indexOf('=');
    if (eq < 0) return { kind: 'error', reason: `tag without "=": ${preview(spec)}` };
    const name = spec.slice(0, eq).trim();
    const value = spec.slice(eq + 1).trim();
    if (!TAG_NAME.test(name)) return { kind: 'error', reason: `invalid tag name: ${preview(name)}` };
    if (hasControl(value)) return { kind: 'error', reason: `invalid character in ${name}=` };
    if (tags.has(name)) return { kind: 'error', reason: `duplicate tag ${name}=` };
    tags.set(name, value);
  }
  return { kind: 'ok', tags };
}

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 as DKIM writes it: whitespace anywhere is ignored; other characters, misplaced padding or a
 * length that cannot be base64 are errors (null). Missing final padding is accepted.
 */
export function decodeBase64(value: string): Buffer | null {
  const compact = value.replace(/[ \t\r\n]+/g, '');
  if (!BASE64.test(compact)) return null;
  const data = compact.replace(/=+$/, '');
  if (data.length % 4 === 1) return null;
  const padded = compact.length % 4 === 0 ? compact : data + '='.repeat((4 - (data.length % 4)) % 4);
  if (padded.length % 4 !== 0) return null;
  return Buffer.from(padded, 'base64');
}

/** Decodes dkim-quoted-printable (=XX escapes, whitespace ignored); null for a malformed escape. */
export function decodeQuotedPrintable(value: string): string | null {
  const compact = value.replace(/[ \t\r\n]+/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < compact.length; i++) {
    const c = compact.charCodeAt(i);
    if (c === 0x3d) {
      const hex = compact.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Encodes text as dkim-quoted-printable: octets outside %x21-3A / %x3C / %x3E-7E become =XX. */
export function encodeQuotedPrintable(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const safe = byte >= 0x21 && byte <= 0x7e && byte !== 0x3b && byte !== 0x3d && byte !== 0x7c;
    out += safe ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * A domain name as d= or the domain of i= holds it, in lower-case A-label form, or null if it is not one.
 * The value may come as latin1-decoded octets: UTF-8 names are decoded and converted (RFC 8616).
 */
export function normalizeDomain(value: string): string | null {
  let name = value.trim();
  if (/[^\t\x20-\x7e]/.test(name)) {
    const utf8 = Buffer.from(name, 'latin1').toString('utf8');
    const ascii = domainToASCII(utf8);
    if (ascii === '') return null;
    name = ascii;
  }
  name = name.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === '' || name.length > 253) return null;
  return name.split('.').every((l) => LABEL.test(l)) ? name : null;
}

/** A selector (s=): one or more dot-separated labels (RFC 6376 section 3.1). Lower case, or null. */
export function normalizeSelector(value: string): string | null {
  const s = value.trim().toLowerCase();
  if (s === '' || s.length > 253) return null;
  return s.split('.').every((l) => LABEL.test(l)) ? s : null;
}

/** Splits a colon-separated list (h=, q=, the key's h=, s=, t=) into trimmed items. */
export function colonList(value: string): string[] {
  return value.split(':').map((s) => s.replace(/[ \t\r\n]+/g, ''));
}

/** Case-folds ASCII letters only (field names are ASCII; latin1-decoded octets above 0x7F stay as they are). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
