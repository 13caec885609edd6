// The capture behind the inspection hub: decides which new actors get an observer (always the few
// long-lived ones; sessions and deliveries only while a viewer watches their kind, or when
// configured), keeps live records, the last N finished per kind, and failed/deferred deliveries.
import type { InspectionEvent } from 'xstate';
import type { ActorKind, QueryableHub, Observer, RecordingQuery, Tape } from '../actors/inspection.js';
import type { InspectorConfig } from '../config/load.js';
import { chartOf, machineFor } from './machines.js';
import { ActorRecord, Ring } from './record.js';
import { keysOfInfo } from './summary.js';
import { TapeRecord } from './tape.js';
import type { ActorDetail, ActorsResponse, ActorStatus, ActorSummary, Kind, Outcome } from './wire.js';
import { KINDS } from './wire.js';

/** Few, long-lived actors with few events: always recorded, so their history is there when someone looks. */
const LONG_LIVED: ReadonlySet<Kind> = new Set(['supervisor', 'listener', 'queue']);
/** A safety net: records of actors that never end (a driver bug) must not pile up. */
const LIVE_MAX = 20_000;
/** Kinds whose machines depend only on their input and events, so that a tape replays them exactly. */
const REPLAYABLE: ReadonlySet<Kind> = new Set(['delivery']);

/** A recording as the page reads it: fed live by an observer (ActorRecord) or replayed from a tape. */
export interface Recording {
  readonly id: string;
  readonly kind: Kind;
  readonly status: ActorStatus;
  readonly outcome: Outcome | undefined;
  readonly ended: number | undefined;
  summary(): ActorSummary;
  detail(since?: number): ActorDetail;
  abandon(): void;
}

export type CaptureSettings = Pick<InspectorConfig, 'history_per_kind' | 'keep_failed_deliveries_for' | 'failed_deliveries_max' | 'events_per_actor' | 'record_always'>;

export class Capture implements QueryableHub {
  readonly #settings: () => CaptureSettings;
  readonly #live = new Map<string, Recording>();
  readonly #history = new Map<Kind, Ring<Recording>>();
  #failed: Recording[] = [];
  readonly #watching: Record<Kind, number> = { supervisor: 0, listener: 0, session: 0, queue: 0, delivery: 0, verifier: 0 };
  #count = 0;
  /** Told of every step of every record (the stream batches them for its viewers). */
  onChange: (rec: ActorRecord) => void = () => undefined;

  readonly #idPrefix: string;

  /** `idPrefix` keeps the ids of a capture in another thread (the delivery thread's) apart from these. */
  constructor(settings: () => CaptureSettings, idPrefix = '') {
    this.#settings = settings;
    this.#idPrefix = idPrefix;
  }

  /** Answer the inspector of the main thread (this capture is in the delivery thread). */
  query(q: RecordingQuery): ActorsResponse | ActorDetail | undefined {
    if (q.what === 'list') return this.list();
    return this.find(q.id)?.detail(q.since);
  }

  /** Whether a new actor of this kind is to be recorded now. */
  wants(kind: Kind): boolean {
    return LONG_LIVED.has(kind) || this.#watching[kind] > 0 || (this.#settings().record_always as readonly string[]).includes(kind);
  }

  /** Recorded because configured, not watched: a tape, replayed when somebody reads it. */
  tape(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Tape | undefined {
    if (!REPLAYABLE.has(kind) || this.#watching[kind] > 0 || !(this.#settings().record_always as readonly string[]).includes(kind)) return undefined;
    const info = describe();
    const chart = chartOf(machineFor(kind, info));
    const rec = new TapeRecord(`${kind}-${this.#idPrefix}${++this.#count}`, kind, chart.model.machine, info, this.#settings().events_per_actor, chart.edgesOf);
    rec.onEnd = () => this.#finish(rec, false);
    this.#add(rec);
    return rec;
  }

  #add(rec: Recording): void {
    this.#live.set(rec.id, rec);
    if (this.#live.size > LIVE_MAX) {
      const oldest = this.#live.values().next().value;
      if (oldest) this.#finish(oldest, true);
    }
  }

  observer(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Observer | undefined {
    if (!this.wants(kind)) return undefined;
    const s = this.#settings();
    const info = describe();
    const chart = chartOf(machineFor(kind, info));
    const rec = new ActorRecord(`${kind}-${this.#idPrefix}${++this.#count}`, kind, chart.model.machine, info, s.events_per_actor, keysOfInfo(info));
    this.#add(rec);
    const edgesOf = chart.edgesOf;
    return (e: InspectionEvent) => {
      if (!rec.observe(e, edgesOf)) return;
      if (rec.status !== 'active') this.#finish(rec, false);
      this.onChange(rec);
    };
  }

  #finish(rec: Recording, evicted: boolean): void {
    if (evicted) rec.abandon();
    if (!this.#live.delete(rec.id)) return;
    const s = this.#settings();
    let ring = this.#history.get(rec.kind);
    if (!ring || ring.capacity !== Math.max(1, s.history_per_kind)) {
      const next = new Ring<Recording>(Math.max(1, s.history_per_kind));
      for (const r of ring?.toArray() ?? []) next.push(r);
      ring = next;
      this.#history.set(rec.kind, ring);
    }
    if (s.history_per_kind > 0) ring.push(rec);
    if (rec.kind === 'delivery' && (rec.outcome === 'failed' || rec.outcome === 'deferred' || rec.status === 'error')) {
      this.#failed.push(rec);
      this.#prune();
    }
  }

  /** Failed and deferred deliveries older than keep_failed_deliveries_for, or beyond the count, go. */
  #prune(): void {
    const s = this.#settings();
    const since = Date.now() - s.keep_failed_deliveries_for;
    let drop = 0;
    while (drop < this.#failed.length && (this.#failed[drop]?.ended ?? 0) < since) drop++;
    const excess = this.#failed.length - drop - s.failed_deliveries_max;
    if (excess > 0) drop += excess;
    if (drop > 0) this.#failed = this.#failed.slice(drop);
  }

  /** A viewer starts watching these kinds; call the result when it leaves. */
  watch(kinds: readonly Kind[]): () => void {
    for (const k of kinds) this.#watching[k]++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const k of kinds) this.#watching[k]--;
    };
  }

  get watching(): Readonly<Record<Kind, number>> {
    return this.#watching;
  }

  find(id: string): Recording | undefined {
    const live = this.#live.get(id);
    if (live) return live;
    for (const ring of this.#history.values()) {
      const r = ring.toArray().find((x) => x.id === id);
      if (r) return r;
    }
    return this.#failed.find((x) => x.id === id);
  }

  /** Everything the page lists: live actors, finished ones, failed/deferred deliveries. */
  list(): ActorsResponse {
    this.#prune();
    const history = KINDS.flatMap((k) => this.#history.get(k)?.toArray() ?? []);
    return {
      live: [...this.#live.values()].map((r) => r.summary()),
      history: history.map((r) => r.summary()),
      failed: this.#failed.map((r) => r.summary()),
      watching: { ...this.#watching },
    };
  }

  get liveCount(): number {
    return this.#live.size;
  }
}
