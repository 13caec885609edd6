// The listener actor: accepting or draining, the limits in force, and each connection it turned away.
import { assign, setup } from 'xstate';
import type { ListenerEvent } from '../events.js';

export interface ListenerInput {
  readonly maxTotal: number;
  readonly maxPerHost: number;
}

interface ListenerContext {
  maxTotal: number;
  maxPerHost: number;
  /** Connections refused since start, by reason. */
  refused: { readonly total: number; readonly 'per-host': number; readonly stopping: number };
}

/*
 * The counting of open connections is in admissions.ts (plain data, changed twice per connection); this
 * machine holds what decides the listener's course, and its steps are rare: a reload, the stop, a refusal.
 */
export const listenerMachine = setup({
  types: {
    context: {} as ListenerContext,
    events: {} as ListenerEvent,
    input: {} as ListenerInput,
  },
  actions: {
    countRefusal: assign(({ context, event }) => {
      if (event.type !== 'CONN.REFUSED') return {};
      return { refused: { ...context.refused, [event.reason]: context.refused[event.reason] + 1 } };
    }),
  },
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ ...input, refused: { total: 0, 'per-host': 0, stopping: 0 } }),
  initial: 'accepting',
  on: {
    'CONN.REFUSED': { actions: 'countRefusal' },
    // A reload changes the limits for connections yet to come; open ones are not touched.
    'LISTENER.LIMITS': { actions: assign(({ event }) => (event.type === 'LISTENER.LIMITS' ? { maxTotal: event.maxTotal, maxPerHost: event.maxPerHost } : {})) },
  },
  states: {
    accepting: {
      on: { 'LISTENER.STOP': 'draining' },
    },
    draining: {},
  },
});
