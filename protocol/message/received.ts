// Received: trace header (RFC 5321 section 4.4, RFC 5322 section 3.6.7; protocol names per RFC 3848 and RFC 6531).
import { rfc5322Date } from './date.js';

export interface ReceivedInfo {
  readonly heloName: string;
  readonly clientIp: string;
  readonly clientHostname?: string;
  readonly byHost: string;
  readonly protocol: string;
  readonly tls?: { readonly cipher: string; readonly version: string };
  readonly id: string;
  readonly sender: string;
  /** Named only when there is one recipient, so that a header does not reveal a whole list. */
  readonly recipient?: string;
  readonly time: number;
}

/**
 * WITH protocol name: SMTP, ESMTP, plus S (TLS) and A (authenticated); UTF8SMTP... for SMTPUTF8.
 */
export function withProtocol(opts: { ehlo: boolean; tls: boolean; auth: boolean; utf8: boolean }): string {
  const base = opts.utf8 ? 'UTF8SMTP' : opts.ehlo ? 'ESMTP' : 'SMTP';
  if (!opts.ehlo && !opts.utf8) return 'SMTP';
  return base + (opts.tls ? 'S' : '') + (opts.auth ? 'A' : '');
}

function literal(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

/** The header, folded, with CRLF line endings and a final CRLF. */
export function receivedHeader(r: ReceivedInfo): string {
  const from = r.clientHostname
    ? `from ${r.heloName} (${r.clientHostname} ${literal(r.clientIp)})`
    : `from ${r.heloName} (${literal(r.clientIp)})`;
  const by = `\tby ${r.byHost} with ${r.protocol}` + (r.tls ? ` (${r.tls.version}:${r.tls.cipher})` : '');
  const lines = [`Received: ${from}`, by, `\t(envelope-from <${r.sender}>)`, `\tid ${r.id}`];
  if (r.recipient !== undefined) lines.push(`\tfor <${r.recipient}>;`);
  else lines[lines.length - 1] += ';';
  lines.push(`\t${rfc5322Date(r.time)}`);
  return lines.join('\r\n') + '\r\n';
}
