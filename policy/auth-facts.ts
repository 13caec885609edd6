// What SPF, DKIM, ARC and DMARC found about one message, as plain data, and the Exim variables made from it
// (Exim spec, "DKIM, SPF and DMARC", and experimental-spec "ARC support").
import type { DkimResult } from '../protocol/dkim/index.js';
import type { ArcCode, ArcSetInfo, ArcState } from '../protocol/arc/index.js';
import type { DmarcAuthResult, DmarcPolicy, DmarcStatus } from '../protocol/dmarc/index.js';
import type { SpfResult } from '../protocol/spf/index.js';
import { headerComment, receivedSpf, smtpComment } from '../protocol/spf/index.js';

export interface DkimFacts {
  /** One result per DKIM-Signature evaluated, top to bottom; empty: unsigned. */
  readonly signatures: readonly DkimResult[];
  /** Signatures beyond the evaluation limit, or not evaluated because dkim_verify_minimal stopped early. */
  readonly skipped: number;
}

export interface ArcFacts {
  readonly state: ArcState;
  readonly code: ArcCode;
  readonly reason: string;
  readonly instances: number;
  readonly domains: readonly string[];
  readonly oldestPass?: number;
  readonly failedInstance?: number;
  readonly sets: readonly ArcSetInfo[];
}

export interface DmarcFacts {
  readonly status: DmarcStatus;
  readonly statusText: string;
  readonly authResult: DmarcAuthResult | 'off';
  readonly fromDomain: string;
  readonly usedDomain: string;
  readonly domainPolicy: DmarcPolicy | '';
  readonly disposition: DmarcPolicy;
  readonly spfAligned: boolean;
  readonly dkimAligned: boolean;
}

/**
 * Everything verified so far for the current message (SPF at MAIL or later, the rest at end of data). Absent
 * members were not evaluated: no `spf` ACL condition ran, or verification was turned off by a control.
 */
export interface AuthFacts {
  /** The MAIL FROM identity (RFC 7208 section 2.4): what `spf =` tests. */
  readonly spf?: SpfResult;
  /** The HELO identity (RFC 7208 section 2.3): what `spf_helo =` tests. */
  readonly spfHelo?: SpfResult;
  readonly dkim?: DkimFacts;
  readonly arc?: ArcFacts;
  readonly dmarc?: DmarcFacts;
}

/** What Exim names SPF results: its older names for the two errors are accepted in conditions too. */
export const SPF_CONDITION_VALUES = new Map<string, SpfResult['kind']>([
  ['pass', 'pass'], ['fail', 'fail'], ['softfail', 'softfail'], ['neutral', 'neutral'], ['none', 'none'],
  ['permerror', 'permerror'], ['temperror', 'temperror'], ['err_perm', 'permerror'], ['err_temp', 'temperror'],
]);
export const DKIM_STATUS_VALUES: readonly string[] = ['none', 'invalid', 'fail', 'pass'];
export const DMARC_STATUS_VALUES: readonly string[] = ['accept', 'reject', 'quarantine', 'none', 'norecord', 'nofrom', 'temperror', 'off'];
export const ARC_STATE_VALUES: readonly string[] = ['none', 'fail', 'pass'];

function spfVars(r: SpfResult | undefined): Record<string, string> {
  if (!r) return { spf_result: '', spf_result_guessed: '', spf_header_comment: '', spf_smtp_comment: '', spf_received: '', spf_used_domain: '' };
  return {
    spf_result: r.kind,
    spf_result_guessed: '0',
    spf_header_comment: headerComment(r),
    spf_smtp_comment: smtpComment(r),
    // Exim's $spf_received is the whole header line, ready for add_header.
    spf_received: receivedSpf(r).replace(/\r\n$/, ''),
    spf_used_domain: r.domain,
  };
}

/** The domains and explicit identities of all signatures, once each: Exim's $dkim_signers. */
export function dkimSigners(d: DkimFacts | undefined): string[] {
  const out: string[] = [];
  for (const s of d?.signatures ?? []) {
    if (s.domain && !out.includes(s.domain)) out.push(s.domain);
    // An identity defaulted from d= ("@domain") names nothing new.
    if (s.identity && !s.identity.startsWith('@') && !out.includes(s.identity)) out.push(s.identity);
  }
  return out;
}

/** Whether a signature is the one a signer name (from dkim_verify_signers) refers to: by d= or i=. */
export function signatureMatches(s: DkimResult, signer: string): boolean {
  const name = signer.toLowerCase();
  return s.domain === name || (s.identity !== undefined && s.identity.toLowerCase() === name);
}

/**
 * The message-level DKIM status outside the DKIM ACL: pass if any signature passed, else the first signature's
 * status, `none` for an unsigned message.
 */
export function overallDkimStatus(d: DkimFacts | undefined): { status: string; reason: string } {
  const sigs = d?.signatures ?? [];
  const pass = sigs.find((s) => s.exim.status === 'pass');
  const pick = pass ?? sigs[0];
  return pick ? { status: pick.exim.status, reason: pick.exim.reason } : { status: 'none', reason: '' };
}

/** The signer the DKIM ACL is running for: the signature (absent: none in the message) and the name used. */
export interface DkimSigner {
  readonly name: string;
  readonly signature?: DkimResult;
}

const NO_LIMIT = '9999999999999';

function signerVars(signer: DkimSigner | undefined, overall: { status: string; reason: string }): Record<string, string> {
  const s = signer?.signature;
  return {
    dkim_cur_signer: signer?.name ?? '',
    dkim_verify_status: signer ? (s ? s.exim.status : 'none') : overall.status,
    dkim_verify_reason: signer ? (s ? s.exim.reason : '') : overall.reason,
    dkim_domain: s?.domain ?? '',
    dkim_identity: s?.identity ?? '',
    dkim_selector: s?.selector ?? '',
    dkim_algo: s?.algorithm ?? '',
    dkim_canon_body: s?.canonBody ?? '',
    dkim_canon_headers: s?.canonHeaders ?? '',
    dkim_copiedheaders: '',
    dkim_bodylength: s ? (s.bodyLength === undefined ? NO_LIMIT : String(s.bodyLength)) : '',
    dkim_created: s ? String(s.timestamp ?? 0) : '',
    dkim_expires: s ? String(s.expiration ?? 0) : '',
    dkim_headernames: s?.headersSigned?.join(':') ?? '',
    dkim_key_length: s?.keyLength === undefined ? '' : String(s.keyLength),
    dkim_key_testing: s?.testing ? '1' : s ? '0' : '',
    dkim_key_nosubdomains: '',
    dkim_key_srvtype: s ? '*' : '',
    dkim_key_granularity: '',
    dkim_key_notes: '',
  };
}

function arcVars(a: ArcFacts | undefined): Record<string, string> {
  if (!a) return { arc_state: '', arc_state_reason: '', arc_domains: '', arc_oldest_pass: '' };
  return {
    arc_state: a.state,
    arc_state_reason: a.state === 'fail' ? a.reason : '',
    arc_domains: a.domains.join(':'),
    arc_oldest_pass: a.oldestPass === undefined ? '0' : String(a.oldestPass),
  };
}

function dmarcVars(d: DmarcFacts | undefined): Record<string, string> {
  if (!d) return { dmarc_status: '', dmarc_status_text: '', dmarc_used_domain: '', dmarc_domain_policy: '' };
  return {
    dmarc_status: d.status,
    dmarc_status_text: d.statusText,
    dmarc_used_domain: d.usedDomain,
    dmarc_domain_policy: d.domainPolicy,
  };
}

/**
 * The expansion variables for the authentication results known so far. Every name is always present (empty when
 * not evaluated) so that an ACL using one never fails to expand. `signer` is set while the DKIM ACL runs.
 */
export function authVars(a: AuthFacts | undefined, signer?: DkimSigner): Record<string, string> {
  return {
    // Like Exim, the variables describe the HELO check when no MAIL FROM check was made.
    ...spfVars(a?.spf ?? a?.spfHelo),
    dkim_signers: dkimSigners(a?.dkim).join(':'),
    ...signerVars(signer, overallDkimStatus(a?.dkim)),
    ...arcVars(a?.arc),
    ...dmarcVars(a?.dmarc),
  };
}
