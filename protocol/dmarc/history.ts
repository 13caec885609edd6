// The DMARC history file (Exim's dmarc_history_file): one record per message in the text format OpenDMARC's
// opendmarc-import(8) reads, written from an evaluation and read back for aggregate reports (RFC 7489 section 7.2).
//
// Format (OpenDMARC >= 1.4 opendmarc/opendmarc.c and reports/opendmarc-import.in; Exim src/dmarc.c with
// DMARC_API >= 100400 writes the same keys in this order). One "key value" line each, "\n" line ends; "job" starts
// a record; values hold no spaces (the importer splits on single spaces):
//   job <message id>          reporter <our host name>   received <unix seconds>   ipaddr <client address>
//   from <RFC5322.From domain>                          mfrom <envelope sender domain, or the HELO name>
//   spf <SPF result, ARES code>                          (the importer's column is NOT NULL: always written)
//   dkim <d=> <s= or -> <DKIM result, ARES code>        (one line per signature)
//   pdomain <policy domain>   policy <14 absent, 15 pass, 16 reject, 17 quarantine, 18 none>
//   rua <URI[!octets]>        (one line per URI; "rua -" when none)
//   pct <0-100>   adkim <114 'r' | 115 's'>   aspf <same>   p <110 'n' | 113 'q' | 114 'r'>   sp <same, 0 unset>
//   align_dkim <4 pass | 5 fail>   align_spf <4 | 5>   action <0 reject, 2 accept, 3 tempfail, 4 quarantine>
//   arc <ARES code, 11 unknown>   arc_policy <0 pass, 1 unused, 2 fail> json:[{"i":..,"d":"..","s":"..","ip":".."}]
// ARES codes (opendmarc-ar.h): 0 pass, 2 softfail, 3 neutral, 4 temperror, 5 permerror, 6 none, 7 fail, 8 policy.
import type {
  AlignmentMode, DkimOutcome, DkimResultKind, DmarcInput, DmarcPolicy, DmarcResult, SpfOutcome, SpfResultKind,
} from './types.js';

/** Reasons a disposition differs from the policy (RFC 7489 appendix C, PolicyOverrideType). */
export type OverrideType = 'forwarded' | 'sampled_out' | 'trusted_forwarder' | 'mailing_list' | 'local_policy' | 'other';

export interface OverrideReason {
  readonly type: OverrideType;
  readonly comment?: string;
}

/** ARC facts for the history file; the ARC verifier fills them in (arc=none/unknown without it). */
export interface ArcSummary {
  readonly result: 'pass' | 'fail' | 'none';
  readonly policy: 'pass' | 'fail' | 'unused';
  readonly seals?: readonly { readonly i: number; readonly d: string; readonly s: string; readonly ip?: string }[];
}

/** One message's DMARC verdict: what the history file keeps and aggregate reports count. */
export interface DmarcVerdict {
  readonly jobId: string;
  readonly reporter: string;
  /** Milliseconds since the epoch (the file keeps seconds). */
  readonly received: number;
  readonly sourceIp: string;
  readonly fromDomain: string;
  /** The envelope sender's domain; the HELO name for a null reverse-path. */
  readonly mailFromDomain: string;
  /** Not in the history file. */
  readonly envelopeTo?: string;
  readonly spf?: SpfOutcome;
  readonly dkim: readonly DkimOutcome[];
  readonly policyDomain: string;
  /** What the policy said: absent (no record), pass, or the failing message's policy before sampling. */
  readonly policy: 'absent' | 'pass' | DmarcPolicy;
  readonly rua: readonly string[];
  readonly pct: number;
  readonly adkim: AlignmentMode;
  readonly aspf: AlignmentMode;
  readonly p?: DmarcPolicy;
  readonly sp?: DmarcPolicy;
  readonly dkimAligned: boolean;
  readonly spfAligned: boolean;
  /** What was asked of the message after sampling and overrides (the report's disposition). */
  readonly disposition: DmarcPolicy;
  readonly reasons: readonly OverrideReason[];
  readonly arc?: ArcSummary;
}

export interface VerdictFacts {
  readonly jobId: string;
  /** primary_hostname. */
  readonly reporter: string;
  readonly received: number;
  readonly sourceIp: string;
  /** '' for a null reverse-path: then the SPF domain (the HELO name) is used. */
  readonly mailFromDomain: string;
  readonly envelopeTo?: string;
  readonly input: DmarcInput;
  readonly result: DmarcResult;
  readonly arc?: ArcSummary;
  /** A local decision that changed the disposition (e.g. an ARC pass trusted over a DMARC reject). */
  readonly override?: { readonly disposition: DmarcPolicy; readonly reason: OverrideReason };
}

/** The verdict of one evaluation; undefined when there is nothing to keep (nofrom, temperror). */
export function dmarcVerdict(f: VerdictFacts): DmarcVerdict | undefined {
  const r = f.result;
  if (r.status === 'nofrom' || r.status === 'temperror') return undefined;
  const rec = r.record;
  const reasons: OverrideReason[] = r.sampledOut ? [{ type: 'sampled_out' }] : [];
  if (f.override !== undefined) reasons.push(f.override.reason);
  const policy = rec === undefined ? 'absent' : r.authResult === 'pass' ? 'pass' : (r.domainPolicy || 'none');
  return {
    jobId: f.jobId,
    reporter: f.reporter,
    received: f.received,
    sourceIp: f.sourceIp,
    fromDomain: r.fromDomain,
    mailFromDomain: f.mailFromDomain || f.input.spf?.domain || '',
    ...(f.envelopeTo !== undefined ? { envelopeTo: f.envelopeTo } : {}),
    ...(f.input.spf !== undefined ? { spf: f.input.spf } : {}),
    dkim: f.input.dkim ?? [],
    policyDomain: r.usedDomain,
    policy,
    rua: r.rua.map((u) => (u.maxSize === undefined ? u.uri : `${u.uri}!${u.maxSize}`)),
    pct: r.pct,
    adkim: rec?.adkim ?? 'r',
    aspf: rec?.aspf ?? 'r',
    ...(rec !== undefined ? { p: rec.p } : {}),
    ...(rec?.sp !== undefined ? { sp: rec.sp } : {}),
    dkimAligned: r.dkimAligned,
    spfAligned: r.spfAligned,
    disposition: f.override?.disposition ?? r.disposition,
    reasons,
    ...(f.arc !== undefined ? { arc: f.arc } : {}),
  };
}

const ARES: Record<SpfResultKind | DkimResultKind, number> = {
  pass: 0, softfail: 2, neutral: 3, temperror: 4, permerror: 5, none: 6, fail: 7, policy: 8,
};
const POLICY = { absent: 14, pass: 15, reject: 16, quarantine: 17, none: 18 } as const;
const ACTION: Record<DmarcPolicy, number> = { reject: 0, none: 2, quarantine: 4 };
const P_CHAR: Record<DmarcPolicy, number> = { none: 110, quarantine: 113, reject: 114 };
const A_CHAR: Record<AlignmentMode, number> = { r: 114, s: 115 };
const ARC = { pass: 0, fail: 7, none: 6 } as const;
const ARC_POLICY = { pass: 0, unused: 1, fail: 2 } as const;

/** A value on one history line: no whitespace or control characters (the importer splits on spaces). */
// eslint-disable-next-line no-control-regex
const v = (s: string): string => s.replace(/[\s\x00-\x1f\x7f]+/g, '') || '-';

/** The text of one verdict: the lines listed at the top of this file. */
export function formatHistory(x: DmarcVerdict): string {
  const lines = [
    `job ${v(x.jobId)}`,
    `reporter ${v(x.reporter)}`,
    `received ${Math.floor(x.received / 1000)}`,
    `ipaddr ${v(x.sourceIp)}`,
    `from ${v(x.fromDomain)}`,
    `mfrom ${v(x.mailFromDomain)}`,
    `spf ${ARES[x.spf?.result ?? 'none']}`,
    ...x.dkim.map((d) => `dkim ${v(d.domain)} ${v(d.selector ?? '')} ${ARES[d.result]}`),
    `pdomain ${v(x.policyDomain)}`,
    `policy ${POLICY[x.policy]}`,
    ...(x.rua.length > 0 ? x.rua.map((u) => `rua ${v(u)}`) : ['rua -']),
    `pct ${x.pct}`,
    `adkim ${A_CHAR[x.adkim]}`,
    `aspf ${A_CHAR[x.aspf]}`,
    `p ${x.p === undefined ? 0 : P_CHAR[x.p]}`,
    `sp ${x.sp === undefined ? 0 : P_CHAR[x.sp]}`,
    `align_dkim ${x.dkimAligned ? 4 : 5}`,
    `align_spf ${x.spfAligned ? 4 : 5}`,
    `action ${ACTION[x.disposition]}`,
    `arc ${x.arc === undefined ? 11 : ARC[x.arc.result]}`,
    `arc_policy ${ARC_POLICY[x.arc?.policy ?? 'unused']} json:[${(x.arc?.seals ?? [])
      .map((s) => JSON.stringify({ i: s.i, d: v(s.d), s: v(s.s), ip: v(s.ip ?? '') })).join(', ')}]`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * The history record of one evaluation, or undefined when none is written: never for nofrom and temperror (the
 * importer needs a From and a policy domain); for norecord only with `recordAll` (OpenDMARC's RecordAllMessages;
 * Exim records only messages with a DMARC record).
 */
export function historyRecord(f: VerdictFacts, options: { recordAll?: boolean } = {}): string | undefined {
  if (f.result.record === undefined && options.recordAll !== true) return undefined;
  const verdict = dmarcVerdict(f);
  return verdict === undefined ? undefined : formatHistory(verdict);
}

const invert = <K extends string>(m: Record<K, number>): Map<number, K> =>
  new Map(Object.entries(m).map(([k, n]) => [n as number, k as K]));
const ARES_BACK = invert(ARES);
const POLICY_BACK = invert(POLICY);
const P_BACK = invert(P_CHAR);
const ACTION_BACK = new Map<number, DmarcPolicy>([[0, 'reject'], [1, 'reject'], [2, 'none'], [3, 'none'], [4, 'quarantine']]);
const ARC_BACK = new Map<number, 'pass' | 'fail' | 'none'>([[0, 'pass'], [7, 'fail'], [6, 'none']]);
const ARC_POLICY_BACK = invert(ARC_POLICY);
const STRICTNESS: Record<DmarcPolicy, number> = { none: 0, quarantine: 1, reject: 2 };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Reads a history file (this module's records, OpenDMARC's or Exim's) back into verdicts. Unknown keys and unknown
 * codes are skipped; a record without job, from or pdomain is dropped, as the importer does. The SPF domain and
 * scope are not in the file: the mfrom domain and "mfrom" stand in. A disposition less strict than the policy is
 * explained as sampled_out when pct < 100, otherwise as local_policy.
 */
export function parseHistory(text: string): DmarcVerdict[] {
  const out: DmarcVerdict[] = [];
  let cur: Partial<Mutable<DmarcVerdict>> & { dkim: DkimOutcome[]; rua: string[] } | undefined;
  let spfCode: number | undefined;
  const finish = (): void => {
    if (cur?.jobId === undefined || !cur.fromDomain || !cur.policyDomain) return;
    const known = spfCode === undefined ? undefined : ARES_BACK.get(spfCode);
    const spfResult: SpfResultKind | undefined = known === 'policy' ? undefined : known;
    const policy = cur.policy ?? 'absent';
    const disposition = cur.disposition ?? 'none';
    const pct = cur.pct ?? 100;
    const reasons: OverrideReason[] = policy !== 'absent' && policy !== 'pass' &&
      STRICTNESS[disposition] < STRICTNESS[policy] ? [{ type: pct < 100 ? 'sampled_out' : 'local_policy' }] : [];
    out.push({
      reporter: '', received: 0, sourceIp: '', mailFromDomain: '', adkim: 'r', aspf: 'r', dkimAligned: false,
      spfAligned: false, ...cur, jobId: cur.jobId, fromDomain: cur.fromDomain, policyDomain: cur.policyDomain,
      policy, disposition, pct, reasons,
      ...(spfResult !== undefined
        ? { spf: { domain: cur.mailFromDomain ?? '', result: spfResult, scope: 'mfrom' as const } } : {}),
    });
  };
  for (const line of text.split(/\r?\n/)) {
    const [key, value = '', ...rest] = line.split(' ');
    if (key === 'job') {
      finish();
      cur = { jobId: value, dkim: [], rua: [] };
      spfCode = undefined;
      continue;
    }
    if (cur === undefined || key === undefined) continue;
    const n = Number(value);
    switch (key) {
      case 'reporter': cur.reporter = value; break;
      case 'received': if (Number.isFinite(n)) cur.received = n * 1000; break;
      case 'ipaddr': cur.sourceIp = value; break;
      case 'from': cur.fromDomain = value; break;
      case 'mfrom': cur.mailFromDomain = value; break;
      case 'spf': spfCode = n; break;
      case 'dkim': {
        // "dkim <d> <s> <code>"; older files have "dkim <d> <code>".
        const code = Number(rest.length > 0 ? rest[rest.length - 1] : '');
        const known = ARES_BACK.get(code);
        const result: DkimResultKind | undefined = known === 'softfail' ? 'fail' : known;
        if (result !== undefined) cur.dkim.push({ domain: value, result, ...(rest.length > 1 && rest[0] !== '-' ? { selector: rest[0] as string } : {}) });
        break;
      }
      case 'pdomain': cur.policyDomain = value; break;
      case 'policy': { const p = POLICY_BACK.get(n); if (p !== undefined) cur.policy = p; break; }
      case 'rua': if (value !== '-' && value !== '') cur.rua.push(value); break;
      case 'pct': if (n >= 0 && n <= 100) cur.pct = n; break;
      case 'adkim': cur.adkim = n === 115 ? 's' : 'r'; break;
      case 'aspf': cur.aspf = n === 115 ? 's' : 'r'; break;
      case 'p': { const p = P_BACK.get(n); if (p !== undefined) cur.p = p; break; }
      case 'sp': { const p = P_BACK.get(n); if (p !== undefined) cur.sp = p; break; }
      case 'align_dkim': cur.dkimAligned = n === 4; break;
      case 'align_spf': cur.spfAligned = n === 4; break;
      case 'action': { const d = ACTION_BACK.get(n); if (d !== undefined) cur.disposition = d; break; }
      case 'arc': { const a = ARC_BACK.get(n); if (a !== undefined) cur.arc = { result: a, policy: cur.arc?.policy ?? 'unused' }; break; }
      case 'arc_policy': {
        // Without an arc result (11, unknown: no ARC verifier) the line carries nothing.
        const p = ARC_POLICY_BACK.get(n);
        if (p !== undefined && cur.arc !== undefined) cur.arc = { ...cur.arc, policy: p };
        break;
      }
      default: break;
    }
  }
  finish();
  return out;
}
