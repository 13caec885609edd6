// DATA content reader (RFC 5321 sections 4.1.1.4 and 4.5.2): removes dot-stuffing and finds the end.
// Only <CRLF>.<CRLF> ends the message; bare CR and bare LF never start a line (SMTP smuggling).

/** What to do with a CR or LF that is not part of a CRLF pair. */
export type BareNewlinePolicy = 'reject' | 'normalize';

export interface DataFlags {
  /** A CR not followed by LF, or an LF not preceded by CR, was seen. */
  bareNewline: boolean;
  /** A line longer than the limit (octets, excluding CRLF) was seen. */
  longLine: boolean;
}

export interface FeedResult {
  /** Content bytes, dot-stuffing removed; slices of the input where possible. */
  out: Buffer[];
  /** true once <CRLF>.<CRLF> was read. */
  end: boolean;
  /** Bytes after the end of data (pipelined commands); empty unless end. */
  rest: Buffer;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const CR_ONLY = Buffer.from('\r');
const EMPTY = Buffer.alloc(0);

// Reader states.
const START = 0; // at the start of a line (after a real CRLF)
const MID = 1; // inside a line
const HELD_CR = 2; // a CR is held back, waiting to see whether LF follows
const HELD_DOT = 3; // a "." at line start is held back
const HELD_DOT_CR = 4; // ".\r" at line start is held back
type State = typeof START | typeof MID | typeof HELD_CR | typeof HELD_DOT | typeof HELD_DOT_CR;

export class DataDecoder {
  #state: State = START;
  #lineLen = 0;
  #size = 0;
  readonly flags: DataFlags = { bareNewline: false, longLine: false };
  readonly #policy: BareNewlinePolicy;
  readonly #maxLine: number;

  constructor(opts: { bareNewline: BareNewlinePolicy; maxLineLength: number }) {
    this.#policy = opts.bareNewline;
    this.#maxLine = opts.maxLineLength;
  }

  /** Octets of content produced so far. */
  get size(): number {
    return this.#size;
  }

  feed(chunk: Buffer): FeedResult {
    const out: Buffer[] = [];
    let segStart = 0;
    let state = this.#state;
    let lineLen = this.#lineLen;
    const max = this.#maxLine;
    const emit = (b: Buffer): void => {
      if (b.length > 0) {
        out.push(b);
        this.#size += b.length;
      }
    };
    // A bare CR or LF: kept as it is for 'reject' (the message will be refused anyway),
    // turned into CRLF for 'normalize'. Either way it never starts a new line (no dot
    // handling after it), but it does end one for the line-length count, CR and LF alike.
    const bare = (b: Buffer): void => {
      this.flags.bareNewline = true;
      emit(this.#policy === 'normalize' ? CRLF : b);
      lineLen = 0;
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (state === START) {
        if (c === DOT) {
          emit(chunk.subarray(segStart, i));
          segStart = i + 1;
          state = HELD_DOT;
          continue;
        }
        state = MID;
      }
      if (state === MID && c !== CR && c !== LF) {
        // Fast path: a whole well-formed line ahead (no bare CR inside, CRLF at its end) is
        // skipped with two memchr scans and stays inside the current segment, CRLF included.
        const lf = chunk.indexOf(LF, i);
        if (lf < 0) {
          if (chunk.indexOf(CR, i) < 0) {
            lineLen += chunk.length - i;
            if (lineLen > max) this.flags.longLine = true;
            i = chunk.length - 1;
            continue;
          }
        } else if (chunk[lf - 1] === CR && chunk.indexOf(CR, i) === lf - 1) {
          lineLen += lf - 1 - i;
          if (lineLen > max) this.flags.longLine = true;
          i = lf;
          state = START;
          lineLen = 0;
          continue;
        }
      }
      switch (state) {
        case MID:
          if (c === CR) {
            emit(chunk.subarray(segStart, i));
            segStart = i + 1;
            state = HELD_CR;
          } else if (c === LF) {
            emit(chunk.subarray(segStart, i));
            segStart = i + 1;
            bare(chunk.subarray(i, i + 1));
          } else if (++lineLen > max) {
            this.flags.longLine = true;
          }
          break;
        case HELD_CR:
          if (c === LF) {
            emit(CRLF);
            segStart = i + 1;
            state = START;
            lineLen = 0;
          } else {
            bare(CR_ONLY);
            segStart = i;
            state = MID;
            i--; // look at this byte again as part of the line
          }
          break;
        case HELD_DOT:
          // The held "." was either the end marker or transparency padding to remove.
          segStart = i;
          if (c === CR) {
            segStart = i + 1;
            state = HELD_DOT_CR;
          } else {
            state = MID;
            i--;
          }
          break;
        case HELD_DOT_CR:
          if (c === LF) {
            this.#state = START;
            this.#lineLen = 0;
            return { out, end: true, rest: chunk.subarray(i + 1) };
          }
          // ".\r" followed by something else: the dot was padding; the CR is bare.
          bare(CR_ONLY);
          segStart = i;
          state = MID;
          i--;
          break;
      }
    }
    if (state === MID || state === START) emit(chunk.subarray(segStart));
    this.#state = state;
    this.#lineLen = lineLen;
    return { out, end: false, rest: EMPTY };
  }
}
