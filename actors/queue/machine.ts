// The queue scheduler actor: when to look for due messages, and whether a new connection to a
// destination may open (remote_max_parallel, remote_max_parallel_per_host).
import { assign, emit, setup } from 'xstate';

export interface QueueInput {
  readonly maxTotal: number;
  readonly maxPerHost: number;
  /** queue_run_interval: the longest wait between two looks at the index. */
  readonly interval: number;
}

interface QueueContext extends QueueInput {
  total: number;
  /** Open delivery connections per destination; mutated in place. */
  perHost: Map<string, number>;
  /** When the next look is due, as a delay from the last one (ms). */
  wait: number;
  /** A kick arrived while scanning: look again at once. */
  again: boolean;
}

export type QueueEvent =
  | { readonly type: 'QUEUE.KICK' }
  /** more: the pass stopped at its batch size; the rest is looked at once the work in hand drains. */
  | { readonly type: 'QUEUE.SCANNED'; readonly nextDueIn?: number; readonly more?: boolean }
  | { readonly type: 'DELIVERY.WANTED'; readonly dest: string }
  | { readonly type: 'DELIVERY.ENDED'; readonly dest: string }
  | { readonly type: 'QUEUE.STOP' };

export type QueueEmitted =
  | { readonly type: 'scan' }
  | { readonly type: 'spawn'; readonly dest: string }
  | { readonly type: 'hold'; readonly dest: string }
  | { readonly type: 'slot' };

type Wanted = Extract<QueueEvent, { type: 'DELIVERY.WANTED' }>;

export const queueMachine = setup({
  types: { context: {} as QueueContext, events: {} as QueueEvent, input: {} as QueueInput, emitted: {} as QueueEmitted },
  delays: {
    // The next look: when the earliest message falls due, but at least every queue_run_interval.
    scanDelay: ({ context }) => Math.max(0, Math.min(context.wait, context.interval)),
  },
  guards: {
    // A limit of 0 means unlimited.
    full: ({ context, event }) => {
      const dest = (event as Wanted).dest;
      return (context.maxTotal > 0 && context.total >= context.maxTotal) ||
        (context.maxPerHost > 0 && (context.perHost.get(dest) ?? 0) >= context.maxPerHost);
    },
    again: ({ context }) => context.again,
    more: ({ event }) => event.type === 'QUEUE.SCANNED' && event.more === true,
    /** queue_run_interval 0: no queue runs; the queue is looked at only when asked (kicks). */
    noRuns: ({ context }) => context.interval <= 0,
  },
  actions: {
    count: assign(({ context, event }) => {
      const dest = (event as Wanted).dest;
      context.perHost.set(dest, (context.perHost.get(dest) ?? 0) + 1);
      return { total: context.total + 1 };
    }),
    uncount: assign(({ context, event }) => {
      if (event.type !== 'DELIVERY.ENDED') return {};
      const n = (context.perHost.get(event.dest) ?? 0) - 1;
      if (n > 0) context.perHost.set(event.dest, n);
      else context.perHost.delete(event.dest);
      return { total: Math.max(0, context.total - 1) };
    }),
  },
}).createMachine({
  id: 'queue',
  context: ({ input }) => ({ ...input, total: 0, perHost: new Map(), wait: 0, again: false }),
  initial: 'start',
  on: {
    'DELIVERY.WANTED': [
      { guard: 'full', actions: emit(({ event }) => ({ type: 'hold' as const, dest: (event as Wanted).dest })) },
      { actions: ['count', emit(({ event }) => ({ type: 'spawn' as const, dest: (event as Wanted).dest }))] },
    ],
    'DELIVERY.ENDED': { actions: ['uncount', emit({ type: 'slot' } as const)] },
    'QUEUE.STOP': '.stopped',
  },
  states: {
    start: { always: [{ guard: 'noRuns', target: 'dormant' }, { target: 'scanning' }] },
    dormant: {
      on: { 'QUEUE.KICK': 'scanning' },
    },
    // Due messages remain beyond the last batch: the driver kicks when its work in hand drains.
    draining: {
      on: { 'QUEUE.KICK': 'scanning' },
    },
    waiting: {
      after: { scanDelay: 'scanning' },
      on: { 'QUEUE.KICK': 'scanning' },
    },
    scanning: {
      entry: [assign({ again: false }), emit({ type: 'scan' } as const)],
      on: {
        'QUEUE.KICK': { actions: assign({ again: true }) },
        'QUEUE.SCANNED': [
          { guard: 'again', target: 'scanning', reenter: true },
          { guard: 'more', target: 'draining' },
          { guard: 'noRuns', target: 'dormant' },
          { target: 'waiting', actions: assign(({ context, event }) => ({ wait: event.type === 'QUEUE.SCANNED' ? (event.nextDueIn ?? context.interval) : context.interval })) },
        ],
      },
    },
    stopped: {
      on: { 'DELIVERY.WANTED': { actions: emit(({ event }) => ({ type: 'hold' as const, dest: (event as Wanted).dest })) } },
    },
  },
});
