// The listener actor: admits or refuses each new connection against the total and per-host limits.
import { assign, emit, setup } from 'xstate';
import type { ListenerEmitted, ListenerEvent } from '../events.js';

export interface ListenerInput {
  readonly maxTotal: number;
  readonly maxPerHost: number;
}

interface ListenerContext {
  maxTotal: number;
  maxPerHost: number;
  total: number;
  /** Open connections per client IP; mutated in place (one entry per connected host). */
  perHost: Map<string, number>;
}

type OpenEvent = Extract<ListenerEvent, { type: 'CONN.OPEN' }>;

export const listenerMachine = setup({
  types: {
    context: {} as ListenerContext,
    events: {} as ListenerEvent,
    input: {} as ListenerInput,
    emitted: {} as ListenerEmitted,
  },
  guards: {
    // A limit of 0 means unlimited, as in Exim.
    totalFull: ({ context }) => context.maxTotal > 0 && context.total >= context.maxTotal,
    hostFull: ({ context, event }) =>
      context.maxPerHost > 0 && (context.perHost.get((event as OpenEvent).ip) ?? 0) >= context.maxPerHost,
  },
  actions: {
    count: assign(({ context, event }) => {
      const ip = (event as OpenEvent).ip;
      context.perHost.set(ip, (context.perHost.get(ip) ?? 0) + 1);
      return { total: context.total + 1 };
    }),
    uncount: assign(({ context, event }) => {
      if (event.type !== 'CONN.CLOSED') return {};
      const n = (context.perHost.get(event.ip) ?? 0) - 1;
      if (n > 0) context.perHost.set(event.ip, n);
      else context.perHost.delete(event.ip);
      return { total: Math.max(0, context.total - 1) };
    }),
  },
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ ...input, total: 0, perHost: new Map() }),
  initial: 'accepting',
  on: {
    'CONN.CLOSED': { actions: 'uncount' },
    // A reload changes the limits for connections yet to come; open ones are not touched.
    'LISTENER.LIMITS': { actions: assign(({ event }) => (event.type === 'LISTENER.LIMITS' ? { maxTotal: event.maxTotal, maxPerHost: event.maxPerHost } : {})) },
  },
  states: {
    accepting: {
      on: {
        'CONN.OPEN': [
          { guard: 'totalFull', actions: emit({ type: 'refuse', reason: 'total' } as const) },
          { guard: 'hostFull', actions: emit({ type: 'refuse', reason: 'per-host' } as const) },
          { actions: ['count', emit({ type: 'admit' } as const)] },
        ],
        'LISTENER.STOP': 'draining',
      },
    },
    draining: {
      on: { 'CONN.OPEN': { actions: emit({ type: 'refuse', reason: 'stopping' } as const) } },
    },
  },
});
