// One message's content on its way in: DATA decoding, header capture, size limit, streaming to the spool, and
// the body hashes DKIM and ARC need (RFC 6376 section 3.7), computed as the body streams past.
import { DataDecoder } from '../../protocol/smtp/data.js';
import { BodyHashSet, bodyHashSpecs, splitHeaderFields } from '../../protocol/dkim/index.js';
import type { BodyHashResult, BodyHashSpec, RawField, VerifyOptions } from '../../protocol/dkim/index.js';
import { arcBodyHashSpecs } from '../../protocol/arc/index.js';
import { isAuthResultsName, isOurs } from '../../protocol/authres/index.js';
import type { BareNewlinePolicy } from '../../protocol/smtp/data.js';
import { HeaderTracker, parseHeaders } from '../../protocol/message/headers.js';
import type { Envelope } from '../../store/envelope.js';
import type { EnvelopeDraft, MessageSink } from '../../store/writer.js';
import type { DataSummary } from '../events.js';

export interface ReceiverOptions {
  readonly bareNewline: BareNewlinePolicy;
  readonly lineLengthLimit: number;
  readonly sizeLimit: number;
  readonly headerMax: number;
  /** Body hashes to compute for verification; absent: none (verification is off for this message). */
  readonly hashes?: { readonly dkim: false | VerifyOptions; readonly arc: boolean };
}

/** Header fields that make verification need the network: DKIM signatures and ARC sets. */
/** A header section with a field the verifiers read (RFC 6376, RFC 8617): scanned as text, names at line starts. */
const SIGNATURE_FIELD = /^(?:dkim-signature|arc-seal|arc-message-signature|arc-authentication-results)[ \t]*:/im;

/** The message as the verifiers need it: header fields as the client sent them, and the body hashes. */
export interface VerifyMaterial {
  readonly headers: readonly RawField[];
  readonly bodyHashes: readonly BodyHashResult[];
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
  readonly #writer: MessageSink;
  readonly #sizeLimit: number;
  #tooBig = false;
  #headerOffset = 0;
  #settled = false;
  /** Octets given to the header tracker so far (our trace header included). */
  #fed = 0;
  readonly #traceLength: number;
  readonly #hashes: ReceiverOptions['hashes'];
  /** undefined until the header section is known; null when no body hash is wanted. */
  #hasher: BodyHashSet | null | undefined;
  /** The client's header section (our trace header left out), once known. */
  #own: Buffer | undefined;
  #fields: RawField[] | undefined;
  #signed = false;

  constructor(writer: MessageSink, trace: string, opts: ReceiverOptions) {
    this.#writer = writer;
    this.#hashes = opts.hashes;
    this.#decoder = new DataDecoder({ bareNewline: opts.bareNewline, maxLineLength: opts.lineLengthLimit });
    this.#headers = new HeaderTracker(opts.headerMax);
    this.#sizeLimit = opts.sizeLimit;
    const t = Buffer.from(trace, 'utf8');
    this.#traceLength = t.length;
    this.#headers.feed(t);
    this.#fed = t.length;
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
        if (this.#hasher) this.#hasher.update(b);
        else if (this.#hasher === undefined) this.#track(b);
        if (!this.#writer.write(b)) pause = true;
      }
    }
    return { end: r.end, rest: r.rest, pause };
  }

  /** Header-section bytes go to the tracker; once it finds the end, the rest of `b` starts the body. */
  #track(b: Buffer): void {
    const start = this.#fed;
    this.#headers.feed(b);
    this.#fed += b.length;
    const scan = this.#headers.result;
    if (scan.kind === 'open') return;
    if (scan.kind === 'tooBig') {
      this.#hasher = null;
      return;
    }
    this.#startHashing(scan.headerBytes);
    if (this.#hasher && scan.end < this.#fed) this.#hasher.update(b.subarray(scan.end - start));
  }

  #startHashing(headerBytes: Buffer): void {
    const own = headerBytes.subarray(this.#traceLength);
    this.#own = own;
    this.#signed = SIGNATURE_FIELD.test(own.toString('latin1'));
    const want = this.#hashes;
    // Most mail carries no signature: then nothing is split or hashed here (DMARC splits the fields if it runs).
    if (!want || !this.#signed) {
      this.#hasher = null;
      return;
    }
    const fields = splitHeaderFields(own);
    this.#fields = fields;
    const specs: BodyHashSpec[] = [
      ...(want.dkim === false ? [] : bodyHashSpecs(fields, want.dkim)),
      ...(want.arc ? arcBodyHashSpecs(fields) : []),
    ];
    this.#hasher = new BodyHashSet(specs);
  }

  /** After summary(): the header fields and body hashes, or undefined when nothing is to be verified. */
  verifyMaterial(): VerifyMaterial | undefined {
    if (!this.#own) return undefined;
    this.#fields ??= splitHeaderFields(this.#own);
    return { headers: this.#fields, bodyHashes: this.#hasher ? this.#hasher.digest() : [] };
  }

  /** The spool's edit mark as the message was committed, where this process writes the spool (MessageSink.editMark). */
  get editMark(): number | undefined {
    return this.#writer.editMark;
  }

  /**
   * Offsets in the stored data of Authentication-Results fields that claim `authservId` (RFC 8601 section 5:
   * such fields from outside our trust boundary must not survive). Our own trace header is never among them.
   */
  authResultsClaiming(authservId: string): [number, number][] {
    const scan = this.#headers.result;
    if (scan.kind !== 'done') return [];
    const bytes = scan.headerBytes;
    const out: [number, number][] = [];
    let pos = this.#traceLength;
    let field: { start: number; name: string } | undefined;
    const close = (end: number): void => {
      if (!field || !isAuthResultsName(field.name)) return;
      const text = bytes.subarray(field.start, end).toString('utf8');
      if (isOurs(text.slice(text.indexOf(':') + 1), authservId)) out.push([field.start, end]);
    };
    while (pos < bytes.length) {
      const lf = bytes.indexOf(0x0a, pos);
      const next = lf < 0 ? bytes.length : lf + 1;
      const first = bytes[pos];
      if (first !== 0x20 && first !== 0x09) {
        close(pos);
        const colon = bytes.indexOf(0x3a, pos);
        field = colon >= 0 && colon < next ? { start: pos, name: bytes.subarray(pos, colon).toString('latin1') } : undefined;
      }
      pos = next;
    }
    close(bytes.length);
    return out;
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
      // A message that ended inside its header section: the body is empty.
      if (this.#hasher === undefined && !this.#tooBig) this.#startHashing(scan.headerBytes);
    }
    return {
      size: this.#decoder.size,
      tooBig: this.#tooBig,
      bareNewline: this.#decoder.flags.bareNewline,
      longLine: this.#decoder.flags.longLine,
      headers,
      signed: this.#signed,
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
