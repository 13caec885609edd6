// The OpenSPF RFC 7208 suite as DNS fixture files (the JSON format of `--dns-cache`), for running it through
// `petrel auth spf`. The YAML is read as test/unit/spf/suite.ts reads it (and ../shared/conformance/README.md,
// "SPF YAML", describes it); each scenario's zonedata becomes one fixture:
// - SPF entries are served as TXT unless the name has a TXT entry; "NONE" is no record.
// - A bare TIMEOUT: types with records listed before it keep them, every other type is "TIMEOUT".
// - "\xNN" escapes are octets. A string whose octets are valid UTF-8 is written as that text (the fixture sends it
//   as UTF-8: the same octets). Octets that are not UTF-8 cannot be written in JSON: such records are left out and
//   every case whose check asks for that name is skipped, with the reason.
// - Character-strings over 255 octets are cut into several (SPF joins them); names that cannot go on the wire
//   (a label over 63 octets, a name over 255) are left out: no resolver can be asked for them.
import { loadAll } from 'js-yaml';
import { readFileSync } from 'node:fs';
import { isEncodableName, normalizeName } from '../../net/dns/names.js';
import { parseDnsFixture } from '../../net/dns/resolver.js';
import type { DnsFixture, FixtureNode } from '../../net/dns/resolver.js';
import { checkHost } from '../../protocol/spf/index.js';
import type { SpfDnsResult, SpfDnsType, SpfRecordTypes, SpfResolver } from '../../protocol/spf/index.js';
import { readEntries, SuiteResolver, suitePath } from '../unit/spf/suite.js';
import type { Item } from '../unit/spf/suite.js';

export interface SpfCase {
  readonly scenario: string;
  readonly scenarioIndex: number;
  readonly name: string;
  readonly spec: string;
  readonly helo: string;
  readonly host: string;
  readonly mailfrom: string;
  readonly results: readonly string[];
  readonly explanation?: string;
  /** Why the case cannot be run from the JSON fixture; undefined when it can. */
  readonly skip?: string;
}

export interface SpfScenario {
  readonly description: string;
  readonly fixture: DnsFixture;
  /** The YAML's zonedata as read (strings hold octets as characters below 0x100). */
  readonly zonedata: Record<string, unknown>;
  /** Names (normal form) whose records could not be written, with the reason. */
  readonly unrepresentable: ReadonlyMap<string, string>;
}

export type Entry = Item;

/** A name's entries as the unit suite reads them, without the SPF-type ones (a DNS fixture has no SPF type). */
export function entries(list: unknown[]): Entry[] {
  return readEntries(list).filter((e) => e === 'TIMEOUT' || e.type !== 'SPF');
}

class Unrepresentable extends Error {}

/** A YAML string (octets as characters below 0x100, from "\xNN") as JSON text sending the same octets. */
function octetText(s: string): string {
  const codes = [...s].map((c) => c.codePointAt(0) ?? 0);
  // ASCII needs nothing; characters above 0xFF were never octets.
  if (codes.every((c) => c < 0x80) || codes.some((c) => c > 0xff)) return s;
  const octets = Buffer.from(s, 'latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(octets);
  } catch {
    const shown = s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    throw new Unrepresentable(`the octets "${shown}" are not UTF-8, which a JSON fixture cannot carry`);
  }
}

/** Cuts a character-string into pieces of at most 255 octets of UTF-8. */
function cut(s: string): string[] {
  if (Buffer.byteLength(s, 'utf8') <= 255) return [s];
  const out: string[] = [];
  let cur = '';
  for (const ch of s) {
    if (Buffer.byteLength(cur + ch, 'utf8') > 255) {
      out.push(cur);
      cur = '';
    }
    cur += ch;
  }
  out.push(cur);
  return out;
}

const TYPES = ['A', 'AAAA', 'MX', 'TXT', 'PTR'] as const;

function node(list: Entry[]): FixtureNode {
  const records = new Map<string, unknown[]>();
  let cname: string | undefined;
  let timeout = false;
  for (const e of list) {
    if (e === 'TIMEOUT') {
      timeout = true;
      break;
    }
    const { type, value } = e;
    let record: unknown;
    switch (type) {
      case 'TXT':
        record = (Array.isArray(value) ? value.map(String) : [String(value)]).map(octetText).flatMap(cut);
        break;
      case 'MX': {
        const [priority, exchange] = Array.isArray(value) ? value : [0, ''];
        record = { priority: Number(priority), exchange: String(exchange ?? '') || '.' };
        break;
      }
      case 'CNAME':
        cname ??= String(value);
        continue;
      case 'A':
      case 'AAAA':
      case 'PTR':
        record = octetText(String(value));
        break;
      default:
        continue;
    }
    const l = records.get(type) ?? [];
    l.push(record);
    records.set(type, l);
  }
  const out: Record<string, unknown> = {};
  for (const [type, l] of records) out[type] = l;
  if (timeout) {
    for (const t of TYPES) if (!records.has(t)) out[t] = 'TIMEOUT';
  } else if (cname !== undefined) out['CNAME'] = [cname];
  return out as FixtureNode;
}

/** One scenario's zonedata as a fixture. */
export function convertZone(zonedata: Record<string, unknown>): { fixture: DnsFixture; unrepresentable: Map<string, string> } {
  const fixture: DnsFixture = {};
  const unrepresentable = new Map<string, string>();
  for (const [rawName, list] of Object.entries(zonedata)) {
    const name = normalizeName(rawName);
    if (!isEncodableName(name)) continue;
    try {
      const n = node(entries(Array.isArray(list) ? list : []));
      parseDnsFixture({ [name]: n }, 'zonedata');
      fixture[name] = n;
    } catch (e) {
      unrepresentable.set(name, (e as Error).message);
    }
  }
  parseDnsFixture(fixture, 'zonedata');
  return { fixture, unrepresentable };
}

/** Wraps a resolver and notes every name asked for. */
class Recording implements SpfResolver {
  readonly names = new Set<string>();
  readonly #inner: SpfResolver;
  constructor(inner: SpfResolver) {
    this.#inner = inner;
  }
  lookup<T extends SpfDnsType>(name: string, type: T): Promise<SpfDnsResult<SpfRecordTypes[T]>> {
    this.names.add(normalizeName(name));
    return this.#inner.lookup(name, type);
  }
}

export const RECEIVER = 'receiver.example';
export const NOW_SECONDS = 1704067200;

/**
 * The suite: scenarios with their fixtures, and every case. A case is skipped when the names its check asks for
 * (found by running it against the YAML's own data, as the unit suite does) include one the fixture cannot hold.
 */
export async function loadSpfSuite(file = 'rfc7208-tests.yml'): Promise<{ scenarios: SpfScenario[]; cases: SpfCase[] }> {
  const docs = loadAll(readFileSync(suitePath(file), 'utf8')) as Record<string, unknown>[];
  const scenarios: SpfScenario[] = [];
  const cases: SpfCase[] = [];
  for (const doc of docs) {
    if (!doc || typeof doc !== 'object') continue;
    const description = String(doc['description'] ?? '');
    const zonedata = (doc['zonedata'] ?? {}) as Record<string, unknown>;
    const { fixture, unrepresentable } = convertZone(zonedata);
    const scenarioIndex = scenarios.length;
    scenarios.push({ description, fixture, zonedata, unrepresentable });
    for (const [name, t] of Object.entries((doc['tests'] ?? {}) as Record<string, Record<string, unknown>>)) {
      const result = t['result'];
      const explanation = t['explanation'];
      const c = {
        scenario: description, scenarioIndex, name, spec: String(t['spec'] ?? ''), helo: String(t['helo'] ?? ''),
        host: String(t['host'] ?? ''), mailfrom: String(t['mailfrom'] ?? ''),
        results: (Array.isArray(result) ? result : [result]).map(String),
        ...(typeof explanation === 'string' ? { explanation } : {}),
      };
      let skip: string | undefined;
      if (unrepresentable.size > 0) {
        const dns = new Recording(new SuiteResolver(zonedata));
        const helo = c.mailfrom === '';
        const sender = helo ? `postmaster@${c.helo}` : c.mailfrom;
        await checkHost(
          { ip: c.host, domain: sender.slice(sender.lastIndexOf('@') + 1), sender, helo: c.helo, identity: helo ? 'helo' : 'mailfrom' },
          { dns, now: () => NOW_SECONDS * 1000, receiver: RECEIVER },
        );
        const hit = [...dns.names].find((n) => unrepresentable.has(n));
        if (hit !== undefined) skip = `asks for ${hit}: ${unrepresentable.get(hit)}`;
      }
      cases.push(skip === undefined ? c : { ...c, skip });
    }
  }
  return { scenarios, cases };
}

/** The `petrel auth spf` arguments for a case (an empty mailfrom checks the HELO identity), DNS from a fixture file. */
export function spfArgs(c: SpfCase, fixtureFile: string, dns: readonly string[] = ['--dns-cache', fixtureFile]): string[] {
  return ['--ip', c.host, '--helo', c.helo, '--sender', c.mailfrom, ...dns, '--receiver', RECEIVER, '--now', String(NOW_SECONDS)];
}

/** Judges the JSON `petrel auth spf` printed: a listed result; the explanation when the suite gives one. */
export function judge(c: SpfCase, out: { result?: unknown; explanation?: unknown }): string | undefined {
  const got = `got ${String(out.result)}${typeof out.explanation === 'string' ? ` "${out.explanation}"` : ''}`;
  const want = `${c.scenario}: ${c.name} (${c.spec}): expected ${c.results.join('|')}${c.explanation !== undefined ? ` "${c.explanation}"` : ''}, ${got}`;
  if (!c.results.includes(String(out.result))) return want;
  if (c.explanation === undefined) return undefined;
  if (c.explanation === 'DEFAULT') {
    // pyspf's driver sets the literal DEFAULT; Petrel's default is RFC 7208 section 6.2's sentence.
    return typeof out.explanation === 'string' && / does not designate .+ as permitted sender of /.test(out.explanation) ? undefined : want;
  }
  return out.explanation === c.explanation ? undefined : want;
}
