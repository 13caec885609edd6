// Envelope address syntax (RFC 5321 section 4.1.2, with the UTF-8 extensions of RFC 6531 section 3.3).

/** A parsed mailbox: local part and domain as the client wrote them. */
export interface Mailbox {
  readonly local: string;
  readonly domain: string;
  /** true when any part holds non-ASCII characters (needs SMTPUTF8). */
  readonly utf8: boolean;
  /** true when the domain is an address literal such as [192.0.2.1]. */
  readonly literal: boolean;
}

export type PathResult =
  | { kind: 'ok'; mailbox: Mailbox | null; rest: string }
  | { kind: 'error'; reason: string };

const LOCAL_MAX = 64;
const DOMAIN_MAX = 255;
const PATH_MAX = 256;

// atext of RFC 5322 section 3.2.3, as a lookup over ASCII codes.
const ATEXT = new Uint8Array(128);
for (const c of "!#$%&'*+-/=?^_`{|}~") ATEXT[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) ATEXT[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) ATEXT[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) ATEXT[c] = 1;

function isAtext(code: number, utf8: boolean): boolean {
  if (code < 128) return ATEXT[code] === 1;
  return utf8;
}

/** Dot-string: atoms separated by single dots, no leading or trailing dot. */
function isDotString(s: string, utf8: boolean): boolean {
  if (s.length === 0) return false;
  let prevDot = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (prevDot) return false;
      prevDot = true;
    } else {
      if (!isAtext(c, utf8)) return false;
      prevDot = false;
    }
  }
  return !prevDot;
}

/** Quoted-string of RFC 5321: printable ASCII (and UTF-8 when allowed), backslash pairs. */
function isQuotedString(s: string, utf8: boolean): boolean {
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return false;
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      i++;
      if (i >= s.length - 1) return false;
      const q = s.charCodeAt(i);
      if (q < 32 || q > 126) return false;
    } else if (c === 0x22) {
      return false;
    } else if (c < 32 || c === 127 || (c > 127 && !utf8)) {
      return false;
    }
  }
  return true;
}

/** A domain name: LDH labels (U-labels when utf8), each 1..63 octets, no leading or trailing hyphen. */
export function isDomain(s: string, utf8 = false): boolean {
  if (s.length === 0 || Buffer.byteLength(s) > DOMAIN_MAX) return false;
  const labels = s.split('.');
  for (const label of labels) {
    if (label.length === 0 || Buffer.byteLength(label) > 63) return false;
    if (label.startsWith('-') || label.endsWith('-')) return false;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      const ldh = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d;
      if (!ldh && !(utf8 && c > 127)) return false;
    }
  }
  return true;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIPv6(s: string): boolean {
  // Structure check of RFC 5321 IPv6-addr: hex groups, at most one "::", optional IPv4 tail.
  let body = s;
  let groupsMax = 8;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!IPV4.test(tail)) return false;
    body = body.slice(0, lastColon + 1) + '0';
    groupsMax = 7;
  }
  const dbl = body.indexOf('::');
  if (dbl !== body.lastIndexOf('::')) return false;
  const parts = dbl >= 0 ? [body.slice(0, dbl), body.slice(dbl + 2)] : [body];
  let count = 0;
  for (const part of parts) {
    if (part === '') continue;
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      count++;
    }
  }
  return dbl >= 0 ? count < groupsMax : count === groupsMax;
}

/** address-literal: [IPv4], [IPv6:...], or a General-address-literal tag:content. */
export function isAddressLiteral(s: string): boolean {
  if (s.length < 3 || s[0] !== '[' || s[s.length - 1] !== ']') return false;
  const inner = s.slice(1, -1);
  if (IPV4.test(inner)) return true;
  if (/^ipv6:/i.test(inner)) return isIPv6(inner.slice(5));
  const m = /^([A-Za-z0-9-]*[A-Za-z0-9]):([\x21-\x5a\x5e-\x7e]+)$/.exec(inner);
  return m !== null;
}

/** Find the "@" that separates local part from domain, skipping a quoted local part. */
function splitAt(s: string): number {
  if (s.startsWith('"')) {
    for (let i = 1; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '"') return s[i + 1] === '@' ? i + 1 : -1;
    }
    return -1;
  }
  return s.lastIndexOf('@');
}

/** Parse "local@domain" (no angle brackets). utf8 allows RFC 6531 non-ASCII characters. */
export function parseMailbox(s: string, utf8: boolean): { kind: 'ok'; mailbox: Mailbox } | { kind: 'error'; reason: string } {
  const at = splitAt(s);
  if (at <= 0 || at === s.length - 1) return { kind: 'error', reason: 'address must be local-part@domain' };
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  const nonAscii = /[^\x00-\x7f]/.test(s);
  if (nonAscii && !utf8) return { kind: 'error', reason: 'non-ASCII address without SMTPUTF8' };
  if (Buffer.byteLength(local) > LOCAL_MAX) return { kind: 'error', reason: 'local part longer than 64 octets' };
  if (!isDotString(local, utf8) && !isQuotedString(local, utf8)) return { kind: 'error', reason: 'malformed local part' };
  const literal = domain.startsWith('[');
  if (literal ? !isAddressLiteral(domain) : !isDomain(domain, utf8)) return { kind: 'error', reason: 'malformed domain' };
  return { kind: 'ok', mailbox: { local, domain, utf8: nonAscii, literal } };
}

/**
 * Parse the path argument of MAIL FROM: or RCPT TO: ("<...>" then parameters).
 * A source route (<@a,@b:user@c>) is accepted and ignored, as RFC 5321 section 4.1.2 requires.
 * Without angle brackets the address runs to the first space (lenient, as widely deployed).
 */
export function parsePath(arg: string, opts: { allowNull: boolean; utf8: boolean; allowPostmaster?: boolean }): PathResult {
  let s = arg.trimStart();
  let inner: string;
  let rest: string;
  if (s.startsWith('<')) {
    const close = findClose(s);
    if (close < 0) return { kind: 'error', reason: 'missing ">" after address' };
    inner = s.slice(1, close);
    rest = s.slice(close + 1);
    if (rest.length > 0 && rest[0] !== ' ') return { kind: 'error', reason: 'text after ">" must be parameters' };
  } else {
    const sp = s.indexOf(' ');
    inner = sp < 0 ? s : s.slice(0, sp);
    rest = sp < 0 ? '' : s.slice(sp);
    if (inner.length === 0) return { kind: 'error', reason: 'missing address' };
  }
  s = inner;
  // The limit counts the angle brackets (RFC 5321 section 4.5.3.1.3), also when the client left them out.
  if (Buffer.byteLength(s) + 2 > PATH_MAX) return { kind: 'error', reason: 'path longer than 256 octets' };
  if (s.startsWith('@')) {
    const colon = s.indexOf(':');
    if (colon < 0) return { kind: 'error', reason: 'malformed source route' };
    for (const hop of s.slice(0, colon).split(',')) {
      if (!hop.startsWith('@') || !isDomain(hop.slice(1), opts.utf8)) return { kind: 'error', reason: 'malformed source route' };
    }
    s = s.slice(colon + 1);
  }
  if (s === '') {
    if (!opts.allowNull) return { kind: 'error', reason: 'null address not allowed here' };
    return { kind: 'ok', mailbox: null, rest: rest.trim() };
  }
  // RFC 5321 section 4.5.1: "RCPT TO:<Postmaster>" without a domain must be accepted.
  if (opts.allowPostmaster && s.toLowerCase() === 'postmaster') {
    return { kind: 'ok', mailbox: { local: s, domain: '', utf8: false, literal: false }, rest: rest.trim() };
  }
  const mb = parseMailbox(s, opts.utf8);
  if (mb.kind === 'error') return mb;
  return { kind: 'ok', mailbox: mb.mailbox, rest: rest.trim() };
}

/** Index of the ">" closing a path, ignoring one inside a quoted local part. */
function findClose(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === '>') {
      return i;
    }
  }
  return -1;
}

/** The address as text: local@domain. */
export function formatMailbox(mb: Mailbox): string {
  return `${mb.local}@${mb.domain}`;
}
