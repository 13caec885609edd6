// Single items of Exim-style domain, host, local-part and address lists: parsing, matching, diagnosis.
import ipaddr from 'ipaddr.js';

/** The four list kinds of Exim; each kind has its own named lists. */
export type ListKind = 'domain' | 'host' | 'address' | 'localPart';

/** Thrown when a list cannot be evaluated (bad item, unknown or looping named list). */
export class ListError extends Error {
  readonly code = 'POLICY_LIST';
  constructor(message: string) {
    super(message);
    this.name = 'ListError';
  }
}

/**
 * A bounded cache of pure parses keyed by text. ACLs run for every command, mostly over the same
 * few list items and client addresses; parsing them again each time showed in profiles.
 */
export function memoize<T>(max: number, fn: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined || cache.has(key)) return hit as T;
    const value = fn(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
    return value;
  };
}

// Regexes are compiled once per pattern text: ACLs run per command, and the
// same few patterns recur. Bounded so expanded (per-message) patterns cannot grow it forever.
const REGEX_CACHE_MAX = 512;
const regexCache = new Map<string, RegExp>();

/** Compiles an Exim `^...` item as a case-insensitive JS RegExp; throws ListError on bad syntax. */
export function compileRegex(pattern: string): RegExp {
  const hit = regexCache.get(pattern);
  if (hit !== undefined) return hit;
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'i');
  } catch (err) {
    throw new ListError(`bad regular expression "${pattern}": ${(err as Error).message}`);
  }
  if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
  regexCache.set(pattern, re);
  return re;
}

// Exim lookups look like `lsearch;/file`, `partial-dbm;...`, `cdb*@;...`.
const LOOKUP = /^[a-z][a-z0-9_-]*[*@]*;/i;

/** Features of Exim lists that Petrel does not implement, shared by every kind. */
function unsupportedCommon(item: string): string | null {
  if (LOOKUP.test(item)) return `lookups ("${item}") are not supported in lists`;
  if (item.startsWith('/')) return 'file names in lists are not supported';
  return null;
}

// ---------------------------------------------------------------- domains

/**
 * One domain item against a lowercased domain. `*suffix` is Exim's plain
 * suffix test, so `*.example.com` (subdomains only) and `*example.com` (also
 * example.com and fooexample.com) fall out of the same rule.
 */
export function domainItemMatches(domain: string, item: string, primaryHostname: string): boolean {
  if (item.startsWith('^')) return compileRegex(item).test(domain);
  const problem = domainProblemOf(item);
  if (problem !== null) throw new ListError(`domain list item "${item}": ${problem}`);
  if (item === '@') return domain === primaryHostname.toLowerCase();
  if (item.startsWith('*')) return domain.endsWith(item.slice(1).toLowerCase());
  return domain === item.toLowerCase();
}

/** Why a (non-named) domain item cannot be used, or null. */
export function domainItemProblem(item: string): string | null {
  const common = unsupportedCommon(item);
  if (common !== null) return common;
  if (item.startsWith('^')) return regexProblem(item);
  if (item.startsWith('@') && item !== '@') return `"${item}" needs DNS or interface lookups, which are not supported yet`;
  if (item.length > 1 && item.slice(1).includes('*')) return 'a "*" is only allowed at the start of a domain item';
  return null;
}

const domainProblemOf = memoize(1024, domainItemProblem);

// ---------------------------------------------------------------- hosts

type Ip = ipaddr.IPv4 | ipaddr.IPv6;
type HostItem = { kind: 'any' } | { kind: 'net'; addr: Ip; bits: number };

/** Parses a client address; IPv4-mapped IPv6 becomes plain IPv4 so IPv4 items match it. */
export const parseSubjectIp = memoize(4096, (ip: string): Ip | null => {
  try {
    return ipaddr.process(ip);
  } catch {
    return null;
  }
});

function parseIp(text: string): Ip | null {
  // Four-part decimal only: ipaddr.isValid would also take "10" or "0x0a.1",
  // which in a host list is far more likely a typo than intent.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(':') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return null;
}

const parseHostItem = memoize(1024, parseHostItemText);

function parseHostItemText(item: string): HostItem | string {
  if (item === '*') return { kind: 'any' };
  const slash = item.indexOf('/');
  const addrText = slash < 0 ? item : item.slice(0, slash);
  const addr = parseIp(addrText);
  if (addr === null) return hostItemDiagnosis(item);
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const bitsText = item.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `bad prefix length "/${bitsText}"`;
    bits = Number(bitsText);
  }
  // An IPv4-mapped item such as ::ffff:10.0.0.0/104 is meant for IPv4 clients,
  // and clients are normalised to IPv4 by parseSubjectIp.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return { kind: 'net', addr: (addr as ipaddr.IPv6).toIPv4Address(), bits: bits - 96 };
  }
  return { kind: 'net', addr, bits };
}

function hostItemDiagnosis(item: string): string {
  const common = unsupportedCommon(item);
  if (common !== null) return common;
  if (item.startsWith('@')) return `"${item}" needs interface or DNS lookups, which are not supported yet; use IP addresses or CIDR blocks`;
  if (/[a-z]/i.test(item) && /^[a-z0-9*._-]+$/i.test(item)) {
    return 'host names in host lists are not supported yet (they need DNS); use IP addresses or CIDR blocks';
  }
  if (item.includes(':')) {
    return 'not an IP address or CIDR block (in a colon-separated list an IPv6 address needs its colons doubled, or start the list with "<;" and separate items with ";")';
  }
  return 'not an IP address or CIDR block';
}

/** One host item against a parsed client address (null when the client has no usable IP). */
export function hostItemMatches(subject: Ip | null, item: string): boolean {
  const parsed = parseHostItem(item);
  if (typeof parsed === 'string') throw new ListError(`host list item "${item}": ${parsed}`);
  if (parsed.kind === 'any') return true;
  if (subject === null || subject.kind() !== parsed.addr.kind()) return false;
  return subject.match(parsed.addr, parsed.bits);
}

export function hostItemProblem(item: string): string | null {
  const parsed = parseHostItem(item);
  return typeof parsed === 'string' ? parsed : null;
}

// ---------------------------------------------------------------- local parts

/**
 * Local parts compare case-insensitively. Exim is case-sensitive by default,
 * but RFC 5321 lets a receiver fold case, nearly every site does, and a
 * policy that "postmaster" fails to match "Postmaster" is a trap, not a feature.
 */
export function localPartItemMatches(localPart: string, item: string): boolean {
  if (item === '*') return true;
  if (item.startsWith('^')) return compileRegex(item).test(localPart);
  return localPart.toLowerCase() === item.toLowerCase();
}

export function localPartItemProblem(item: string): string | null {
  const common = unsupportedCommon(item);
  if (common !== null) return common;
  if (item.startsWith('^')) return regexProblem(item);
  return null;
}

// ---------------------------------------------------------------- addresses

/** An address item split into its parts; `domain` is a single domain-list item. */
export type AddressItem =
  | { kind: 'null' }
  | { kind: 'regex'; pattern: string }
  | { kind: 'parts'; local: string; domain: string };

/**
 * `<>` is Petrel's spelling of the null sender (Exim uses an empty item, which
 * is too easy to create or lose by accident in a colon list). An item without
 * `@` is a domain pattern, as if `*@` preceded it; `@domain` means `*@domain`.
 */
export function parseAddressItem(item: string): AddressItem {
  if (item === '<>') return { kind: 'null' };
  if (item.startsWith('^')) return { kind: 'regex', pattern: item };
  const at = item.lastIndexOf('@');
  if (at < 0) return { kind: 'parts', local: '*', domain: item };
  const local = item.slice(0, at);
  return { kind: 'parts', local: local === '' ? '*' : local, domain: item.slice(at + 1) };
}

/** Local-part pattern of an address item: `*` any, `*suffix` a suffix, else exact. */
export function addressLocalMatches(local: string, pattern: string): boolean {
  if (pattern.startsWith('*')) return local.toLowerCase().endsWith(pattern.slice(1).toLowerCase());
  return local.toLowerCase() === pattern.toLowerCase();
}

export function addressItemProblem(item: string): string | null {
  const common = unsupportedCommon(item);
  if (common !== null) return common;
  const parsed = parseAddressItem(item);
  if (parsed.kind === 'null') return null;
  if (parsed.kind === 'regex') return regexProblem(parsed.pattern);
  if (parsed.domain === '') return 'the domain part is empty';
  if (parsed.domain.startsWith('+')) return null; // checked by the caller against named domain lists
  return domainItemProblem(parsed.domain);
}

function regexProblem(pattern: string): string | null {
  try {
    compileRegex(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
