// Where actors meet the inspector: a hub that hands each new actor an xstate `inspect` observer,
// or none while nobody needs its events (an attached observer, even a no-op, costs ~17 us per event).
import type { AnyActor, InspectionEvent } from 'xstate';
import type { AdminServer } from '../net/admin/server.js';

export type ActorKind = 'supervisor' | 'listener' | 'session' | 'queue' | 'delivery' | 'verifier';

export type Observer = (event: InspectionEvent) => void;

/**
 * A recording kept as the events an actor receives, to be replayed through its machine when somebody
 * looks (inspector/tape.ts): for actors recorded whether or not anybody watches, at a fraction of an
 * observer's cost. Attach it to the actor before starting it.
 */
export interface Tape {
  attach(actor: AnyActor, input: unknown): void;
}

export interface InspectionHub {
  /**
   * An observer for a new actor of this kind, or undefined to create it without one.
   * `describe` gives what the inspector shows about the actor (client IP, destination...), asked lazily.
   */
  observer(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Observer | undefined;
  /**
   * A tape instead of an observer, when the actor is to be recorded though nobody watches it live; undefined
   * otherwise (then ask for an observer). For machines whose only inputs are their input and their events.
   */
  tape?(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Tape | undefined;
  /** Whether a viewer watches this kind live now (new deliveries then run where they can be watched). */
  watched?(kind: ActorKind): boolean;
  /** Serve the inspector's pages on the admin listener, once it is up (the runtime calls this). */
  mount?(admin: AdminServer): void;
}

/**
 * What the inspector may ask of recordings kept in another thread (the delivery thread): the list, or one
 * actor's timeline. Answers are the inspector's own wire data, passed through untouched.
 */
export type RecordingQuery = { readonly what: 'list' } | { readonly what: 'detail'; readonly id: string; readonly since: number };

/** A hub that also answers RecordingQuery, for the thread that keeps the recordings. */
export interface QueryableHub extends InspectionHub {
  query(q: RecordingQuery): unknown;
}

/** The hub while no inspector is mounted: actors run with no observer at all. */
export const NO_INSPECTION: InspectionHub = { observer: () => undefined };

/** createActor options with the observer when there is one. */
export function inspectOption(hub: InspectionHub | undefined, kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): { inspect?: Observer } {
  const inspect = hub?.observer(kind, describe);
  return inspect ? { inspect } : {};
}
