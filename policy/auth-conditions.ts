// The ACL conditions on authentication results: spf, spf_helo, dkim_signers, dkim_status, dmarc_status and
// verify = arc (Exim spec, "DKIM, SPF and DMARC"; experimental-spec, "ARC support").
import type { SpfResult } from '../protocol/spf/index.js';
import type { Item } from './acl-parse.js';
import { isPromise } from './acl-types.js';
import type { AclInput, FoundFacts, Steps } from './acl-types.js';
import { ARC_STATE_VALUES, DKIM_STATUS_VALUES, DMARC_STATUS_VALUES, SPF_CONDITION_VALUES, overallDkimStatus } from './auth-facts.js';
import { splitList } from './lists.js';

export type AuthOutcome = { kind: 'bool'; value: boolean } | { kind: 'defer'; reason: string };

export const AUTH_CONDITIONS = new Set(['spf', 'spf_helo', 'dkim_signers', 'dkim_status', 'dmarc_status']);

/**
 * Exim's list test for result words: left to right, the first item equal to `value` (or `*`, or a `*suffix`
 * pattern) decides, a `!` item meaning "not"; with no match the answer is no, unless the last item was negated.
 */
export function matchWords(value: string, list: string): boolean {
  const v = value.toLowerCase();
  let lastNegative = false;
  for (const raw of splitList(list)) {
    const negative = raw.startsWith('!');
    const item = (negative ? raw.slice(1).trim() : raw).toLowerCase();
    lastNegative = negative;
    const hit = item === '*' || item === v || (item.startsWith('*') && v.endsWith(item.slice(1)));
    if (hit) return !negative;
  }
  return lastNegative;
}

/** Words a result condition may list; anything else is a configuration error found at load time. */
export function resultWordProblem(condition: string, list: string): string | null {
  const allowed = condition === 'spf' || condition === 'spf_helo' ? [...SPF_CONDITION_VALUES.keys()]
    : condition === 'dkim_status' ? DKIM_STATUS_VALUES
      : condition === 'dmarc_status' ? DMARC_STATUS_VALUES
        : condition === 'arc' ? ARC_STATE_VALUES : null;
  if (allowed === null) return null;
  for (const raw of splitList(list)) {
    const word = (raw.startsWith('!') ? raw.slice(1).trim() : raw).toLowerCase();
    if (!allowed.includes(word)) return `unknown result "${word}" (expected one of ${allowed.join(', ')})`;
  }
  return null;
}

/** An SPF result in the words the condition lists accept (the Exim aliases map onto the RFC names). */
function spfMatches(result: SpfResult, list: string): boolean {
  const words = splitList(list).map((w) => {
    const neg = w.startsWith('!');
    const word = (neg ? w.slice(1).trim() : w).toLowerCase();
    return (neg ? '!' : '') + (SPF_CONDITION_VALUES.get(word) ?? word);
  });
  return matchWords(result.kind, words.join(':'));
}

const defer = (item: Item, reason: string): AuthOutcome => ({ kind: 'defer', reason: `line ${item.line}: ${item.name}: ${reason}` });

/** The SPF check for one identity: known already, found earlier in this run, or asked of the port now. */
function* spfResult(identity: 'mailfrom' | 'helo', input: AclInput, found: FoundFacts): Steps<SpfResult | string> {
  const known = identity === 'mailfrom' ? (found.spf ?? input.auth?.spf) : (found.spfHelo ?? input.auth?.spfHelo);
  if (known) return known;
  const port = input.ports.spf;
  if (!port) return 'SPF checking is not available here';
  const helo = input.helo ?? '';
  if (identity === 'mailfrom' && input.sender === undefined) return 'needs a sender: use it at MAIL or later';
  if (identity === 'helo' && helo === '') return 'needs a HELO or EHLO name';
  const sender = identity === 'mailfrom' && input.sender ? `${input.sender.local}@${input.sender.domain}` : '';
  let r: SpfResult;
  try {
    const got = port(identity, { ip: input.clientIp, helo, sender });
    r = isPromise(got) ? ((yield got) as SpfResult) : got;
  } catch (err) {
    return `SPF check failed: ${(err as Error).message}`;
  }
  if (identity === 'mailfrom') found.spf = r;
  else found.spfHelo = r;
  return r;
}

/** Evaluates one of AUTH_CONDITIONS (the caller applies `!`). */
export function* authCondition(item: Item, value: string, input: AclInput, found: FoundFacts): Steps<AuthOutcome> {
  switch (item.name) {
    case 'spf':
    case 'spf_helo': {
      const r = yield* spfResult(item.name === 'spf' ? 'mailfrom' : 'helo', input, found);
      if (typeof r === 'string') return defer(item, r);
      return { kind: 'bool', value: spfMatches(r, value) };
    }
    case 'dkim_signers':
      if (input.stage !== 'dkim' || input.dkimSigner === undefined) return defer(item, 'works only in the DKIM ACL (acl_smtp_dkim)');
      return { kind: 'bool', value: matchWords(input.dkimSigner.name, value) };
    case 'dkim_status': {
      if (input.stage !== 'dkim' && input.stage !== 'data') return defer(item, 'works only in the DKIM and DATA ACLs');
      const signer = input.dkimSigner;
      if (signer) return { kind: 'bool', value: matchWords(signer.signature?.exim.status ?? 'none', value) };
      const sigs = input.auth?.dkim?.signatures ?? [];
      // In the DATA ACL the condition is true when any signature has a listed status.
      if (sigs.length === 0) return { kind: 'bool', value: matchWords(overallDkimStatus(input.auth?.dkim).status, value) };
      return { kind: 'bool', value: sigs.some((s) => matchWords(s.exim.status, value)) };
    }
    case 'dmarc_status':
      if (input.stage !== 'data') return defer(item, 'works only in the DATA ACL');
      return { kind: 'bool', value: matchWords(input.auth?.dmarc?.status ?? 'off', value) };
    default:
      throw new Error(`internal: "${item.name}" is not an authentication condition`);
  }
}

/** verify = arc[/list]: the chain state is in the list (default none:pass). */
export function verifyArc(item: Item, list: string | undefined, input: AclInput): AuthOutcome {
  if (input.stage !== 'data') return defer(item, '"verify = arc" works only in the DATA ACL');
  const state = input.auth?.arc?.state ?? 'none';
  return { kind: 'bool', value: matchWords(state, list === undefined || list.trim() === '' ? 'none:pass' : list) };
}
