// From the kept form of records to what callers get: fresh copies, TXT character-strings decoded as UTF-8 (RFC 1035 3.3.14).
import type { WireRecord } from './message.js';
import type { DnsResult, DnsType, MxRecord, TlsaRecord } from './types.js';

/** The method both resolvers implement for `lookupTxtRaw`; a symbol keeps it off the Resolver interface. */
export const LOOKUP_TXT_RAW: unique symbol = Symbol('petrel.dns.lookupTxtRaw');

export interface RawTxtSource {
  [LOOKUP_TXT_RAW](name: string): Promise<DnsResult<Buffer[]>>;
}

function publicRecord(type: DnsType, rec: WireRecord): unknown {
  switch (type) {
    case 'TXT':
      return (rec as Buffer[]).map((b) => b.toString('utf8'));
    case 'MX': {
      const mx = rec as MxRecord;
      return { exchange: mx.exchange, priority: mx.priority };
    }
    case 'TLSA': {
      const t = rec as TlsaRecord;
      return { usage: t.usage, selector: t.selector, matchingType: t.matchingType, data: Buffer.from(t.data) };
    }
    default:
      return rec;
  }
}

/** A copy of a kept result in the public shape; callers may change it without touching the cache. */
export function toPublic(type: DnsType, r: DnsResult<WireRecord>): DnsResult<unknown> {
  if (r.kind !== 'ok') return { ...r };
  return { kind: 'ok', records: r.records.map((rec) => publicRecord(type, rec)), ad: r.ad, ttl: r.ttl };
}

/** A copy of a kept TXT result with the raw character-strings. */
export function toRawTxt(r: DnsResult<WireRecord>): DnsResult<Buffer[]> {
  if (r.kind !== 'ok') return { ...r };
  return { kind: 'ok', records: r.records.map((rec) => (rec as Buffer[]).map((b) => Buffer.from(b))), ad: r.ad, ttl: r.ttl };
}
