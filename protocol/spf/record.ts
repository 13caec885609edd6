// SPF records: choosing the record among TXT answers (RFC 7208 section 4.5) and parsing it into directives and
// modifiers with full syntax checking before any evaluation (sections 4.6, 5, 6, 12 ABNF).
import { parseIp4, parseIp6 } from './address.js';
import type { IpAddress } from './address.js';
import { parseDomainSpec, parseMacroString } from './macro.js';
import type { MacroString } from './macro.js';

export type Qualifier = '+' | '-' | '~' | '?';

export type Mechanism =
  | { readonly type: 'all' }
  | { readonly type: 'include'; readonly domain: MacroString }
  | { readonly type: 'a' | 'mx'; readonly domain?: MacroString; readonly cidr4: number; readonly cidr6: number }
  | { readonly type: 'ptr'; readonly domain?: MacroString }
  | { readonly type: 'ip4' | 'ip6'; readonly network: IpAddress; readonly prefix: number }
  | { readonly type: 'exists'; readonly domain: MacroString };

export interface Directive {
  readonly qualifier: Qualifier;
  readonly mechanism: Mechanism;
  /** The term as written in the record. */
  readonly text: string;
}

export interface SpfRecord {
  readonly directives: readonly Directive[];
  readonly redirect?: MacroString;
  readonly exp?: MacroString;
}

export type RecordParse = { kind: 'ok'; record: SpfRecord } | { kind: 'error'; reason: string };

export type RecordSelection =
  | { kind: 'found'; text: string }
  | { kind: 'none' }
  | { kind: 'multiple'; count: number };

/** True for a record that starts with "v=spf1" (any case) followed by a space or nothing (section 4.5). */
export function isSpfRecord(text: string): boolean {
  return /^v=spf1(?: |$)/i.test(text);
}

/**
 * Section 4.5: each TXT record's character-strings are joined with nothing between them (section 3.3); records
 * that do not begin with the version are discarded, whatever they contain; more than one left is a permerror.
 */
export function selectRecord(txt: readonly (readonly string[])[]): RecordSelection {
  const found = txt.map((strings) => strings.join('')).filter(isSpfRecord);
  if (found.length === 0) return { kind: 'none' };
  if (found.length > 1) return { kind: 'multiple', count: found.length };
  return { kind: 'found', text: found[0] ?? '' };
}

const MODIFIER = /^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$/s;
const MECHANISM_NAME = /^([^:/]*)(.*)$/s;
const CIDR4 = /^(?:0|[1-9][0-9]?)$/;
const CIDR6 = /^(?:0|[1-9][0-9]{0,2})$/;
/** An optional domain-spec, then an optional "/n", then an optional "//m", all anchored at the end. */
const DUAL_CIDR = /^(.*?)(?:\/([0-9]+))?(?:\/\/([0-9]+))?$/s;

type TermParse<T> = { kind: 'ok'; value: T } | { kind: 'error'; reason: string };

function cidr(text: string | undefined, max: number, pattern: RegExp): number | undefined | 'bad' {
  if (text === undefined) return undefined;
  if (!pattern.test(text)) return 'bad';
  const n = Number(text);
  return n > max ? 'bad' : n;
}

function domainArg(rest: string, term: string, required: boolean): TermParse<MacroString | undefined> {
  if (rest === '') return required ? { kind: 'error', reason: `"${term}" needs ":" and a domain` } : { kind: 'ok', value: undefined };
  if (!rest.startsWith(':')) return { kind: 'error', reason: `unexpected "${rest}" in "${term}"` };
  const spec = parseDomainSpec(rest.slice(1));
  return spec.kind === 'ok' ? { kind: 'ok', value: spec.value } : { kind: 'error', reason: `${spec.reason} in "${term}"` };
}

function parseMechanism(name: string, rest: string, term: string): TermParse<Mechanism> {
  switch (name) {
    case 'all':
      return rest === '' ? { kind: 'ok', value: { type: 'all' } } : { kind: 'error', reason: `"all" takes no argument: "${term}"` };
    case 'include':
    case 'exists': {
      const d = domainArg(rest, term, true);
      if (d.kind === 'error') return d;
      return { kind: 'ok', value: { type: name, domain: d.value as MacroString } };
    }
    case 'ptr': {
      const d = domainArg(rest, term, false);
      if (d.kind === 'error') return d;
      return { kind: 'ok', value: d.value ? { type: 'ptr', domain: d.value } : { type: 'ptr' } };
    }
    case 'a':
    case 'mx': {
      const m = DUAL_CIDR.exec(rest);
      const c4 = cidr(m?.[2], 32, CIDR4);
      const c6 = cidr(m?.[3], 128, CIDR6);
      if (!m || c4 === 'bad' || c6 === 'bad') return { kind: 'error', reason: `invalid CIDR length in "${term}"` };
      const d = domainArg(m[1] ?? '', term, false);
      if (d.kind === 'error') return d;
      const value = { type: name, cidr4: c4 ?? 32, cidr6: c6 ?? 128 } as const;
      return { kind: 'ok', value: d.value ? { ...value, domain: d.value } : value };
    }
    case 'ip4':
    case 'ip6': {
      if (!rest.startsWith(':')) return { kind: 'error', reason: `"${name}" needs ":" and a network: "${term}"` };
      const arg = rest.slice(1);
      const slash = arg.indexOf('/');
      const netText = slash < 0 ? arg : arg.slice(0, slash);
      const network = name === 'ip4' ? parseIp4(netText) : parseIp6(netText);
      if (!network) return { kind: 'error', reason: `invalid ${name === 'ip4' ? 'IPv4' : 'IPv6'} network in "${term}"` };
      const max = name === 'ip4' ? 32 : 128;
      const prefix = slash < 0 ? max : cidr(arg.slice(slash + 1), max, name === 'ip4' ? CIDR4 : CIDR6);
      if (prefix === 'bad' || prefix === undefined) return { kind: 'error', reason: `invalid CIDR length in "${term}"` };
      return { kind: 'ok', value: { type: name, network, prefix } };
    }
    default:
      return { kind: 'error', reason: `unknown mechanism "${name}" in "${term}"` };
  }
}

/**
 * Parses a whole record, which must have passed `isSpfRecord`. Every term is checked before anything is
 * evaluated (section 4.6): one bad term anywhere makes the record a permerror.
 */
export function parseRecord(text: string): RecordParse {
  if (!isSpfRecord(text)) return { kind: 'error', reason: 'not an SPF record' };
  const directives: Directive[] = [];
  let redirect: MacroString | undefined;
  let exp: MacroString | undefined;
  // Terms are separated by SP only (section 4.6.1); any other white space stays inside a term and fails it.
  for (const term of text.slice(6).split(' ')) {
    if (term === '') continue;
    const mod = MODIFIER.exec(term);
    if (mod) {
      const name = (mod[1] ?? '').toLowerCase();
      const value = mod[2] ?? '';
      if (name === 'redirect' || name === 'exp') {
        if ((name === 'redirect' ? redirect : exp) !== undefined) return { kind: 'error', reason: `"${name}" appears more than once` };
        const spec = parseDomainSpec(value);
        if (spec.kind === 'error') return { kind: 'error', reason: `${spec.reason} in "${term}"` };
        if (name === 'redirect') redirect = spec.value;
        else exp = spec.value;
      } else {
        // Unknown modifiers are ignored (section 6), but their value must still be a macro-string (section 12).
        const value2 = parseMacroString(value, 'modifier');
        if (value2.kind === 'error') return { kind: 'error', reason: `${value2.reason} in "${term}"` };
      }
      continue;
    }
    const first = term[0] ?? '';
    const qualifier: Qualifier = '+-~?'.includes(first) ? (first as Qualifier) : '+';
    const body = '+-~?'.includes(first) ? term.slice(1) : term;
    const m = MECHANISM_NAME.exec(body);
    const mech = parseMechanism((m?.[1] ?? '').toLowerCase(), m?.[2] ?? '', term);
    if (mech.kind === 'error') return mech;
    directives.push({ qualifier, mechanism: mech.value, text: term });
  }
  return { kind: 'ok', record: { directives, ...(redirect ? { redirect } : {}), ...(exp ? { exp } : {}) } };
}

/** Mechanisms and modifiers that cost a DNS query and count toward the limit of 10 (section 4.6.4). */
export function queriesDns(m: Mechanism): boolean {
  return m.type !== 'all' && m.type !== 'ip4' && m.type !== 'ip6';
}
