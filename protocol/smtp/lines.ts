// Incremental command-line reader: splits received bytes into lines (RFC 5321 section 2.3.8),
// bounding how much a client can make us buffer.

export type LineEvent =
  | { kind: 'line'; bytes: Buffer; bareLf: boolean }
  /** A line longer than the reader's limit; its bytes were dropped up to its line feed. */
  | { kind: 'tooLong' };

const EMPTY = Buffer.alloc(0);

export class LineReader {
  #buf: Buffer = EMPTY;
  #discarding = false;
  readonly #limit: number;

  /** limit: the most octets one line may hold, line ending included. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    // While discarding, the buffer stays empty until the LF that ends the long line arrives;
    // once it holds that LF, later chunks belong to the next lines and are kept whole.
    if (this.#discarding && this.#buf.length === 0) {
      const lf = chunk.indexOf(0x0a);
      if (lf < 0) return;
      // Keep the LF so that next() reports the end of the over-long line.
      chunk = chunk.subarray(lf);
    }
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** The next complete line, or null when more input is needed. */
  next(): LineEvent | null {
    const buf = this.#buf;
    const lf = buf.indexOf(0x0a);
    if (lf < 0) {
      if (buf.length > this.#limit) {
        this.#discarding = true;
        this.#buf = EMPTY;
      }
      return null;
    }
    this.#buf = lf + 1 === buf.length ? EMPTY : buf.subarray(lf + 1);
    if (this.#discarding) {
      this.#discarding = false;
      return { kind: 'tooLong' };
    }
    if (lf + 1 > this.#limit) return { kind: 'tooLong' };
    const cr = lf > 0 && buf[lf - 1] === 0x0d;
    return { kind: 'line', bytes: buf.subarray(0, cr ? lf - 1 : lf), bareLf: !cr };
  }

  /** Octets received but not yet returned as lines. */
  get pending(): number {
    return this.#buf.length;
  }

  /** True when a complete line is waiting. */
  hasLine(): boolean {
    return this.#buf.indexOf(0x0a) >= 0;
  }

  /** Remove and return everything buffered (to hand over to the DATA reader, or to discard). */
  take(): Buffer {
    const b = this.#buf;
    this.#buf = EMPTY;
    this.#discarding = false;
    return b;
  }
}
