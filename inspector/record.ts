// One actor's recording: its xstate inspection events folded into timeline steps (event, edges
// taken, effects emitted, state and selected context after), kept in a bounded ring.
import type { InspectionEvent } from 'xstate';
import { effectLine, eventDetail, keysOf, pickContext, worstOutcome } from './summary.js';
import type { ActorDetail, ActorStatus, ActorSummary, Kind, Outcome, StateValue, TimelineEntry } from './wire.js';

/** A fixed-size ring: pushing beyond capacity drops the oldest item. */
export class Ring<T> {
  readonly #items: (T | undefined)[];
  #start = 0;
  #count = 0;
  dropped = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<T | undefined>(Math.max(1, capacity));
  }

  get size(): number {
    return this.#count;
  }

  /** Adds an item; returns the one it pushed out, if any. */
  push(item: T): T | undefined {
    const cap = this.#items.length;
    if (this.#count < cap) {
      this.#items[(this.#start + this.#count) % cap] = item;
      this.#count++;
      return undefined;
    }
    const out = this.#items[this.#start];
    this.#items[this.#start] = item;
    this.#start = (this.#start + 1) % cap;
    this.dropped++;
    return out;
  }

  /** Oldest first. */
  toArray(): T[] {
    const cap = this.#items.length;
    const out: T[] = [];
    for (let i = 0; i < this.#count; i++) out.push(this.#items[(this.#start + i) % cap] as T);
    return out;
  }

  last(): T | undefined {
    return this.#count ? this.#items[(this.#start + this.#count - 1) % this.#items.length] : undefined;
  }
}

const KEYS_MAX = 200;
const NO_EDGES: readonly string[] = [];

type Snapshot = { readonly value: StateValue; readonly status: string; readonly context: unknown; readonly error?: unknown };

/** The recording of one actor, fed by its inspect observer. */
export class ActorRecord {
  readonly started = Date.now();
  ended: number | undefined;
  status: ActorStatus = 'active';
  state: StateValue = '';
  ctx: Readonly<Record<string, unknown>> = {};
  outcome: Outcome | undefined;
  readonly keys = new Set<string>();
  readonly entries: Ring<TimelineEntry>;
  #seq = 0;
  #last: string | undefined;
  // The step being assembled between an event and the snapshot that ends it.
  #event: { readonly type: string } | undefined;
  #edges: string[] | undefined;
  #out: string[] | undefined;

  constructor(
    readonly id: string,
    readonly kind: Kind,
    readonly machine: string,
    readonly info: Readonly<Record<string, unknown>>,
    capacity: number,
    infoKeys: readonly string[],
  ) {
    this.entries = new Ring(capacity);
    for (const k of infoKeys) this.keys.add(k);
  }

  #key(k: string): void {
    if (this.keys.size < KEYS_MAX) this.keys.add(k);
  }

  /**
   * Folds one inspection event in; returns true when a step ended (a snapshot). Events of child
   * actors (the supervisor's invoked services) are not this actor's steps.
   */
  observe(e: InspectionEvent, edgesOf: WeakMap<object, readonly string[]>): boolean {
    if (e.actorRef.sessionId !== e.rootId) return false;
    switch (e.type) {
      case '@xstate.event':
        this.#event = e.event;
        return false;
      case '@xstate.microstep':
        for (const t of (e as unknown as { _transitions: readonly object[] })._transitions) {
          const ids = edgesOf.get(t);
          if (ids) (this.#edges ??= []).push(...ids);
        }
        return false;
      case '@xstate.action': {
        if (e.action.type !== 'xstate.emit') return false;
        const ev = (e.action.params as { event?: { type: string } & Record<string, unknown> } | undefined)?.event;
        if (ev) {
          (this.#out ??= []).push(effectLine(ev));
          if (this.kind === 'delivery') this.outcome = worstOutcome(this.outcome, ev);
        }
        return false;
      }
      case '@xstate.snapshot':
        this.#commit(e.snapshot as unknown as Snapshot);
        return true;
      default:
        return false;
    }
  }

  #commit(snap: Snapshot): void {
    const event = this.#event ?? { type: '(update)' };
    const detail = eventDetail(event as { type: string } & Record<string, unknown>);
    const ctx = pickContext(this.kind, snap.context);
    const prev = this.entries.last();
    const entry: TimelineEntry = {
      seq: this.#seq++,
      t: Date.now(),
      event: event.type,
      ...(detail ? { detail } : {}),
      from: prev ? prev.to : null,
      to: snap.value,
      edges: this.#edges ?? NO_EDGES,
      out: this.#out ?? NO_EDGES,
      ctx,
    };
    this.entries.push(entry);
    this.#event = undefined;
    this.#edges = undefined;
    this.#out = undefined;
    this.state = snap.value;
    this.ctx = ctx;
    this.#last = event.type;
    for (const k of keysOf(ctx)) this.#key(k);
    if (detail && typeof detail.messageId === 'string') this.#key(detail.messageId);
    if (snap.status !== 'active') {
      this.status = snap.status === 'done' ? 'done' : snap.status === 'error' ? 'error' : 'stopped';
      this.ended = entry.t;
    }
  }

  /** Mark a record that was never finished by its actor (evicted while live). */
  abandon(): void {
    if (this.status === 'active') {
      this.status = 'stopped';
      this.ended = Date.now();
    }
  }

  summary(): ActorSummary {
    return {
      id: this.id,
      kind: this.kind,
      machine: this.machine,
      status: this.status,
      state: this.state,
      info: this.info,
      ctx: this.ctx,
      keys: [...this.keys],
      started: this.started,
      ...(this.ended !== undefined ? { ended: this.ended } : {}),
      steps: this.#seq,
      ...(this.#last !== undefined ? { last: this.#last } : {}),
      ...(this.outcome !== undefined ? { outcome: this.outcome } : {}),
    };
  }

  detail(since = -1): ActorDetail {
    const entries = this.entries.toArray().filter((e) => e.seq > since);
    return { summary: this.summary(), dropped: this.entries.dropped, entries };
  }
}
