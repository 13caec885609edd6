// DNS messages for the client: the query (RFC 1035 4.1, EDNS0 per RFC 6891, AD per RFC 6840 5.7) and reading an answer
// (CNAME chains, RFC 2181 TTLs, RFC 2308 negative TTL from the SOA).
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { normalizeName, sameName } from './names.js';
import type { DnsType, MxRecord, TlsaRecord } from './types.js';

/** The UDP payload size we advertise (the DNS flag day 2020 value: no IP fragmentation). */
export const EDNS_UDP_SIZE = 1232;
/** Longest positive lifetime kept or reported, in seconds (RFC 2181 8 allows more; resolvers cap at a day). */
export const MAX_TTL = 86_400;
/** Longest negative lifetime (RFC 2308 5 suggests one to three hours). */
export const MAX_NEGATIVE_TTL = 3_600;
/** Negative lifetime when the answer carries no SOA. */
export const DEFAULT_NEGATIVE_TTL = 60;

/** TXT records are kept as raw character-strings; the public result decodes them. */
export type WireRecord = string | MxRecord | TlsaRecord | Buffer[];

/** dns-packet's decoded header also has these, which its type declarations leave out. */
export type Decoded = DecodedPacket & { rcode?: string; opcode?: string };

export function buildQuery(id: number, name: string, type: DnsType, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    // RD, and AD to ask a validating resolver to report the AD bit (RFC 6840 5.7); DO stays off.
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type, name, class: 'IN' }],
    additionals: edns
      ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
      : [],
  });
}

/** Decodes a message; null if dns-packet cannot, or reads past the end (it does not always notice). */
export function decodeMessage(buf: Buffer): Decoded | null {
  try {
    const packet = dnsPacket.decode(buf) as Decoded;
    const used = dnsPacket.decode.bytes;
    if (!Number.isFinite(used) || used > buf.length) return null;
    return packet;
  } catch {
    return null;
  }
}

/** The anti-spoofing check: a response, with our id, to exactly our question. */
export function answersQuery(p: Decoded, id: number, name: string, type: DnsType): boolean {
  if (p.id !== id || !p.flag_qr) return false;
  if (p.opcode !== undefined && p.opcode !== 'QUERY') return false;
  const q = p.questions;
  if (!q || q.length !== 1 || !q[0]) return false;
  return q[0].type === type && (q[0].class ?? 'IN') === 'IN' && sameName(q[0].name, name);
}

/** The OPT record of a response, if any. */
export function optOf(p: Decoded): Answer | undefined {
  return p.additionals?.find((a) => a.type === 'OPT');
}

/** RFC 2181 8: a TTL with the top bit set counts as zero. */
function ttlOf(a: Answer): number {
  const ttl = 'ttl' in a && typeof a.ttl === 'number' ? a.ttl : 0;
  return ttl >= 2 ** 31 || ttl < 0 ? 0 : Math.min(ttl, MAX_TTL);
}

export class MalformedAnswer extends Error {}

function toWire(type: DnsType, a: Answer): WireRecord {
  const data: unknown = 'data' in a ? a.data : undefined;
  switch (type) {
    case 'A':
      if (typeof data === 'string' && isIPv4(data)) return data;
      break;
    case 'AAAA':
      if (typeof data === 'string' && isIPv6(data)) return ipaddr.IPv6.parse(data).toString();
      break;
    case 'PTR':
    case 'CNAME':
      if (typeof data === 'string') return normalizeName(data);
      break;
    case 'MX': {
      const mx = data as { exchange?: unknown; preference?: unknown } | undefined;
      if (mx && typeof mx.exchange === 'string' && typeof mx.preference === 'number') {
        return { exchange: normalizeName(mx.exchange), priority: mx.preference };
      }
      break;
    }
    case 'TXT':
      if (Array.isArray(data) && data.every((s) => Buffer.isBuffer(s))) return data as Buffer[];
      break;
    case 'TLSA': {
      const t = data as { usage?: unknown; selector?: unknown; matchingType?: unknown; certificate?: unknown } | undefined;
      if (t && typeof t.usage === 'number' && typeof t.selector === 'number' && typeof t.matchingType === 'number' && Buffer.isBuffer(t.certificate)) {
        return { usage: t.usage, selector: t.selector, matchingType: t.matchingType, data: t.certificate };
      }
      break;
    }
  }
  throw new MalformedAnswer(`malformed ${type} record for ${a.name}`);
}

/** What one NOERROR or NXDOMAIN response says about a question. */
export interface Interpretation {
  readonly rcode: 'NOERROR' | 'NXDOMAIN';
  readonly ad: boolean;
  /** CNAMEs followed inside the answer, in order. */
  readonly chain: readonly { owner: string; target: string; ttl: number }[];
  /** Where the chain ends: the name the records (or the negative answer) belong to. */
  readonly final: string;
  readonly records: readonly WireRecord[];
  /** Lowest TTL of the record set (RFC 2181 5.2 treats differing TTLs as the lowest). */
  readonly recordTtl: number;
  /** min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308 5), or null without an SOA. */
  readonly negativeTtl: number | null;
}

/**
 * Reads the answer to (name, type): follows CNAMEs from the question name (at most `maxChain`), collects the records
 * at the end of the chain, and the negative TTL. Records off the chain are ignored. Throws MalformedAnswer.
 */
export function interpret(p: Decoded, name: string, type: DnsType, maxChain: number): Interpretation {
  const rcode = p.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NOERROR';
  const answers = (p.answers ?? []).filter((a) => a.type !== 'OPT' && ('class' in a ? a.class ?? 'IN' : 'IN') === 'IN');
  const chain: { owner: string; target: string; ttl: number }[] = [];
  const seen = new Set<string>();
  let current = normalizeName(name);
  let matched: Answer[] = [];
  for (;;) {
    seen.add(current);
    matched = answers.filter((a) => a.type === type && sameName(a.name, current));
    if (matched.length > 0 || type === 'CNAME') break;
    const cname = answers.find((a) => a.type === 'CNAME' && sameName(a.name, current));
    if (!cname) break;
    const target = normalizeName(String((cname as { data?: unknown }).data ?? ''));
    if (seen.has(target)) throw new MalformedAnswer(`CNAME loop at ${target}`);
    if (chain.length >= maxChain) throw new MalformedAnswer(`CNAME chain too long at ${current}`);
    chain.push({ owner: current, target, ttl: ttlOf(cname) });
    current = target;
  }
  const records = rcode === 'NXDOMAIN' ? [] : matched.map((a) => toWire(type, a));
  const recordTtl = matched.length > 0 ? Math.min(...matched.map(ttlOf)) : 0;
  let negativeTtl: number | null = null;
  const soa = (p.authorities ?? []).find((a) => a.type === 'SOA');
  if (soa && soa.type === 'SOA') {
    const minimum = soa.data.minimum;
    const soaTtl = ttlOf(soa);
    negativeTtl = Math.min(soaTtl, typeof minimum === 'number' && minimum >= 0 && minimum < 2 ** 31 ? minimum : soaTtl, MAX_NEGATIVE_TTL);
  }
  return { rcode, ad: p.flag_ad === true, chain, final: current, records, recordTtl, negativeTtl };
}
