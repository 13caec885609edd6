// DMARC evaluation (RFC 7489): policy discovery (section 6.6.3), identifier alignment of SPF and DKIM with the From
// domain (sections 3.1, 4.2), the policy that applies (p, sp, DMARCbis np), pct= sampling (6.6.4), Exim's
// $dmarc_status values, the dmarc= piece of Authentication-Results (RFC 8601), and the check of external report
// destinations (section 7.1).
//
// DMARCbis discovers by a DNS "tree walk" instead of the Public Suffix List: up to eight queries from the From domain
// towards the root, the first record found being the policy, psd= marking Public Suffix Domains. Not done here.
import { normalizeDomain, orgDomain, sameOrganization } from './psl.js';
import { isDmarcRecord, parseDmarcRecord, reportingUris } from './record.js';
import type {
  AlignmentMode,
  DkimOutcome,
  DmarcInput,
  DmarcPolicy,
  DmarcPorts,
  DmarcRecord,
  DmarcResolver,
  DmarcResult,
  DmarcUri,
  SuffixList,
} from './types.js';

export type Discovery =
  | {
    readonly kind: 'found';
    readonly record: DmarcRecord;
    /** Where the record was: the From domain or its Organizational Domain. */
    readonly domain: string;
    /** true: the record is the Organizational Domain's, found for a subdomain (sp=/np= apply). */
    readonly atOrg: boolean;
  }
  /** No DMARC record (or a record the RFC says to ignore): DMARC does not apply. */
  | { readonly kind: 'none'; readonly domain: string; readonly reason: string }
  /** Several records, or one that is unusable (duplicate tags, no p= and no rua=): DMARC does not apply. */
  | { readonly kind: 'invalid'; readonly domain: string; readonly reason: string }
  | { readonly kind: 'temperror'; readonly domain: string; readonly reason: string };

type Fetched =
  | { kind: 'records'; texts: string[] }
  | { kind: 'temperror'; reason: string };

/** TXT records at `name` that start with v=DMARC1, each record's strings joined with nothing between them. */
async function dmarcTexts(dns: DmarcResolver, name: string): Promise<Fetched> {
  const r = await dns.lookup(name, 'TXT');
  if (r.kind === 'temperror') return { kind: 'temperror', reason: `${name}: ${r.reason}` };
  if (r.kind !== 'ok') return { kind: 'records', texts: [] };
  return { kind: 'records', texts: r.records.map((strings) => strings.join('')).filter(isDmarcRecord) };
}

/** Steps 1-6 of section 6.6.3 for a From domain (A-labels, lower case). */
export async function discoverPolicy(fromDomain: string, ports: { dns: DmarcResolver; psl?: SuffixList }):
  Promise<Discovery> {
  let domain = fromDomain;
  let fetched = await dmarcTexts(ports.dns, `_dmarc.${domain}`);
  if (fetched.kind === 'temperror') return { kind: 'temperror', domain, reason: fetched.reason };
  let atOrg = false;
  if (fetched.texts.length === 0) {
    const org = orgDomain(fromDomain, ports.psl);
    if (org === null || org === fromDomain) return { kind: 'none', domain, reason: `no DMARC record at _dmarc.${domain}` };
    domain = org;
    atOrg = true;
    fetched = await dmarcTexts(ports.dns, `_dmarc.${domain}`);
    if (fetched.kind === 'temperror') return { kind: 'temperror', domain, reason: fetched.reason };
    if (fetched.texts.length === 0) {
      return { kind: 'none', domain, reason: `no DMARC record at _dmarc.${fromDomain} or _dmarc.${domain}` };
    }
  }
  if (fetched.texts.length > 1) {
    return { kind: 'invalid', domain, reason: `${fetched.texts.length} DMARC records at _dmarc.${domain}` };
  }
  const parsed = parseDmarcRecord(fetched.texts[0] as string);
  if (parsed.kind === 'record') return { kind: 'found', record: parsed.record, domain, atOrg };
  const why = parsed.kind === 'invalid' ? parsed.reason : 'not a DMARC record';
  return { kind: 'invalid', domain, reason: `_dmarc.${domain}: ${why}` };
}

/** Identifier alignment (section 3.1): strict is the same name, relaxed the same Organizational Domain. */
export function aligned(domain: string, fromDomain: string, mode: AlignmentMode, psl?: SuffixList): boolean {
  const a = normalizeDomain(domain);
  const b = normalizeDomain(fromDomain);
  if (a === '' || b === '') return false;
  return mode === 's' ? a === b : sameOrganization(a, b, psl);
}

/** The SPF and DKIM identifiers that produce an aligned pass (section 4.2). */
export function alignment(input: DmarcInput, fromDomain: string, record: Pick<DmarcRecord, 'adkim' | 'aspf'>,
  psl?: SuffixList): { spfAligned: boolean; dkimAligned: boolean; alignedDkim: DkimOutcome[] } {
  const spf = input.spf;
  const spfAligned = spf !== undefined && spf.result === 'pass' && aligned(spf.domain, fromDomain, record.aspf, psl);
  const alignedDkim = (input.dkim ?? [])
    .filter((d) => d.result === 'pass' && aligned(d.domain, fromDomain, record.adkim, psl));
  return { spfAligned, dkimAligned: alignedDkim.length > 0, alignedDkim };
}

/**
 * DMARCbis "non-existent domain": NXDOMAIN or no data for each of A, AAAA and MX. A temporary failure counts as
 * existing, so that a DNS problem never makes the stricter np= apply by accident.
 */
async function nonexistent(dns: DmarcResolver, domain: string): Promise<boolean> {
  const answers = await Promise.all((['A', 'AAAA', 'MX'] as const).map((t) => dns.lookup(domain, t)));
  return answers.every((a) => a.kind === 'nxdomain' || a.kind === 'nodata');
}

/** The next less strict disposition: what a message that pct= sampling let off gets (section 6.6.4). */
const ONE_STEP_DOWN: Record<DmarcPolicy, DmarcPolicy> = { reject: 'quarantine', quarantine: 'none', none: 'none' };

const TEXT: Record<DmarcPolicy, string> = { none: 'None, Accept', quarantine: 'Quarantine', reject: 'Reject' };

/** Input domain text to A-labels, lower case; '' when unusable. */
function fromOf(input: DmarcInput): { domain: string } | { nofrom: string } {
  const f = input.from;
  if (typeof f !== 'string') return f.kind === 'ok' ? { domain: normalizeDomain(f.domain) } : { nofrom: f.reason };
  const d = normalizeDomain(f);
  return d === '' ? { nofrom: 'no usable From: domain' } : { domain: d };
}

/**
 * Evaluates DMARC for one message. Never throws for DNS trouble or bad records: every outcome is a status.
 * Statuses are Exim's: accept (an aligned pass), none (failed, p=none or sampled off quarantine), quarantine, reject,
 * norecord (no usable record), nofrom, temperror.
 */
export async function evaluateDmarc(input: DmarcInput, ports: DmarcPorts): Promise<DmarcResult> {
  const base = {
    spfAligned: false, dkimAligned: false, alignedDkim: [], disposition: 'none', pct: 100, sampledOut: false,
    rua: [], ruf: [], domainPolicy: '',
  } as const;
  const from = fromOf(input);
  if ('nofrom' in from) {
    return {
      ...base, status: 'nofrom', statusText: `No From: domain found (${from.nofrom})`, authResult: 'permerror',
      fromDomain: '', orgDomain: null, usedDomain: '', reason: from.nofrom,
    };
  }
  const fromDomain = from.domain;
  const org = orgDomain(fromDomain, ports.psl);
  const found = await discoverPolicy(fromDomain, ports);
  if (found.kind === 'temperror') {
    return {
      ...base, status: 'temperror', statusText: `DNS error looking up the DMARC record: ${found.reason}`,
      authResult: 'temperror', fromDomain, orgDomain: org, usedDomain: found.domain, reason: found.reason,
    };
  }
  if (found.kind !== 'found') {
    return {
      ...base, status: 'norecord', statusText: found.kind === 'none' ? 'No DMARC record' : `Unusable DMARC record: ${found.reason}`,
      authResult: found.kind === 'none' ? 'none' : 'permerror', fromDomain, orgDomain: org, usedDomain: found.domain,
      reason: found.reason,
    };
  }

  const { record, domain: usedDomain, atOrg } = found;
  const { spfAligned, dkimAligned, alignedDkim } = alignment(input, fromDomain, record, ports.psl);
  const common = {
    fromDomain, orgDomain: org, usedDomain, spfAligned, dkimAligned, alignedDkim, pct: record.pct, record,
    rua: record.rua, ruf: record.ruf,
  };
  if (spfAligned || dkimAligned) {
    const domainPolicy = atOrg ? record.sp ?? record.p : record.p;
    return {
      ...common, status: 'accept', statusText: 'Accept', authResult: 'pass', domainPolicy,
      policySource: atOrg && record.sp !== undefined ? 'sp' : 'p', disposition: 'none', sampledOut: false,
    };
  }

  // Which policy applies (section 6.6.3 end, 6.3 sp=): p for the domain that published it, sp for its
  // subdomains; np (DMARCbis) for subdomains that do not exist. Only failing messages need the np= lookups.
  let domainPolicy: DmarcPolicy = record.p;
  let policySource: 'p' | 'sp' | 'np' = 'p';
  if (atOrg) {
    if (record.np !== undefined && ports.checkNonexistent !== false && await nonexistent(ports.dns, fromDomain)) {
      domainPolicy = record.np;
      policySource = 'np';
    } else if (record.sp !== undefined) {
      domainPolicy = record.sp;
      policySource = 'sp';
    }
  }

  // pct= (section 6.6.4): the policy applies to pct% of failing mail; the rest gets the next less strict one.
  // DMARCbis drops pct= for t= (testing), which lowers reject and quarantine by one step in the same way.
  let disposition = domainPolicy;
  let sampledOut = false;
  if (domainPolicy !== 'none' && record.pct < 100) {
    const selected = Math.floor(ports.random() * 100) < record.pct;
    if (!selected) {
      disposition = ONE_STEP_DOWN[domainPolicy];
      sampledOut = true;
    }
  }
  const statusText = sampledOut ? `${TEXT[disposition]} (${domainPolicy} not applied: pct=${record.pct})` : TEXT[disposition];
  return { ...common, status: disposition, statusText, authResult: 'fail', domainPolicy, policySource, disposition, sampledOut };
}

/**
 * The dmarc= piece of an Authentication-Results field, after "authserv-id;": e.g.
 * `dmarc=fail (p=reject dis=quarantine) header.from=example.com`. The comment gives the policy that applied and
 * the disposition after sampling, as OpenDMARC writes them; header.from is left out for nofrom.
 */
export function dmarcAuthResults(result: DmarcResult): string {
  let s = `dmarc=${result.authResult}`;
  if (result.domainPolicy !== '') s += ` (p=${result.domainPolicy} dis=${result.disposition})`;
  if (result.fromDomain !== '') s += ` header.from=${result.fromDomain}`;
  return s;
}

/**
 * Does the record ask for a failure report about this message (fo=, section 6.3)? 0: no mechanism produced an
 * aligned pass; 1: some mechanism did not; d: a DKIM signature failed; s: SPF failed. Only for evaluated records:
 * the caller still needs ruf= addresses, permission (control = dmarc_enable_forensic) and section 7.1 checks.
 */
export function failureReportWanted(result: DmarcResult, input: DmarcInput): boolean {
  const r = result.record;
  if (r === undefined || result.ruf.length === 0) return false;
  const anyPass = result.spfAligned || result.dkimAligned;
  const dkimFailed = (input.dkim ?? []).some((d) => d.result === 'fail' || d.result === 'permerror');
  const spfFailed = input.spf?.result === 'fail';
  return r.fo.some((o) => {
    switch (o) {
      case '0': return !anyPass;
      case '1': return !result.spfAligned || !result.dkimAligned;
      case 'd': return dkimFailed;
      case 's': return spfFailed;
    }
    return false;
  });
}

export type ExternalCheck =
  /**
   * Reports may go there. `via` says how: the same Organizational Domain (no query), or a record at
   * <policy domain>._report._dmarc.<destination>. `rua`/`ruf` are that record's replacements, when it has any.
   */
  | { readonly kind: 'authorized'; readonly via: 'same-organization' | 'dns'; readonly rua?: readonly DmarcUri[];
    readonly ruf?: readonly DmarcUri[] }
  | { readonly kind: 'unauthorized'; readonly reason: string }
  /** The query failed; try again later, and send nothing meanwhile. */
  | { readonly kind: 'temperror'; readonly reason: string };

/**
 * May reports about `policyDomain` go to an address at `ruaDomain` (RFC 7489 section 7.1)? Within one
 * Organizational Domain they may. Otherwise only if <policyDomain>._report._dmarc.<ruaDomain> has a TXT record
 * starting with v=DMARC1. If that record (when it is the only one) names rua= or ruf= URIs, they replace the
 * original ones; a replacement pointing outside the destination's organization voids the whole authorization.
 */
export async function externalReportAuthorized(policyDomain: string, ruaDomain: string,
  ports: { dns: DmarcResolver; psl?: SuffixList }): Promise<ExternalCheck> {
  const policy = normalizeDomain(policyDomain);
  const dest = normalizeDomain(ruaDomain);
  if (policy === '' || dest === '') return { kind: 'unauthorized', reason: 'empty domain' };
  if (sameOrganization(policy, dest, ports.psl)) return { kind: 'authorized', via: 'same-organization' };
  const name = `${policy}._report._dmarc.${dest}`;
  const fetched = await dmarcTexts(ports.dns, name);
  if (fetched.kind === 'temperror') return { kind: 'temperror', reason: fetched.reason };
  if (fetched.texts.length === 0) return { kind: 'unauthorized', reason: `no v=DMARC1 record at ${name}` };
  if (fetched.texts.length > 1) return { kind: 'authorized', via: 'dns' };
  // The authorizing record needs no p=; only its replacement URIs matter.
  const uris = reportingUris(fetched.texts[0] as string);
  if (uris === undefined) return { kind: 'authorized', via: 'dns' };
  const { rua, ruf } = uris;
  const outside = [...(rua ?? []), ...(ruf ?? [])]
    .find((u) => u.domain === undefined || !sameOrganization(u.domain, dest, ports.psl));
  if (outside !== undefined) {
    return { kind: 'unauthorized', reason: `${name} redirects reports to ${outside.uri}, outside ${dest}` };
  }
  return {
    kind: 'authorized', via: 'dns', ...(rua !== undefined ? { rua } : {}), ...(ruf !== undefined ? { ruf } : {}),
  };
}
