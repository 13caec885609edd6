// The RFC5322.From domain DMARC evaluates (RFC 7489 sections 3.1 and 6.6.1): exactly one From: field holding
// exactly one mailbox with a domain, read with the address grammar of RFC 5322 section 3.4 (RFC 6532 UTF-8 allowed).
//
// Several From: fields, a From: with several mailboxes (RFC 6854 groups included), none, or one without a usable
// domain all give `nofrom`: picking one convenient address would let a forger add a second one that passes.
import { hostName } from './record.js';
import type { FromDomain } from './types.js';

/** A header field as protocol/message/headers.ts parseHeaders() returns it (name as written, unfolded value). */
export interface FromHeaderField {
  readonly name: string;
  readonly value: string;
}

type Token =
  | { readonly t: 'atom'; readonly v: string }
  | { readonly t: 'quoted'; readonly v: string }
  | { readonly t: 'literal'; readonly v: string }
  | { readonly t: 'special'; readonly v: string };

const SPECIALS = '<>,:;@.';
/** A value longer than this is not an address header anyone writes; reading stops (bounded work). */
const MAX_VALUE = 16_384;

class SyntaxFault extends Error {}

/** Splits a field value into atoms, quoted strings, domain literals and specials; CFWS (comments too) is dropped. */
function tokenize(value: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < n; i++) {
        const d = value[i];
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth !== 0) throw new SyntaxFault('unterminated comment');
      i++;
    } else if (c === '"' || c === '[') {
      const close = c === '"' ? '"' : ']';
      let v = '';
      for (i++; i < n && value[i] !== close; i++) {
        if (value[i] === '\\') i++;
        if (i < n) v += value[i];
      }
      if (i >= n) throw new SyntaxFault(c === '"' ? 'unterminated quoted string' : 'unterminated domain literal');
      i++;
      out.push({ t: c === '"' ? 'quoted' : 'literal', v });
    } else if (SPECIALS.includes(c)) {
      out.push({ t: 'special', v: c });
      i++;
    } else if (c === ')' || c === ']' || c === '\\') {
      throw new SyntaxFault(`unexpected "${c}"`);
    } else {
      let v = '';
      while (i < n && !' \t\r\n()"[]\\'.includes(value[i] as string) && !SPECIALS.includes(value[i] as string)) v += value[i++];
      out.push({ t: 'atom', v });
    }
  }
  return out;
}

const isSpecial = (t: Token | undefined, v: string): boolean => t?.t === 'special' && t.v === v;

/** word *("." word): a local part (dot-atom, quoted string, or obsolete mixtures). */
function localPart(ts: readonly Token[]): string {
  if (ts.length === 0) throw new SyntaxFault('empty local part');
  let out = '';
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i] as Token;
    const word = i % 2 === 0;
    if (word && (t.t === 'atom' || t.t === 'quoted')) out += t.t === 'quoted' ? JSON.stringify(t.v) : t.v;
    else if (!word && isSpecial(t, '.')) out += '.';
    else throw new SyntaxFault('malformed local part');
  }
  if (ts.length % 2 === 0) throw new SyntaxFault('local part ends with a dot');
  return out;
}

/** addr-spec = local-part "@" domain; the domain must be a host name (no literal). */
function addrSpec(ts: readonly Token[]): { local: string; domain: string } {
  let at = -1;
  ts.forEach((t, i) => {
    if (isSpecial(t, '@')) at = at < 0 ? i : -2;
  });
  if (at === -1) throw new SyntaxFault('address without a domain');
  if (at === -2) throw new SyntaxFault('address with several "@"');
  const local = localPart(ts.slice(0, at));
  const dom = ts.slice(at + 1);
  if (dom.length === 1 && dom[0]?.t === 'literal') throw new SyntaxFault('address with a domain literal');
  let text = '';
  for (let i = 0; i < dom.length; i++) {
    const t = dom[i] as Token;
    if (i % 2 === 0 && t.t === 'atom') text += t.v;
    else if (i % 2 === 1 && isSpecial(t, '.')) text += '.';
    else throw new SyntaxFault('malformed domain');
  }
  if (dom.length % 2 === 0) throw new SyntaxFault(dom.length === 0 ? 'address without a domain' : 'domain ends with a dot');
  const domain = hostName(text);
  if (domain === undefined) throw new SyntaxFault(`"${text.slice(0, 60)}" is not a domain name`);
  return { local, domain };
}

/**
 * mailbox = name-addr / addr-spec. In name-addr the display name must be words only; an obsolete route
 * ("<@a,@b:x@y>") is skipped. Anything after ">" is an error.
 */
function mailbox(ts: readonly Token[]): { local: string; domain: string } {
  const open = ts.findIndex((t) => isSpecial(t, '<'));
  if (open < 0) return addrSpec(ts);
  const close = ts.findIndex((t) => isSpecial(t, '>'));
  if (close < open || close !== ts.length - 1) throw new SyntaxFault('malformed angle address');
  if (ts.slice(0, open).some((t) => t.t !== 'atom' && t.t !== 'quoted' && !isSpecial(t, '.'))) {
    throw new SyntaxFault('malformed display name');
  }
  let inner = ts.slice(open + 1, close);
  const colon = inner.findIndex((t) => isSpecial(t, ':'));
  if (colon >= 0 && isSpecial(inner[0], '@')) inner = inner.slice(colon + 1);
  return addrSpec(inner);
}

/**
 * The mailboxes of an address list (RFC 5322 section 3.4; groups per RFC 6854). Empty list elements (obsolete
 * syntax) are skipped. Throws SyntaxFault.
 */
function mailboxes(ts: readonly Token[]): { local: string; domain: string }[] {
  const out: { local: string; domain: string }[] = [];
  let item: Token[] = [];
  let inGroup = false;
  let inAngle = false;
  const flush = (): void => {
    if (item.length > 0) out.push(mailbox(item));
    item = [];
  };
  for (const t of ts) {
    if (isSpecial(t, '<')) inAngle = true;
    else if (isSpecial(t, '>')) inAngle = false;
    if (!inAngle && isSpecial(t, ':') && !inGroup) {
      if (item.some((x) => x.t === 'special' && x.v !== '.')) throw new SyntaxFault('malformed group name');
      item = [];
      inGroup = true;
    } else if (!inAngle && isSpecial(t, ';') && inGroup) {
      flush();
      inGroup = false;
    } else if (!inAngle && isSpecial(t, ',')) {
      flush();
    } else {
      item.push(t);
    }
  }
  if (inGroup) throw new SyntaxFault('unterminated group');
  flush();
  return out;
}

/** The From domain of one field value. */
export function parseFromValue(value: string): FromDomain {
  if (value.length > MAX_VALUE) return { kind: 'nofrom', reason: 'From: field too long' };
  let list: { local: string; domain: string }[];
  try {
    list = mailboxes(tokenize(value));
  } catch (err) {
    const why = err instanceof SyntaxFault ? err.message : 'unreadable';
    return { kind: 'nofrom', reason: `From: ${why}` };
  }
  if (list.length === 0) return { kind: 'nofrom', reason: 'From: holds no address' };
  if (list.length > 1) return { kind: 'nofrom', reason: `From: holds ${list.length} addresses` };
  const only = list[0] as { local: string; domain: string };
  return { kind: 'ok', domain: only.domain, address: `${only.local}@${only.domain}` };
}

/**
 * The RFC5322.From domain of a header section (parseHeaders() fields). `nofrom` unless there is exactly one From:
 * field with exactly one mailbox whose domain is a host name (A-labels, lower case).
 */
export function fromDomain(headerFields: readonly FromHeaderField[]): FromDomain {
  const froms = headerFields.filter((f) => f.name.trim().toLowerCase() === 'from');
  if (froms.length === 0) return { kind: 'nofrom', reason: 'no From: field' };
  if (froms.length > 1) return { kind: 'nofrom', reason: `${froms.length} From: fields` };
  return parseFromValue((froms[0] as FromHeaderField).value);
}
