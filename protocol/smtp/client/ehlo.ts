// What a server offers, from its EHLO reply (RFC 5321 section 4.1.1.1): the extensions the client
// uses (RFC 2920, 1870, 6152, 6531, 3461, 3207, 3030, 2034, 4954) and the rest by keyword.

export interface Capabilities {
  readonly pipelining: boolean;
  /** Absent: no SIZE keyword. 0: SIZE without a usable limit. Otherwise the limit in octets (RFC 1870). */
  readonly size?: number;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly dsn: boolean;
  readonly starttls: boolean;
  readonly chunking: boolean;
  readonly enhancedStatusCodes: boolean;
  /** SASL mechanisms, upper-cased, each once (from "AUTH a b" and the old "AUTH=a b" form alike). */
  readonly auth: readonly string[];
  /** Every other keyword, upper-cased, with its parameters joined by single spaces ("" when none). */
  readonly other: ReadonlyMap<string, string>;
}

// ehlo-line = ehlo-keyword *(SP ehlo-param). "=" after the keyword is the pre-standard AUTH form
// that Exim and Postfix still offer to old clients; it is accepted for any keyword.
const LINE = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/;

/** What a server answering HELO offers: nothing (RFC 5321 section 4.1.1.1). */
export function heloCapabilities(): Capabilities {
  return {
    pipelining: false,
    eightBitMime: false,
    smtpUtf8: false,
    dsn: false,
    starttls: false,
    chunking: false,
    enhancedStatusCodes: false,
    auth: [],
    other: new Map(),
  };
}

/**
 * Capabilities from the lines of a positive EHLO reply (the `lines` of a ServerReply). The first
 * line is the server's name and greeting, not a keyword. Keywords are matched without regard to
 * case; lines that are not keyword lines are skipped, and a repeated keyword keeps its first value
 * (AUTH mechanisms are merged).
 */
export function parseEhlo(reply: { readonly lines: readonly string[] }): Capabilities {
  let pipelining = false;
  let size: number | undefined;
  let eightBitMime = false;
  let smtpUtf8 = false;
  let dsn = false;
  let starttls = false;
  let chunking = false;
  let enhancedStatusCodes = false;
  const auth = new Set<string>();
  const other = new Map<string, string>();
  for (const raw of reply.lines.slice(1)) {
    const m = LINE.exec(raw.trim());
    if (!m || m[1] === undefined) continue;
    const keyword = m[1].toUpperCase();
    const params = (m[2] ?? '').split(/[ \t]+/).filter((p) => p !== '');
    switch (keyword) {
      case 'PIPELINING': pipelining = true; break;
      case '8BITMIME': eightBitMime = true; break;
      case 'SMTPUTF8': smtpUtf8 = true; break;
      case 'DSN': dsn = true; break;
      case 'STARTTLS': starttls = true; break;
      case 'CHUNKING': chunking = true; break;
      case 'ENHANCEDSTATUSCODES': enhancedStatusCodes = true; break;
      case 'SIZE':
        if (size === undefined) size = sizeLimit(params[0]);
        break;
      case 'AUTH':
        for (const mech of params) if (/^[A-Za-z0-9_-]{1,20}$/.test(mech)) auth.add(mech.toUpperCase());
        break;
      default:
        if (!other.has(keyword)) other.set(keyword, params.join(' '));
    }
  }
  const caps: Capabilities = {
    pipelining, eightBitMime, smtpUtf8, dsn, starttls, chunking, enhancedStatusCodes, auth: [...auth], other,
  };
  return size === undefined ? caps : { ...caps, size };
}

/** RFC 1870: "SIZE" alone or "SIZE 0" announce no fixed limit; a value that is not a number counts as none. */
function sizeLimit(param: string | undefined): number {
  if (param === undefined || !/^\d{1,20}$/.test(param)) return 0;
  const n = Number(param);
  return Number.isSafeInteger(n) ? n : 0;
}
