// Streaming body canonicalization and hashing (RFC 6376 sections 3.4.3, 3.4.4, 3.5 l=, 3.7): the body is fed
// in chunks as it arrives, split anywhere (even inside a CRLF), and is never held whole.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { BodyHashResult, BodyHashSpec, Canon, DkimHash } from './types.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const OUT_SIZE = 64 * 1024;

export interface BodyHasher {
  /** Feed the next octets of the body (everything after the blank line that ends the header section). */
  update(chunk: Buffer): void;
  /** Finish. The hasher must not be fed afterwards; a second call returns the same result. */
  digest(): BodyHashResult;
}

/** Collects canonical output in a buffer and hashes it in blocks, up to the l= limit, counting all of it. */
class Sink {
  readonly #hash: Hash;
  readonly #limit: number;
  #buf = Buffer.allocUnsafe(OUT_SIZE);
  #used = 0;
  hashed = 0;
  total = 0;

  constructor(hash: DkimHash, limit: number) {
    this.#hash = createHash(hash);
    this.#limit = limit;
  }

  byte(c: number): void {
    this.total++;
    if (this.hashed >= this.#limit) return;
    this.hashed++;
    // run() may have filled the buffer to the brim: make room first (an octet written past the end is lost).
    if (this.#used >= OUT_SIZE) this.flush();
    this.#buf[this.#used++] = c;
  }

  /** Copies a run of octets that need no change. */
  run(chunk: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.total += n;
    const take = Math.min(n, this.#limit - this.hashed);
    if (take <= 0) return;
    this.hashed += take;
    // Short runs (words between spaces) are copied: one hash call per word would cost far more.
    if (take <= OUT_SIZE - this.#used) {
      chunk.copy(this.#buf, this.#used, start, start + take);
      this.#used += take;
      return;
    }
    this.flush();
    this.#hash.update(chunk.subarray(start, start + take));
  }

  crlf(times: number): void {
    for (let i = 0; i < times; i++) {
      this.byte(CR);
      this.byte(LF);
    }
  }

  flush(): void {
    if (this.#used > 0) this.#hash.update(this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }

  finish(): string {
    this.flush();
    this.#buf = Buffer.alloc(0);
    return this.#hash.digest('base64');
  }
}

/**
 * Simple body canonicalization: lines as they are, trailing empty lines removed, a CRLF added to a last line
 * without one, and an empty body becomes one CRLF. Empty lines are held back (counted) until content follows
 * them, so trailing ones never reach the hash. Only CRLF ends a line; a bare CR or LF is content.
 */
class SimpleHasher implements BodyHasher {
  readonly #spec: BodyHashSpec;
  readonly #sink: Sink;
  #heldCr = false; // the last octet fed was a CR that may start a CRLF
  #emptyLines = 0; // empty lines held back
  #lineStart = true; // nothing written on the current line yet
  #result: BodyHashResult | null = null;

  constructor(spec: BodyHashSpec) {
    this.#spec = spec;
    this.#sink = new Sink(spec.hash, sinkLimit(spec.limit));
  }

  update(chunk: Buffer): void {
    if (this.#result) throw new Error('body hasher already finished');
    const sink = this.#sink;
    let i = 0;
    const n = chunk.length;
    if (this.#heldCr && n > 0) {
      this.#heldCr = false;
      if (chunk[0] === LF) {
        this.#endLine();
        i = 1;
      } else {
        this.#content();
        sink.byte(CR);
      }
    }
    while (i < n) {
      const cr = chunk.indexOf(CR, i);
      const stop = cr < 0 ? n : cr;
      if (stop > i) {
        this.#content();
        sink.run(chunk, i, stop);
      }
      if (cr < 0) return;
      if (cr + 1 >= n) {
        this.#heldCr = true;
        return;
      }
      if (chunk[cr + 1] === LF) {
        this.#endLine();
        i = cr + 2;
      } else {
        this.#content();
        sink.byte(CR);
        i = cr + 1;
      }
    }
  }

  /** Content is about to be written on the current line: release the empty lines held before it. */
  #content(): void {
    if (this.#emptyLines > 0) {
      this.#sink.crlf(this.#emptyLines);
      this.#emptyLines = 0;
    }
    this.#lineStart = false;
  }

  #endLine(): void {
    if (this.#lineStart) this.#emptyLines++;
    else this.#sink.crlf(1);
    this.#lineStart = true;
  }

  digest(): BodyHashResult {
    if (this.#result) return this.#result;
    if (this.#heldCr) {
      this.#heldCr = false;
      this.#content();
      this.#sink.byte(CR);
    }
    if (!this.#lineStart) this.#sink.crlf(1);
    if (this.#sink.total === 0) this.#sink.crlf(1);
    this.#result = result(this.#spec, this.#sink);
    return this.#result;
  }
}

/**
 * Relaxed body canonicalization: whitespace at line ends removed, runs of SP/HTAB inside a line reduced to one
 * SP, trailing empty lines removed (a line of only whitespace is empty), a CRLF added to a last line without
 * one; an empty body stays empty. Whitespace is held back until a non-whitespace octet shows it is inside.
 * Output is built octet by octet in a local buffer: text is full of short words, and a call per word is slow.
 */
class RelaxedHasher implements BodyHasher {
  readonly #spec: BodyHashSpec;
  readonly #sink: Sink;
  readonly #out = Buffer.allocUnsafe(OUT_SIZE + 8);
  #heldCr = false;
  #heldWsp = false;
  #emptyLines = 0;
  #lineStart = true;
  #result: BodyHashResult | null = null;

  constructor(spec: BodyHashSpec) {
    this.#spec = spec;
    this.#sink = new Sink(spec.hash, sinkLimit(spec.limit));
  }

  update(chunk: Buffer): void {
    if (this.#result) throw new Error('body hasher already finished');
    const out = this.#out;
    const sink = this.#sink;
    let o = 0;
    let heldCr = this.#heldCr;
    let heldWsp = this.#heldWsp;
    let lineStart = this.#lineStart;
    let empty = this.#emptyLines;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      let c = chunk[i] as number;
      if (heldCr) {
        heldCr = false;
        if (c === LF) {
          heldWsp = false;
          if (lineStart) empty++;
          else {
            out[o++] = CR;
            out[o++] = LF;
            lineStart = true;
          }
          if (o >= OUT_SIZE) {
            sink.run(out, 0, o);
            o = 0;
          }
          continue;
        }
        // The held CR was content: write it now and look at this octet again on the next turn.
        c = CR;
        i--;
      } else if (c === CR) {
        heldCr = true;
        continue;
      } else if (c === SP || c === HTAB) {
        heldWsp = true;
        continue;
      }
      if (lineStart || heldWsp) {
        if (empty > 0) {
          sink.run(out, 0, o);
          o = 0;
          sink.crlf(empty);
          empty = 0;
        }
        if (heldWsp) {
          out[o++] = SP;
          heldWsp = false;
        }
        lineStart = false;
      }
      out[o++] = c;
      // The rest of a word: copied in a tight loop with nothing to decide.
      while (i + 1 < n && o < OUT_SIZE) {
        const d = chunk[i + 1] as number;
        if (d === CR || d === SP || d === HTAB) break;
        out[o++] = d;
        i++;
      }
      if (o >= OUT_SIZE) {
        sink.run(out, 0, o);
        o = 0;
      }
    }
    if (o > 0) sink.run(out, 0, o);
    this.#heldCr = heldCr;
    this.#heldWsp = heldWsp;
    this.#lineStart = lineStart;
    this.#emptyLines = empty;
  }

  digest(): BodyHashResult {
    if (this.#result) return this.#result;
    const sink = this.#sink;
    if (this.#heldCr) {
      // A CR at the very end is content, not a line end.
      if (this.#emptyLines > 0) sink.crlf(this.#emptyLines);
      this.#emptyLines = 0;
      if (this.#heldWsp) sink.byte(SP);
      sink.byte(CR);
      this.#lineStart = false;
    }
    if (!this.#lineStart) sink.crlf(1);
    this.#result = result(this.#spec, sink);
    return this.#result;
  }
}

/** A limit the sink can count to: none is Infinity; a negative or unusable number hashes nothing. */
function sinkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  return limit >= 0 ? limit : 0;
}

function result(spec: BodyHashSpec, sink: Sink): BodyHashResult {
  const bh = sink.finish();
  const base = { canon: spec.canon, hash: spec.hash, bh, hashedLength: sink.hashed, canonicalLength: sink.total };
  return spec.limit === undefined ? base : { ...base, limit: spec.limit };
}

/** A streaming body hasher for one canonicalization, hash and optional l= limit. */
export function createBodyHasher(canon: Canon, hash: DkimHash, lengthLimit?: number): BodyHasher {
  const spec: BodyHashSpec = lengthLimit === undefined ? { canon, hash } : { canon, hash, limit: lengthLimit };
  return canon === 'relaxed' ? new RelaxedHasher(spec) : new SimpleHasher(spec);
}

/** The key under which a body hash is found: equal specs share one hasher. */
export function bodyHashKey(spec: BodyHashSpec): string {
  return `${spec.canon}/${spec.hash}/${spec.limit ?? ''}`;
}

/** Several body hashers fed the same octets: one per distinct spec (canon, hash, l=). */
export class BodyHashSet {
  readonly #hashers = new Map<string, BodyHasher>();

  constructor(specs: readonly BodyHashSpec[]) {
    for (const spec of specs) {
      const key = bodyHashKey(spec);
      if (!this.#hashers.has(key)) this.#hashers.set(key, createBodyHasher(spec.canon, spec.hash, spec.limit));
    }
  }

  get size(): number {
    return this.#hashers.size;
  }

  update(chunk: Buffer): void {
    for (const h of this.#hashers.values()) h.update(chunk);
  }

  digest(): BodyHashResult[] {
    return [...this.#hashers.values()].map((h) => h.digest());
  }
}

/** Hashes a whole body held in memory (tests, the command line); the streaming hashers do the work. */
export function hashBody(body: Buffer, specs: readonly BodyHashSpec[]): BodyHashResult[] {
  const set = new BodyHashSet(specs);
  set.update(body);
  return set.digest();
}
