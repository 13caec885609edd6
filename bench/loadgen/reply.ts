// Minimal incremental reader of SMTP replies (RFC 5321 section 4.2): multi-line, split across packets.

/** One complete reply: its code and the text of each line (without code and separator). */
export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** Outcome class of a reply, as the benchmark counts it. */
export type ReplyClass = 'ok' | 'temp' | 'perm';

export function classify(code: number): ReplyClass {
  if (code >= 200 && code < 400) return 'ok';
  return code >= 400 && code < 500 ? 'temp' : 'perm';
}

/** A server line that is not a reply line: the session cannot continue in step with it. */
export class ReplySyntaxError extends Error {
  override readonly name = 'ReplySyntaxError';
  readonly code = 'ERR_LOADGEN_PROTOCOL';
  readonly line: string;

  constructor(line: string) {
    super(`malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
    this.line = line;
  }
}

// A server that never sends a line end must not make the client buffer without bound.
const MAX_PENDING = 64 * 1024;

/**
 * Feed it bytes as they arrive; it returns the replies they complete. Latin-1 decoding keeps one
 * character per octet, so it never splits a UTF-8 sequence wrongly and stays cheap.
 */
export class ReplyReader {
  #partial = '';
  #lines: string[] = [];
  #code = 0;

  push(chunk: Buffer | string): SmtpReply[] {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const data = this.#partial.length === 0 ? text : this.#partial + text;
    const out: SmtpReply[] = [];
    let start = 0;
    for (;;) {
      const lf = data.indexOf('\n', start);
      if (lf < 0) break;
      // Servers are meant to send CRLF; a bare LF is tolerated so one sloppy peer does not stall a run.
      const end = lf > start && data.charCodeAt(lf - 1) === 13 ? lf - 1 : lf;
      const reply = this.#line(data.slice(start, end));
      if (reply) out.push(reply);
      start = lf + 1;
    }
    this.#partial = start === 0 ? data : data.slice(start);
    if (this.#partial.length > MAX_PENDING) throw new ReplySyntaxError(this.#partial.slice(0, 80));
    return out;
  }

  /** True while part of a reply has been read: the connection closing now would cut it. */
  get pending(): boolean {
    return this.#partial.length > 0 || this.#lines.length > 0;
  }

  #line(line: string): SmtpReply | undefined {
    const code = parseCode(line);
    if (code === undefined) throw new ReplySyntaxError(line);
    const sep = line.length > 3 ? line.charCodeAt(3) : 32;
    if (sep !== 45 /* - */ && sep !== 32 /* space */) throw new ReplySyntaxError(line);
    if (this.#lines.length > 0 && code !== this.#code) throw new ReplySyntaxError(line);
    this.#code = code;
    this.#lines.push(line.length > 4 ? line.slice(4) : '');
    if (sep === 45) return undefined;
    const reply: SmtpReply = { code, lines: this.#lines };
    this.#lines = [];
    return reply;
  }
}

function parseCode(line: string): number | undefined {
  if (line.length < 3) return undefined;
  const a = line.charCodeAt(0) - 48;
  const b = line.charCodeAt(1) - 48;
  const c = line.charCodeAt(2) - 48;
  if (a < 2 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return undefined;
  return a * 100 + b * 10 + c;
}

/** Whether an EHLO reply lists an extension keyword (the first word of a line after the first). */
export function hasExtension(ehlo: SmtpReply, keyword: string): boolean {
  const want = keyword.toUpperCase();
  for (let i = 1; i < ehlo.lines.length; i++) {
    const word = (ehlo.lines[i] ?? '').trim().split(/\s+/, 1)[0] ?? '';
    if (word.toUpperCase() === want) return true;
  }
  return false;
}
