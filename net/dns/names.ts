// Domain names in the DNS client: the normal form (ASCII lower case, RFC 4343; no trailing dot) and wire limits (RFC 1035 2.3.4).

/** Lower-cases ASCII letters only (DNS compares names ASCII-case-insensitively) and drops one trailing dot. The root is ".". */
export function normalizeName(name: string): string {
  let n = name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (n.length > 1 && n.endsWith('.')) n = n.slice(0, -1);
  return n === '' ? '.' : n;
}

/** True if the normalized name fits the wire format: labels of 1-63 octets, 255 octets in all. */
export function isEncodableName(name: string): boolean {
  if (name === '.') return true;
  let total = 1;
  for (const label of name.split('.')) {
    const len = Buffer.byteLength(label, 'utf8');
    if (len < 1 || len > 63) return false;
    total += len + 1;
  }
  return total <= 255;
}

export function sameName(a: string, b: string): boolean {
  return normalizeName(a) === normalizeName(b);
}
