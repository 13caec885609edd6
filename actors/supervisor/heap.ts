// V8 heap settings for the daemon's processes, set before they serve (docs/decisions/0012-short-lived-sessions-in-the-heap.md).
import { setFlagsFromString } from 'node:v8';

/** The V8 flags the daemon sets on itself; process-wide, so the delivery thread has them too. */
export const HEAP_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/**
 * Turn off V8's allocation-site pretenuring. V8 marks a site for pretenuring when most of the
 * objects it made since the last young-generation collection survived that collection; from then
 * on the site allocates straight into the old generation. Sites on the session path (xstate's
 * actors and snapshots among them) pass that test under load, so objects that live for one
 * session, a few milliseconds, were made in old space and died there: old-space marking and
 * compaction for every session. Measured in the decision record above.
 */
export function tuneHeap(): void {
  for (const flag of HEAP_FLAGS) setFlagsFromString(flag);
}
