// Recording a delivery pass's results in the spool: outcomes applied to the envelope, the reports they
// owe, written only if petrel queue did not edit the spool first (docs/decisions/0013, the edit mark).
import type { Logger } from 'pino';
import type { Envelope } from '../../store/envelope.js';
import type { Spool, SpoolChange } from '../../store/spool.js';
import type { RecipientResult } from '../delivery/types.js';
import { applyResults } from './outcomes.js';
import type { ReportRequest } from './outcomes.js';
import type { QueueSettings } from './ports.js';
import { reportMessage } from './reports.js';

/** A message the queue is working on. */
export interface Work {
  env: Envelope;
  /** The spool's edit mark when `env` was last read (Spool.editMark): while it stands, `env` is what the spool holds. */
  mark: number;
  /**
   * Recipients (by index) handed out in this pass and not yet heard of: the pass is over when
   * none is left, however the results arrive (a job split by a 452 reports in parts).
   */
  open: Set<number>;
  /** Updates of one message are applied one after the other. */
  chain: Promise<void>;
  routes: Map<number, { router: string; transport: string }>;
}

/** What one recording of results wrote. */
export interface Recorded {
  readonly env: Envelope;
  readonly applied: ReturnType<typeof applyResults>;
  readonly changes: readonly SpoolChange[];
}

/** Tries at recording one job's results before an edit that keeps coming first is written over. */
export const RECORD_ATTEMPTS = 4;

/** What recording needs of the queue. */
export interface RecordDeps {
  readonly spool: Spool;
  readonly settings: QueueSettings;
  readonly newId: () => string;
  readonly log: Logger;
}

/**
 * One try at recording results: undefined when `petrel queue` edited the spool after the mark was
 * read, so that the write, made conditional on the mark inside LMDB's transaction, did not happen.
 */
export async function recordOnce(d: RecordDeps, work: Work, results: readonly RecipientResult[], last: boolean, conditional: boolean): Promise<Recorded | undefined> {
  const s = d.settings;
  const now = Date.now();
  // petrel queue freeze/delete may have acted meanwhile: a deleted message stays deleted
  // (Spool.apply skips it) and a frozen one stays frozen. Only then is the envelope read again
  // (decoding it cost the main loop about 20 us per message); otherwise ours is the spool's.
  const mark = d.spool.editMark();
  let current: Envelope | undefined = work.env;
  if (mark !== work.mark) {
    current = d.spool.envelope(work.env.id);
    work.mark = mark;
  }
  const base = current?.frozen ? { ...work.env, frozen: true } : work.env;
  const applied = applyResults(base, results, {
    now,
    rulesFor: (dest) => s.rulesFor(dest),
    delayWarnings: s.delayWarnings,
    describe: (i) => work.routes.get(i) ?? {},
  });
  // While jobs of this pass are still out, the message stays due now: a crash retries it.
  let env = applied.envelope;
  if (!last && !applied.done) env = { ...env, due: Math.min(env.due ?? now, now) };
  if (env.frozen) env = { ...env, due: undefined };
  const changes: SpoolChange[] = [applied.done ? { kind: 'remove', id: env.id, due: current?.due, ...(current ? { chunks: current.chunks } : {}) } : { kind: 'update', envelope: env }];
  // Reports see the recipients as just recorded (Last-Attempt-Date, the reply).
  for (const req of applied.reports) changes.push(...reports(d, applied.envelope, req, now));
  try {
    if (!(await d.spool.apply(changes, conditional ? { ifMark: mark } : {}))) return undefined;
  } catch (e) {
    d.log.error({ event: 'spool-error', id: env.id, err: (e as Error).message }, `${env.id} could not record delivery results: ${(e as Error).message}`);
  }
  return { env, applied, changes };
}

/** The report(s) owed: to the sender, or to postmaster when the failing message is a report. */
function reports(d: RecordDeps, env: Envelope, req: ReportRequest, now: number): SpoolChange[] {
  const s = d.settings;
  const rs = { hostname: s.hostname, from: s.dsnFrom, returnLimit: s.returnLimit, now, newId: d.newId };
  try {
    if (env.sender !== '') return [reportMessage(d.spool, env, req, env.sender, rs)];
    // A report that cannot be delivered goes to postmaster, once: never about a report to postmaster.
    const postmaster = `postmaster@${s.hostname}`;
    if (req.kind !== 'failure' || !env.reportOf || env.recipients.some((r) => r.address.toLowerCase() === postmaster.toLowerCase())) return [];
    return [reportMessage(d.spool, { ...env, sender: postmaster }, req, postmaster, rs)];
  } catch (e) {
    d.log.error({ event: 'report-error', id: env.id, err: (e as Error).message }, `${env.id} report could not be built: ${(e as Error).message}`);
    return [];
  }
}
