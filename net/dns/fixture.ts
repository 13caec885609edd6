// DNS fixtures: the shared JSON format (name -> "NXDOMAIN" | "SERVFAIL" | "TIMEOUT" | type -> records), its
// validation, the answer a fixture gives (CNAMEs followed as a recursive resolver would), and a resolver serving it.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { WireRecord } from './message.js';
import { isEncodableName, normalizeName } from './names.js';
import { LOOKUP_TXT_RAW, toPublic, toRawTxt } from './records.js';
import type { RawTxtSource } from './records.js';
import { DNS_TYPES, DnsConfigError } from './types.js';
import type { DnsResult, DnsType, RecordOf, Resolver } from './types.js';

export type FixtureFailure = 'SERVFAIL' | 'TIMEOUT';

export interface FixtureMx {
  exchange: string;
  priority: number;
}

export interface FixtureTlsa {
  usage: number;
  selector: number;
  matchingType: number;
  /** Certificate association data, hex. */
  data: string;
}

/** The records of one name. A type that is absent has no data (NODATA); other type names in JSON are ignored. */
export interface FixtureNode {
  A?: string[] | FixtureFailure;
  AAAA?: string[] | FixtureFailure;
  MX?: FixtureMx[] | FixtureFailure;
  /** One inner list per record: its character-strings, sent as UTF-8 (each at most 255 octets). */
  TXT?: string[][] | FixtureFailure;
  PTR?: string[] | FixtureFailure;
  CNAME?: string[] | FixtureFailure;
  TLSA?: FixtureTlsa[] | FixtureFailure;
}

/** Keyed by lower-case name without the trailing dot. Absent names are NXDOMAIN. */
export type DnsFixture = Record<string, 'NXDOMAIN' | 'SERVFAIL' | 'TIMEOUT' | FixtureNode>;

/** TTL the fixture resolver reports, and the test DNS server's default record TTL. */
export const FIXTURE_TTL = 300;
/** Negative TTL the fixture resolver reports, and the test DNS server's default SOA minimum. */
export const FIXTURE_NEGATIVE_TTL = 30;
const MAX_CHAIN = 8;

type NodeValue = WireRecord[] | FixtureFailure;
type IndexedNode = 'NXDOMAIN' | FixtureFailure | Map<string, NodeValue>;

/** A validated fixture: names normalized, records in the client's kept form (TXT as UTF-8 octets). */
export class FixtureIndex {
  readonly #names: Map<string, IndexedNode>;
  private constructor(names: Map<string, IndexedNode>) {
    this.#names = names;
  }

  /** Validates a fixture (a parsed JSON value or a DnsFixture). Throws DnsConfigError naming the first fault. */
  static from(value: unknown, source = 'DNS fixture'): FixtureIndex {
    const fail = (where: string, what: string): never => {
      throw new DnsConfigError(`${source}: ${where}: ${what}`);
    };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('top level', 'expected an object of names');
    const names = new Map<string, IndexedNode>();
    for (const [rawName, node] of Object.entries(value as Record<string, unknown>)) {
      const name = normalizeName(rawName);
      if (!isEncodableName(name)) fail(rawName, 'not a valid domain name');
      if (names.has(name)) fail(rawName, 'name listed twice');
      if (node === 'NXDOMAIN' || node === 'SERVFAIL' || node === 'TIMEOUT') {
        names.set(name, node);
        continue;
      }
      if (typeof node !== 'object' || node === null || Array.isArray(node)) fail(rawName, 'expected "NXDOMAIN", "SERVFAIL", "TIMEOUT" or an object of record types');
      const types = new Map<string, NodeValue>();
      for (const [type, records] of Object.entries(node as Record<string, unknown>)) {
        if (!/^[A-Z][A-Z0-9]*$/.test(type)) fail(`${rawName}.${type}`, 'record types are upper case');
        if (!DNS_TYPES.includes(type as DnsType)) continue;
        if (records === 'SERVFAIL' || records === 'TIMEOUT') {
          types.set(type, records);
          continue;
        }
        if (!Array.isArray(records)) fail(`${rawName}.${type}`, 'expected a list of records, "SERVFAIL" or "TIMEOUT"');
        const list = (records as unknown[]).map((r, i) => toKept(type as DnsType, r, (what) => fail(`${rawName}.${type}[${i}]`, what)));
        if (type === 'CNAME' && list.length > 1) fail(`${rawName}.CNAME`, 'a name has at most one CNAME');
        types.set(type, list);
      }
      names.set(name, types);
    }
    return new FixtureIndex(names);
  }

  /**
   * The answer a recursive resolver would give from this fixture: CNAMEs followed (at most 8; a loop or a longer
   * chain is SERVFAIL), NXDOMAIN for absent names, no records (NODATA) for absent types. `type` may be any type
   * name; types outside DnsType have no data. With `follow` false the answer stops after the first CNAME, as an
   * authoritative server's does when the target is outside its zone.
   */
  answer(name: string, type: string, follow = true): FixtureAnswer {
    const chain: { owner: string; target: string }[] = [];
    let current = normalizeName(name);
    for (;;) {
      const node = this.#names.get(current);
      if (node === undefined || node === 'NXDOMAIN') return { kind: 'answer', rcode: 'NXDOMAIN', chain, final: current, records: [] };
      if (node === 'SERVFAIL' || node === 'TIMEOUT') return failure(node);
      const own = node.get(type);
      if (own === 'SERVFAIL' || own === 'TIMEOUT') return failure(own);
      if (own !== undefined) return { kind: 'answer', rcode: 'NOERROR', chain, final: current, records: own };
      const cname = type === 'CNAME' ? undefined : node.get('CNAME');
      if (cname === 'SERVFAIL' || cname === 'TIMEOUT') return failure(cname);
      const target = cname?.[0];
      if (typeof target !== 'string') return { kind: 'answer', rcode: 'NOERROR', chain, final: current, records: [] };
      if (chain.length >= MAX_CHAIN || chain.some((c) => c.owner === target) || target === current) return { kind: 'SERVFAIL' };
      chain.push({ owner: current, target });
      current = target;
      if (!follow) return { kind: 'answer', rcode: 'NOERROR', chain, final: current, records: [] };
    }
  }
}

export type FixtureAnswer =
  | { kind: 'answer'; rcode: 'NOERROR' | 'NXDOMAIN'; chain: { owner: string; target: string }[]; final: string; records: readonly WireRecord[] }
  | { kind: 'SERVFAIL' }
  | { kind: 'TIMEOUT' };

function failure(kind: FixtureFailure): FixtureAnswer {
  return kind === 'SERVFAIL' ? { kind: 'SERVFAIL' } : { kind: 'TIMEOUT' };
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

function toName(v: unknown, fail: (what: string) => never): string {
  if (typeof v !== 'string') return fail('expected a domain name');
  const n = normalizeName(v);
  return isEncodableName(n) ? n : fail(`invalid domain name "${v}"`);
}

function toKept(type: DnsType, r: unknown, fail: (what: string) => never): WireRecord {
  switch (type) {
    case 'A':
      return typeof r === 'string' && isIPv4(r) ? r : fail('expected an IPv4 address');
    case 'AAAA':
      return typeof r === 'string' && isIPv6(r) ? ipaddr.IPv6.parse(r).toString() : fail('expected an IPv6 address');
    case 'PTR':
    case 'CNAME':
      return toName(r, fail);
    case 'MX': {
      const mx = r as Partial<FixtureMx> | null;
      if (typeof mx !== 'object' || mx === null || !isUint(mx.priority, 0xffff)) return fail('expected {"exchange", "priority"}');
      return { exchange: toName(mx.exchange, fail), priority: mx.priority };
    }
    case 'TXT': {
      if (!Array.isArray(r) || !r.every((s) => typeof s === 'string')) return fail('expected a list of strings (one record)');
      const strings = (r as string[]).map((s) => Buffer.from(s, 'utf8'));
      if (strings.some((b) => b.length > 255)) return fail('a character-string is at most 255 octets');
      return strings;
    }
    case 'TLSA': {
      const t = r as Partial<FixtureTlsa> | null;
      if (typeof t !== 'object' || t === null || !isUint(t.usage, 255) || !isUint(t.selector, 255) || !isUint(t.matchingType, 255)) {
        return fail('expected {"usage", "selector", "matchingType", "data"}');
      }
      if (typeof t.data !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(t.data)) return fail('data must be hex');
      return { usage: t.usage, selector: t.selector, matchingType: t.matchingType, data: Buffer.from(t.data, 'hex') };
    }
  }
}

/** Validates a fixture value. Throws DnsConfigError. */
export function parseDnsFixture(value: unknown, source?: string): DnsFixture {
  FixtureIndex.from(value, source);
  return value as DnsFixture;
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DnsConfigError(`${path}: not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and validates a fixture file. Throws DnsConfigError (unreadable file, bad JSON, bad records). */
export async function loadDnsFixture(path: string): Promise<DnsFixture> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DnsConfigError(`${path}: cannot read DNS fixture: ${(err as Error).message}`, { cause: err });
  }
  return parseDnsFixture(parseJson(text, path), path);
}

/** loadDnsFixture, synchronously (for start-up code and tests). */
export function loadDnsFixtureSync(path: string): DnsFixture {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DnsConfigError(`${path}: cannot read DNS fixture: ${(err as Error).message}`, { cause: err });
  }
  return parseDnsFixture(parseJson(text, path), path);
}

export interface FixtureResolverOptions {
  /** The AD bit on every answer (default false), as from a validating resolver. */
  readonly ad?: boolean;
}

class FixtureResolver implements Resolver, RawTxtSource {
  readonly #index: FixtureIndex;
  readonly #ad: boolean;

  constructor(index: FixtureIndex, ad: boolean) {
    this.#index = index;
    this.#ad = ad;
  }

  async lookup<T extends DnsType>(name: string, type: T): Promise<DnsResult<RecordOf<T>>> {
    return toPublic(type, this.#kept(name, type)) as DnsResult<RecordOf<T>>;
  }

  async [LOOKUP_TXT_RAW](name: string): Promise<DnsResult<Buffer[]>> {
    return toRawTxt(this.#kept(name, 'TXT'));
  }

  #kept(name: string, type: DnsType): DnsResult<WireRecord> {
    if (!DNS_TYPES.includes(type)) return { kind: 'temperror', reason: `unsupported record type ${String(type)}` };
    const n = normalizeName(name);
    if (!isEncodableName(n)) return { kind: 'nxdomain', ad: false, ttl: 0 };
    const a = this.#index.answer(n, type);
    if (a.kind === 'SERVFAIL') return { kind: 'temperror', reason: `SERVFAIL (fixture) for ${n} ${type}` };
    if (a.kind === 'TIMEOUT') return { kind: 'temperror', reason: `timeout (fixture) for ${n} ${type}` };
    if (a.records.length > 0) return { kind: 'ok', records: [...a.records], ad: this.#ad, ttl: FIXTURE_TTL };
    return { kind: a.rcode === 'NXDOMAIN' ? 'nxdomain' : 'nodata', ad: this.#ad, ttl: FIXTURE_NEGATIVE_TTL };
  }
}

/**
 * A resolver answering from a fixture in memory, with the network resolver's results for the same data served by
 * the test DNS server: TTL 300 for records, 30 for negative answers; "TIMEOUT" and "SERVFAIL" give temperror at
 * once. Throws DnsConfigError for an invalid fixture.
 */
export function createFixtureResolver(fixture: DnsFixture | FixtureIndex, opts: FixtureResolverOptions = {}): Resolver & RawTxtSource {
  const index = fixture instanceof FixtureIndex ? fixture : FixtureIndex.from(fixture);
  return new FixtureResolver(index, opts.ad ?? false);
}
