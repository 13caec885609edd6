// A session process (session_processes): SMTP sessions on listening sockets the daemon handed over. Admission,
// message data (the daemon's writer stores it, in its group commit) and metrics go to the daemon by message.
import { randomInt } from 'node:crypto';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { loadConfig } from '../../../config/load.js';
import type { Config } from '../../../config/load.js';
import { createIdGenerator } from '../../../store/ids.js';
import type { IdGenerator } from '../../../store/ids.js';
import { createMetrics } from '../../../net/admin/metrics.js';
import type { Metrics } from '../../../net/admin/metrics.js';
import { NO_INSPECTION } from '../../inspection.js';
import { checkConfig } from '../../supervisor/check.js';
import { wireAuth } from '../../supervisor/auth-deps.js';
import { connectionDeps } from '../../supervisor/session-deps.js';
import type { ConnectionDeps } from '../../smtp-session/deps.js';
import { ListenerService } from '../service.js';
import type { Admission } from '../service.js';
import type { FromSession, ToSession } from './messages.js';
import { RemoteSpool } from './remote-spool.js';

/** The IPC channel as this process sees it (process itself, when forked with one). */
export interface ParentChannel {
  send(message: FromSession[]): void;
  on(event: 'message', listener: (message: ToSession[], handle?: unknown) => void): void;
  on(event: 'disconnect', listener: () => void): void;
}

interface Running {
  config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly newId: IdGenerator;
  readonly listener: ListenerService;
  deps: ConnectionDeps;
}

export class SessionProcess {
  readonly #parent: ParentChannel;
  readonly #exit: (code: number) => void;
  readonly #createLogger: (level: string, format: Config['log_format']) => Logger;
  #run: Running | undefined;
  #configFile: string | undefined;
  #out: FromSession[] = [];
  #seq = 1;
  readonly #asked = new Map<number, (a: Admission) => void>();
  #stopping = false;
  readonly #spool = new RemoteSpool((m) => this.#post(m));

  /** `createLogger` makes the process's logger as the daemon makes its own (from the config it loads). */
  constructor(parent: ParentChannel, exit: (code: number) => void, createLogger: (level: string, format: Config['log_format']) => Logger) {
    this.#parent = parent;
    this.#exit = exit;
    this.#createLogger = createLogger;
    parent.on('message', (batch, handle) => {
      for (const m of batch) this.#handle(m, handle);
    });
    // The daemon is gone (killed): nothing can be stored any more. Sessions with a message in flight or to come
    // answer it with a temporary failure; the process finishes what is open and goes.
    parent.on('disconnect', () => {
      this.#spool.failAll('the daemon went away before the message was stored');
      void this.stop(this.#run?.config.shutdown_timeout ?? 10_000);
    });
  }

  #post(m: FromSession): void {
    if (this.#out.push(m) === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#out;
    this.#out = [];
    try {
      this.#parent.send(batch);
    } catch {
      // The channel closed: 'disconnect' stops this process.
    }
  }

  #handle(m: ToSession, handle: unknown): void {
    switch (m.op) {
      case 'taken':
      case 'stored':
      case 'inserted':
        this.#spool.handle(m);
        return;
      case 'init':
        this.#init(m.configFile, m.slot).then(
          () => this.#post({ op: 'ready' }),
          (e: unknown) => {
            this.#post({ op: 'failed', error: (e as Error).message });
            setTimeout(() => this.#exit(78), 100);
          },
        );
        return;
      case 'server':
        this.#run?.listener.adopt(m.key, handle as Server, m.tlsOnConnect);
        return;
      case 'drop':
        this.#run?.listener.drop(m.key);
        return;
      case 'admission': {
        const waiter = this.#asked.get(m.seq);
        this.#asked.delete(m.seq);
        waiter?.(m.admission);
        return;
      }
      case 'reload':
        void this.#reload();
        return;
      case 'metrics': {
        const metrics = this.#run?.metrics;
        if (!metrics) return this.#post({ op: 'metrics', seq: m.seq, json: [] });
        void metrics.registry.getMetricsAsJSON().then((json) => this.#post({ op: 'metrics', seq: m.seq, json }));
        return;
      }
      case 'stop':
        void this.stop(m.deadlineMs);
        return;
    }
  }

  async #init(configFile: string | undefined, slot: number): Promise<void> {
    this.#configFile = configFile;
    const config = await loadConfig(configFile);
    const logger = this.#createLogger(config.log_level, config.log_format);
    const metrics = createMetrics({ role: 'session' });
    const newId = createIdGenerator(Date.now, () => randomInt(0, 2 ** 32), slot);
    const gate = {
      open: (ip: string) =>
        new Promise<Admission>((resolve) => {
          if (this.#stopping) return resolve('stopping');
          const seq = this.#seq++;
          this.#asked.set(seq, resolve);
          this.#post({ op: 'open', seq, ip });
        }),
      closed: (ip: string) => this.#post({ op: 'closed', ip }),
    };
    const listener = new ListenerService({
      listen: [],
      maxTotal: 0,
      maxPerHost: 0,
      logger,
      metrics,
      // Read per connection, so a reload applies to new sessions; servers are handed over only once this process is ready.
      deps: () => (this.#run as Running).deps,
      onFailure: (e) => logger.error({ event: 'listener-error', err: e.message }, `session process: a listening socket failed: ${e.message}`),
      gate,
    });
    await listener.start();
    const run: Running = { config, logger, metrics, newId, listener, deps: undefined as unknown as ConnectionDeps };
    run.deps = this.#makeDeps(run, config);
    this.#run = run;
    logger.info({ event: 'session-process', slot }, `session process ${slot} ready (pid ${process.pid})`);
  }

  #makeDeps(run: Running, config: Config): ConnectionDeps {
    const { policy, tls, dns, auth } = { ...checkConfig(config) };
    const wired = wireAuth(config, auth, {
      dns,
      logger: run.logger,
      match: policy.match,
      inspection: () => NO_INSPECTION,
      newId: run.newId,
      spool: () => this.#spool,
      // The daemon queues what it stored for this process.
      submit: () => undefined,
    });
    return connectionDeps({
      config,
      policy,
      tls,
      spool: this.#spool,
      logger: run.logger,
      metrics: run.metrics,
      inspection: () => NO_INSPECTION,
      auth: wired,
      newId: run.newId,
      // The daemon queued it when it stored it.
      committed: () => undefined,
    });
  }

  /** The daemon reloaded: read the same file again; on any error keep the running settings (the daemon says why). */
  async #reload(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    try {
      const next = await loadConfig(this.#configFile);
      const deps = this.#makeDeps(run, next);
      run.config = next;
      run.deps = deps;
    } catch (e) {
      run.logger.warn({ event: 'reload' }, `session process kept its running configuration: ${(e as Error).message}`);
    }
  }

  /** A stray promise rejection (a bug) is logged; the sessions carry on, as in the daemon. */
  bug(reason: unknown): void {
    const text = reason instanceof Error ? reason.stack : String(reason);
    if (this.#run) this.#run.logger.error({ event: 'bug', err: text }, 'unhandled promise rejection (a bug): logged and ignored');
    else process.stderr.write(`petrel session process: ${text}\n`);
  }

  /** Stop accepting, let sessions finish up to the deadline, exit. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const resolve of this.#asked.values()) resolve('stopping');
    this.#asked.clear();
    const run = this.#run;
    if (run) {
      await run.listener.stop(deadlineMs);
      run.metrics.stop();
      await new Promise<void>((resolve) => run.logger.flush(() => resolve()));
    }
    this.#flush();
    this.#exit(0);
  }
}
