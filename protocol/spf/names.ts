// Domain names in SPF: the checked domain's shape (RFC 7208 section 4.3), query names built by macro expansion
// (section 7.3, truncation to 253 octets), and domain-spec endings (section 7.1, toplabel).

const encoder = new TextEncoder();
const LDH_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
const TOPLABEL = /^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])$/;
const MAX_NAME = 253;
const MAX_LABEL = 63;

function octets(s: string): number {
  return encoder.encode(s).length;
}

/** `toplabel` of RFC 7208 section 7.1: alphanumeric, not all digits, dashes only inside. */
export function isToplabel(label: string): boolean {
  return TOPLABEL.test(label);
}

/**
 * Checks the domain given to check_host(). Section 4.3: a malformed domain (empty or over-long label, a single
 * label, a domain literal) gives `none` without any DNS query. Returns the name without a trailing dot, or why not.
 */
export function checkIdentityDomain(domain: string): { kind: 'ok'; name: string } | { kind: 'malformed'; reason: string } {
  const name = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (name.startsWith('[')) return { kind: 'malformed', reason: `"${domain}" is an address literal, not a domain` };
  const labels = name.split('.');
  if (labels.length < 2) return { kind: 'malformed', reason: `"${domain}" is not a multi-label domain name` };
  if (octets(name) > MAX_NAME) return { kind: 'malformed', reason: `"${domain}" is longer than ${MAX_NAME} octets` };
  for (const label of labels) {
    if (label === '') return { kind: 'malformed', reason: `"${domain}" has an empty label` };
    if (label.length > MAX_LABEL) return { kind: 'malformed', reason: `"${domain}" has a label longer than ${MAX_LABEL} octets` };
    if (!LDH_LABEL.test(label)) return { kind: 'malformed', reason: `"${domain}" is not a host name` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return { kind: 'malformed', reason: `"${domain}" has a numeric top label` };
  return { kind: 'ok', name };
}

/**
 * The name to query for an expanded domain-spec: the trailing dot dropped, labels removed from the left until it
 * fits in 253 octets (section 7.3). Undefined if no query can be made from it (an empty label, a label over 63
 * octets): callers treat that as a name that does not exist (sections 4.3 and 4.8 leave it open; the suite
 * prefers no-match).
 */
export function toQueryName(expanded: string): string | undefined {
  let name = expanded.endsWith('.') ? expanded.slice(0, -1) : expanded;
  while (octets(name) > MAX_NAME) {
    const dot = name.indexOf('.');
    if (dot < 0) return undefined;
    name = name.slice(dot + 1);
  }
  if (name === '') return undefined;
  for (const label of name.split('.')) {
    if (label === '' || octets(label) > MAX_LABEL) return undefined;
  }
  return name;
}

/** The lower-cased name without a trailing dot, for comparing names from DNS answers. */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** True if `name` is `domain` or a subdomain of it (both canonical). */
export function isWithin(name: string, domain: string): boolean {
  return name === domain || name.endsWith('.' + domain);
}
