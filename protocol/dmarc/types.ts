// DMARC's public shapes (RFC 7489): policies, records, the evaluation input and result, the DNS and random ports.

/** The policies of p=, sp= and np= (RFC 7489 section 6.3; np= is DMARCbis). */
export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export const DMARC_POLICIES: readonly DmarcPolicy[] = ['none', 'quarantine', 'reject'];

/** adkim= and aspf=: relaxed or strict (RFC 7489 section 3.1). */
export type AlignmentMode = 'r' | 's';

/**
 * Exim's $dmarc_status values. `off` is never produced here: the integrator sets it when
 * verification was disabled (control = dmarc_disable_verify).
 */
export type DmarcStatus = 'accept' | 'reject' | 'quarantine' | 'none' | 'norecord' | 'nofrom' | 'temperror' | 'off';

/** The dmarc= result of an Authentication-Results header field (RFC 8601 section 2.7.4, RFC 7489 section 11.2). */
export type DmarcAuthResult = 'pass' | 'fail' | 'none' | 'temperror' | 'permerror';

/** SPF results (RFC 7208 section 2.6). */
export type SpfResultKind = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';

/** DKIM results as Authentication-Results names them (RFC 8601 section 2.7.1). */
export type DkimResultKind = 'pass' | 'fail' | 'neutral' | 'policy' | 'none' | 'temperror' | 'permerror';

/** fo= values (RFC 7489 section 6.3). */
export type FailureOption = '0' | '1' | 'd' | 's';

/** A reporting URI of rua= or ruf= (RFC 7489 section 6.4, dmarc-uri). */
export interface DmarcUri {
  /** The URI without its size suffix, as written. */
  readonly uri: string;
  /** Lower-cased, e.g. "mailto". */
  readonly scheme: string;
  /** mailto: only: the percent-decoded address, domain lower-cased. */
  readonly address?: string;
  /** mailto: only: the domain of `address` (A-labels). */
  readonly domain?: string;
  /** The "!size" limit in octets (units are powers of two); absent: no limit. */
  readonly maxSize?: number;
}

/** A parsed DMARC policy record. Defaults of section 6.3 are filled in. */
export interface DmarcRecord {
  readonly p: DmarcPolicy;
  /** Absent: subdomains get p. */
  readonly sp?: DmarcPolicy;
  /** DMARCbis: the policy for non-existent subdomains. Not in RFC 7489; absent: sp (or p) applies. */
  readonly np?: DmarcPolicy;
  readonly pct: number;
  readonly adkim: AlignmentMode;
  readonly aspf: AlignmentMode;
  /** The syntactically valid URIs; invalid ones are dropped with a warning. */
  readonly rua: readonly DmarcUri[];
  readonly ruf: readonly DmarcUri[];
  readonly fo: readonly FailureOption[];
  readonly rf: readonly string[];
  /** Seconds. */
  readonly ri: number;
  /** Every tag as written (names lower-cased, values trimmed), unknown tags included. */
  readonly tags: ReadonlyMap<string, string>;
  /** Values that were ignored in favour of a default (section 6.3: "syntax errors ... SHOULD be discarded"). */
  readonly warnings: readonly string[];
  /**
   * p= was missing or invalid, or sp=/np= invalid, and rua= had a valid URI: p=none is assumed and sp/np dropped
   * (RFC 7489 section 6.6.3 step 6).
   */
  readonly assumedNone: boolean;
  /** The record text (character-strings joined). */
  readonly text: string;
}

/** What fromDomain() found in the header section. */
export type FromDomain =
  | { readonly kind: 'ok'; readonly domain: string; readonly address: string }
  | { readonly kind: 'nofrom'; readonly reason: string };

export interface SpfOutcome {
  /** The domain SPF checked: the MAIL FROM domain, or the HELO name for a null reverse-path (RFC 7489 section 4.1). */
  readonly domain: string;
  readonly result: SpfResultKind;
  /** Defaults to mfrom. Only reports use it. */
  readonly scope?: 'mfrom' | 'helo';
}

export interface DkimOutcome {
  /** The signature's d=. */
  readonly domain: string;
  readonly result: DkimResultKind;
  readonly selector?: string;
}

export interface DmarcInput {
  /** The RFC5322.From domain, or fromDomain()'s answer (`nofrom` gives status nofrom). */
  readonly from: string | FromDomain;
  readonly spf?: SpfOutcome;
  /** Every signature verified, passing or not; only passing ones can align. */
  readonly dkim?: readonly DkimOutcome[];
}

/** The record types DMARC asks for, shaped as the project's DNS client returns them. */
export interface DmarcRecordTypes {
  /** One TXT record: its character-strings, not joined. */
  TXT: string[];
  A: string;
  AAAA: string;
  MX: { exchange: string; priority: number };
}

export type DmarcDnsType = keyof DmarcRecordTypes;

/** A DNS answer as a value; extra fields (ttl, ad) are allowed and ignored. */
export type DmarcDnsResult<T> =
  | { kind: 'ok'; records: T[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'temperror'; reason: string };

/** The DNS port: only `lookup` is used. net/dns's `Resolver` satisfies it. */
export interface DmarcResolver {
  lookup<T extends DmarcDnsType>(name: string, type: T): Promise<DmarcDnsResult<DmarcRecordTypes[T]>>;
}

/** A parsed Public Suffix List (psl.ts); see parsePublicSuffixList. */
export interface SuffixList {
  /** How many trailing labels of `labels` (A-labels, lower case) form the public suffix. */
  publicSuffixLength(labels: readonly string[]): number;
}

export interface DmarcPorts {
  readonly dns: DmarcResolver;
  /** From dmarc_tld_file; absent: the tldts package. */
  readonly psl?: SuffixList;
  /** Uniform in [0, 1), like Math.random; called once per failing message whose pct= is below 100. */
  readonly random: () => number;
  /**
   * DMARCbis np=: look up A, AAAA and MX of a failing subdomain to learn whether it exists. Default true.
   * Off: np= is ignored, as RFC 7489 has it.
   */
  readonly checkNonexistent?: boolean;
}

export interface DmarcResult {
  readonly status: Exclude<DmarcStatus, 'off'>;
  /** Human-readable ($dmarc_status_text). */
  readonly statusText: string;
  readonly authResult: DmarcAuthResult;
  /** The RFC5322.From domain (A-labels, lower case); '' for nofrom. */
  readonly fromDomain: string;
  /** The From domain's Organizational Domain; null when it is itself a public suffix (or nofrom). */
  readonly orgDomain: string | null;
  /**
   * $dmarc_used_domain: the domain whose _dmarc record was used; with no usable record, the last domain
   * queried; '' for nofrom.
   */
  readonly usedDomain: string;
  /** $dmarc_domain_policy: the policy that applies to this From domain (p, sp or np); '' without a usable record. */
  readonly domainPolicy: DmarcPolicy | '';
  /** Which tag domainPolicy came from. */
  readonly policySource?: 'p' | 'sp' | 'np';
  readonly spfAligned: boolean;
  readonly dkimAligned: boolean;
  /** The passing signatures whose d= aligned. */
  readonly alignedDkim: readonly DkimOutcome[];
  /** What the policy asks for this message after pct= sampling: the aggregate report's disposition. */
  readonly disposition: DmarcPolicy;
  /** pct= of the record (100 without one). */
  readonly pct: number;
  /** true: the message failed, the policy was quarantine or reject, and pct= sampling let it off one step. */
  readonly sampledOut: boolean;
  readonly record?: DmarcRecord;
  readonly rua: readonly DmarcUri[];
  readonly ruf: readonly DmarcUri[];
  /** Why, for errors and records that were not used. */
  readonly reason?: string;
}
