// The delivery attempt actor: one SMTP client connection to a destination, from connect to QUIT,
// possibly moving on to the next MX or address, running one or more transactions on it.
import { enqueueActions, setup } from 'xstate';
import type { DeliveryEvent } from '../events.js';
import type { Ctx, DeliverySettings, Effect, Phase, Step } from './steps.js';
import { connect, initialContext, onEhlo, onFailure, onGreeting, onHelo, onIdle, onStarttls, onWaiting, onTlsReady, ready } from './steps.js';
import { onDot, onRset, onSent, onTxReply, onTxTrouble } from './transaction.js';
import { absorb, withPrefetch } from './ahead.js';
import type { DeliveryJob, Destination } from './types.js';
import type { ServerReply } from '../../protocol/smtp/client/replies.js';

export interface DeliveryInput {
  readonly settings: DeliverySettings;
  readonly dest: Destination;
  readonly first: DeliveryJob;
}

type TimeoutPhase = 'connecting' | 'greeting' | 'ehlo' | 'helo' | 'starttls' | 'tls' | 'waiting' | 'idle' | 'transaction' | 'sending' | 'dot' | 'rset' | 'quit';

/** What an event means in the phase it arrives in: the pure step (steps.ts, transaction.ts). */
function stepFor(c: Ctx, phase: Phase, e: DeliveryEvent | { type: string }): Step {
  const ev = e as DeliveryEvent;
  const trouble = (stage: Parameters<typeof onFailure>[1]): Step | undefined => {
    if (ev.type === 'NET.CLOSED') return onFailure(c, stage, { kind: 'closed' });
    if (ev.type === 'NET.ERROR') return onFailure(c, stage, { kind: 'network', code: ev.code });
    if (ev.type === 'NET.GARBAGE') return onFailure(c, stage, { kind: 'garbage', reason: ev.reason });
    if (e.type.startsWith('xstate.after')) return onFailure(c, stage, { kind: 'timeout' });
    return undefined;
  };
  if (ev.type === 'NET.REPLY' && ev.replies.length > 1) return stepReplies(c, phase, ev.replies);
  // An answer to a job asked ahead (the runner does not deliver one to an idle connection).
  if (ev.type === 'JOB.NEXT' && phase !== 'waiting') return absorb(c, phase, ev.job);
  const reply = ev.type === 'NET.REPLY' ? ev.replies[0] : undefined;
  switch (phase) {
    case 'connecting':
      if (ev.type === 'NET.CONNECTED') return { go: 'greeting', update: {}, effects: [] };
      return trouble('connect') ?? stay(phase);
    case 'greeting': return reply ? onGreeting(c, reply) : (trouble('banner') ?? stay(phase));
    case 'ehlo': return reply ? onEhlo(c, reply) : (trouble('ehlo') ?? stay(phase));
    case 'helo': return reply ? onHelo(c, reply) : (trouble('helo') ?? stay(phase));
    case 'starttls': return reply ? onStarttls(c, reply) : (trouble('starttls') ?? stay(phase));
    case 'tls':
      if (ev.type === 'TLS.READY') return onTlsReady(c, ev.tls);
      if (ev.type === 'TLS.FAILED') return onFailure(c, 'starttls', { kind: 'tls', reason: ev.reason });
      return trouble('starttls') ?? stay(phase);
    case 'waiting': return onWaiting(c, ev);
    case 'idle': return onIdle(ev) ?? stay(phase);
    case 'transaction':
      if (reply) return onTxReply(c, reply);
      if (ev.type === 'NET.GARBAGE') return onFailure(c, 'mail', { kind: 'garbage', reason: ev.reason });
      return onTxTrouble(c, ev.type === 'NET.CLOSED' || ev.type === 'NET.ERROR' ? 'closed' : 'timeout', 'transaction');
    case 'sending':
      if (ev.type === 'NET.SENT') return onSent(c);
      if (ev.type === 'NET.GARBAGE') return onFailure(c, 'data', { kind: 'garbage', reason: ev.reason });
      return onTxTrouble(c, ev.type === 'NET.CLOSED' || ev.type === 'NET.ERROR' ? 'closed' : 'timeout', 'sending');
    case 'dot':
      if (reply) return onDot(c, reply);
      if (ev.type === 'NET.UNSENT') return onTxTrouble(c, 'closed', 'sending');
      if (ev.type === 'NET.GARBAGE') return onFailure(c, 'dot', { kind: 'garbage', reason: ev.reason });
      return onTxTrouble(c, ev.type === 'NET.CLOSED' || ev.type === 'NET.ERROR' ? 'closed' : 'timeout', 'dot');
    case 'rset':
      if (reply) return onRset(c, reply);
      return { go: 'done', update: {}, effects: [{ type: 'close' }] };
    case 'quit':
      return { go: 'done', update: {}, effects: [{ type: 'close' }] };
    default:
      return stay(phase);
  }
}

const stay = (phase: Phase): Step => ({ go: phase, update: {}, effects: [] });

/**
 * Replies read together, stepped in turn exactly as if each had come alone, as one event. A
 * connection that ends, or a STARTTLS that begins, leaves the rest unread (nothing read before
 * the handshake counts, RFC 3207).
 */
function stepReplies(c: Ctx, phase: Phase, replies: readonly ServerReply[]): Step {
  let ctx = c;
  let at = phase;
  // Merged in place: each step's update may bring keys the merge lacks (docs/decisions/0014).
  const update: Partial<Ctx> = {};
  const effects: Effect[] = [];
  let left = false;
  for (const reply of replies) {
    const s = resolved(ctx, at, { type: 'NET.REPLY', replies: [reply] });
    Object.assign(update, s.update);
    ctx = { ...ctx, ...s.update };
    effects.push(...s.effects);
    at = s.go;
    if (at !== phase) left = true;
    if (at === 'done' || at === 'tls') break;
  }
  return { go: at, update, effects, ...(left && at === phase ? { around: true } : {}) };
}

/** The step for one event, with "ready" (a moment, not a state) resolved: the next transaction, a wantJob, or QUIT. */
function resolved(c: Ctx, phase: Phase, e: DeliveryEvent): Step {
  const s = stepFor(c, phase, e);
  if (s.go !== 'ready') return withPrefetch(c, s);
  const r = ready({ ...c, ...s.update });
  return withPrefetch(c, { go: r.go, update: { ...s.update, ...r.update }, effects: [...s.effects, ...r.effects] });
}

// A step is computed once per event (guards and the action share it).
const steps = new WeakMap<object, Step>();

function stepOf(c: Ctx, phase: Phase, e: object): Step {
  let s = steps.get(e);
  if (!s) {
    s = resolved(c, phase, e as DeliveryEvent);
    steps.set(e, s);
  }
  return s;
}

const PHASES: readonly Phase[] = ['connecting', 'greeting', 'ehlo', 'helo', 'starttls', 'tls', 'waiting', 'idle', 'transaction', 'sending', 'dot', 'rset', 'quit', 'done'];

// Where each phase usually goes next, first: guards are tried in order.
const LIKELY: Partial<Record<Phase, readonly Phase[]>> = {
  // A small message's 354 goes straight to dot (written whole); the verdict on it, read with the next
  // transaction's replies up to its 354, comes back to dot.
  transaction: ['dot', 'transaction', 'sending', 'rset'],
  sending: ['dot'],
  dot: ['dot', 'transaction', 'waiting', 'quit'],
  waiting: ['transaction', 'idle', 'quit', 'waiting'],
  idle: ['waiting', 'quit', 'done'],
  ehlo: ['transaction', 'waiting', 'starttls'],
};

/**
 * Transitions of a phase for an event: to wherever its step goes. Staying in the same phase is a
 * targetless transition (no exit and entry; its timer keeps running, so a pipelined group of
 * replies shares one command timeout), unless the step went around through other phases: then the
 * phase is entered again and its timer starts again.
 */
const toStep = (from: Phase) => {
  const order = [...(LIKELY[from] ?? []), ...PHASES.filter((p) => !(LIKELY[from] ?? []).includes(p))];
  const apply = { type: 'apply' as const, params: from };
  const goes = (to: Phase, around?: boolean) => ({ type: 'goes' as const, params: { from, to, ...(around === undefined ? {} : { around }) } });
  return order.flatMap((p) =>
    p !== from
      ? [{ guard: goes(p), target: p, reenter: false, actions: apply }]
      : [
          { guard: goes(p, true), target: p, reenter: true, actions: apply },
          { guard: goes(p, false), target: undefined, reenter: false, actions: apply },
        ],
  );
};

const TIMEOUT: Record<TimeoutPhase, 'connectTimeout' | 'commandTimeout' | 'dataTimeout' | 'finalTimeout' | 'idleTimeout'> = {
  connecting: 'connectTimeout', greeting: 'commandTimeout', ehlo: 'commandTimeout', helo: 'commandTimeout',
  starttls: 'commandTimeout', tls: 'commandTimeout', idle: 'idleTimeout', transaction: 'commandTimeout', sending: 'dataTimeout',
  dot: 'finalTimeout', rset: 'commandTimeout', quit: 'commandTimeout',
  // The queue's answer to a wantJob: it comes at once, or by message from the main thread; never waited for without end.
  waiting: 'commandTimeout',
};

const NET = ['NET.CONNECTED', 'NET.REPLY', 'NET.GARBAGE', 'NET.CLOSED', 'NET.ERROR', 'NET.SENT', 'NET.UNSENT', 'TLS.READY', 'TLS.FAILED', 'JOB.NEXT', 'JOB.WAKE', 'JOB.NONE'] as const;

function phase(name: Phase) {
  const on = Object.fromEntries(NET.map((t) => [t, toStep(name)]));
  const timeout = TIMEOUT[name as TimeoutPhase];
  return { on, ...(timeout ? { after: { [timeout]: toStep(name) } } : {}) };
}

export const deliveryMachine = setup({
  types: { context: {} as Ctx, events: {} as DeliveryEvent, input: {} as DeliveryInput, emitted: {} as Effect },
  delays: {
    connectTimeout: ({ context }) => context.settings.timeouts.connect,
    commandTimeout: ({ context }) => context.settings.timeouts.command,
    dataTimeout: ({ context }) => context.settings.timeouts.data,
    finalTimeout: ({ context }) => context.settings.timeouts.final,
    idleTimeout: ({ context }) => context.settings.timeouts.idle ?? 0,
  },
  guards: {
    goes: ({ context, event }, p: { from: Phase; to: Phase; around?: boolean }) => {
      const s = stepOf(context, p.from, event);
      return s.go === p.to && (p.around === undefined || (s.around === true) === p.around);
    },
  },
  actions: {
    apply: enqueueActions(({ context, event, enqueue }, from: Phase) => {
      const s = stepOf(context, from, event);
      enqueue.assign(s.update);
      for (const e of s.effects) enqueue.emit(e);
    }),
    start: enqueueActions(({ context, enqueue }) => {
      for (const e of connect(context).effects) enqueue.emit(e);
    }),
  },
}).createMachine({
  id: 'delivery',
  context: ({ input }) => initialContext(input.settings, input.dest, input.first),
  initial: 'start',
  states: {
    start: { always: { target: 'connecting', actions: 'start' } },
    connecting: phase('connecting'),
    greeting: phase('greeting'),
    ehlo: phase('ehlo'),
    helo: phase('helo'),
    starttls: phase('starttls'),
    tls: phase('tls'),
    waiting: phase('waiting'),
    idle: phase('idle'),
    transaction: phase('transaction'),
    sending: phase('sending'),
    dot: phase('dot'),
    rset: phase('rset'),
    quit: phase('quit'),
    done: { type: 'final' },
  },
});
