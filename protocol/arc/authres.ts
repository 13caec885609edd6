// ARC results in Authentication-Results (RFC 8617 sections 6 and 10, RFC 8601): the "arc" method with the
// chain validation status, header.oldest-pass and smtp.remote-ip.
import type { AuthResult, AuthResultProperty } from '../authres/index.js';
import type { ArcValidation } from './types.js';

export interface ArcAuthResultOptions {
  /** The address of the client that sent us the message (section 6: smtp.remote-ip). */
  readonly remoteIp?: string;
}

/**
 * The "arc=" entry for our Authentication-Results: arc=pass (i=N) header.oldest-pass=M, arc=fail with the
 * reason, or arc=none. header.oldest-pass is written as section 6 defines it: 0 when every AMS verifies,
 * else the lowest instance that still does (ArcValidation.oldestPass is that instance, 1 when all verify).
 */
export function arcAuthResult(v: ArcValidation, opts: ArcAuthResultOptions = {}): AuthResult {
  const properties: AuthResultProperty[] = [];
  if (v.state === 'pass') properties.push({ ptype: 'header', property: 'oldest-pass', value: String(v.oldestPass === 1 ? 0 : v.oldestPass) });
  if (opts.remoteIp !== undefined) properties.push({ ptype: 'smtp', property: 'remote-ip', value: opts.remoteIp });
  const entry: { -readonly [K in keyof AuthResult]: AuthResult[K] } = { method: 'arc', result: v.state, properties };
  if (v.instances > 0) entry.comment = `i=${v.instances}`;
  if (v.state === 'fail') entry.reason = v.reason;
  return entry;
}
