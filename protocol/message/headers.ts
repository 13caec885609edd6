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

/**
 * Watches content as it is written and keeps the header section, up to a size limit.
 * The section ends at an empty line, or at a line that is neither a field nor a continuation.
 */
export class HeaderTracker {
  #parts: Buffer[] = [];
  #length = 0;
  #lineStart = 0; // offset of the current line within the kept bytes
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
    this.#parts.push(chunk);
    this.#length += chunk.length;
    const all = this.#parts.length === 1 ? chunk : Buffer.concat(this.#parts);
    this.#parts = [all];
    let pos = this.#lineStart;
    for (;;) {
      const lf = all.indexOf(0x0a, pos);
      if (lf < 0) break;
      const line = all.subarray(pos, lf > pos && all[lf - 1] === 0x0d ? lf - 1 : lf);
      if (line.length === 0) {
        this.#finish(all, pos, lf + 1, true);
        return;
      }
      const first = line[0];
      const continuation = first === 0x20 || first === 0x09;
      if (!continuation && !FIELD_NAME.test(line.subarray(0, Math.min(line.length, 200)).toString('latin1'))) {
        this.#finish(all, pos, pos, false);
        return;
      }
      pos = lf + 1;
    }
    this.#lineStart = pos;
    if (this.#length > this.#max) {
      this.#result = { kind: 'tooBig' };
      this.#parts = [];
    }
  }

  /** Content ended: whatever was kept is the header section (a message without a body). */
  end(): HeaderScan {
    if (this.#result.kind === 'open') {
      const all = Buffer.concat(this.#parts);
      this.#finish(all, all.length, all.length, false);
    }
    return this.#result;
  }

  #finish(all: Buffer, headerLength: number, bodyStart: number, separator: boolean): void {
    if (headerLength > this.#max) {
      this.#result = { kind: 'tooBig' };
    } else {
      this.#result = { kind: 'done', headerBytes: Buffer.from(all.subarray(0, headerLength)), end: bodyStart, separator };
    }
    this.#parts = [];
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
