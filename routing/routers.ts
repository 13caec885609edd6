// The router chain: for one recipient, where it goes (Exim's routers, in order): redirect (aliases),
// accept (local Maildir), manualroute (route_list, smarthost), dnslookup (MX, RFC 5321 section 5.1).
import type { ListSpec, MatchContext } from '../policy/lists.js';
import { matchDomain, matchHost, matchLocalPart } from '../policy/lists.js';
import type { Aliases } from './aliases.js';
import { expandAliases } from './aliases.js';

export interface Address {
  readonly local: string;
  readonly domain: string;
}

/** What a DNS lookup can say; the network resolver in net/dns satisfies this. */
export type DnsAnswer<T> =
  | { readonly kind: 'ok'; readonly records: readonly T[] }
  | { readonly kind: 'nodata' }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'temperror'; readonly reason: string };

export interface DnsPort {
  lookup(name: string, type: 'MX'): Promise<DnsAnswer<{ exchange: string; priority: number }>>;
  lookup(name: string, type: 'A' | 'AAAA'): Promise<DnsAnswer<string>>;
}

export interface RemoteHost {
  /** The host's name (or its address literal); what logs and reports call it. */
  readonly name: string;
  readonly port: number;
  /** Addresses to try, in order. */
  readonly addresses: readonly string[];
  readonly mx?: number;
}

export type Route =
  | { readonly kind: 'local'; readonly router: string; readonly localPart: string }
  | { readonly kind: 'remote'; readonly router: string; readonly hosts: readonly RemoteHost[] }
  | { readonly kind: 'expand'; readonly router: string; readonly addresses: readonly Address[] }
  | { readonly kind: 'fail'; readonly router: string; readonly status: string; readonly reason: string }
  | { readonly kind: 'defer'; readonly router: string; readonly reason: string };

export interface RoutingSettings {
  readonly primaryHostname: string;
  readonly localDomains: ListSpec;
  readonly localUsers: ListSpec;
  readonly match: MatchContext;
  readonly aliases?: Aliases;
  readonly routeList: readonly { readonly domains: ListSpec; readonly hosts: readonly string[] }[];
  readonly smarthost?: readonly string[];
  readonly ignoreTargetHosts: ListSpec;
  readonly smtpPort: number;
  /** "ip:port" pairs we listen on: a route there would loop back to us. */
  readonly self: ReadonlySet<string>;
  readonly dns: DnsPort;
  readonly random: () => number;
}

/**
 * Route one address through the chain. Never throws for routing reasons. An address that came out
 * of an alias expansion (`expanded`) is not redirected again: expandAliases gives final addresses.
 */
export async function route(addr: Address, s: RoutingSettings, expanded = false): Promise<Route> {
  const local = matchDomain(addr.domain, s.localDomains, s.match);
  if (local && s.aliases && !expanded) {
    const r = expandAliases(s.aliases, addr, (d) => matchDomain(d, s.localDomains, s.match));
    if (r.kind === 'loop') return { kind: 'fail', router: 'redirect', status: '5.4.6', reason: `alias loop: ${r.chain.join(' -> ')}` };
    if (r.kind === 'ok') {
      const selfOnly = r.addresses.length === 1 && sameAddress(r.addresses[0] as Address, addr);
      if (!selfOnly) return { kind: 'expand', router: 'redirect', addresses: r.addresses };
    }
  }
  if (local) {
    if (!matchLocalPart(addr.local, s.localUsers, s.match)) {
      return { kind: 'fail', router: 'accept', status: '5.1.1', reason: 'Unknown user' };
    }
    return { kind: 'local', router: 'accept', localPart: addr.local.toLowerCase() };
  }
  for (const r of s.routeList) {
    if (matchDomain(addr.domain, r.domains, s.match)) return manual('manualroute', r.hosts, s);
  }
  if (s.smarthost && s.smarthost.length > 0) return manual('smarthost', s.smarthost, s);
  return dnslookup(addr.domain, s);
}

const sameAddress = (a: Address, b: Address): boolean =>
  a.local.toLowerCase() === b.local.toLowerCase() && a.domain.toLowerCase() === b.domain.toLowerCase();

/** "host", "host:port", "[ip]:port", "ip", "[ipv6]:port" */
export function parseHostSpec(spec: string, defaultPort: number): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(spec.trim());
  if (!m) return null;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

const isIp = (h: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');

/** Addresses of a host name: A and AAAA (IPv4 first), or the host itself when it is an address. */
async function addressesOf(host: string, s: RoutingSettings): Promise<{ kind: 'ok'; addresses: string[] } | { kind: 'none' } | { kind: 'temperror'; reason: string }> {
  if (isIp(host)) return { kind: 'ok', addresses: [host] };
  const [a, aaaa] = await Promise.all([s.dns.lookup(host, 'A'), s.dns.lookup(host, 'AAAA')]);
  const addresses = [...(a.kind === 'ok' ? a.records : []), ...(aaaa.kind === 'ok' ? aaaa.records : [])];
  if (addresses.length > 0) return { kind: 'ok', addresses };
  if (a.kind === 'temperror' || aaaa.kind === 'temperror') {
    return { kind: 'temperror', reason: `DNS lookup of ${host} failed: ${a.kind === 'temperror' ? a.reason : (aaaa as { reason: string }).reason}` };
  }
  return { kind: 'none' };
}

async function manual(router: string, specs: readonly string[], s: RoutingSettings): Promise<Route> {
  const hosts: RemoteHost[] = [];
  const troubles: string[] = [];
  for (const spec of specs) {
    const hp = parseHostSpec(spec, s.smtpPort);
    if (!hp) {
      troubles.push(`bad host "${spec}"`);
      continue;
    }
    const a = await addressesOf(hp.host, s);
    if (a.kind === 'ok') hosts.push({ name: hp.host, port: hp.port, addresses: a.addresses });
    else troubles.push(a.kind === 'temperror' ? a.reason : `${hp.host} has no address`);
  }
  if (hosts.length > 0) return { kind: 'remote', router, hosts };
  return { kind: 'defer', router, reason: troubles.join('; ') || 'no hosts' };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * MX routing (RFC 5321 section 5.1, RFC 7505 null MX): exchangers by preference, random within a
 * preference; no MX means the domain itself (implicit MX); targets in ignore_target_hosts are
 * dropped; when we are one of the exchangers, only more preferred ones are used.
 */
async function dnslookup(domain: string, s: RoutingSettings): Promise<Route> {
  const router = 'dnslookup';
  const mx = await s.dns.lookup(domain, 'MX');
  if (mx.kind === 'temperror') return { kind: 'defer', router, reason: `DNS MX lookup for ${domain} failed: ${mx.reason}` };
  if (mx.kind === 'nxdomain') return { kind: 'fail', router, status: '5.1.2', reason: `Unrouteable address: domain ${domain} does not exist` };
  let exchangers: { name: string; priority: number }[];
  if (mx.kind === 'nodata' || mx.records.length === 0) {
    exchangers = [{ name: domain, priority: -1 }];
  } else {
    if (mx.records.some((r) => r.exchange === '' || r.exchange === '.')) {
      return { kind: 'fail', router, status: '5.1.10', reason: `Domain ${domain} does not accept mail (null MX, RFC 7505)` };
    }
    const byPref = new Map<number, { name: string; priority: number }[]>();
    for (const r of mx.records) {
      const list = byPref.get(r.priority) ?? [];
      list.push({ name: r.exchange.toLowerCase().replace(/\.$/, ''), priority: r.priority });
      byPref.set(r.priority, list);
    }
    exchangers = [...byPref.keys()].sort((a, b) => a - b).flatMap((p) => shuffle(byPref.get(p) ?? [], s.random));
  }
  const hosts: RemoteHost[] = [];
  const troubles: string[] = [];
  let selfPreference: number | undefined;
  for (const ex of exchangers) {
    if (selfPreference !== undefined && ex.priority >= selfPreference) break;
    const a = await addressesOf(ex.name, s);
    if (a.kind !== 'ok') {
      troubles.push(a.kind === 'temperror' ? a.reason : `${ex.name} has no address`);
      if (a.kind === 'temperror') continue;
      continue;
    }
    if (ex.name === s.primaryHostname.toLowerCase() || a.addresses.some((ip) => s.self.has(`${ip}:${s.smtpPort}`))) {
      selfPreference = ex.priority;
      break;
    }
    const usable = a.addresses.filter((ip) => !matchHost(ip, s.ignoreTargetHosts, s.match));
    if (usable.length === 0) {
      troubles.push(`${ex.name} has only ignored addresses (ignore_target_hosts)`);
      continue;
    }
    hosts.push({ name: ex.name, port: s.smtpPort, addresses: usable, ...(ex.priority >= 0 ? { mx: ex.priority } : {}) });
  }
  if (hosts.length > 0) return { kind: 'remote', router, hosts };
  if (selfPreference !== undefined) {
    return { kind: 'defer', router, reason: `lowest numbered MX record for ${domain} points to this host` };
  }
  if (troubles.some((t) => t.startsWith('DNS lookup'))) return { kind: 'defer', router, reason: troubles.join('; ') };
  return { kind: 'fail', router, status: '5.1.2', reason: `Unrouteable address: ${troubles.join('; ') || `no usable host for ${domain}`}` };
}
