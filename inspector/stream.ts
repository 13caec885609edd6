// The live stream to viewers (server-sent events): changed actors are batched and sent a few times
// a second, so a busy daemon costs the viewer a bounded number of messages, not one per event.
import type { ServerResponse } from 'node:http';
import type { ActorRecord } from './record.js';
import type { HelloMessage, Kind } from './wire.js';

/** How often changed actors are sent. */
const FLUSH_MS = 200;
/** A comment line now and then keeps proxies and the browser from timing the stream out. */
const HEARTBEAT_MS = 15_000;
/** A viewer this far behind gets no more updates until it drains, then a resync. */
const BACKLOG_MAX = 2 * 1024 * 1024;

interface Viewer {
  readonly res: ServerResponse;
  readonly kinds: ReadonlySet<Kind>;
  behind: boolean;
  readonly leave: () => void;
}

export class Stream {
  readonly #viewers = new Set<Viewer>();
  readonly #dirty = new Set<ActorRecord>();
  #flush: NodeJS.Timeout | undefined;
  #beat: NodeJS.Timeout | undefined;

  get viewers(): number {
    return this.#viewers.size;
  }

  /** A record changed: remembered only while somebody watches. */
  changed(rec: ActorRecord): void {
    if (this.#viewers.size > 0) this.#dirty.add(rec);
  }

  /** Serve one viewer until it goes; `leave` is called then (the capture stops counting it). */
  open(res: ServerResponse, kinds: readonly Kind[], hello: HelloMessage, leave: () => void): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const v: Viewer = { res, kinds: new Set(kinds), behind: false, leave };
    this.#viewers.add(v);
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    const gone = (): void => {
      if (!this.#viewers.delete(v)) return;
      v.leave();
      if (this.#viewers.size === 0) this.#stopTimers();
    };
    res.on('close', gone);
    res.on('error', gone);
    res.on('drain', () => {
      if (v.behind) {
        v.behind = false;
        res.write('event: resync\ndata: {}\n\n');
      }
    });
    this.#startTimers();
  }

  #startTimers(): void {
    if (!this.#flush) {
      this.#flush = setInterval(() => this.flush(), FLUSH_MS);
      this.#flush.unref();
    }
    if (!this.#beat) {
      this.#beat = setInterval(() => {
        for (const v of this.#viewers) if (!v.behind) v.res.write(': keep-alive\n\n');
      }, HEARTBEAT_MS);
      this.#beat.unref();
    }
  }

  #stopTimers(): void {
    clearInterval(this.#flush);
    clearInterval(this.#beat);
    this.#flush = undefined;
    this.#beat = undefined;
    this.#dirty.clear();
  }

  /** Send what changed since the last flush, to each viewer the kinds it watches. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const byKind = new Map<Kind, string[]>();
    for (const rec of this.#dirty) {
      const list = byKind.get(rec.kind) ?? [];
      list.push(JSON.stringify(rec.summary()));
      byKind.set(rec.kind, list);
    }
    this.#dirty.clear();
    for (const v of this.#viewers) {
      if (v.behind) continue;
      const parts: string[] = [];
      for (const [k, list] of byKind) if (v.kinds.has(k)) parts.push(...list);
      if (parts.length === 0) continue;
      v.res.write(`event: actors\ndata: [${parts.join(',')}]\n\n`);
      if (v.res.writableLength > BACKLOG_MAX) v.behind = true;
    }
  }

  /** End every stream (the daemon stops). */
  close(): void {
    for (const v of [...this.#viewers]) v.res.end();
    this.#viewers.clear();
    this.#stopTimers();
  }
}
