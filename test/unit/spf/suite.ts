// The OpenSPF YAML suites (RFC 7208 and RFC 4408 test data) as test cases and an in-memory resolver per scenario,
// following ../shared/conformance/README.md ("SPF YAML") and the pyspf driver's reading of zonedata.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import type { SpfDnsResult, SpfDnsType, SpfRecordTypes, SpfResolver } from '../../../protocol/spf/index.js';

export interface SuiteCase {
  readonly scenario: string;
  readonly name: string;
  readonly spec: string;
  readonly helo: string;
  readonly host: string;
  readonly mailfrom: string;
  readonly results: readonly string[];
  readonly explanation?: string;
  readonly dns: SuiteResolver;
}

export type Item = 'TIMEOUT' | { readonly type: string; readonly value: unknown };

/** The repository root: the nearest directory above this file holding package.json (works from src and dist). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The shared conformance folder lives beside the repository: ../shared/conformance from the root. */
export function suitePath(file: string): string {
  return resolve(repoRoot(), '..', 'shared', 'conformance', 'spf-openspf', file);
}

/**
 * A Resolver over one scenario's zonedata. Strings keep YAML's "\xNN" escapes as single UTF-16 units below 0x100,
 * i.e. raw octets (a byte string), which is what a TXT record carries. Counts queries for the bounded-work tests.
 */
export class SuiteResolver implements SpfResolver {
  readonly #zone: Map<string, Item[]>;
  queries = 0;

  constructor(zonedata: Record<string, unknown>) {
    this.#zone = new Map();
    for (const [name, entries] of Object.entries(zonedata)) {
      this.#zone.set(name.toLowerCase().replace(/\.$/, ''), readEntries(Array.isArray(entries) ? entries : []));
    }
  }

  async lookup<T extends SpfDnsType>(name: string, type: T): Promise<SpfDnsResult<SpfRecordTypes[T]>> {
    this.queries++;
    let current = name.toLowerCase().replace(/\.$/, '');
    const seen = new Set<string>();
    for (;;) {
      const items = this.#zone.get(current);
      if (items === undefined) return { kind: 'nxdomain' };
      const records: unknown[] = [];
      let cname: string | undefined;
      for (const item of items) {
        if (item === 'TIMEOUT') {
          if (records.length === 0) return { kind: 'temperror', reason: 'timeout' };
          break;
        }
        if (item.type === type) records.push(convert(type, item.value));
        else if (item.type === 'CNAME' && cname === undefined) cname = String(item.value).toLowerCase().replace(/\.$/, '');
      }
      if (records.length > 0) return { kind: 'ok', records: records as SpfRecordTypes[T][] };
      if (cname === undefined) return { kind: 'nodata' };
      if (seen.has(cname) || seen.size > 8) return { kind: 'temperror', reason: 'CNAME loop' };
      seen.add(current);
      current = cname;
    }
  }
}

/**
 * As the pyspf driver reads zonedata: SPF entries are also TXT entries, appended after everything else (after a
 * TIMEOUT too), unless the name has any TXT entry; "NONE" values are no record at all.
 */
export function readEntries(entries: unknown[]): Item[] {
  const items: Item[] = [];
  const generated: Item[] = [];
  let hasTxt = false;
  for (const e of entries) {
    if (e === 'TIMEOUT') {
      items.push('TIMEOUT');
      continue;
    }
    if (typeof e !== 'object' || e === null) continue;
    for (const [type, value] of Object.entries(e as Record<string, unknown>)) {
      if (type === 'TXT') hasTxt = true;
      if (value === 'NONE') continue;
      items.push({ type, value });
      if (type === 'SPF') generated.push({ type: 'TXT', value });
    }
  }
  return hasTxt ? items : [...items, ...generated];
}

function convert(type: SpfDnsType, value: unknown): unknown {
  switch (type) {
    case 'TXT':
      return Array.isArray(value) ? value.map(String) : [String(value)];
    case 'MX': {
      const [priority, exchange] = Array.isArray(value) ? value : [0, ''];
      return { priority: Number(priority), exchange: String(exchange ?? '') };
    }
    default:
      return String(value);
  }
}

/** All cases of one suite file, each with its scenario's resolver (zonedata belongs to its own document). */
export function loadSuite(file: string): SuiteCase[] {
  const docs = loadAll(readFileSync(suitePath(file), 'utf8')) as Record<string, unknown>[];
  const cases: SuiteCase[] = [];
  for (const doc of docs) {
    if (!doc || typeof doc !== 'object') continue;
    const scenario = String(doc['description'] ?? '');
    const zonedata = (doc['zonedata'] ?? {}) as Record<string, unknown>;
    const tests = (doc['tests'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [name, t] of Object.entries(tests)) {
      const result = t['result'];
      const explanation = t['explanation'];
      cases.push({
        scenario,
        name,
        spec: String(t['spec'] ?? ''),
        helo: String(t['helo'] ?? ''),
        host: String(t['host'] ?? ''),
        mailfrom: String(t['mailfrom'] ?? ''),
        results: (Array.isArray(result) ? result : [result]).map(String),
        ...(typeof explanation === 'string' ? { explanation } : {}),
        // One resolver per case: query counts stay per case, and nothing is shared between them.
        dns: new SuiteResolver(zonedata),
      });
    }
  }
  return cases;
}
