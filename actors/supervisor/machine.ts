// The supervisor actor: starts the spool and listener, restarts a failed listener, reloads, stops.
import { assign, emit, fromPromise, setup } from 'xstate';
import type { SupervisorEvent } from '../events.js';
import type { Runtime } from './runtime.js';

export interface SupervisorInput {
  readonly runtime: Runtime;
  /** How long a failed service waits before its restart, and how many restarts in a row are allowed. */
  readonly restartDelayMs: number;
  readonly maxRestarts: number;
}

interface SupervisorContext extends SupervisorInput {
  restarts: number;
  failure?: string;
}

export type SupervisorEmitted = { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string };

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
    output: {} as { exitCode: number; failure?: string },
  },
  actors: {
    start: fromPromise<void, Runtime>(async ({ input }) => {
      await input.openSpool();
      await input.startListener();
    }),
    restartListener: fromPromise<void, Runtime>(({ input }) => input.restartListener()),
    reload: fromPromise<void, Runtime>(({ input }) => input.reload()),
    stop: fromPromise<void, Runtime>(async ({ input }) => {
      await input.stopListener(input.config.shutdown_timeout);
      await input.stopQueue(input.config.shutdown_timeout);
      await input.stopAdmin();
      await input.closeSpool();
    }),
  },
  delays: {
    restartDelay: ({ context }) => context.restartDelayMs * Math.min(2 ** context.restarts, 32),
  },
  guards: {
    restartsLeft: ({ context }) => context.restarts < context.maxRestarts,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, restarts: 0 }),
  initial: 'starting',
  output: ({ context }) => ({ exitCode: context.failure ? 1 : 0, ...(context.failure ? { failure: context.failure } : {}) }),
  states: {
    starting: {
      invoke: {
        src: 'start',
        input: ({ context }) => context.runtime,
        onDone: 'running',
        onError: {
          target: 'stopping',
          actions: assign(({ event }) => ({ failure: errorText(event.error) })),
        },
      },
      on: { 'DAEMON.STOP': 'stopping' },
    },
    running: {
      on: {
        'SERVICE.FAILED': [
          {
            guard: 'restartsLeft', target: 'restarting',
            actions: emit(({ event }) => ({ type: 'log' as const, level: 'error' as const, msg: `${event.service} failed: ${event.error}; restarting it` })),
          },
          {
            target: 'stopping',
            actions: assign(({ event }) => ({ failure: `${event.service} failed too often: ${event.error}` })),
          },
        ],
        'DAEMON.RELOAD': 'reloading',
        'DAEMON.STOP': 'stopping',
      },
    },
    reloading: {
      invoke: {
        src: 'reload',
        input: ({ context }) => context.runtime,
        onDone: 'running',
        onError: {
          target: 'running',
          actions: emit(({ event }) => ({ type: 'log' as const, level: 'error' as const, msg: `reload failed, keeping the running configuration: ${errorText(event.error)}` })),
        },
      },
      on: { 'DAEMON.STOP': 'stopping' },
    },
    restarting: {
      after: { restartDelay: 'restartingListener' },
      on: { 'DAEMON.STOP': 'stopping' },
    },
    restartingListener: {
      entry: assign(({ context }) => ({ restarts: context.restarts + 1 })),
      invoke: {
        src: 'restartListener',
        input: ({ context }) => context.runtime,
        onDone: { target: 'running', actions: assign({ restarts: 0 }) },
        onError: [
          {
            guard: 'restartsLeft', target: 'restarting',
            actions: emit(({ event }) => ({ type: 'log' as const, level: 'error' as const, msg: `listener restart failed: ${errorText(event.error)}` })),
          },
          { target: 'stopping', actions: assign(({ event }) => ({ failure: `listener could not be restarted: ${errorText(event.error)}` })) },
        ],
      },
      on: { 'DAEMON.STOP': 'stopping' },
    },
    stopping: {
      invoke: {
        src: 'stop',
        input: ({ context }) => context.runtime,
        onDone: 'stopped',
        onError: {
          target: 'stopped',
          actions: emit(({ event }) => ({ type: 'log' as const, level: 'error' as const, msg: `error while stopping: ${errorText(event.error)}` })),
        },
      },
    },
    stopped: { type: 'final' },
  },
});
