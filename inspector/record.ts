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
const NO_EFFECTS: readonly Fields[] = [];

type Fields = { readonly type: string } & Record<string, unknown>;
type Snapshot = { readonly value: StateValue; readonly status: string; readonly context: unknown; readonly error?: unknown };

/**
 * One step as it happened: references to the event, the emitted effects and the context (xstate never mutates
 * them). Summarising them (TimelineEntry) waits until somebody reads the step: most steps are never looked at,
 * and a viewer's stream only needs each actor's latest state.
 */
interface Step {
  readonly seq: number;
  readonly t: number;
  readonly event: Fields;
  readonly from: StateValue | null;
  readonly to: StateValue;
  readonly edges: readonly string[];
  readonly out: readonly Fields[];
  readonly context: unknown;
}

/** How a replayed record (inspector/tape.ts) differs from one fed live. */
export interface ReplayOptions {
  /** When the recorded actor started. */
  readonly started: number;
  /** The time each step happened, rather than now. */
  readonly now: () => number;
  /** Steps recorded before the snapshot the replay resumes from (0: replayed from the start). */
  readonly seq: number;
  /** The replay resumes a snapshot: its start is not a step, and no earlier step is kept. */
  readonly resumed: boolean;
}

/** The recording of one actor, fed by its inspect observer. */
export class ActorRecord {
  readonly started: number;
  readonly #now: () => number;
  #skipInit: boolean;
  /** Steps before the first one this record saw (a replay resumed from a checkpoint). */
  readonly #base: number;
  ended: number | undefined;
  status: ActorStatus = 'active';
  state: StateValue = '';
  outcome: Outcome | undefined;
  readonly #keys = new Set<string>();
  readonly entries: Ring<Step>;
  #seq = 0;
  /** Steps that have not given their filter keys yet, oldest first. */
  #unkeyed: Step[] = [];
  #last: string | undefined;
  #context: unknown;
  #ctx: Readonly<Record<string, unknown>> | undefined;
  // The step being assembled between an event and the snapshot that ends it.
  // Events are announced when sent, before the ones queued ahead of them are processed (a send from
  // an effect handler): the actor takes them in order, so the step that ends takes the oldest.
  #events: Fields[] = [];
  #edges: string[] | undefined;
  #out: Fields[] | undefined;

  constructor(
    readonly id: string,
    readonly kind: Kind,
    readonly machine: string,
    readonly info: Readonly<Record<string, unknown>>,
    capacity: number,
    infoKeys: readonly string[],
    replay?: ReplayOptions,
  ) {
    this.started = replay?.started ?? Date.now();
    this.#now = replay?.now ?? Date.now;
    this.#seq = replay?.seq ?? 0;
    this.#base = this.#seq;
    this.#skipInit = replay?.resumed ?? false;
    this.entries = new Ring(capacity);
    for (const k of infoKeys) this.#keys.add(k);
  }

  /** The selected context of the latest step. */
  get ctx(): Readonly<Record<string, unknown>> {
    return (this.#ctx ??= pickContext(this.kind, this.#context));
  }

  /** Filter values: message ids, domains, addresses, hosts, from every step recorded. */
  get keys(): ReadonlySet<string> {
    for (const step of this.#unkeyed) this.#index(step);
    this.#unkeyed = [];
    return this.#keys;
  }

  #index(step: Step): void {
    if (this.#keys.size >= KEYS_MAX) return;
    for (const k of keysOf(pickContext(this.kind, step.context))) this.#key(k);
    const detail = eventDetail(step.event);
    if (detail && typeof detail.messageId === 'string') this.#key(detail.messageId);
  }

  #key(k: string): void {
    if (this.#keys.size < KEYS_MAX) this.#keys.add(k);
  }

  /**
   * Folds one inspection event in; returns true when a step ended (a snapshot). Events of child
   * actors (the supervisor's invoked services) are not this actor's steps.
   */
  observe(e: InspectionEvent, edgesOf: WeakMap<object, readonly string[]>): boolean {
    if (e.actorRef.sessionId !== e.rootId) return false;
    switch (e.type) {
      case '@xstate.event':
        this.#events.push(e.event as Fields);
        return false;
      case '@xstate.microstep':
        for (const t of (e as unknown as { _transitions: readonly object[] })._transitions) {
          const ids = edgesOf.get(t);
          if (ids) (this.#edges ??= []).push(...ids);
        }
        return false;
      case '@xstate.action': {
        if (e.action.type !== 'xstate.emit') return false;
        const ev = (e.action.params as { event?: Fields } | undefined)?.event;
        if (ev) {
          (this.#out ??= []).push(ev);
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
    const event = this.#events.shift() ?? { type: '(update)' };
    if (this.#skipInit) {
      // A replay resuming a snapshot starts there: the state it starts in is where the last step ended.
      this.#skipInit = false;
      this.state = snap.value;
      this.#context = snap.context;
      return;
    }
    const step: Step = {
      seq: this.#seq++,
      t: this.#now(),
      event,
      from: this.state === '' ? null : this.state,
      to: snap.value,
      edges: this.#edges ?? NO_EDGES,
      out: this.#out ?? NO_EFFECTS,
      context: snap.context,
    };
    this.entries.push(step);
    // Keys are taken when somebody asks; a record nobody reads gives them in bulk, never holding many steps.
    this.#unkeyed.push(step);
    if (this.#unkeyed.length >= this.entries.capacity) void this.keys;
    this.#edges = undefined;
    this.#out = undefined;
    this.state = snap.value;
    this.#context = snap.context;
    this.#ctx = undefined;
    this.#last = event.type;
    if (snap.status !== 'active') {
      this.status = snap.status === 'done' ? 'done' : snap.status === 'error' ? 'error' : 'stopped';
      this.ended = step.t;
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
    const entries = this.entries.toArray().filter((e) => e.seq > since).map((step) => this.#entry(step));
    return { summary: this.summary(), dropped: this.entries.dropped + this.#base, entries };
  }

  #entry(step: Step): TimelineEntry {
    const detail = eventDetail(step.event);
    return {
      seq: step.seq,
      t: step.t,
      event: step.event.type,
      ...(detail ? { detail } : {}),
      from: step.from,
      to: step.to,
      edges: step.edges,
      out: step.out.length === 0 ? NO_EDGES : step.out.map((ev) => effectLine(ev)),
      ctx: pickContext(this.kind, step.context),
    };
  }
}
