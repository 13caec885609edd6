// One message's content on its way in: DATA decoding, header capture, size limit, streaming to the spool.
import { DataDecoder } from '../../protocol/smtp/data.js';
import type { BareNewlinePolicy } from '../../protocol/smtp/data.js';
import { HeaderTracker, parseHeaders } from '../../protocol/message/headers.js';
import type { Envelope } from '../../store/envelope.js';
import type { EnvelopeDraft, MessageWriter } from '../../store/writer.js';
import type { DataSummary } from '../events.js';

export interface ReceiverOptions {
  readonly bareNewline: BareNewlinePolicy;
  readonly lineLengthLimit: number;
  readonly sizeLimit: number;
  readonly headerMax: number;
}

export interface FeedOutcome {
  readonly end: boolean;
  /** Bytes after <CRLF>.<CRLF>: the next pipelined commands. */
  readonly rest: Buffer;
  /** The spool is behind: stop reading from the socket until drain() resolves. */
  readonly pause: boolean;
}

export class Receiver {
  readonly #decoder: DataDecoder;
  readonly #headers: HeaderTracker;
  readonly #writer: MessageWriter;
  readonly #sizeLimit: number;
  #tooBig = false;
  #headerOffset = 0;
  #settled = false;

  constructor(writer: MessageWriter, trace: string, opts: ReceiverOptions) {
    this.#writer = writer;
    this.#decoder = new DataDecoder({ bareNewline: opts.bareNewline, maxLineLength: opts.lineLengthLimit });
    this.#headers = new HeaderTracker(opts.headerMax);
    this.#sizeLimit = opts.sizeLimit;
    const t = Buffer.from(trace, 'utf8');
    this.#headers.feed(t);
    writer.write(t);
  }

  get id(): string {
    return this.#writer.id;
  }

  feed(chunk: Buffer): FeedOutcome {
    const r = this.#decoder.feed(chunk);
    let pause = false;
    if (!this.#tooBig && this.#sizeLimit > 0 && this.#decoder.size > this.#sizeLimit) {
      // Keep reading to the end (the reply can only come then) but store nothing more.
      this.#tooBig = true;
      void this.#writer.abort().catch(() => undefined);
    }
    if (!this.#tooBig) {
      for (const b of r.out) {
        this.#headers.feed(b);
        if (!this.#writer.write(b)) pause = true;
      }
    }
    return { end: r.end, rest: r.rest, pause };
  }

  drain(): Promise<void> {
    return this.#writer.drain();
  }

  summary(): DataSummary {
    const scan = this.#headers.end();
    let headers: DataSummary['headers'] = [];
    if (scan.kind === 'tooBig') headers = 'tooBig';
    else if (scan.kind === 'done') {
      headers = parseHeaders(scan.headerBytes);
      this.#headerOffset = scan.end;
    }
    return {
      size: this.#decoder.size,
      tooBig: this.#tooBig,
      bareNewline: this.#decoder.flags.bareNewline,
      longLine: this.#decoder.flags.longLine,
      headers,
    };
  }

  #separator(): boolean {
    const scan = this.#headers.result;
    return scan.kind === 'done' && scan.separator;
  }

  async commit(draft: EnvelopeDraft): Promise<Envelope> {
    this.#settled = true;
    return this.#writer.commit({ ...draft, headerEnd: this.#headerOffset, headerSeparator: this.#separator() });
  }

  /** Drop what was stored; safe to call more than once and after a commit started (then it does nothing). */
  async abort(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.#writer.abort();
  }
}
