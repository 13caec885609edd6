// Writing the Authentication-Results header field value (RFC 8601 section 2.2): authserv-id, then one resinfo
// per method (method=result, reason, ptype.property=value), quoted where the grammar needs it, folded.

/** One property of a result: `smtp.mailfrom`, `header.d`, `header.from`, `policy.dmarc`... */
export interface AuthResultProperty {
  /** smtp, header, body or policy (RFC 8601 section 2.3). */
  readonly ptype: string;
  readonly property: string;
  readonly value: string;
}

/** One method's result, as it is written (RFC 8601 section 2.7). */
export interface AuthResult {
  /** dkim, spf, dmarc, arc, iprev, auth, ... */
  readonly method: string;
  /** The method version ("dkim/1"); omitted normally. */
  readonly version?: number;
  /** pass, fail, none, neutral, policy, softfail, temperror, permerror, ... */
  readonly result: string;
  /** Written as reason="..." (section 2.2). */
  readonly reason?: string;
  /** Written as a comment right after method=result, e.g. "(2048-bit key)". */
  readonly comment?: string;
  readonly properties?: readonly AuthResultProperty[];
}

export interface BuildOptions {
  /** The authserv-id version (section 2.5); written only when given. */
  readonly version?: number;
  /** Maximum line length, counting "Authentication-Results: " on the first line. Default 78. */
  readonly lineLength?: number;
}

/** A programming error in the names given (method, result, ptype, property); values are always encodable. */
export class AuthResError extends Error {
  readonly code = 'AUTHRES_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AuthResError';
  }
}

const KEYWORD = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
/** RFC 2045 token: no SPACE, CTLs or tspecials ( ) < > @ , ; : \ " / [ ] ? = */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
/** [local-part] "@" domain-name, local-part a dot-atom (RFC 8601 section 2.2 pvalue). */
const ADDRESS = /^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)?@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const PREFIX = 'Authentication-Results: ';

/** Removes what can never appear in a header value: CR, LF and other controls (folding is ours to do). */
function clean(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += (c < 0x20 && c !== 0x09) || c === 0x7f ? ' ' : ch;
  }
  return out;
}

/** A quoted-string with quoted-pairs for '"' and '\'. */
export function quoteString(s: string): string {
  return `"${clean(s).replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

/** A value as the grammar's `value` (token or quoted-string). */
export function encodeValue(s: string): string {
  return TOKEN.test(s) ? s : quoteString(s);
}

/** A pvalue: bare when it is a token, an address or "@domain", else quoted. */
export function encodePvalue(s: string): string {
  return TOKEN.test(s) || ADDRESS.test(s) ? s : quoteString(s);
}

/** A comment, parentheses and backslashes escaped. */
export function encodeComment(s: string): string {
  return `(${clean(s).replace(/[()\\]/g, (m) => `\\${m}`)})`;
}

function checkName(what: string, name: string): void {
  if (!KEYWORD.test(name)) throw new AuthResError(`invalid ${what} ${JSON.stringify(name)}`);
}

/** The elements of one resinfo, each kept whole on a line. */
function resinfoElements(r: AuthResult): string[] {
  checkName('method', r.method);
  checkName('result', r.result);
  const method = r.version === undefined ? r.method : `${r.method}/${r.version}`;
  const out = [`${method}=${r.result}`];
  if (r.comment) out.push(encodeComment(r.comment));
  if (r.reason !== undefined) out.push(`reason=${encodeValue(r.reason)}`);
  for (const p of r.properties ?? []) {
    checkName('ptype', p.ptype);
    if (!/^[A-Za-z0-9_-]+$/.test(p.property)) throw new AuthResError(`invalid property ${JSON.stringify(p.property)}`);
    out.push(`${p.ptype}.${p.property}=${encodePvalue(p.value)}`);
  }
  return out;
}

/**
 * The header field value (without "Authentication-Results:"), folded: the authserv-id on the first line, each
 * resinfo on its own line, long ones folded between elements. No results gives "authserv-id; none".
 */
export function buildAuthResults(authservId: string, results: readonly AuthResult[], opts: BuildOptions = {}): string {
  const max = opts.lineLength ?? 78;
  const id = encodeValue(authservId) + (opts.version === undefined ? '' : ` ${opts.version}`);
  if (results.length === 0) return `${id}; none`;
  const lines: string[] = [`${id};`];
  results.forEach((r, i) => {
    const elements = resinfoElements(r);
    const last = i === results.length - 1;
    let line = '\t';
    elements.forEach((el, j) => {
      const text = j === elements.length - 1 && !last ? `${el};` : el;
      if (line === '\t') line += text;
      else if (line.length + 1 + text.length > max) {
        lines.push(line);
        line = `\t  ${text}`;
      } else line += ` ${text}`;
    });
    lines.push(line);
  });
  return lines.join('\r\n');
}

/** The whole field, "Authentication-Results: " and the value, without the final CRLF. */
export function authResultsField(authservId: string, results: readonly AuthResult[], opts: BuildOptions = {}): string {
  return PREFIX + buildAuthResults(authservId, results, opts);
}
