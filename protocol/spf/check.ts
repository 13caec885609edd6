// check_host() and the two identities (RFC 7208 sections 2.3, 2.4, 4, 6.2): input checks, the evaluation, and
// the explanation for a fail.
import { parseClientIp } from './address.js';
import { Evaluation } from './evaluate.js';
import type { Outcome } from './evaluate.js';
import { expandMacroString, parseMacroString } from './macro.js';
import { checkIdentityDomain } from './names.js';
import { DEFAULT_EXPLANATION, DEFAULT_SPF_LIMITS } from './types.js';
import type { SpfChecked, SpfInput, SpfLimits, SpfPorts, SpfResult } from './types.js';

/** Explanation TXT text longer than this is ignored (section 6.2 lets implementations limit it). */
export const MAX_EXPLANATION_TEXT = 1024;

/** Splits a sender into local-part and domain at the last "@"; no local-part means "postmaster" (section 4.3). */
export function splitSender(sender: string, fallbackDomain: string): { local: string; domain: string } {
  const at = sender.lastIndexOf('@');
  const local = at < 0 ? '' : sender.slice(0, at);
  const domain = at < 0 ? sender : sender.slice(at + 1);
  return { local: local === '' ? 'postmaster' : local, domain: domain === '' ? fallbackDomain : domain };
}

/** Reasons quote record text, which may hold control or non-ASCII octets: those are shown as \xNN / \u{N}. */
function visible(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x20 && code < 0x7f) out += ch;
    else out += code < 0x100 ? '\\x' + code.toString(16).toUpperCase().padStart(2, '0') : `\\u{${code.toString(16).toUpperCase()}}`;
  }
  return out;
}

function limitsOf(ports: SpfPorts): SpfLimits {
  return { ...DEFAULT_SPF_LIMITS, ...ports.limits };
}

/**
 * check_host(<ip>, <domain>, <sender>) of RFC 7208 section 4. Never throws: DNS trouble is `temperror`, bad
 * records are `permerror`, a malformed domain or no record is `none`. A `fail` carries an explanation.
 */
export async function checkHost(input: SpfInput, ports: SpfPorts): Promise<SpfResult> {
  const sender = splitSender(input.sender, input.domain.replace(/\.$/, ''));
  const checked: SpfChecked = {
    ip: input.ip,
    sender: `${sender.local}@${sender.domain}`,
    helo: input.helo,
    receiver: ports.receiver,
    identity: input.identity ?? 'mailfrom',
  };
  const base = { domain: input.domain, checked };
  const ip = parseClientIp(input.ip);
  if (!ip) return { ...base, kind: 'permerror', reason: visible(`"${input.ip}" is not an IP address`) };
  const domain = checkIdentityDomain(input.domain);
  if (domain.kind === 'malformed') return { ...base, kind: 'none', reason: visible(domain.reason) };
  const ev = new Evaluation(
    { ip, sender: checked.sender, local: sender.local, senderDomain: sender.domain, helo: input.helo, receiver: ports.receiver, now: ports.now },
    ports.dns,
    limitsOf(ports),
  );
  const evaluated = await ev.checkDomain(domain.name);
  const outcome: Outcome = ev.expired ? { kind: 'temperror', reason: 'SPF time limit exceeded' } : evaluated;
  const result: SpfResult = {
    ...base,
    kind: outcome.kind,
    ...(outcome.mechanism !== undefined ? { mechanism: outcome.mechanism } : {}),
    ...(outcome.reason !== undefined ? { reason: visible(outcome.reason) } : {}),
  };
  if (outcome.kind !== 'fail') return result;
  return { ...result, explanation: await explain(ev, outcome, domain.name, ports) };
}

/**
 * Section 6.2: the exp= text of the record that failed, macro-expanded; any trouble on the way (a name that
 * cannot be queried, a DNS error, not exactly one TXT record, non-ASCII or bad macro syntax) means the default.
 * This lookup counts toward no limit.
 */
async function explain(ev: Evaluation, outcome: Outcome, checkedDomain: string, ports: SpfPorts): Promise<string> {
  const domain = outcome.failedAt?.domain ?? checkedDomain;
  const exp = outcome.failedAt?.exp;
  if (exp) {
    const name = await ev.targetName(exp, domain);
    const txt = name === undefined ? undefined : await ev.lookup(name, 'TXT');
    if (txt?.kind === 'ok' && txt.records.length === 1) {
      const text = (txt.records[0] ?? []).join('');
      const parsed = text.length <= MAX_EXPLANATION_TEXT ? parseMacroString(text, 'explanation') : undefined;
      if (parsed?.kind === 'ok') return expandMacroString(parsed.value, ev.macroContext(domain));
    }
  }
  const fallback = parseMacroString(ports.defaultExplanation ?? DEFAULT_EXPLANATION, 'explanation');
  return fallback.kind === 'ok' ? expandMacroString(fallback.value, ev.macroContext(domain)) : fallback.reason;
}

/** The SMTP facts the two identity checks need. */
export interface SpfSession {
  readonly ip: string;
  /** The HELO/EHLO argument. */
  readonly helo: string;
  /** The MAIL FROM reverse-path without angle brackets; "" for the null reverse-path. */
  readonly mailFrom: string;
}

export interface SpfIdentityResults {
  /** check_host() on the HELO identity, postmaster@<helo> (section 2.3); `none` for an address literal. */
  readonly helo: SpfResult;
  /** check_host() on the MAIL FROM identity; for a null reverse-path it is the HELO check (section 2.4). */
  readonly mailFrom: SpfResult;
}

/**
 * Both identities, HELO first (section 2.3), then MAIL FROM (section 2.4). With a null reverse-path the MAIL FROM
 * identity is postmaster@<helo>, the same check as HELO, so it is not repeated.
 */
export async function checkIdentities(session: SpfSession, ports: SpfPorts): Promise<SpfIdentityResults> {
  const heloSender = `postmaster@${session.helo}`;
  const helo = await checkHost({ ip: session.ip, domain: session.helo, sender: heloSender, helo: session.helo, identity: 'helo' }, ports);
  if (session.mailFrom === '') {
    return { helo, mailFrom: { ...helo, checked: { ...helo.checked, identity: 'mailfrom' } } };
  }
  const { domain } = splitSender(session.mailFrom, '');
  const mailFrom = await checkHost({ ip: session.ip, domain, sender: session.mailFrom, helo: session.helo, identity: 'mailfrom' }, ports);
  return { helo, mailFrom };
}
