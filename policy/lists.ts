// Exim-style lists (Exim spec, "Domain, host, address, and local part lists"): splitting, named lists, matching.
import {
  ListError, addressItemProblem, addressLocalMatches, domainItemMatches, domainItemProblem,
  hostItemMatches, hostItemProblem, localPartItemMatches, localPartItemProblem, parseAddressItem,
  parseSubjectIp, compileRegex, memoize,
} from './list-items.js';
import type { ListKind } from './list-items.js';

export { ListError };
export type { ListKind };

/**
 * A list as written in configuration: one Exim list string, or an array of
 * items already split. Arrays are the easy way to write IPv6 addresses: in a
 * colon-separated string `::1` must be written `::::1`, or the list must start
 * with `<;` and use `;` between items.
 */
export type ListSpec = string | readonly string[];

/** Named lists, referred to as `+name` from a list of the same kind. */
export interface NamedLists {
  readonly domains: ReadonlyMap<string, ListSpec>;
  readonly hosts: ReadonlyMap<string, ListSpec>;
  readonly addresses: ReadonlyMap<string, ListSpec>;
  readonly localParts: ReadonlyMap<string, ListSpec>;
}

export interface MatchContext {
  readonly named: NamedLists;
  readonly primaryHostname: string;
}

/** An envelope address; null stands for the null sender `<>`. */
export interface ListAddress {
  readonly local: string;
  readonly domain: string;
}

export function emptyNamedLists(): NamedLists {
  return { domains: new Map(), hosts: new Map(), addresses: new Map(), localParts: new Map() };
}

const NAMED_KEY = { domain: 'domains', host: 'hosts', address: 'addresses', localPart: 'localParts' } as const;
const KIND_LABEL: Record<ListKind, string> = { domain: 'domain', host: 'host', address: 'address', localPart: 'local part' };

/** Separator characters allowed after `<`: printable punctuation, or a control character. */
function separatorAfterAngle(c: string | undefined): string | null {
  if (c === undefined) return null;
  const code = c.charCodeAt(0);
  if (code < 32 || code === 127) return c;
  // `>` is refused so that a list starting with the null-sender item `<>` keeps its meaning.
  if (c === '>') return null;
  return /[!-/:-@[-`{-~]/.test(c) ? c : null;
}

/**
 * Splits an Exim list, keeping empty items except a trailing one (Exim always
 * ignores a trailing separator). A doubled printable separator is a literal
 * separator character; a doubled control-character separator is an empty item.
 */
export function splitListKeepEmpty(text: string): string[] {
  let s = text.trimStart();
  let sep = ':';
  if (s.startsWith('<')) {
    const custom = separatorAfterAngle(s[1]);
    if (custom !== null) {
      sep = custom;
      s = s.slice(2);
    }
  }
  const doubling = sep.charCodeAt(0) >= 32 && sep.charCodeAt(0) !== 127;
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== sep) {
      cur += c;
    } else if (doubling && s[i + 1] === sep) {
      cur += sep;
      i++;
    } else {
      items.push(cur.trim());
      cur = '';
    }
  }
  items.push(cur.trim());
  if (items[items.length - 1] === '') items.pop();
  return items;
}

/** Splits a list into its non-empty, trimmed items; an array is only trimmed and filtered. */
export function splitList(list: ListSpec): string[] {
  return typeof list === 'string' ? splitText(list) : splitArray(list);
}

function splitOnce(list: ListSpec): string[] {
  const items = typeof list === 'string' ? splitListKeepEmpty(list) : list.map((s) => s.trim());
  return items.filter((s) => s !== '');
}

// Lists are split once: the same config lists are matched for every command.
const splitText = memoize(1024, (text: string) => splitOnce(text));
const splitArrays = new WeakMap<readonly string[], string[]>();
function splitArray(list: readonly string[]): string[] {
  let items = splitArrays.get(list);
  if (!items) {
    items = splitOnce(list);
    splitArrays.set(list, items);
  }
  return items;
}

/**
 * The scan shared by every kind. Left to right, the first matching item
 * decides (a `!` item that matches means "not in the list"). If nothing
 * matches, the answer is "no" unless the last item was negative: Exim reads
 * `!a.b.c` alone as "everything except a.b.c", as if `: *` followed.
 */
function scan(
  kind: ListKind,
  list: ListSpec,
  ctx: MatchContext,
  stack: readonly string[],
  test: (item: string) => boolean,
): boolean {
  let lastNegative = false;
  for (const raw of splitList(list)) {
    let item = raw;
    const negative = item.startsWith('!');
    if (negative) item = item.slice(1).trimStart();
    lastNegative = negative;
    const hit = item.startsWith('+')
      ? scanNamed(kind, item.slice(1), ctx, stack, test)
      : test(item);
    if (hit) return !negative;
  }
  return lastNegative;
}

function lookupNamed(kind: ListKind, name: string, named: NamedLists): ListSpec | undefined {
  return named[NAMED_KEY[kind]].get(name);
}

function scanNamed(
  kind: ListKind,
  name: string,
  ctx: MatchContext,
  stack: readonly string[],
  test: (item: string) => boolean,
): boolean {
  const list = lookupNamed(kind, name, ctx.named);
  if (list === undefined) throw new ListError(`unknown named ${KIND_LABEL[kind]} list "+${name}"`);
  if (stack.includes(name)) {
    throw new ListError(`named ${KIND_LABEL[kind]} list "+${name}" refers to itself (${[...stack, name].join(' -> ')})`);
  }
  return scan(kind, list, ctx, [...stack, name], test);
}

/** Case-insensitive domain match; items: exact, `*`, `*suffix`, `^regex`, `@` (primary hostname), `!`, `+name`. */
export function matchDomain(domain: string, list: ListSpec, ctx: MatchContext): boolean {
  const subject = domain.toLowerCase();
  return scan('domain', list, ctx, [], (item) => domainItemMatches(subject, item, ctx.primaryHostname));
}

/** Client IP against `*`, IP, CIDR (v4 and v6), `!`, `+name`; IPv4-mapped IPv6 clients match IPv4 items. */
export function matchHost(ip: string, list: ListSpec, ctx: MatchContext): boolean {
  const subject = parseSubjectIp(ip);
  return scan('host', list, ctx, [], (item) => hostItemMatches(subject, item));
}

/** Case-insensitive local part match; items: exact, `*`, `^regex`, `!`, `+name`. */
export function matchLocalPart(localPart: string, list: ListSpec, ctx: MatchContext): boolean {
  return scan('localPart', list, ctx, [], (item) => localPartItemMatches(localPart, item));
}

/**
 * Address match. null is the null sender, matched only by `<>` and by a
 * regex that matches the empty string. `^regex` is tried on `local@domain`;
 * other items split at the last `@` into a local pattern (`*`, `*suffix`,
 * exact) and a domain-list item (which may be `+name` of a domain list).
 */
export function matchAddress(address: ListAddress | null, list: ListSpec, ctx: MatchContext): boolean {
  const whole = address === null ? '' : `${address.local}@${address.domain}`;
  return scan('address', list, ctx, [], (item) => {
    const parsed = parseAddressItem(item);
    if (parsed.kind === 'null') return address === null;
    if (parsed.kind === 'regex') return compileRegex(parsed.pattern).test(whole);
    if (address === null) return false;
    if (!addressLocalMatches(address.local, parsed.local)) return false;
    const domain = address.domain.toLowerCase();
    if (parsed.domain.startsWith('+')) {
      return scanNamed('domain', parsed.domain.slice(1), ctx, [], (d) => domainItemMatches(domain, d, ctx.primaryHostname));
    }
    const problem = addressItemProblem(item);
    if (problem !== null) throw new ListError(`address list item "${item}": ${problem}`);
    return domainItemMatches(domain, parsed.domain, ctx.primaryHostname);
  });
}

function itemProblem(kind: ListKind, item: string): string | null {
  switch (kind) {
    case 'domain': return domainItemProblem(item);
    case 'host': return hostItemProblem(item);
    case 'localPart': return localPartItemProblem(item);
    case 'address': return addressItemProblem(item);
  }
}

/**
 * Checks a list at configuration load time: every item must be usable and
 * every `+name` must exist (recursively, without loops). Returns the first
 * problem, naming the item, or null when the list is sound.
 */
export function validateList(kind: ListKind, list: ListSpec, named: NamedLists): string | null {
  return validateIn(kind, list, named, []);
}

function validateIn(kind: ListKind, list: ListSpec, named: NamedLists, stack: readonly string[]): string | null {
  const label = KIND_LABEL[kind];
  const where = stack.length === 0 ? '' : ` (in named ${label} list "+${stack[stack.length - 1]}")`;
  if (kind === 'address' && typeof list === 'string' && splitListKeepEmpty(list).includes('')) {
    return `empty item in address list "${list}"${where}: Petrel writes the null sender as "<>"`;
  }
  for (const raw of splitList(list)) {
    const item = raw.startsWith('!') ? raw.slice(1).trimStart() : raw;
    if (item === '') return `${label} list item "${raw}"${where}: nothing after "!"`;
    if (item.startsWith('+')) {
      const problem = validateNamed(kind, item.slice(1), named, stack);
      if (problem !== null) return problem;
      continue;
    }
    const problem = itemProblem(kind, item);
    if (problem !== null) return `${label} list item "${item}"${where}: ${problem}`;
    if (kind === 'address') {
      const parsed = parseAddressItem(item);
      if (parsed.kind === 'parts' && parsed.domain.startsWith('+')) {
        const inner = validateNamed('domain', parsed.domain.slice(1), named, []);
        if (inner !== null) return `address list item "${item}"${where}: ${inner}`;
      }
    }
  }
  return null;
}

function validateNamed(kind: ListKind, name: string, named: NamedLists, stack: readonly string[]): string | null {
  const label = KIND_LABEL[kind];
  const list = lookupNamed(kind, name, named);
  if (list === undefined) return `unknown named ${label} list "+${name}"`;
  if (stack.includes(name)) return `named ${label} list "+${name}" refers to itself (${[...stack, name].join(' -> ')})`;
  return validateIn(kind, list, named, [...stack, name]);
}
