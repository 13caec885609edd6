// Builds benchmark messages (RFC 5322): realistic headers, body lines of at most 76 characters.

const WORDS = (
  'the quick brown fox jumps over a lazy dog while petrels glide above grey waves and ' +
  'postmasters read queue summaries before breakfast every single day without fail'
).split(' ');

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC with a two-digit day, so every date has the same length. */
export function rfc5322Date(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/** Body text of exactly `octets` octets: CRLF-ended lines, none longer than 76, none starting with a dot. */
export function bodyText(octets: number): string {
  const lines: string[] = [];
  let left = octets;
  let w = 0;
  while (left > 0) {
    // A line costs its text plus CRLF; the arithmetic keeps the last line able to hold its CRLF.
    let len: number;
    if (left >= 80) len = 76;
    else if (left <= 78) len = Math.max(0, left - 2);
    else len = 40;
    if (left === 1) {
      // One octet cannot be a line; a space keeps the count exact and is harmless in a body.
      lines.push(' ');
      break;
    }
    let line = '';
    while (line.length < len) {
      const word = WORDS[w++ % WORDS.length] ?? 'x';
      line += line.length === 0 ? word : ` ${word}`;
    }
    lines.push(`${line.slice(0, len).trimEnd().padEnd(len, '.')}\r\n`);
    left -= len + 2;
  }
  return lines.join('');
}

/** Envelope and content of the messages one process sends. */
export interface MessageSpec {
  readonly size: number;
  readonly sender: string;
  readonly recipients: readonly string[];
  /** Distinguishes processes in Message-IDs. */
  readonly worker: number;
  readonly hostname: string;
}

export function envelope(
  senderDomain: string,
  recipientDomain: string,
  count: number,
): { sender: string; recipients: string[] } {
  const recipients: string[] = [];
  for (let i = 0; i < count; i++) recipients.push(`${i === 0 ? 'user' : `user${i + 1}`}@${recipientDomain}`);
  return { sender: `sender@${senderDomain}`, recipients };
}

/** What a session sends as one message: its header block (per message) and a body shared by all. */
export interface MessageSource {
  headers(seq: number): string;
  /** Ends with CRLF, so the terminator ".\r\n" follows it directly. */
  readonly body: Buffer;
}

/** The same octets every time (a message prepared once, e.g. DKIM-signed): all of it is the "body". */
export class FixedMessage implements MessageSource {
  readonly body: Buffer;

  constructor(message: string) {
    this.body = Buffer.from(message, 'latin1');
  }

  headers(): string {
    return '';
  }
}

/**
 * Produces the octets of each message. Headers vary per message (Date, Message-ID, Subject) but have
 * a fixed length, so the body is built once and reused: the client stays cheap at high rates.
 */
export class MessageFactory implements MessageSource {
  readonly #spec: MessageSpec;
  readonly #body: Buffer;
  #dateSecond = -1;
  #date = '';

  constructor(spec: MessageSpec) {
    this.#spec = spec;
    const headerLength = Buffer.byteLength(this.#headers(0, rfc5322Date(new Date(0)), 'x'.repeat(12)), 'latin1');
    this.#body = Buffer.from(bodyText(Math.max(0, spec.size - headerLength)), 'latin1');
  }

  /** Header block (ending with the empty line) of message number `seq`. */
  headers(seq: number, now = Date.now()): string {
    const second = Math.floor(now / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#date = rfc5322Date(new Date(second * 1000));
    }
    const unique = Math.floor(Math.random() * 0x1000000000000).toString(36).padStart(12, '0').slice(-12);
    return this.#headers(seq, this.#date, unique);
  }

  /** The body shared by every message; it ends with CRLF, so the terminator ".\r\n" follows it directly. */
  get body(): Buffer {
    return this.#body;
  }

  #headers(seq: number, date: string, unique: string): string {
    const s = this.#spec;
    const n = String(seq % 1e10).padStart(10, '0');
    return (
      `From: Petrel Bench <${s.sender}>\r\n` +
      `To: <${s.recipients[0] ?? ''}>\r\n` +
      `Subject: Benchmark message ${s.worker}-${n}\r\n` +
      `Date: ${date}\r\n` +
      `Message-ID: <${s.worker}.${n}.${unique}@${s.hostname}>\r\n` +
      'MIME-Version: 1.0\r\n' +
      'Content-Type: text/plain; charset=us-ascii\r\n' +
      '\r\n'
    );
  }
}
