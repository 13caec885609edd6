// A recording kept as the events an actor received (a tape) rather than as xstate inspection events:
// almost free while nobody looks, replayed through the same machine into an ActorRecord when somebody does.
import { createActor } from 'xstate';
import type { AnyActor, AnyStateMachine, EventObject } from 'xstate';
import type { Tape } from '../actors/inspection.js';
import { ActorRecord } from './record.js';
import { eventKeys, keysOf, keysOfInfo, pickContext, worstOutcome } from './summary.js';
import type { ActorDetail, ActorStatus, ActorSummary, Kind, Outcome, StateValue } from './wire.js';

/*
 * Why this works: a machine's actions and guards are pure (no I/O, no clock, no randomness), so the same
 * events from the same start give the same steps, edges and effects. Every event reaches a root actor
 * through its system's relay, both what its driver sends and its own delayed events when their timers
 * fire, so wrapping the relay sees each one in the order the actor processed it. A replay runs on a clock
 * that never fires: the delayed events come from the tape, when they came.
 */

const KEYS_MAX = 200;
/** The replay's timers never fire: the tape holds the delayed events that did. */
const STOPPED_CLOCK = { setTimeout: () => 0, clearTimeout: () => undefined };

/**
 * A stretch of tape: where it starts (the actor's input, or a persisted snapshot) and what came after.
 * Each event is kept as its JSON text, with when it came beside it: a connection's tape holds hundreds
 * of events for as long as it lasts, and one flat string each (not the event's objects, which the young
 * generation's collector would copy, and copy again, until promoted) keeps that cheap. The events of
 * a replayable machine are plain data (REPLAYABLE in capture.ts).
 */
interface Segment {
  readonly start: { readonly input: unknown } | { readonly snapshot: unknown };
  readonly t: number;
  /** Steps before this segment. */
  readonly seq: number;
  readonly events: string[];
  readonly times: number[];
  /** What the events of this segment are found by (eventKeys), taken as they come. */
  readonly keys: string[];
}

const segment = (start: Segment['start'], t: number, seq: number): Segment => ({ start, t, seq, events: [], times: [], keys: [] });

interface Replay {
  readonly rec: ActorRecord;
  readonly actor: AnyActor;
  readonly clock: { t: number };
  seg: Segment;
  fed: number;
}

type Relay = (source: unknown, target: unknown, event: EventObject) => void;

export class TapeRecord implements Tape {
  readonly started = Date.now();
  status: ActorStatus = 'active';
  ended: number | undefined;
  outcome: Outcome | undefined;
  /** Told once the actor has ended. */
  onEnd: () => void = () => undefined;
  #actor: AnyActor | undefined;
  #logic: AnyStateMachine | undefined;
  #final: { readonly value: StateValue; readonly context: unknown } | undefined;
  /** At most two: the one before the last checkpoint, and the one since. */
  #segments: Segment[] = [];
  #count = 0;
  #last: string | undefined;
  #replay: Replay | undefined;
  #keys: { readonly at: number; readonly keys: readonly string[] } | undefined;
  /** Why taping stopped early (a checkpoint failed): the tape keeps what it had, bounded. */
  #stopped: string | undefined;
  /** Keys of the context the actor starts with (what its input brings: the first job's). */
  #firstKeys: readonly string[] = [];

  /** `capacity` steps are kept, as an ActorRecord keeps them: the tape holds between one and two times that. */
  constructor(
    readonly id: string,
    readonly kind: Kind,
    readonly machine: string,
    readonly info: Readonly<Record<string, unknown>>,
    readonly capacity: number,
    /** The chart's edges by transition, to name the edges a replayed step takes. */
    readonly edgesOf: WeakMap<object, readonly string[]>,
  ) {}

  /** Start taping this actor (before it starts). */
  attach(actor: AnyActor, input: unknown): void {
    this.#actor = actor;
    this.#logic = actor.logic as AnyStateMachine;
    this.#segments = [segment({ input }, this.started, 0)];
    this.#firstKeys = keysOf(pickContext(this.kind, (actor.getSnapshot() as { context: unknown }).context));
    const system = actor.system as unknown as { _relay: Relay };
    const relay = system._relay;
    let depth = 0;
    system._relay = (source, target, event) => {
      if (target !== actor) {
        relay(source, target, event);
        return;
      }
      if (this.#stopped === undefined) this.#record(event);
      this.#count++;
      this.#last = event.type;
      // Nested sends (from an effect handler) are queued and processed before the outermost relay returns.
      depth++;
      try {
        relay(source, target, event);
      } finally {
        depth--;
      }
      if (depth === 0 && this.#stopped === undefined) this.#checkpoint();
    };
    actor.on('*', (effect) => {
      this.outcome = worstOutcome(this.outcome, effect as EventObject & Record<string, unknown>);
    });
    actor.subscribe({ complete: () => this.#end(), error: () => this.#end() });
  }

  #record(event: EventObject): void {
    const seg = this.#segments[this.#segments.length - 1] as Segment;
    seg.events.push(JSON.stringify(event));
    seg.times.push(Date.now());
    if (seg.keys.length < KEYS_MAX) for (const k of eventKeys(event as EventObject & Record<string, unknown>)) seg.keys.push(k);
  }

  /** Past `capacity` events, a persisted snapshot starts a new segment and the oldest one is let go. */
  #checkpoint(): void {
    const current = this.#segments[this.#segments.length - 1] as Segment;
    const actor = this.#actor;
    if (current.events.length < this.capacity || !actor || actor.getSnapshot().status !== 'active') return;
    let snapshot: unknown;
    try {
      snapshot = actor.getPersistedSnapshot();
    } catch (e) {
      // Never into the driver's send: the recording ends here, the actor goes on.
      this.#stopped = e instanceof Error ? e.message : String(e);
      return;
    }
    this.#segments = [current, segment({ snapshot }, Date.now(), current.seq + current.events.length + ('input' in current.start ? 1 : 0))];
  }

  #end(): void {
    const actor = this.#actor;
    if (!actor) return;
    const snap = actor.getSnapshot() as { value: StateValue; context: unknown; status: string };
    this.#final = { value: snap.value, context: snap.context };
    this.status = snap.status === 'done' ? 'done' : snap.status === 'error' ? 'error' : 'stopped';
    this.ended = Date.now();
    this.#actor = undefined;
    this.onEnd();
  }

  /** Mark a record that was never finished by its actor (evicted while live). */
  abandon(): void {
    if (this.status === 'active') {
      this.status = 'stopped';
      this.ended = Date.now();
    }
  }

  /** The summary, from the tape alone: a list of many actors replays none of them. */
  summary(): ActorSummary {
    if (this.#replay) return this.#materialize().summary();
    const snap = this.#final ?? (this.#actor?.getSnapshot() as { value: StateValue; context: unknown } | undefined);
    const ctx = snap ? pickContext(this.kind, snap.context) : {};
    return {
      id: this.id,
      kind: this.kind,
      machine: this.machine,
      status: this.status,
      state: snap?.value ?? '',
      info: this.info,
      ctx,
      keys: this.#keysOf(ctx),
      started: this.started,
      ...(this.ended !== undefined ? { ended: this.ended } : {}),
      steps: this.#count + 1,
      ...(this.#last !== undefined ? { last: this.#last } : {}),
      ...(this.outcome !== undefined ? { outcome: this.outcome } : {}),
    };
  }

  /** Message ids the events carry, and what the description and the latest context give. */
  #keysOf(ctx: Readonly<Record<string, unknown>>): readonly string[] {
    if (this.#keys?.at === this.#count) return this.#keys.keys;
    const keys = new Set<string>([...keysOfInfo(this.info), ...this.#firstKeys]);
    for (const k of keysOf(ctx)) keys.add(k);
    for (const seg of this.#segments) for (const k of seg.keys) if (keys.size < KEYS_MAX) keys.add(k);
    const list = [...keys].slice(0, KEYS_MAX);
    this.#keys = { at: this.#count, keys: list };
    return list;
  }

  /** The timeline: the tape replayed (once; later calls replay only what came since). */
  detail(since = -1): ActorDetail {
    try {
      return this.#materialize().detail(since);
    } catch {
      // A replay that cannot run (a machine changed under a kept tape) shows the summary alone.
      this.#replay = undefined;
      return { summary: this.summary(), dropped: this.#count + 1, entries: [] };
    }
  }

  #materialize(): ActorRecord {
    let r = this.#replay;
    // Two checkpoints since the last look: what it had replayed up to is gone, so start again.
    if (r && !this.#segments.includes(r.seg)) r = undefined;
    r ??= this.#replay = this.#begin(this.#segments[0] as Segment);
    for (;;) {
      const { events, times } = r.seg;
      while (r.fed < events.length) {
        r.clock.t = times[r.fed] as number;
        r.actor.send(JSON.parse(events[r.fed++] as string) as EventObject);
      }
      // The next segment starts where this one ended: the same replay goes on with its events.
      const next = this.#segments[this.#segments.indexOf(r.seg) + 1];
      if (!next) break;
      r.seg = next;
      r.fed = 0;
    }
    // The tape saw every effect; a replay resumed from a checkpoint did not.
    r.rec.outcome = this.outcome;
    if (this.status !== 'active' && r.rec.status === 'active') {
      r.rec.status = this.status;
      r.rec.ended = this.ended;
    }
    return r.rec;
  }

  #begin(seg: Segment): Replay {
    const logic = this.#logic;
    if (!logic) throw new Error('a tape replayed before it was attached');
    const clock = { t: seg.t };
    const resumed = 'snapshot' in seg.start;
    const rec = new ActorRecord(this.id, this.kind, this.machine, this.info, this.capacity, keysOfInfo(this.info), {
      started: this.started,
      now: () => clock.t,
      seq: seg.seq,
      resumed,
    });
    const edgesOf = this.edgesOf;
    const from = 'snapshot' in seg.start ? { snapshot: seg.start.snapshot as never } : { input: seg.start.input as never };
    const actor = createActor(logic, { ...from, clock: STOPPED_CLOCK, inspect: (e) => void rec.observe(e, edgesOf) });
    actor.start();
    return { rec, actor, clock, seg, fed: 0 };
  }
}
