// DKIM results as Authentication-Results entries (RFC 8601 section 2.7.1, RFC 6008 for header.b, RFC 8616 for
// header.a and header.s): one "dkim=" resinfo per signature, "dkim=none" for an unsigned message.
import type { DkimResult, DkimVerification } from '../dkim/types.js';
import type { AuthResult, AuthResultProperty } from './build.js';

/** Shortest prefix of each b= (at least 8 characters) that tells it apart from the others (RFC 6008 section 4). */
function bPrefixes(values: readonly (string | undefined)[]): (string | undefined)[] {
  return values.map((b, i) => {
    if (b === undefined) return undefined;
    let n = Math.min(8, b.length);
    while (n < b.length && values.some((o, j) => j !== i && o !== undefined && o !== b && o.startsWith(b.slice(0, n)))) n++;
    return b.slice(0, n);
  });
}

function comment(r: DkimResult): string | undefined {
  const parts: string[] = [];
  if (r.keyLength !== undefined) parts.push(`${r.keyLength}-bit key`);
  if (r.weak) parts.push('sha1 is weak');
  if (r.unsignedTrailingContent) parts.push('unsigned content after l=');
  if (r.testing) parts.push('key in test mode');
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** One entry per signature result, in order; `dkim=none` when there is none. */
export function dkimAuthResults(verification: DkimVerification | readonly DkimResult[]): AuthResult[] {
  const list = 'signatures' in verification ? verification.signatures : verification;
  if (list.length === 0) return [{ method: 'dkim', result: 'none' }];
  const prefixes = bPrefixes(list.map((r) => r.b));
  return list.map((r, i) => {
    const properties: AuthResultProperty[] = [];
    if (r.domain !== undefined) properties.push({ ptype: 'header', property: 'd', value: r.domain });
    if (r.identity !== undefined) properties.push({ ptype: 'header', property: 'i', value: r.identity });
    if (r.selector !== undefined) properties.push({ ptype: 'header', property: 's', value: r.selector });
    if (r.algorithm !== undefined) properties.push({ ptype: 'header', property: 'a', value: r.algorithm });
    const b = prefixes[i];
    if (b !== undefined && b !== '') properties.push({ ptype: 'header', property: 'b', value: b });
    const entry: { -readonly [K in keyof AuthResult]: AuthResult[K] } = { method: 'dkim', result: r.status, properties };
    const c = comment(r);
    if (c !== undefined) entry.comment = c;
    if (r.status !== 'pass') entry.reason = r.reason;
    return entry;
  });
}
