// Lookups built on a Resolver: a host's addresses (A and AAAA together, RFC 5321 5.1) and TXT records as raw octets.
import { LOOKUP_TXT_RAW } from './records.js';
import type { RawTxtSource } from './records.js';
import type { DnsResult, Resolver } from './types.js';

export type AddressResult =
  | { kind: 'ok'; addresses: string[]; ad: boolean; ttl: number }
  | { kind: 'nodata'; ad: boolean; ttl: number }
  | { kind: 'nxdomain'; ad: boolean; ttl: number }
  | { kind: 'temperror'; reason: string };

/**
 * A and AAAA queried together. ok if either has records (IPv4 first, then IPv6); temperror only if both failed;
 * otherwise nxdomain if either said so, else nodata. A side that failed while the other answered is dropped, but
 * then `ad` is false: the set may be incomplete, so it is not claimed as authenticated.
 */
export async function lookupAddresses(resolver: Resolver, name: string): Promise<AddressResult> {
  const [a, aaaa] = await Promise.all([resolver.lookup(name, 'A'), resolver.lookup(name, 'AAAA')]);
  if (a.kind === 'temperror' && aaaa.kind === 'temperror') {
    return { kind: 'temperror', reason: a.reason === aaaa.reason ? a.reason : `A: ${a.reason}; AAAA: ${aaaa.reason}` };
  }
  const answered = [a, aaaa].filter((r) => r.kind !== 'temperror');
  const ad = answered.length === 2 && answered.every((r) => r.ad);
  const ttl = Math.min(...answered.map((r) => r.ttl));
  const addresses = [...(a.kind === 'ok' ? a.records : []), ...(aaaa.kind === 'ok' ? aaaa.records : [])];
  if (addresses.length > 0) return { kind: 'ok', addresses, ad, ttl };
  if (answered.some((r) => r.kind === 'nxdomain')) return { kind: 'nxdomain', ad, ttl };
  return { kind: 'nodata', ad, ttl };
}

function hasRawTxt(r: Resolver): r is Resolver & RawTxtSource {
  return typeof (r as Partial<RawTxtSource>)[LOOKUP_TXT_RAW] === 'function';
}

/**
 * TXT records as their raw character-strings (one Buffer per character-string, one array per record). The
 * network and fixture resolvers give the octets as received; any other Resolver's strings are encoded as UTF-8.
 */
export async function lookupTxtRaw(resolver: Resolver, name: string): Promise<DnsResult<Buffer[]>> {
  if (hasRawTxt(resolver)) return resolver[LOOKUP_TXT_RAW](name);
  const r = await resolver.lookup(name, 'TXT');
  if (r.kind !== 'ok') return r;
  return { ...r, records: r.records.map((rec) => rec.map((s) => Buffer.from(s, 'utf8'))) };
}
