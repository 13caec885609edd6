// The delivery thread's side: delivery actors and their sockets, driven by the queue on the main thread.
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Spool } from '../../../store/spool.js';
import type { Config } from '../../../config/load.js';
import { compilePolicy } from '../../supervisor/policy.js';
import { compileDelivery } from '../../supervisor/delivery-config.js';
import { createRunnerFactory } from '../runner.js';
import { MessageSigner } from '../signer.js';
import { CryptoPool } from '../../supervisor/pool.js';
import type { CompiledDelivery } from '../../supervisor/delivery-config.js';
import type { DeliverySettings } from '../steps.js';
import type { DeliveryJob } from '../types.js';
import type { IdleConnection } from '../../queue/ports.js';
import type { FromThread, ToThread } from './messages.js';
import type { QueryableHub } from '../../inspection.js';

/** Whether the daemon writes debug lines at this config's level. */
const debugOn = (c: Config): boolean => c.log_level === 'debug' || c.log_level === 'trace';

/** One connection's runner and what the queue may still tell it. */
interface Held {
  stop(): void;
  waiter?: IdleConnection;
  /** The runner waits for this answer. */
  want?: (job: DeliveryJob | undefined) => void;
  /** Questions to the queue not answered yet (they are answered in order). */
  asking: number;
  /** The queue's last answer was "none": not asked again until the runner asks. */
  dry: boolean;
  /**
   * Jobs the queue handed over before the runner asked: the answers to its next questions, given at once.
   * The main thread's answer takes longer than a local server's replies (on a busy machine, several
   * milliseconds for the main thread to get a core), which would leave the connection unable to pipeline
   * the next message (ahead.ts). Still here when the connection ends: the main thread gives them back, as
   * it does every job not reported on.
   */
  readonly stash: DeliveryJob[];
}

/** How many jobs a connection in this thread keeps at hand beyond those its actor holds. */
const STASH = 2;

/**
 * Serve the queue on `port` until the thread is terminated. `recorder`, given by the thread's entry, records
 * the deliveries here for the daemon's inspector (it reads the config each time it needs the settings).
 */
export function serve(port: MessagePort, recorder?: (config: () => Config) => QueryableHub): void {
  // What one turn produces goes as one batch: a postMessage costs more than the clone of a small message.
  let out: FromThread[] = [];
  const flush = (): void => {
    const batch = out;
    out = [];
    port.postMessage(batch);
  };
  const post = (m: FromThread): void => {
    if (out.push(m) === 1) setImmediate(flush);
  };
  // The runner and the signer log here; the lines go to the daemon's logger on the main thread, which filters by level.
  const logAt = (level: 'debug' | 'info' | 'warn' | 'error') => (fields: Record<string, unknown>, msg: string) => post({ op: 'log', level, fields, msg });
  // Debug lines cross only when the daemon would write them.
  let debug = false;
  const logDebug = logAt('debug');
  const logger = { debug: (f: Record<string, unknown>, m: string) => debug && logDebug(f, m), info: logAt('info'), warn: logAt('warn'), error: logAt('error') } as unknown as Logger;
  let compiled: CompiledDelivery | undefined;
  let config: Config | undefined;
  let hub: QueryableHub | undefined;
  let factory: ReturnType<typeof createRunnerFactory> | undefined;
  /** The thread's own signing pool (DKIM/ARC), started with the first message to sign. */
  let pool: CryptoPool | undefined;
  const held = new Map<number, Held>();
  let spoolRef: Spool | undefined;

  // Only what a runner uses is compiled here; the main thread has checked the whole config already.
  const compile = (c: Config): CompiledDelivery => compileDelivery(c, compilePolicy(c));
  const signing = (): boolean => (compiled?.signing?.dkim ?? []).length > 0 || compiled?.signing?.arc !== undefined;
  /** Questions enough to answer the runner's (if it waits) and to keep STASH jobs at hand. */
  const topUp = (rid: number, h: Held): void => {
    if (h.dry) return;
    const wanted = (h.want ? 1 : 0) + STASH;
    for (; h.asking + h.stash.length < wanted; h.asking++) post({ op: 'want', rid });
  };
  const start = (rid: number, m: Extract<ToThread, { op: 'start' }>): void => {
    const h: Held = { stop: () => undefined, asking: 0, dry: false, stash: [] };
    held.set(rid, h);
    if (!factory) throw new Error('the delivery thread was not initialised');
    const runner = factory.start(m.dest, m.job, {
      // The envelope stays here: the queue keys results by message id.
      results: (job, results) => post({ op: 'results', rid, messageId: job.messageId, results }),
      nextJob: () => undefined,
      nextJobLater: () =>
        new Promise((resolve) => {
          const stashed = h.stash.shift();
          if (!stashed) h.want = resolve;
          else resolve(stashed);
          // Either way the queue is asked: for this answer, or for the next ones.
          h.dry = false;
          topUp(rid, h);
        }),
      idle: (w) => {
        h.waiter = w;
        // Jobs at hand already: no idling with them (the wake comes from this thread, not the queue).
        if (h.stash.length > 0) queueMicrotask(() => h.waiter?.wake());
        post({ op: 'idle', rid });
        return () => {
          h.waiter = undefined;
          post({ op: 'unidle', rid });
        };
      },
      ended: () => {
        held.delete(rid);
        post({ op: 'ended', rid });
      },
    });
    h.stop = () => runner.stop();
  };

  const receive = (m: ToThread): void => {
    switch (m.op) {
      case 'init': {
        config = m.config;
        compiled = compile(m.config);
        hub = m.config.inspector.enabled ? recorder?.(() => config as Config) : undefined;
        debug = debugOn(m.config);
        const spool = Spool.open(m.spoolDir);
        spoolRef = spool;
        // Signing happens here, beside the deliveries, with a pool of this thread's own: the main thread's pool
        // would cost a crossing both ways per message.
        const signer = new MessageSigner({
          spool,
          logger,
          settings: () => compiled?.signing,
          pool: () => (pool ??= signing() ? new CryptoPool({ minThreads: 1 }) : undefined),
          count: (kind, result) => post({ op: 'signed', kind, result, ...(pool ? { pool: pool.stats() } : {}) }),
        });
        factory = createRunnerFactory({ spool, logger, settings: () => (compiled as CompiledDelivery).delivery as DeliverySettings, signer, ...(hub ? { inspection: hub } : {}) });
        return;
      }
      case 'reload':
        // Connections in progress keep the settings they started with; new ones take these.
        config = m.config;
        compiled = compile(m.config);
        debug = debugOn(m.config);
        return;
      case 'start':
        start(m.rid, m);
        return;
      case 'next': {
        const h = held.get(m.rid);
        if (!h) return;
        h.asking--;
        const want = h.want;
        h.want = undefined;
        if (want) want(m.job);
        else if (m.job) {
          h.stash.push(m.job);
          // An idle connection (the runner was told "none" by an earlier answer) has work again.
          h.waiter?.wake();
        }
        // Keep jobs at hand for the next questions (a queue with none left is not asked again).
        if (!m.job) h.dry = true;
        topUp(m.rid, h);
        return;
      }
      case 'wake':
        held.get(m.rid)?.waiter?.wake();
        return;
      case 'release':
        held.get(m.rid)?.waiter?.release();
        return;
      case 'stop':
        held.get(m.rid)?.stop();
        return;
      case 'query': {
        let answer: unknown;
        try {
          answer = hub?.query(m.q);
        } catch {
          answer = undefined;
        }
        post({ op: 'answer', seq: m.seq, answer });
        return;
      }
    }
  };
  port.on('message', (batch: readonly ToThread[]) => {
    // Jobs come for messages the main thread has just committed: this thread's read snapshot may be
    // older than that (Spool.refresh), and the message's data would then look absent.
    if (batch.some((m) => m.op === 'start' || (m.op === 'next' && m.job))) spoolRef?.refresh();
    for (const m of batch) receive(m);
  });
}
