// IP addresses for SPF: strict text forms for ip4:/ip6: (RFC 7208 section 5.6, RFC 4291 section 2.2), prefix
// matching, IPv4-mapped clients treated as IPv4 (section 5), reverse names and the %{i}/%{c} forms (section 7.3).
import ipaddr from 'ipaddr.js';

/** An address as octets: 4 for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly version: 4 | 6;
  readonly bytes: readonly number[];
}

const QNUM = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = new RegExp(`^${QNUM}(?:\\.${QNUM}){3}$`);
const HEX4 = /^[0-9A-Fa-f]{1,4}$/;

/** Dotted-quad IPv4 text with no leading zeros and exactly four parts (RFC 7208 section 5.6, ip4-network). */
export function parseIp4(text: string): IpAddress | undefined {
  if (!IPV4.test(text)) return undefined;
  return { version: 4, bytes: text.split('.').map(Number) };
}

/** Counts the 16-bit pieces of one side of an IPv6 text, or -1 if a piece is malformed. */
function pieces(side: string, last: boolean): number {
  if (side === '') return 0;
  const parts = side.split(':');
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? '';
    if (HEX4.test(p)) n += 1;
    else if (last && i === parts.length - 1 && IPV4.test(p)) n += 2;
    else return -1;
  }
  return n;
}

/** IPv6 text as RFC 4291 section 2.2 writes it (no zone, no brackets, no prefix). */
export function parseIp6(text: string): IpAddress | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  if (halves.length === 1) {
    if (pieces(text, true) !== 8) return undefined;
  } else {
    const left = pieces(halves[0] ?? '', false);
    const right = pieces(halves[1] ?? '', true);
    if (left < 0 || right < 0 || left + right > 7) return undefined;
  }
  return { version: 6, bytes: ipaddr.IPv6.parse(text).toByteArray() };
}

/**
 * The SMTP client's address. IPv6 zone indexes and brackets are not accepted. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) becomes the IPv4 address, as RFC 7208 section 5 requires.
 */
export function parseClientIp(text: string): IpAddress | undefined {
  const v4 = parseIp4(text);
  if (v4) return v4;
  const v6 = parseIp6(text);
  if (!v6) return undefined;
  const b = v6.bytes;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? { version: 4, bytes: b.slice(12) } : v6;
}

/**
 * An address from a DNS answer (A or AAAA): the client's version only. DNS clients hand these over already
 * decoded, so the lenient parser is enough.
 */
export function parseAnswerAddress(text: string, version: 4 | 6): IpAddress | undefined {
  if (version === 4) return parseIp4(text);
  if (!ipaddr.IPv6.isValid(text) || text.includes('%')) return undefined;
  return { version: 6, bytes: ipaddr.IPv6.parse(text).toByteArray() };
}

/** True if the first `prefix` bits of both addresses are equal; addresses of different versions never match. */
export function inPrefix(ip: IpAddress, network: IpAddress, prefix: number): boolean {
  if (ip.version !== network.version) return false;
  let bits = prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const a = ip.bytes[i] ?? 0;
    const b = network.bytes[i] ?? 0;
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a & mask) !== (b & mask)) return false;
  }
  return true;
}

function nibbles(ip: IpAddress): string[] {
  const out: string[] = [];
  for (const b of ip.bytes) out.push((b >> 4).toString(16), (b & 15).toString(16));
  return out;
}

/** The %{i} form: dotted quad, or 32 dot-separated lower-case nibbles for IPv6 (RFC 7208 section 7.3). */
export function dottedForm(ip: IpAddress): string {
  // Upper-case nibbles, as the RFC 7208 test suite (pyspf) expects for %{i}; DNS ignores the case.
  return ip.version === 4 ? ip.bytes.join('.') : nibbles(ip).join('.').toUpperCase();
}

/** The %{c} form: dotted quad, or the RFC 5952 text of an IPv6 address. */
export function readableForm(ip: IpAddress): string {
  if (ip.version === 4) return ip.bytes.join('.');
  const parts: number[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((ip.bytes[i] ?? 0) << 8) | (ip.bytes[i + 1] ?? 0));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** The name to ask PTR for (RFC 1035 section 3.5, RFC 3596 section 2.5). */
export function reverseName(ip: IpAddress): string {
  if (ip.version === 4) return [...ip.bytes].reverse().join('.') + '.in-addr.arpa';
  return nibbles(ip).reverse().join('.') + '.ip6.arpa';
}

/** Same address, same version. */
export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.version === b.version && a.bytes.every((x, i) => x === b.bytes[i]);
}
