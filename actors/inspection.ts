// Where actors meet the inspector: a hub that hands each new actor an xstate `inspect` observer,
// or none while nobody needs its events (an attached observer, even a no-op, costs ~17 us per event).
import type { InspectionEvent } from 'xstate';

export type ActorKind = 'supervisor' | 'listener' | 'session' | 'queue' | 'delivery';

export type Observer = (event: InspectionEvent) => void;

export interface InspectionHub {
  /**
   * An observer for a new actor of this kind, or undefined to create it without one.
   * `describe` gives what the inspector shows about the actor (client IP, destination...), asked lazily.
   */
  observer(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Observer | undefined;
}

/** The hub while no inspector is mounted: actors run with no observer at all. */
export const NO_INSPECTION: InspectionHub = { observer: () => undefined };

/** createActor options with the observer when there is one. */
export function inspectOption(hub: InspectionHub | undefined, kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): { inspect?: Observer } {
  const inspect = hub?.observer(kind, describe);
  return inspect ? { inspect } : {};
}
