// SPF macros (RFC 7208 section 7): parsing macro-strings and domain-specs, and expanding them with letters,
// transformers (digits, "r"), delimiters, %% %_ %-, and URL escaping for upper-case letters.
import { dottedForm, readableForm } from './address.js';
import type { IpAddress } from './address.js';
import { isToplabel } from './names.js';

export type MacroLetter = 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'c' | 'r' | 't' | 'v';

export type MacroPart =
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'macro';
      readonly letter: MacroLetter;
      /** Upper-case letter: URL-escape the value (section 7.3). */
      readonly escape: boolean;
      /** Keep this many right-hand parts; undefined keeps all. */
      readonly digits?: number;
      readonly reverse: boolean;
      /** Characters to split on; "." when none were given. */
      readonly delimiters: string;
    };

export interface MacroString {
  readonly source: string;
  readonly parts: readonly MacroPart[];
}

export type MacroParse = { kind: 'ok'; value: MacroString } | { kind: 'error'; reason: string };

/**
 * Where a macro-string stands decides what it may contain: `domain` is a domain-spec in a mechanism or in
 * redirect=/exp= (letters c, r, t are not allowed there: section 7.3); `modifier` is an unknown modifier's value;
 * `explanation` is the TXT text that exp= points to (spaces allowed, all letters).
 */
export type MacroUse = 'domain' | 'modifier' | 'explanation';

const DOMAIN_LETTERS = 'slodiphv';
const ALL_LETTERS = 'slodiphvcrt';
const DELIMITERS = '.-+,/_=';
/** More parts than any value can have: larger digit transformers mean "all". */
const MAX_DIGITS = 255;

function describe(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  return code > 0x20 && code < 0x7f ? `"${ch}"` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Parses a macro-string; with `use` = `domain` also requires a domain-end (see parseDomainSpec). */
export function parseMacroString(text: string, use: MacroUse): MacroParse {
  const letters = use === 'domain' ? DOMAIN_LETTERS : ALL_LETTERS;
  const parts: MacroPart[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal !== '') parts.push({ kind: 'text', text: literal });
    literal = '';
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    const code = ch.charCodeAt(0);
    if (ch !== '%') {
      const visible = code >= 0x21 && code <= 0x7e;
      if (!visible && !(use === 'explanation' && ch === ' ')) return { kind: 'error', reason: `character ${describe(ch)} not allowed in "${text}"` };
      literal += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '%' || next === '_' || next === '-') {
      literal += next === '%' ? '%' : next === '_' ? ' ' : '%20';
      i += 2;
      continue;
    }
    if (next !== '{') return { kind: 'error', reason: `"%" not followed by "{", "%", "_" or "-" in "${text}"` };
    const close = text.indexOf('}', i + 2);
    if (close < 0) return { kind: 'error', reason: `unterminated macro in "${text}"` };
    const body = text.slice(i + 2, close);
    const m = /^([A-Za-z])([0-9]*)([rR]?)(.*)$/s.exec(body);
    const letter = (m?.[1] ?? '').toLowerCase();
    if (!m || !letters.includes(letter)) {
      const where = use === 'domain' && ALL_LETTERS.includes(letter) && letter !== '' ? ' (only allowed in explanations)' : '';
      return { kind: 'error', reason: `invalid macro "%{${body}}"${where}` };
    }
    const delimiters = m[4] ?? '';
    if ([...delimiters].some((d) => !DELIMITERS.includes(d))) return { kind: 'error', reason: `invalid delimiter in "%{${body}}"` };
    const digitText = m[2] ?? '';
    let digits: number | undefined;
    if (digitText !== '') {
      const n = Number(digitText.length > 6 ? MAX_DIGITS : digitText);
      if (n === 0) return { kind: 'error', reason: `zero digit transformer in "%{${body}}"` };
      digits = Math.min(n, MAX_DIGITS);
    }
    flush();
    parts.push({
      kind: 'macro',
      letter: letter as MacroLetter,
      escape: m[1] !== letter,
      ...(digits !== undefined ? { digits } : {}),
      reverse: (m[3] ?? '') !== '',
      delimiters: delimiters === '' ? '.' : delimiters,
    });
    i = close + 1;
  }
  flush();
  return { kind: 'ok', value: { source: text, parts } };
}

/**
 * A domain-spec (section 7.1): a non-empty macro-string ending in a macro-expand or in "." toplabel ["."].
 * The ending is judged on the text as written, never after expansion.
 */
export function parseDomainSpec(text: string): MacroParse {
  if (text === '') return { kind: 'error', reason: 'empty domain-spec' };
  const parsed = parseMacroString(text, 'domain');
  if (parsed.kind === 'error') return parsed;
  if (endsWithMacroExpand(text)) return parsed;
  const tail = text.endsWith('.') ? text.slice(0, -1) : text;
  const dot = tail.lastIndexOf('.');
  const top = dot < 0 ? '' : tail.slice(dot + 1);
  if (dot < 0 || top.includes('%') || !isToplabel(top)) return { kind: 'error', reason: `"${text}" does not end in a valid top-level label` };
  return parsed;
}

/** True if the text ends with "%{...}", "%%", "%_" or "%-" (the "%" of those not itself escaped). */
function endsWithMacroExpand(text: string): boolean {
  if (text.endsWith('}')) {
    const open = text.lastIndexOf('%{');
    return open >= 0 && !text.slice(open).slice(2, -1).includes('}') && unescapedPercent(text, open);
  }
  if (/%[%_-]$/.test(text)) return unescapedPercent(text, text.length - 2);
  return false;
}

/** True if the "%" at `at` starts a macro-expand, i.e. is preceded by an even run of "%". */
function unescapedPercent(text: string, at: number): boolean {
  let run = 0;
  for (let j = at - 1; j >= 0 && text[j] === '%'; j--) run++;
  return run % 2 === 0;
}

/** What expansion needs to know (section 7.3). */
export interface MacroContext {
  readonly sender: string;
  readonly local: string;
  readonly senderDomain: string;
  /** The current domain: changes with include and redirect. */
  readonly domain: string;
  readonly ip: IpAddress;
  readonly helo: string;
  readonly receiver: string;
  readonly now: () => number;
  /** %{p}: the validated name of the client, or "unknown". Only called if the string uses it. */
  readonly validatedName: (domain: string) => Promise<string>;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const encoder = new TextEncoder();

/** URL-escapes everything outside the unreserved set (section 7.3), octet by octet in UTF-8. */
export function urlEscape(value: string): string {
  let out = '';
  for (const ch of value) {
    if (UNRESERVED.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of encoder.encode(ch)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

async function letterValue(letter: MacroLetter, ctx: MacroContext): Promise<string> {
  switch (letter) {
    case 's': return ctx.sender;
    case 'l': return ctx.local;
    case 'o': return ctx.senderDomain;
    case 'd': return ctx.domain;
    case 'i': return dottedForm(ctx.ip);
    case 'p': return ctx.validatedName(ctx.domain);
    case 'v': return ctx.ip.version === 4 ? 'in-addr' : 'ip6';
    case 'h': return ctx.helo;
    case 'c': return readableForm(ctx.ip);
    case 'r': return ctx.receiver === '' ? 'unknown' : ctx.receiver;
    case 't': return String(Math.floor(ctx.now() / 1000));
  }
}

/** Splits on any delimiter, reverses, keeps the right-hand parts, joins with "." (section 7.3). */
export function transform(value: string, delimiters: string, reverse: boolean, digits: number | undefined): string {
  let parts: string[] = [];
  let current = '';
  for (const ch of value) {
    if (delimiters.includes(ch)) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  if (reverse) parts.reverse();
  if (digits !== undefined && digits < parts.length) parts = parts.slice(parts.length - digits);
  return parts.join('.');
}

/** Expands a parsed macro-string. Only %{p} touches DNS (through the context). */
export async function expandMacroString(m: MacroString, ctx: MacroContext): Promise<string> {
  let out = '';
  for (const part of m.parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    const value = transform(await letterValue(part.letter, ctx), part.delimiters, part.reverse, part.digits);
    out += part.escape ? urlEscape(value) : value;
  }
  return out;
}
