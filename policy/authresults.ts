// Exim's ${authresults{authserv-id}}: an Authentication-Results header field (RFC 8601) from the verified facts.
import { authResultsField, dkimAuthResults } from '../protocol/authres/index.js';
import type { AuthResult } from '../protocol/authres/index.js';
import { arcAuthResult } from '../protocol/arc/index.js';
import type { AuthFacts } from './auth-facts.js';

export interface AuthResultsContext {
  readonly clientIp: string;
  readonly authenticatedId?: string;
  /** The MAIL FROM domain ('' for the null reverse-path). */
  readonly senderDomain: string;
  readonly helo: string;
}

/** The resinfos for what was evaluated, in the order SMTP meets them: auth, spf, dkim, dmarc, arc. */
export function authResultsEntries(facts: AuthFacts | undefined, ctx: AuthResultsContext): AuthResult[] {
  const out: AuthResult[] = [];
  if (ctx.authenticatedId !== undefined && ctx.authenticatedId !== '') {
    out.push({ method: 'auth', result: 'pass', properties: [{ ptype: 'smtp', property: 'auth', value: ctx.authenticatedId }] });
  }
  const spf = facts?.spf ?? facts?.spfHelo;
  if (spf) {
    const helo = spf.checked.identity === 'helo' || ctx.senderDomain === '';
    out.push({
      method: 'spf',
      result: spf.kind,
      properties: [helo ? { ptype: 'smtp', property: 'helo', value: ctx.helo || spf.domain } : { ptype: 'smtp', property: 'mailfrom', value: ctx.senderDomain }],
    });
  }
  if (facts?.dkim) out.push(...dkimAuthResults(facts.dkim.signatures));
  const d = facts?.dmarc;
  if (d && d.authResult !== 'off') {
    const entry: { -readonly [K in keyof AuthResult]: AuthResult[K] } = {
      method: 'dmarc',
      result: d.authResult,
      properties: d.fromDomain === '' ? [] : [{ ptype: 'header', property: 'from', value: d.fromDomain }],
    };
    if (d.domainPolicy !== '') entry.comment = `p=${d.domainPolicy} dis=${d.disposition}`;
    out.push(entry);
  }
  const a = facts?.arc;
  if (a) {
    out.push(arcAuthResult(
      a.state === 'pass' ? { ...a, state: 'pass', oldestPass: a.oldestPass ?? 1 } : a.state === 'fail' ? { ...a, state: 'fail' } : { ...a, state: 'none' },
      { remoteIp: ctx.clientIp },
    ));
  }
  return out;
}

/** The whole header field, "Authentication-Results: id; ..." folded with CRLF, without a final line end. */
export function authResultsHeader(authservId: string, facts: AuthFacts | undefined, ctx: AuthResultsContext): string {
  return authResultsField(authservId, authResultsEntries(facts, ctx));
}
