// The check_host() engine (RFC 7208 sections 4.4-4.8, 5, 6.1, 7): record lookup and evaluation of mechanisms,
// include and redirect, with the DNS-term, void-lookup, MX and PTR limits of section 4.6.4 shared by the whole check.
import { inPrefix, parseAnswerAddress, reverseName, sameAddress } from './address.js';
import type { IpAddress } from './address.js';
import { expandMacroString } from './macro.js';
import type { MacroContext, MacroString } from './macro.js';
import { canonicalName, isWithin, toQueryName } from './names.js';
import { parseRecord, queriesDns, selectRecord } from './record.js';
import type { Directive, Qualifier, SpfRecord } from './record.js';
import type { SpfDnsResult, SpfDnsType, SpfLimits, SpfRecordTypes, SpfResolver, SpfResultKind } from './types.js';

/** The fixed parts of one check: who is sending, from where. */
export interface CheckContext {
  readonly ip: IpAddress;
  readonly sender: string;
  readonly local: string;
  readonly senderDomain: string;
  readonly helo: string;
  readonly receiver: string;
  readonly now: () => number;
}

/** A record's verdict before the explanation is fetched. */
export interface Outcome {
  readonly kind: SpfResultKind;
  readonly mechanism?: string;
  readonly reason?: string;
  /** For `fail`: the domain whose record decided it, and that record's exp= (section 6.2). */
  readonly failedAt?: { readonly domain: string; readonly exp?: MacroString };
}

type Match = { kind: 'match' } | { kind: 'nomatch' } | { kind: 'error'; result: 'permerror' | 'temperror'; reason: string };
type PtrNames = { kind: 'ok'; names: string[] } | { kind: 'void' } | { kind: 'error' };

const NO_MATCH: Match = { kind: 'nomatch' };
const MATCH: Match = { kind: 'match' };

const QUALIFIER_RESULT: Record<Qualifier, SpfResultKind> = { '+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral' };

/** One check_host() run. The counters live here so that includes and redirects share them. */
export class Evaluation {
  readonly #ctx: CheckContext;
  readonly #dns: SpfResolver;
  readonly #limits: SpfLimits;
  #terms = 0;
  #voids = 0;
  #ptr: Promise<PtrNames> | undefined;
  readonly #validated = new Map<string, Promise<boolean>>();

  readonly #deadline: number | undefined;
  #expired = false;

  constructor(ctx: CheckContext, dns: SpfResolver, limits: SpfLimits) {
    this.#ctx = ctx;
    this.#dns = dns;
    this.#limits = limits;
    this.#deadline = limits.timeMs === undefined ? undefined : ctx.now() + limits.timeMs;
  }

  /** True once a query was refused because the time limit had passed (the check's result is then temperror). */
  get expired(): boolean {
    return this.#expired;
  }

  /**
   * DNS queries never throw into SPF: a resolver that throws counts as a temporary failure. Past the time limit
   * no query is sent (section 4.6.4: at least 20 seconds, then temperror).
   */
  async lookup<T extends SpfDnsType>(name: string, type: T): Promise<SpfDnsResult<SpfRecordTypes[T]>> {
    if (this.#deadline !== undefined && this.#ctx.now() > this.#deadline) {
      this.#expired = true;
      return { kind: 'temperror', reason: 'SPF time limit exceeded' };
    }
    try {
      const r = await this.#dns.lookup(name, type);
      if (r.kind === 'ok' && r.records.length === 0) return { kind: 'nodata' };
      return r;
    } catch (err) {
      return { kind: 'temperror', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  macroContext(domain: string): MacroContext {
    return { ...this.#ctx, domain, validatedName: (d) => this.#validatedName(d) };
  }

  /** Expands a domain-spec into a name to query, or undefined if no query can be made from it. */
  async targetName(spec: MacroString | undefined, domain: string): Promise<string | undefined> {
    if (spec === undefined) return domain;
    return toQueryName(await expandMacroString(spec, this.macroContext(domain)));
  }

  /** Sections 4.4 and 4.5: fetch and choose the record, then evaluate it. `none` when there is no record. */
  async checkDomain(domain: string): Promise<Outcome> {
    const txt = await this.lookup(domain, 'TXT');
    if (txt.kind === 'temperror') return { kind: 'temperror', reason: `DNS failure looking up TXT for ${domain}: ${txt.reason}` };
    if (txt.kind !== 'ok') return { kind: 'none', reason: `${domain} has no SPF record` };
    const chosen = selectRecord(txt.records);
    if (chosen.kind === 'none') return { kind: 'none', reason: `${domain} has no SPF record` };
    if (chosen.kind === 'multiple') return { kind: 'permerror', reason: `${domain} has ${chosen.count} SPF records` };
    const parsed = parseRecord(chosen.text);
    if (parsed.kind === 'error') return { kind: 'permerror', reason: `syntax error in the SPF record of ${domain}: ${parsed.reason}` };
    return this.#evaluate(parsed.record, domain);
  }

  #countTerm(): Outcome | undefined {
    this.#terms++;
    if (this.#terms <= this.#limits.dnsTerms) return undefined;
    return { kind: 'permerror', reason: `more than ${this.#limits.dnsTerms} DNS-querying mechanisms and modifiers` };
  }

  #countVoid(): Match {
    this.#voids++;
    if (this.#voids <= this.#limits.voidLookups) return NO_MATCH;
    return { kind: 'error', result: 'permerror', reason: `more than ${this.#limits.voidLookups} void DNS lookups` };
  }

  /** Section 4.6.2: directives in order, the first match decides; then redirect=; else neutral. */
  async #evaluate(record: SpfRecord, domain: string): Promise<Outcome> {
    for (const d of record.directives) {
      if (queriesDns(d.mechanism)) {
        const over = this.#countTerm();
        if (over) return { ...over, mechanism: d.text };
      }
      const m = await this.#match(d, domain);
      if (m.kind === 'error') return { kind: m.result, reason: m.reason, mechanism: d.text };
      if (m.kind === 'match') {
        const kind = QUALIFIER_RESULT[d.qualifier];
        if (kind !== 'fail') return { kind, mechanism: d.text };
        return { kind, mechanism: d.text, failedAt: record.exp ? { domain, exp: record.exp } : { domain } };
      }
    }
    if (record.redirect === undefined) return { kind: 'neutral' };
    const over = this.#countTerm();
    if (over) return { ...over, mechanism: `redirect=${record.redirect.source}` };
    // Section 6.1: the redirected record's result, exp= included, replaces this one's.
    const target = await this.targetName(record.redirect, domain);
    if (target === undefined) return { kind: 'permerror', reason: `redirect=${record.redirect.source} is not a valid domain name` };
    const inner = await this.checkDomain(target);
    if (inner.kind === 'none') return { kind: 'permerror', reason: `redirect target ${target} has no SPF record` };
    return inner;
  }

  async #match(d: Directive, domain: string): Promise<Match> {
    const m = d.mechanism;
    const ip = this.#ctx.ip;
    switch (m.type) {
      case 'all':
        return MATCH;
      case 'ip4':
      case 'ip6':
        return inPrefix(ip, m.network, m.prefix) ? MATCH : NO_MATCH;
      case 'a': {
        const target = await this.targetName(m.domain, domain);
        if (target === undefined) return NO_MATCH;
        return this.#matchAddresses(target, ip.version === 4 ? m.cidr4 : m.cidr6, true);
      }
      case 'mx':
        return this.#matchMx(m.domain, domain, ip.version === 4 ? m.cidr4 : m.cidr6);
      case 'ptr':
        return this.#matchPtr(m.domain, domain);
      case 'exists': {
        const target = await this.targetName(m.domain, domain);
        if (target === undefined) return NO_MATCH;
        // Section 5.7: always an A query, whatever the client's address family.
        const r = await this.lookup(target, 'A');
        if (r.kind === 'temperror') return { kind: 'error', result: 'temperror', reason: `DNS failure looking up A for ${target}: ${r.reason}` };
        return r.kind === 'ok' ? MATCH : this.#countVoid();
      }
      case 'include': {
        const target = await this.targetName(m.domain, domain);
        if (target === undefined) return { kind: 'error', result: 'permerror', reason: `${d.text}: not a valid domain name` };
        const inner = await this.checkDomain(target);
        // Section 5.2: pass matches; fail, softfail, neutral do not; none is a permerror.
        switch (inner.kind) {
          case 'pass': return MATCH;
          case 'fail': case 'softfail': case 'neutral': return NO_MATCH;
          case 'temperror': return { kind: 'error', result: 'temperror', reason: inner.reason ?? `temporary error in ${target}` };
          case 'permerror': return { kind: 'error', result: 'permerror', reason: inner.reason ?? `permanent error in ${target}` };
          case 'none': return { kind: 'error', result: 'permerror', reason: `included domain ${target} has no SPF record` };
        }
      }
    }
  }

  /** A or AAAA of `name` (by the client's family) within the prefix. `void` counts a void lookup. */
  async #matchAddresses(name: string, prefix: number, countVoid: boolean): Promise<Match> {
    const ip = this.#ctx.ip;
    const type = ip.version === 4 ? 'A' : 'AAAA';
    const r = await this.lookup(name, type);
    if (r.kind === 'temperror') return { kind: 'error', result: 'temperror', reason: `DNS failure looking up ${type} for ${name}: ${r.reason}` };
    if (r.kind !== 'ok') return countVoid ? this.#countVoid() : NO_MATCH;
    for (const text of r.records) {
      const addr = parseAnswerAddress(text, ip.version);
      if (addr && inPrefix(ip, addr, prefix)) return MATCH;
    }
    return NO_MATCH;
  }

  /** Section 5.4, with the limit of section 4.6.4: more than 10 MX names is a permerror. */
  async #matchMx(spec: MacroString | undefined, domain: string, prefix: number): Promise<Match> {
    const target = await this.targetName(spec, domain);
    if (target === undefined) return NO_MATCH;
    const r = await this.lookup(target, 'MX');
    if (r.kind === 'temperror') return { kind: 'error', result: 'temperror', reason: `DNS failure looking up MX for ${target}: ${r.reason}` };
    if (r.kind !== 'ok') return this.#countVoid();
    if (r.records.length > this.#limits.mxNames) {
      return { kind: 'error', result: 'permerror', reason: `${target} has ${r.records.length} MX records, more than ${this.#limits.mxNames}` };
    }
    // A null MX (RFC 7505) names the root: no addresses. The rest are asked at once, then judged in order.
    const hosts = r.records.map((mx) => canonicalName(mx.exchange)).filter((h) => h !== '');
    const results = await Promise.all(hosts.map((h) => this.#matchAddresses(h, prefix, false)));
    for (const m of results) if (m.kind !== 'nomatch') return m;
    return NO_MATCH;
  }

  /** The client's PTR names, asked once per check (section 5.5). */
  #ptrNames(): Promise<PtrNames> {
    this.#ptr ??= this.lookup(reverseName(this.#ctx.ip), 'PTR').then((r): PtrNames => {
      if (r.kind === 'ok') return { kind: 'ok', names: r.records.slice(0, this.#limits.ptrNames) };
      return r.kind === 'temperror' ? { kind: 'error' } : { kind: 'void' };
    });
    return this.#ptr;
  }

  /** True if `name` has an address equal to the client's; DNS errors skip the name (section 5.5). */
  #validate(name: string): Promise<boolean> {
    const key = canonicalName(name);
    let p = this.#validated.get(key);
    if (p === undefined) {
      const ip = this.#ctx.ip;
      p = this.lookup(key, ip.version === 4 ? 'A' : 'AAAA').then((r) => {
        if (r.kind !== 'ok') return false;
        return r.records.some((text) => {
          const addr = parseAnswerAddress(text, ip.version);
          return addr !== undefined && sameAddress(addr, ip);
        });
      });
      this.#validated.set(key, p);
    }
    return p;
  }

  /** Section 5.5: a validated PTR name equal to or under the target. Only names under the target are validated. */
  async #matchPtr(spec: MacroString | undefined, domain: string): Promise<Match> {
    const target = await this.targetName(spec, domain);
    if (target === undefined) return NO_MATCH;
    const ptr = await this.#ptrNames();
    if (ptr.kind === 'void') return this.#countVoid();
    if (ptr.kind === 'error') return NO_MATCH;
    const want = canonicalName(target);
    for (const name of ptr.names) {
      if (isWithin(canonicalName(name), want) && (await this.#validate(name))) return MATCH;
    }
    return NO_MATCH;
  }

  /** %{p} (section 7.3): the domain itself if validated, else a validated subdomain, else any, else "unknown". */
  async #validatedName(domain: string): Promise<string> {
    const ptr = await this.#ptrNames();
    if (ptr.kind !== 'ok') return 'unknown';
    const d = canonicalName(domain);
    const rank = (n: string): number => (canonicalName(n) === d ? 0 : isWithin(canonicalName(n), d) ? 1 : 2);
    const ordered = [...ptr.names].sort((a, b) => rank(a) - rank(b));
    for (const name of ordered) {
      if (await this.#validate(name)) return name.endsWith('.') ? name.slice(0, -1) : name;
    }
    return 'unknown';
  }
}
