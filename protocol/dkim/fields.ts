// Header fields for DKIM (RFC 6376 sections 3.4.1, 3.4.2, 3.7 and 5.4.2): raw fields from a header section,
// header canonicalization, choosing the instances h= names (bottom-up), and the header hash input.
import { asciiLower } from './tags.js';
import type { Canon, RawField } from './types.js';

/** A raw field held as octets in a latin1 string (one character per octet), with its lower-cased name. */
export interface Field {
  readonly name: string;
  readonly lower: string;
  readonly raw: string;
}

export function toField(f: RawField): Field {
  const raw = typeof f.raw === 'string' ? Buffer.from(f.raw, 'utf8').toString('latin1') : f.raw.toString('latin1');
  return { name: f.name, lower: asciiLower(f.name.trim()), raw };
}

/**
 * Splits a header section (as HeaderTracker keeps it, or any CRLF text up to the blank line) into raw fields.
 * Continuation lines stay in their field with CRLF; a bare LF line end is read as CRLF. Lines before the first
 * field that are not fields are skipped, as a line without a colon is.
 */
export function splitHeaderFields(section: Buffer | string): RawField[] {
  const text = typeof section === 'string' ? Buffer.from(section, 'utf8').toString('latin1') : section.toString('latin1');
  const fields: { name: string; lines: string[] }[] = [];
  let current: { name: string; lines: string[] } | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') {
      current = null;
      continue;
    }
    if ((line[0] === ' ' || line[0] === '\t') && current) {
      current.lines.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      current = null;
      continue;
    }
    current = { name: line.slice(0, colon).replace(/[ \t]+$/, ''), lines: [line] };
    fields.push(current);
  }
  return fields.map((f) => ({ name: f.name, raw: Buffer.from(f.lines.join('\r\n'), 'latin1') }));
}

/**
 * Splits a whole message into its header section and body at the first empty line (CRLF or bare LF).
 * Without an empty line the message is all header.
 */
export function splitMessage(message: Buffer): { header: Buffer; body: Buffer } {
  let pos = 0;
  for (;;) {
    if (message[pos] === 0x0d && message[pos + 1] === 0x0a) return { header: message.subarray(0, pos), body: message.subarray(pos + 2) };
    if (message[pos] === 0x0a) return { header: message.subarray(0, pos), body: message.subarray(pos + 1) };
    const lf = message.indexOf(0x0a, pos);
    if (lf < 0) return { header: message, body: message.subarray(message.length) };
    pos = lf + 1;
  }
}

/** The relaxed form of one field, without the final CRLF (RFC 6376 section 3.4.2). */
export function relaxedField(raw: string): string {
  const colon = raw.indexOf(':');
  const name = asciiLower((colon < 0 ? raw : raw.slice(0, colon)).replace(/[ \t]+$/, ''));
  const value = (colon < 0 ? '' : raw.slice(colon + 1))
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ /, '')
    .replace(/ $/, '');
  return `${name}:${value}`;
}

/** The canonical form of one field, without the final CRLF. */
export function canonField(raw: string, canon: Canon): string {
  return canon === 'relaxed' ? relaxedField(raw) : raw;
}

/**
 * The DKIM-Signature (or ARC) field with the value of its b= tag removed, and the whitespace around that value
 * (RFC 6376 section 3.5, b=): "b=" stays, everything up to the next ";" or the end goes. The other tags,
 * including bh=, are untouched.
 */
export function stripSignatureValue(raw: string): string {
  const colon = raw.indexOf(':');
  if (colon < 0) return raw;
  const head = raw.slice(0, colon + 1);
  const parts = raw.slice(colon + 1).split(';');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).replace(/(?:[ \t]|\r?\n)+/g, '') === 'b') {
      parts[i] = part.slice(0, eq + 1);
      break;
    }
  }
  return head + parts.join(';');
}

/**
 * Index of the header fields by lower-case name, for choosing instances bottom-up (RFC 6376 section 5.4.2):
 * each occurrence of a name in h= takes the last instance not yet taken; once none is left it stands for the
 * null string (nothing is hashed), which is how oversigning forbids added copies.
 */
export class FieldIndex {
  readonly fields: readonly Field[];
  readonly #byName = new Map<string, number[]>();
  readonly #relaxed = new Map<number, string>();

  constructor(fields: readonly Field[]) {
    this.fields = fields;
    fields.forEach((f, i) => {
      const list = this.#byName.get(f.lower);
      if (list) list.push(i);
      else this.#byName.set(f.lower, [i]);
    });
  }

  /** How many instances of a name there are. */
  count(lowerName: string): number {
    return this.#byName.get(lowerName)?.length ?? 0;
  }

  /** The field indexes h= selects, in h= order; `exclude` (the signature's own field) is never chosen. */
  select(names: readonly string[], exclude = -1): number[] {
    const taken = new Map<string, number>();
    const chosen: number[] = [];
    for (const name of names) {
      const lower = asciiLower(name);
      const list = this.#byName.get(lower);
      if (!list) continue;
      let next = taken.get(lower) ?? list.length - 1;
      if (next >= 0 && list[next] === exclude) next--;
      if (next < 0) {
        taken.set(lower, -1);
        continue;
      }
      chosen.push(list[next] as number);
      taken.set(lower, next - 1);
    }
    return chosen;
  }

  /** A field in canonical form (relaxed forms are computed once per message, shared by all signatures). */
  canonical(index: number, canon: Canon): string {
    const f = this.fields[index] as Field;
    if (canon === 'simple') return f.raw;
    let r = this.#relaxed.get(index);
    if (r === undefined) {
      r = relaxedField(f.raw);
      this.#relaxed.set(index, r);
    }
    return r;
  }
}

/**
 * The octets the signature covers (RFC 6376 section 3.7): each selected field canonicalized and ended by CRLF,
 * then the signature field itself (b= value removed) canonicalized, without a final CRLF.
 */
export function headerHashInput(index: FieldIndex, selected: readonly number[], signatureRaw: string, canon: Canon): Buffer {
  let text = '';
  for (const i of selected) text += `${index.canonical(i, canon)}\r\n`;
  text += canonField(stripSignatureValue(signatureRaw), canon);
  return Buffer.from(text, 'latin1');
}
