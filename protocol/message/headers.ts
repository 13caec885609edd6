// Message header section (RFC 5322 section 2.2): finding where it ends while content streams in,
// and reading its fields.

export interface HeaderField {
  /** Field name as written. */
  readonly name: string;
  /** Unfolded value, leading whitespace removed. */
  readonly value: string;
}

export type HeaderScan =
  | { kind: 'open' }
  /** end: octet offset where the body starts (after the blank line, if there was one). */
  | { kind: 'done'; headerBytes: Buffer; end: number; separator: boolean }
  | { kind: 'tooBig' };

const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+:/;
/** FIELD_NAME is tried on this many leading octets of a line; a longer name is not a field. */
const NAME_SCAN = 200;

/**
 * What an unfinished line will be, judged from its first octets as the finished line would be:
 * a field or continuation, something else (the body starts there), or not yet known.
 */
function lineKind(partial: Buffer): 'field' | 'other' | 'open' {
  if (partial.length === 0 || (partial.length === 1 && partial[0] === 0x0d)) return 'open'; // may be the blank line
  const first = partial[0];
  if (first === 0x20 || first === 0x09) return 'field';
  const n = Math.min(partial.length, NAME_SCAN);
  for (let i = 0; i < n; i++) {
    const c = partial[i] as number;
    if (c === 0x3a) return i > 0 ? 'field' : 'other';
    if (c < 0x21 || c > 0x7e) return 'other';
  }
  return n < NAME_SCAN ? 'open' : 'other';
}

/**
 * Watches content as it is written and keeps the header section, up to a size limit.
 * The section ends at an empty line, or at a line that is neither a field nor a continuation.
 * Content arrives in many small pieces, so it is kept in one buffer that grows by doubling:
 * copying everything on each piece would make a large header section cost quadratic time.
 */
export class HeaderTracker {
  #buf: Buffer = Buffer.alloc(0);
  #length = 0;
  #lineStart = 0; // offset of the current line within the kept bytes
  #searched = 0; // no LF between #lineStart and here
  #result: HeaderScan = { kind: 'open' };
  readonly #max: number;

  constructor(maxOctets: number) {
    this.#max = maxOctets;
  }

  get result(): HeaderScan {
    return this.#result;
  }

  feed(chunk: Buffer): void {
    if (this.#result.kind !== 'open') return;
    this.#append(chunk);
    const all = this.#buf.subarray(0, this.#length);
    let pos = this.#lineStart;
    let from = Math.max(pos, this.#searched);
    for (;;) {
      const lf = all.indexOf(0x0a, from);
      if (lf < 0) break;
      const line = all.subarray(pos, lf > pos && all[lf - 1] === 0x0d ? lf - 1 : lf);
      if (line.length === 0) {
        this.#finish(all, pos, lf + 1, true);
        return;
      }
      const first = line[0];
      const continuation = first === 0x20 || first === 0x09;
      if (!continuation && !FIELD_NAME.test(line.subarray(0, Math.min(line.length, NAME_SCAN)).toString('latin1'))) {
        this.#finish(all, pos, pos, false);
        return;
      }
      pos = lf + 1;
      from = pos;
    }
    this.#lineStart = pos;
    this.#searched = all.length;
    if (this.#length > this.#max) {
      // Decide now what the unfinished line is, so that the outcome does not depend on where
      // the content was split, and so that at most NAME_SCAN octets more than the limit are kept.
      const kind = pos > this.#max ? 'field' : lineKind(all.subarray(pos));
      if (kind === 'field') {
        this.#result = { kind: 'tooBig' };
        this.#buf = Buffer.alloc(0);
      } else if (kind === 'other') {
        this.#finish(all, pos, pos, false);
      }
    }
  }

  /** Content ended: whatever was kept is the header section (a message without a body). */
  end(): HeaderScan {
    if (this.#result.kind === 'open') {
      const all = this.#buf.subarray(0, this.#length);
      this.#finish(all, all.length, all.length, false);
    }
    return this.#result;
  }

  #append(chunk: Buffer): void {
    const need = this.#length + chunk.length;
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2, 4096));
      this.#buf.copy(grown, 0, 0, this.#length);
      this.#buf = grown;
    }
    chunk.copy(this.#buf, this.#length);
    this.#length = need;
  }

  #finish(all: Buffer, headerLength: number, bodyStart: number, separator: boolean): void {
    if (headerLength > this.#max) {
      this.#result = { kind: 'tooBig' };
    } else {
      this.#result = { kind: 'done', headerBytes: Buffer.from(all.subarray(0, headerLength)), end: bodyStart, separator };
    }
    this.#buf = Buffer.alloc(0);
  }
}

/** Split a header section into fields, unfolding continuation lines. */
export function parseHeaders(section: Buffer | string): HeaderField[] {
  const text = typeof section === 'string' ? section : section.toString('utf8');
  const fields: HeaderField[] = [];
  let current: { name: string; value: string } | null = null;
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '') continue;
    if ((raw[0] === ' ' || raw[0] === '\t') && current) {
      current.value += raw;
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    current = { name: raw.slice(0, colon).trim(), value: raw.slice(colon + 1) };
    fields.push(current);
  }
  return fields.map((f) => ({ name: f.name, value: f.value.trim() }));
}

/** The first field of that name (case-insensitive), or undefined. */
export function headerValue(fields: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === lower)?.value;
}
