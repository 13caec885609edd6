// The DNS client's public types: record shapes, the tagged result union (RFC 2308 negative answers, RFC 6840 AD bit).

/** The record types the client asks for and decodes. */
export type DnsType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'TLSA';

export const DNS_TYPES: readonly DnsType[] = ['A', 'AAAA', 'MX', 'TXT', 'PTR', 'CNAME', 'TLSA'];

/** An MX record (RFC 1035 3.3.9); `exchange` is "." for a null MX (RFC 7505). */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/** A TLSA record (RFC 6698 2.1); `data` is the certificate association data. */
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

/**
 * One TXT record: its character-strings in order, each decoded as UTF-8, not joined.
 * SPF (RFC 7208 3.3) and DKIM (RFC 6376 3.6.2.2) join them with no separator.
 * The exact octets are available through `lookupTxtRaw`.
 */
export type TxtRecord = string[];

export interface RecordTypes {
  A: string;
  AAAA: string;
  MX: MxRecord;
  TXT: TxtRecord;
  PTR: string;
  CNAME: string;
  TLSA: TlsaRecord;
}

export type RecordOf<T extends DnsType> = RecordTypes[T];

/**
 * The outcome of one lookup. DNS outcomes are values, never exceptions.
 * `ttl` is in seconds: what is left of the answer's lifetime (the lowest TTL along a CNAME chain).
 * `ad` is the resolver's Authenticated Data bit; it means something only if the resolver is trusted.
 */
export type DnsResult<T> =
  | { kind: 'ok'; records: T[]; ad: boolean; ttl: number }
  | { kind: 'nodata'; ad: boolean; ttl: number }
  | { kind: 'nxdomain'; ad: boolean; ttl: number }
  | { kind: 'temperror'; reason: string };

/** What every DNS consumer depends on: the network client and the fixture resolver both implement it. */
export interface Resolver {
  lookup<T extends DnsType>(name: string, type: T): Promise<DnsResult<RecordOf<T>>>;
}

/** A configuration problem in the DNS layer: a bad server address, an invalid fixture file. */
export class DnsConfigError extends Error {
  readonly code = 'DNS_CONFIG';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsConfigError';
  }
}
