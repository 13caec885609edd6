// Message content for the client's DATA (RFC 5321 sections 4.1.1.4 and 4.5.2): dot-stuffing, the
// final <CRLF>.<CRLF>, and no bare CR, bare LF or NUL on the wire, so that no receiver can see an
// end of data where there is none (SMTP smuggling).

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const NUL = 0x00;
const CRLF = Buffer.from('\r\n');
const PAD = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

/**
 * Streaming encoder: push() the stored message in chunks split anywhere, then end(). Lines end in
 * CRLF on output whatever the input held: a CR without LF and an LF without CR each become CRLF
 * (the server side normally did this already; this is defence in depth). NUL octets are dropped:
 * RFC 6152 and RFC 5322 have no place for them outside BINARYMIME, and some receivers discard them,
 * which would let "<CRLF>NUL.<CRLF>" end the data there. A "." that starts a line is doubled.
 *
 * The buffers returned are often slices of the chunks given: write them before reusing those.
 */
export class DotStuffer {
  #lineStart = true;
  #heldCr = false;
  #ended = false;
  #size = 0;
  #nulDropped = 0;

  /** Octets produced so far, the end marker included once end() was called. */
  get size(): number {
    return this.#size;
  }

  /** NUL octets dropped from the content. */
  get nulDropped(): number {
    return this.#nulDropped;
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.#ended) throw new Error('DotStuffer: push after end');
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // NUL octets go before anything else, so that the result is as if they had never been there
    // ("\r\0\n" is one line ending). A copy only for the rare chunk that holds one.
    if (buf.includes(NUL)) {
      const kept = buf.filter((c) => c !== NUL);
      this.#nulDropped += buf.length - kept.length;
      buf = Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength);
    }
    // The usual chunk needs nothing done (see clean()): it goes out whole, found so by native
    // searches for CR and LF rather than a look at every octet.
    if (!this.#heldCr && clean(buf, this.#lineStart)) {
      if (buf.length === 0) return [];
      this.#size += buf.length;
      this.#lineStart = buf[buf.length - 1] === LF;
      return [buf];
    }
    const out: Buffer[] = [];
    const emit = (b: Buffer): void => {
      if (b.length > 0) {
        out.push(b);
        this.#size += b.length;
      }
    };
    let i = 0;
    if (this.#heldCr && buf.length > 0) {
      // The CR that ended the last chunk: with this LF it is a line ending; alone it becomes one.
      emit(CRLF);
      this.#heldCr = false;
      this.#lineStart = true;
      if (buf[0] === LF) i = 1;
    }
    let seg = i; // start of the input run not yet emitted
    let lineStart = this.#lineStart;
    for (; i < buf.length; i++) {
      const c = buf[i] as number;
      if (c === CR) {
        if (i + 1 < buf.length) {
          if (buf[i + 1] === LF) {
            i++; // a real CRLF stays inside the run
          } else {
            emit(buf.subarray(seg, i));
            emit(CRLF);
            seg = i + 1;
          }
          lineStart = true;
        } else {
          // Last octet: whether it is a line ending depends on the next chunk.
          emit(buf.subarray(seg, i));
          seg = i + 1;
          this.#heldCr = true;
        }
      } else if (c === LF) {
        emit(buf.subarray(seg, i));
        emit(CRLF);
        seg = i + 1;
        lineStart = true;
      } else {
        if (lineStart && c === DOT) {
          emit(buf.subarray(seg, i));
          emit(PAD); // the original "." follows in the next run
          seg = i;
        }
        lineStart = false;
      }
    }
    emit(buf.subarray(seg));
    this.#lineStart = lineStart;
    return out;
  }

  /** The end of data: CRLF first unless the content ended with a line ending (or was empty). */
  end(): Buffer {
    if (this.#ended) throw new Error('DotStuffer: end called twice');
    this.#ended = true;
    const mark = this.#heldCr || !this.#lineStart ? CRLF_END : END;
    this.#heldCr = false;
    this.#size += mark.length;
    return mark;
  }
}

/**
 * Whether a chunk goes on the wire as it is: every CR is followed by LF and every LF follows a CR,
 * no line starts with "." (the first one only if the chunk starts a line), and it does not end in
 * a CR whose LF may be in the next chunk. NUL octets are gone by then.
 */
function clean(buf: Buffer, lineStart: boolean): boolean {
  const n = buf.length;
  if (n === 0) return true;
  if ((lineStart && buf[0] === DOT) || buf[n - 1] === CR) return false;
  for (let p = buf.indexOf(LF); p !== -1; p = buf.indexOf(LF, p + 1)) {
    if (p === 0 || buf[p - 1] !== CR || buf[p + 1] === DOT) return false;
  }
  for (let p = buf.indexOf(CR); p !== -1; p = buf.indexOf(CR, p + 1)) {
    if (buf[p + 1] !== LF) return false;
  }
  return true;
}

/** The whole encoding of a message held in memory (tests, small messages). */
export function dotStuff(message: Uint8Array | string): Buffer {
  const enc = new DotStuffer();
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return Buffer.concat([...enc.push(bytes), enc.end()]);
}
