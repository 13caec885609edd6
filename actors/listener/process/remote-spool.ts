// A session process's spool (session_processes): message data goes to the daemon, whose writer stores it and
// whose group commit makes it durable, so that every process's messages share one sync.
import type { Envelope } from '../../../store/envelope.js';
import type { SpoolChange } from '../../../store/spool.js';
import { CHUNK_SIZE } from '../../../store/spool.js';
// The same bound as against LMDB: octets sent to the daemon and not yet taken by its writer, beyond which the session pauses.
import { HIGH_WATER, WriterError } from '../../../store/writer.js';
import type { EnvelopeDraft, MessageSink, SessionSpool } from '../../../store/writer.js';
import type { FromSession, ToSession } from './messages.js';


type Post = (m: FromSession) => void;

class RemoteWriter implements MessageSink {
  readonly id: string;
  readonly #post: Post;
  readonly #done: () => void;
  readonly #gone: () => string | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #size = 0;
  #sent = false;
  #unacked = 0;
  #waiters: (() => void)[] = [];
  #state: 'open' | 'committing' | 'done' = 'open';
  #commit: { resolve(e: Envelope): void; reject(e: Error): void } | undefined;

  /** `gone` says why nothing can be stored any more (the daemon went away), once that is so. */
  constructor(id: string, post: Post, done: () => void, gone: () => string | undefined) {
    this.id = id;
    this.#post = post;
    this.#done = done;
    this.#gone = gone;
  }

  get size(): number {
    return this.#size;
  }

  write(buf: Buffer): boolean {
    if (this.#state !== 'open') return true;
    if (buf.length > 0) {
      // Copy: the caller's buffer may be reused once this returns.
      this.#pending.push(Buffer.from(buf));
      this.#pendingBytes += buf.length;
      this.#size += buf.length;
      if (this.#pendingBytes >= CHUNK_SIZE) this.#send();
    }
    return this.#unacked < HIGH_WATER;
  }

  #take(): Buffer {
    const all = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    return all;
  }

  #send(): void {
    const data = this.#take();
    this.#sent = true;
    this.#unacked += data.length;
    this.#post({ op: 'data', id: this.id, data });
  }

  drain(): Promise<void> {
    if (this.#unacked < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The daemon's writer took this many octets. */
  taken(bytes: number): void {
    this.#unacked -= bytes;
    if (this.#unacked < HIGH_WATER && this.#waiters.length > 0) for (const w of this.#waiters.splice(0)) w();
  }

  commit(draft: EnvelopeDraft): Promise<Envelope> {
    if (this.#state !== 'open') return Promise.reject(new WriterError(`message ${this.id} is already ${this.#state === 'done' ? 'settled' : 'committing'}`));
    this.#state = 'committing';
    const gone = this.#gone();
    if (gone !== undefined) {
      // No reply can come: the session answers with a temporary failure now rather than at its commit timeout.
      this.#state = 'done';
      this.#done();
      return Promise.reject(new WriterError(gone));
    }
    return new Promise<Envelope>((resolve, reject) => {
      this.#commit = { resolve, reject };
      this.#post({ op: 'commit', id: this.id, draft, data: this.#take() });
    });
  }

  /** The daemon's answer to commit. */
  settle(outcome: { envelope: Envelope } | { error: string }): void {
    const c = this.#commit;
    this.#commit = undefined;
    this.#state = 'done';
    this.#done();
    if ('envelope' in outcome) c?.resolve(outcome.envelope);
    else c?.reject(new WriterError(outcome.error));
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'done';
    this.#pending = [];
    this.#done();
    if (this.#sent) this.#post({ op: 'abort', id: this.id });
  }
}

export class RemoteSpool implements SessionSpool {
  readonly #post: Post;
  readonly #writers = new Map<string, RemoteWriter>();
  readonly #inserts = new Map<number, { resolve(): void; reject(e: Error): void }>();
  #seq = 1;
  /** Set when the daemon is gone: why every commit from now on fails. */
  #closed: string | undefined;

  constructor(post: Post) {
    this.#post = post;
  }

  beginMessage(id: string): MessageSink {
    const w = new RemoteWriter(id, this.#post, () => this.#writers.delete(id), () => this.#closed);
    this.#writers.set(id, w);
    return w;
  }

  /** Store messages this process generated (DMARC failure reports): only inserts come this way. */
  apply(changes: readonly SpoolChange[]): Promise<void> {
    return Promise.all(
      changes.map((c) => {
        if (c.kind !== 'insert') return Promise.reject(new WriterError(`a session process cannot ${c.kind} spooled messages`));
        if (this.#closed !== undefined) return Promise.reject(new WriterError(this.#closed));
        return new Promise<void>((resolve, reject) => {
          const seq = this.#seq++;
          this.#inserts.set(seq, { resolve, reject });
          this.#post({ op: 'insert', seq, envelope: c.envelope, data: c.data });
        });
      }),
    ).then(() => undefined);
  }

  /** The daemon's answers about this process's messages. */
  handle(m: Extract<ToSession, { op: 'taken' | 'stored' | 'inserted' }>): void {
    if (m.op === 'taken') this.#writers.get(m.id)?.taken(m.bytes);
    else if (m.op === 'stored') this.#writers.get(m.id)?.settle('envelope' in m ? { envelope: m.envelope } : { error: m.error });
    else {
      const p = this.#inserts.get(m.seq);
      this.#inserts.delete(m.seq);
      if (m.error === undefined) p?.resolve();
      else p?.reject(new WriterError(m.error));
    }
  }

  /** The daemon is gone: nothing waiting will be answered. */
  failAll(why: string): void {
    this.#closed = why;
    for (const w of [...this.#writers.values()]) w.settle({ error: why });
    for (const p of this.#inserts.values()) p.reject(new WriterError(why));
    this.#inserts.clear();
  }
}
