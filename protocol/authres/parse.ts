// Reading Authentication-Results values (RFC 8601 sections 2.2 and 5): the authserv-id and results, with
// comments, quoted strings and folding, and the test that finds fields claiming our authserv-id (CVE-2020-12272).

export interface ParsedProperty {
  readonly ptype: string;
  readonly property: string;
  readonly value: string;
}

export interface ParsedResult {
  /** Lower case. */
  readonly method: string;
  readonly version?: number;
  /** Lower case. */
  readonly result: string;
  readonly reason?: string;
  readonly properties: readonly ParsedProperty[];
}

export interface ParsedAuthResults {
  readonly authservId: string;
  readonly version?: number;
  /** Empty for "authserv-id; none". */
  readonly results: readonly ParsedResult[];
}

export type AuthResParse =
  | { kind: 'ok'; value: ParsedAuthResults }
  /** authservId is given when it could be read before the error. */
  | { kind: 'error'; reason: string; authservId?: string };

const TOKEN_CHAR = /[!#$%&'*+\-.0-9A-Z^_`a-z{|}~\u0080-\uffff]/;
const KEYWORD = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** A cursor over the value that skips CFWS (RFC 5322 section 3.2.2), keeping the text of the comments it skips. */
class Scanner {
  pos = 0;
  readonly comments: string[] = [];
  error: string | null = null;
  readonly s: string;

  constructor(s: string) {
    this.s = s;
  }

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  cfws(): void {
    while (!this.done) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') this.pos++;
      else if (c === '(') this.#comment();
      else break;
    }
  }

  #comment(): void {
    let depth = 0;
    let text = '';
    while (!this.done) {
      const c = this.s[this.pos++] as string;
      if (c === '\\') {
        text += this.s[this.pos++] ?? '';
      } else if (c === '(') {
        if (depth > 0) text += c;
        depth++;
      } else if (c === ')') {
        depth--;
        if (depth === 0) {
          this.comments.push(text);
          return;
        }
        text += c;
      } else {
        text += c;
      }
    }
    this.comments.push(text);
    this.error ??= 'unterminated comment';
  }

  /** A quoted-string at the cursor, unescaped. */
  quoted(): string {
    let text = '';
    this.pos++;
    while (!this.done) {
      const c = this.s[this.pos++] as string;
      if (c === '\\') text += this.s[this.pos++] ?? '';
      else if (c === '"') return text;
      else if (c !== '\r' && c !== '\n') text += c;
    }
    this.error ??= 'unterminated quoted string';
    return text;
  }

  token(): string {
    const start = this.pos;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** value = token / quoted-string */
  value(): string {
    return this.peek() === '"' ? this.quoted() : this.token();
  }

  /** A pvalue: a quoted-string (maybe followed by "@domain") or a run up to whitespace, ";" or "(". */
  pvalue(): string {
    let out = '';
    if (this.peek() === '"') out = this.quoted();
    const start = this.pos;
    while (!this.done && !/[\s;()"]/.test(this.peek())) this.pos++;
    return out + this.s.slice(start, this.pos);
  }

  eat(ch: string): boolean {
    if (this.peek() !== ch) return false;
    this.pos++;
    return true;
  }
}

/** The authserv-id and version at the start of a value; the scanner is left after them. */
function readHead(sc: Scanner): { id: string; version?: number } | null {
  sc.cfws();
  const id = sc.value();
  if (id === '') return null;
  sc.cfws();
  const digits = /^\d+/.exec(sc.s.slice(sc.pos));
  if (digits) {
    sc.pos += digits[0].length;
    sc.cfws();
    return { id, version: Number(digits[0]) };
  }
  return { id };
}

/** Parses a whole value. Robust to comments anywhere CFWS may be, quoted values and folding. */
export function parseAuthResults(value: string): AuthResParse {
  const sc = new Scanner(value);
  const head = readHead(sc);
  if (!head) return { kind: 'error', reason: 'no authserv-id' };
  const fail = (reason: string): AuthResParse => ({ kind: 'error', reason, authservId: head.id });
  const results: ParsedResult[] = [];
  const base = head.version === undefined ? { authservId: head.id } : { authservId: head.id, version: head.version };
  if (sc.done) return sc.error ? fail(sc.error) : { kind: 'ok', value: { ...base, results } };
  if (!sc.eat(';')) return fail('expected ";" after the authserv-id');
  sc.cfws();
  const afterSemicolon = sc.pos;
  if (sc.token().toLowerCase() === 'none') {
    sc.cfws();
    if (sc.done) return sc.error ? fail(sc.error) : { kind: 'ok', value: { ...base, results } };
    return fail('text after "none"');
  }
  sc.pos = afterSemicolon;
  for (;;) {
    sc.cfws();
    const method = sc.token();
    if (!KEYWORD.test(method)) return fail('expected a method');
    let version: number | undefined;
    sc.cfws();
    if (sc.eat('/')) {
      sc.cfws();
      const v = sc.token();
      if (!/^\d+$/.test(v)) return fail('bad method version');
      version = Number(v);
      sc.cfws();
    }
    if (!sc.eat('=')) return fail(`expected "=" after ${method}`);
    sc.cfws();
    const result = sc.token();
    if (!KEYWORD.test(result)) return fail(`expected a result for ${method}`);
    const entry: { method: string; version?: number; result: string; reason?: string; properties: ParsedProperty[] } = {
      method: method.toLowerCase(),
      result: result.toLowerCase(),
      properties: [],
    };
    if (version !== undefined) entry.version = version;
    sc.cfws();
    while (!sc.done && sc.peek() !== ';') {
      const name = sc.token();
      sc.cfws();
      if (name.toLowerCase() === 'reason' && sc.peek() === '=') {
        sc.pos++;
        sc.cfws();
        entry.reason = sc.value();
        sc.cfws();
        continue;
      }
      const dot = name.indexOf('.');
      if (dot <= 0 || dot === name.length - 1 || !sc.eat('=')) return fail(`expected ptype.property=value in ${method}`);
      sc.cfws();
      entry.properties.push({ ptype: name.slice(0, dot).toLowerCase(), property: name.slice(dot + 1).toLowerCase(), value: sc.pvalue() });
      sc.cfws();
    }
    results.push(entry);
    if (sc.done) break;
    sc.pos++; // ";"
    sc.cfws();
    if (sc.done) break; // a final ";" is tolerated
  }
  return sc.error ? fail(sc.error) : { kind: 'ok', value: { ...base, results } };
}

function norm(id: string): string {
  return id.trim().toLowerCase().replace(/\.$/, '');
}

function words(text: string): string[] {
  return text.replace(/\\/g, '').split(/[^A-Za-z0-9._\-\u0080-\uffff]+/).filter((w) => w !== '');
}

/**
 * Whether a field claims our authserv-id, so that it must be removed on arrival (RFC 8601 section 5). Errs on
 * the side of "ours": besides the id as RFC 8601 reads it (comments and folding skipped, quoted strings
 * unquoted, any case, a trailing dot), it is ours when our id sits in a comment before the first ";" (where
 * a careless reader would take it), when removing folding altogether reveals it, or when the value does not
 * parse and our id appears in it anywhere.
 */
export function isOurs(value: string, authservId: string): boolean {
  const want = norm(authservId);
  if (want === '') return false;
  for (const text of [value, value.replace(/\r?\n[ \t]*/g, '')]) {
    const sc = new Scanner(text);
    const head = readHead(sc);
    if (head && norm(head.id) === want) return true;
    for (const comment of sc.comments) if (words(comment).some((w) => norm(w) === want)) return true;
  }
  if (parseAuthResults(value).kind === 'error') return words(value).some((w) => norm(w) === want);
  return false;
}

/** The field name test that goes with isOurs: Authentication-Results in any case, spaces before the colon. */
export function isAuthResultsName(name: string): boolean {
  return name.trim().toLowerCase() === 'authentication-results';
}
