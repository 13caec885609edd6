// Incremental reader of server replies for the SMTP client (RFC 5321 section 4.2), with enhanced
// status codes (RFC 2034, RFC 3463). A server that breaks the reply syntax gets a typed refusal.

/** One complete reply as the client sees it. */
export interface ServerReply {
  readonly code: number;
  /** The enhanced status code of the first line (RFC 2034), when the server sent one of the right class. */
  readonly enhanced?: string;
  /** The text of each line as sent: after the code and its separator, controls made spaces. */
  readonly lines: readonly string[];
  /** The lines without their enhanced codes, joined by single spaces: for logs and bounces. */
  readonly text: string;
}

export type ReplyEvent =
  | { readonly kind: 'reply'; readonly reply: ServerReply }
  /** The server broke the reply syntax; the reader accepts nothing more (drop the connection). */
  | { readonly kind: 'garbage'; readonly reason: string };

export interface ReplyReaderLimits {
  /** Octets one line may hold, its line ending excluded (default 2000). */
  readonly maxLineOctets?: number;
  /** Lines one reply may have (default 1000). */
  readonly maxLines?: number;
}

const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HYPHEN = 0x2d;

// class.subject.detail at the start of a line's text (RFC 3463 section 2); leading zeros tolerated.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=[ \t]|$)/;

// Reply text is for people and logs: a control character (bare CR, ESC, ...) must not reach a log
// line or a bounce as itself. NUL never gets here: it is garbage.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x01-\x08\x0a-\x1f\x7f]/g;

/** The enhanced code at the start of a line, normalised ("5.01.1" -> "5.1.1"), if its class matches. */
function enhancedOf(code: number, text: string): string | undefined {
  const m = ENHANCED.exec(text);
  if (!m || m[1] !== String(code)[0]) return undefined;
  return `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
}

/** Text of a line without a leading enhanced code and the blanks after it. */
function stripEnhanced(text: string): string {
  const m = ENHANCED.exec(text);
  return m ? text.slice(m[0].length).trimStart() : text;
}

/**
 * Push bytes as they arrive; each push returns the replies they complete, in order. Replies may be
 * split anywhere or share a packet (pipelining). Lines end in CRLF; a bare LF is accepted too, as
 * many servers send it. What the reader holds is bounded: one partial line (maxLineOctets + 1
 * octets) and the lines of one unfinished reply (maxLines of them).
 */
export class ReplyReader {
  #partial: Buffer = EMPTY;
  #lines: string[] = [];
  #code = 0;
  #failed: string | undefined;
  readonly #maxLine: number;
  readonly #maxLines: number;

  constructor(limits: ReplyReaderLimits = {}) {
    this.#maxLine = limits.maxLineOctets ?? 2000;
    this.#maxLines = limits.maxLines ?? 1000;
  }

  push(chunk: Uint8Array): ReplyEvent[] {
    if (this.#failed !== undefined) return [];
    const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const data = this.#partial.length === 0 ? input : Buffer.concat([this.#partial, input]);
    const out: ReplyEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf < 0) break;
      const end = lf > start && data[lf - 1] === CR ? lf - 1 : lf;
      const problem = this.#line(data.subarray(start, end), out);
      if (problem !== undefined) return this.#fail(problem, out);
      start = lf + 1;
    }
    const rest = data.subarray(start);
    // The line is not finished, but once what it already holds (less a CR that may be its ending)
    // is over the limit, it can only be too long: say so now rather than buffer more.
    const atLeast = rest.length - (rest.length > 0 && rest[rest.length - 1] === CR ? 1 : 0);
    if (atLeast > this.#maxLine) return this.#fail(this.#tooLong(), out);
    // Copy: a subarray would keep the caller's whole chunk alive for a few bytes.
    this.#partial = rest.length === 0 ? EMPTY : Buffer.from(rest);
    return out;
  }

  /**
   * true while part of a reply has been read: the connection closing now cuts a reply short. Also
   * the check after the 220 to STARTTLS: anything already received then was sent before the
   * handshake and must not be read as a reply inside TLS (response injection); drop the connection.
   */
  get midReply(): boolean {
    return this.#partial.length > 0 || this.#lines.length > 0;
  }

  /** Why the reader gave up, once it has. */
  get failed(): string | undefined {
    return this.#failed;
  }

  #fail(reason: string, out: ReplyEvent[]): ReplyEvent[] {
    this.#failed = reason;
    this.#partial = EMPTY;
    this.#lines = [];
    out.push({ kind: 'garbage', reason });
    return out;
  }

  #tooLong(): string {
    return `reply line longer than ${this.#maxLine} octets`;
  }

  /** Take one line (without its ending); returns a reason when it is garbage. */
  #line(bytes: Buffer, out: ReplyEvent[]): string | undefined {
    if (bytes.length > this.#maxLine) return this.#tooLong();
    if (bytes.includes(0)) return 'NUL in reply';
    const d0 = bytes[0];
    const d1 = bytes[1];
    const d2 = bytes[2];
    if (d0 === undefined || d1 === undefined || d2 === undefined || !isDigit(d0) || !isDigit(d1) || !isDigit(d2)) {
      return 'reply line does not start with a three-digit code';
    }
    const sep = bytes[3];
    if (sep !== undefined && sep !== SP && sep !== HYPHEN) return 'reply code not followed by space or hyphen';
    // RFC 5321 section 4.2: a first digit other than 2 to 5 is out of range, to be treated as fatal.
    if (d0 < 0x32 || d0 > 0x35) return 'reply code out of range';
    const code = (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30);
    if (this.#lines.length > 0 && code !== this.#code) return 'multi-line reply changes its code';
    if (this.#lines.length >= this.#maxLines) return `reply longer than ${this.#maxLines} lines`;
    this.#lines.push(bytes.toString('utf8', 4).replace(CONTROLS, ' '));
    this.#code = code;
    if (sep === HYPHEN) return undefined;
    const lines = this.#lines;
    this.#lines = [];
    const first = lines[0] ?? '';
    const enhanced = enhancedOf(code, first);
    const text = (enhanced === undefined ? lines : lines.map(stripEnhanced)).join(' ').trim();
    out.push({ kind: 'reply', reply: enhanced === undefined ? { code, lines, text } : { code, enhanced, lines, text } });
    return undefined;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
