// Pipelining across messages on one connection (RFC 2920 section 3.1: message content may open a
// group of commands): while a message is under way the connection asks the queue for the next one,
// and writes that one's MAIL, RCPT and DATA right after the final dot. One read then brings the
// verdict on the message and the replies that start the next; the server sees one write, not two.
import type { DeliveryJob } from './types.js';
import type { Ctx, Effect, Phase, Step } from './steps.js';
import { begin } from './steps.js';

/** Phases in which a message is under way on the connection. */
const UNDER_WAY: ReadonlySet<Phase> = new Set(['transaction', 'sending', 'dot']);

/**
 * A step, with a wantJob added when the connection is about to run dry: a message is under way, the
 * server pipelines, nothing waits to begin, no question is out already, and the connection may
 * carry another message (connection_max_messages).
 */
export function withPrefetch(c: Ctx, s: Step): Step {
  if (!UNDER_WAY.has(s.go)) return s;
  // The context after the step, field by field (this runs at every step: no copy of the whole context).
  const u = s.update;
  const at = <K extends keyof Ctx>(k: K): Ctx[K] => (k in u ? u[k] : c[k]) as Ctx[K];
  if (at('asked') || at('dry') || !at('tx') || !at('conn').caps?.pipelining) return s;
  const begun = at('ahead') ? 2 : 1;
  const waiting = (at('later')?.length ?? 0) + Math.max(0, at('jobs').length - begun);
  if (waiting > 0 || at('sent') + begun >= c.settings.maxMessages) return s;
  // Object.assign rather than a spread that adds `asked` (docs/decisions/0014); an `asked: false` in the update loses.
  return { go: s.go, update: Object.assign({}, s.update, { asked: true }), effects: [...s.effects, { type: 'wantJob', ahead: true }] };
}

/**
 * The queue's answer to a wantJob asked ahead, in whatever phase it arrives: the job waits its turn
 * (and once the final dot is written, its commands go at once). No job: the queue is dry for now.
 */
export function absorb(c: Ctx, phase: Phase, job: DeliveryJob | undefined): Step {
  if (!job) return { go: phase, update: { asked: false, dry: true }, effects: [] };
  const later = [...(c.later ?? []), job];
  if (phase !== 'dot') return { go: phase, update: { asked: false, later }, effects: [] };
  const a = sendAhead({ ...c, asked: false, later });
  // Literal keys before the spread (docs/decisions/0014): a.update's `later` still wins.
  return { go: phase, update: { asked: false, later, ...a.update }, effects: a.effects };
}

/**
 * The next transaction, when it can follow the message in hand without waiting for its verdict: the
 * server pipelines, the message's data is going (or gone) out, no recipient of it waits for a
 * transaction of its own (452), and the next job passes the checks made before MAIL (size, SMTPUTF8).
 */
export function planAhead(c: Ctx): { readonly text: string; readonly update: Partial<Ctx> } | undefined {
  const next = c.later?.[0];
  const tx = c.tx;
  if (!next || c.ahead || c.jobs.length !== 1 || !tx?.dataAccepted || tx.stop || (tx.rest?.length ?? 0) > 0) return undefined;
  if (!c.conn.caps?.pipelining || c.sent + 2 > c.settings.maxMessages) return undefined;
  const rest = c.later?.slice(1) ?? [];
  const s = begin({ ...c, jobs: [next], later: rest, tx: undefined }, next);
  const e = s.effects[0];
  if (s.go !== 'transaction' || s.effects.length !== 1 || e?.type !== 'send' || !s.update.tx || s.update.jobs?.[0] !== next) return undefined;
  return { text: e.text, update: { ahead: s.update.tx, jobs: [...c.jobs, next], later: rest } };
}

/** After the final dot is written: send the next transaction now if it can go ahead. */
export function sendAhead(c: Ctx): { readonly update: Partial<Ctx>; readonly effects: readonly Effect[] } {
  const a = planAhead(c);
  if (!a) return { update: {}, effects: [] };
  return { update: a.update, effects: [{ type: 'send', text: a.text }] };
}

