// The Organizational Domain (RFC 7489 section 3.2): the registrable domain under the Public Suffix List, from the
// tldts package or from a PSL file's text (Exim's dmarc_tld_file), with the list's own algorithm (publicsuffix.org).
//
// DMARCbis replaces the list with a "tree walk": DNS queries for _dmarc records up the name, the Organizational
// Domain being the highest one with a record (psd=n) or the one below a psd=y record. Not done here.
import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';
import type { SuffixList } from './types.js';

/**
 * Which sections of the list count. Both do by default: a PRIVATE entry such as blogspot.com or uk.com marks names
 * under it as run by different organizations, which is exactly what relaxed alignment must not merge (and what the
 * list's own tests expect: uk.com is a public suffix there). 'icann' keeps only the ICANN section.
 */
export type PslSections = 'all' | 'icann';

const ASCII = /^[\p{ASCII}]*$/u;

/** A label in A-label form (lower case); undefined if it cannot be converted. */
function aLabel(label: string): string | undefined {
  if (ASCII.test(label)) return label.toLowerCase();
  const a = domainToASCII(label);
  return a === '' || a.includes('.') ? undefined : a;
}

/** A name's A-labels, or undefined for a name with an empty label (a leading dot, "a..b") or none. */
function aLabels(name: string): string[] | undefined {
  const labels = name.split('.');
  const out: string[] = [];
  for (const l of labels) {
    if (l === '') return undefined;
    out.push(aLabel(l) ?? l.toLowerCase());
  }
  return out;
}

/**
 * A Public Suffix List read from the text of public_suffix_list.dat. Rules are kept as A-labels, so a name in
 * Unicode or in Punycode matches the same rules.
 */
export class PublicSuffixList implements SuffixList {
  readonly #plain = new Set<string>();
  /** "*.b.c" is kept as "b.c". */
  readonly #wildcard = new Set<string>();
  /** "!a.b.c" is kept as "a.b.c". */
  readonly #exception = new Set<string>();
  #count = 0;

  /** Reads the list. Lines are rules up to the first whitespace; "//" starts a comment line (section markers too). */
  constructor(text: string, sections: PslSections = 'all') {
    let section: 'none' | 'icann' | 'private' = 'none';
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line.startsWith('//')) {
        if (line.includes('===BEGIN ICANN DOMAINS===')) section = 'icann';
        else if (line.includes('===BEGIN PRIVATE DOMAINS===')) section = 'private';
        else if (line.includes('===END ')) section = 'none';
        continue;
      }
      const rule = line.split(/\s/)[0] ?? '';
      if (rule === '') continue;
      if (sections === 'icann' && section === 'private') continue;
      this.#add(rule);
    }
  }

  /** The number of rules kept. */
  get size(): number {
    return this.#count;
  }

  #add(rule: string): void {
    let target = this.#plain;
    let body = rule;
    if (body.startsWith('!')) {
      target = this.#exception;
      body = body.slice(1);
    } else if (body.startsWith('*.')) {
      target = this.#wildcard;
      body = body.slice(2);
    }
    const labels = aLabels(body);
    if (labels === undefined || labels.some((l) => l.includes('*'))) return; // not a rule this algorithm knows
    target.add(labels.join('.'));
    this.#count++;
  }

  /**
   * The prevailing rule's public suffix length (publicsuffix.org "Algorithm"): an exception rule wins (its suffix
   * is the rule minus its leftmost label); otherwise the matching rule with the most labels; otherwise "*" (one).
   */
  publicSuffixLength(labels: readonly string[]): number {
    const n = labels.length;
    let longest = 1;
    for (let i = 0; i < n; i++) {
      const suffix = labels.slice(i).join('.');
      const len = n - i;
      if (this.#exception.has(suffix)) return len - 1;
      if (len > longest && this.#plain.has(suffix)) longest = len;
      if (len > longest && i + 1 < n && this.#wildcard.has(labels.slice(i + 1).join('.'))) longest = len;
    }
    return longest;
  }
}

/** Reads a PSL file's text (dmarc_tld_file). Parse once and keep the object: the list has some 10,000 rules. */
export function parsePublicSuffixList(text: string, sections: PslSections = 'all'): PublicSuffixList {
  return new PublicSuffixList(text, sections);
}

/**
 * The labels of a domain as given (lower-cased, one trailing dot removed) and as A-labels; undefined for no name,
 * an empty label or a leading dot.
 */
function split(domain: string | null | undefined): { given: string[]; ascii: string[] } | undefined {
  if (domain === null || domain === undefined) return undefined;
  let d = domain.toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d === '') return undefined;
  const given = d.split('.');
  const ascii = aLabels(d);
  if (ascii === undefined || ascii.length !== given.length) return undefined;
  return { given, ascii };
}

const TLDTS = { allowPrivateDomains: true, allowIcannDomains: true, extractHostname: false, validateHostname: false };

/**
 * The Organizational Domain of `domain`: its public suffix plus one label (RFC 7489 section 3.2), in the form it was
 * given (Unicode stays Unicode), lower-cased. null when there is none: the domain is itself a public suffix, or is
 * empty or malformed (leading dot, empty label). Without `psl`, tldts decides (both of its sections, as above).
 */
export function orgDomain(domain: string | null | undefined, psl?: SuffixList): string | null {
  const parts = split(domain);
  if (parts === undefined) return null;
  const { given, ascii } = parts;
  let keep: number;
  if (psl !== undefined) {
    keep = psl.publicSuffixLength(ascii) + 1;
  } else {
    const found = getDomain(ascii.join('.'), TLDTS);
    if (found === null || found === '') return null;
    keep = found.split('.').length;
  }
  if (keep > given.length) return null;
  return given.slice(given.length - keep).join('.');
}

/**
 * Relaxed alignment of two domains (RFC 7489 section 3.1): the same Organizational Domain. A domain without one (a
 * public suffix) aligns only with itself.
 */
export function sameOrganization(a: string, b: string, psl?: SuffixList): boolean {
  const x = normalizeDomain(a);
  const y = normalizeDomain(b);
  if (x === '' || y === '') return false;
  if (x === y) return true;
  const ox = orgDomain(x, psl);
  const oy = orgDomain(y, psl);
  return ox !== null && ox === oy;
}

/** Lower case, A-labels, no trailing dot; '' for a name that is not usable. */
export function normalizeDomain(domain: string): string {
  const parts = split(domain.trim());
  return parts === undefined ? '' : parts.ascii.join('.');
}
