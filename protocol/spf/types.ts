// SPF's public shapes: results, inputs, the DNS and clock ports, processing limits (RFC 7208 sections 2.6, 4.6.4).

/** The seven results of check_host() (RFC 7208 section 2.6). */
export type SpfResultKind = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

export const SPF_RESULT_KINDS: readonly SpfResultKind[] = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];

/** Which identity a check is about (RFC 7208 sections 2.3, 2.4); it only changes how headers describe it. */
export type SpfIdentity = 'mailfrom' | 'helo';

/** The arguments of check_host() (RFC 7208 section 4.1). */
export interface SpfInput {
  /** The SMTP client's address, IPv4 or IPv6 text; an IPv4-mapped IPv6 address counts as IPv4 (section 5). */
  readonly ip: string;
  /** The domain whose policy is fetched: the MAIL FROM domain, or the HELO name. */
  readonly domain: string;
  /** `local@domain`, or `postmaster@<helo>` for a HELO check or a null reverse-path. */
  readonly sender: string;
  /** The HELO/EHLO name as the client sent it (for %{h}). */
  readonly helo: string;
  /** Defaults to `mailfrom`. */
  readonly identity?: SpfIdentity;
}

/** What a check was about, kept in the result so that headers can be written from the result alone. */
export interface SpfChecked {
  readonly ip: string;
  readonly sender: string;
  readonly helo: string;
  readonly receiver: string;
  readonly identity: SpfIdentity;
}

/** The outcome of check_host(). Errors are results (`permerror`, `temperror`), never exceptions. */
export interface SpfResult {
  readonly kind: SpfResultKind;
  /** The domain checked (the identity's domain, before any redirect). */
  readonly domain: string;
  /** For `fail` only: the expanded exp= text, or the default explanation (RFC 7208 section 6.2). */
  readonly explanation?: string;
  /** The directive that decided the result, as written in the record (e.g. `-all`, `ip4:192.0.2.0/24`). */
  readonly mechanism?: string;
  /** Why: for errors, and for `none` (no record, malformed domain). */
  readonly reason?: string;
  readonly checked: SpfChecked;
}

/** The record types SPF asks for, shaped as the project's DNS client returns them. */
export interface SpfRecordTypes {
  A: string;
  AAAA: string;
  MX: { exchange: string; priority: number };
  /** One TXT record: its character-strings, not joined. */
  TXT: string[];
  PTR: string;
}

export type SpfDnsType = keyof SpfRecordTypes;

/** A DNS answer as a value; extra fields (ttl, ad) are allowed and ignored. */
export type SpfDnsResult<T> =
  | { kind: 'ok'; records: T[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'temperror'; reason: string };

/** The DNS port: only `lookup` is used. net/dns's `Resolver` satisfies it. */
export interface SpfResolver {
  lookup<T extends SpfDnsType>(name: string, type: T): Promise<SpfDnsResult<SpfRecordTypes[T]>>;
}

/** Processing limits (RFC 7208 section 4.6.4). The defaults are the RFC's numbers. */
export interface SpfLimits {
  /** Terms that query DNS (include, a, mx, ptr, exists, redirect) per check, includes and redirects counted. */
  readonly dnsTerms: number;
  /** Terms whose lookup is NXDOMAIN or has no answers; one more is permerror. */
  readonly voidLookups: number;
  /** MX names per mx mechanism; more is permerror. */
  readonly mxNames: number;
  /** PTR names examined per ptr mechanism or %{p}; the rest are ignored. */
  readonly ptrNames: number;
  /**
   * Elapsed time for the whole check, in ms of the `now` port: no query is sent after it and the result is
   * temperror. Section 4.6.4 says at least 20 s. Undefined: no limit here (the DNS client's timeouts still apply).
   */
  readonly timeMs?: number;
}

export const DEFAULT_SPF_LIMITS: SpfLimits = { dnsTerms: 10, voidLookups: 2, mxNames: 10, ptrNames: 10, timeMs: 20_000 };

/**
 * The default explanation (RFC 7208 section 6.2), a macro string expanded like an exp= text.
 * Used for `fail` when the record has no usable exp=.
 */
export const DEFAULT_EXPLANATION = '%{d} does not designate %{c} as permitted sender of %{s}';

/** What checkHost needs from the outside world. */
export interface SpfPorts {
  readonly dns: SpfResolver;
  /** Milliseconds since the epoch, like Date.now (for %{t}). */
  readonly now: () => number;
  /** This host's name, for %{r} and headers (RFC 7208 section 7.3). */
  readonly receiver: string;
  readonly limits?: Partial<SpfLimits>;
  /** Overrides DEFAULT_EXPLANATION; a macro string. An empty string gives an empty explanation. */
  readonly defaultExplanation?: string;
}
