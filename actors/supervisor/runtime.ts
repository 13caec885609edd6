// The daemon's services behind the supervisor: config, policy, spool, listener, TLS context, ids.
import { randomInt } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { loadConfig } from '../../config/load.js';
import { Spool } from '../../store/spool.js';
import type { RecoveryReport } from '../../store/spool.js';
import { createIdGenerator } from '../../store/ids.js';
import { ListenerService } from '../listener/service.js';
import { SessionProcesses } from '../listener/process/parent.js';
import type { ConnectionDeps } from '../smtp-session/deps.js';
import { connectionDeps } from './session-deps.js';
import { checkConfig } from './check.js';
import type { CompiledConfig } from './check.js';
import type { CompiledPolicy } from './policy.js';
import type { CompiledDelivery } from './delivery-config.js';
import { selfAddresses } from './delivery-config.js';
import { QueueService } from '../queue/service.js';
import { ThreadRunners } from '../delivery/thread/proxy.js';
import { createLocalDelivery } from '../queue/local.js';
import { createRunnerFactory } from '../delivery/runner.js';
import { MessageSigner } from '../delivery/signer.js';
import { CryptoPool, PoolWindow, addCounts, shareOf } from './pool.js';
import { wireAuth } from './auth-deps.js';
import type { AuthWiring } from './auth-deps.js';
import type { NetworkResolver } from '../../net/dns/client.js';
import type { DnsPort } from '../../routing/routers.js';
import { createMetrics } from '../../net/admin/metrics.js';
import type { InspectionHub, RecordingQuery } from '../inspection.js';
import { NO_INSPECTION } from '../inspection.js';
import type { Metrics } from '../../net/admin/metrics.js';
import { AdminServer } from '../../net/admin/server.js';
import { parseHostPort } from '../../config/units.js';

const sameListen = (a: Config, b: Config): boolean =>
  JSON.stringify(a.listen) === JSON.stringify(b.listen) &&
  a.smtp_accept_max === b.smtp_accept_max && a.smtp_accept_max_per_host === b.smtp_accept_max_per_host;

export class Runtime {
  #config: Config;
  #policy: CompiledPolicy;
  #delivery: CompiledDelivery;
  #dns: NetworkResolver;
  #auth: AuthWiring;
  #queue: QueueService | undefined;
  /** Remote deliveries' runners when they run in the delivery thread (delivery_thread). */
  #threads: ThreadRunners | undefined;
  /** The crypto worker pool (DKIM/ARC signing): started with the queue, stopped after it. */
  #pool: CryptoPool | undefined;
  #admin: AdminServer | undefined;
  readonly metrics: Metrics = createMetrics();
  /** Set by the inspector when it is mounted; read whenever an actor is created. */
  inspection: InspectionHub = NO_INSPECTION;
  /** The delivery thread's entry file, when the daemon gives one (to record its deliveries for the inspector). */
  threadEntry: URL | undefined;
  /** A session process's entry file (session_processes): the daemon gives it. */
  sessionEntry: URL | undefined;
  #tls: SecureContext | undefined;
  #deps: ConnectionDeps;
  #spool: Spool | undefined;
  #listener: ListenerService | undefined;
  /** The other processes serving sessions (session_processes > 1). */
  #processes: SessionProcesses | undefined;
  readonly logger: Logger;
  /** Slot 0 of the id space when session processes share the spool (they take 1, 2...). */
  readonly #newId;
  /** Called when a started service fails on its own (the supervisor restarts it). */
  onServiceFailure: (service: string, error: Error) => void = () => undefined;

  constructor(config: Config, logger: Logger) {
    this.#config = config;
    const compiled = checkConfig(config);
    this.#policy = compiled.policy;
    this.#delivery = compiled.delivery;
    this.#dns = compiled.dns;
    this.#tls = compiled.tls;
    this.logger = logger;
    this.#newId = createIdGenerator(Date.now, () => randomInt(0, 2 ** 32), config.session_processes > 1 ? 0 : undefined);
    this.#auth = this.#wireAuth(config, compiled);
    this.#deps = this.#makeDeps();
  }

  #wireAuth(c: Config, { policy, dns, auth }: CompiledConfig): AuthWiring {
    return wireAuth(c, auth, {
      dns,
      logger: this.logger,
      match: policy.match,
      inspection: () => this.inspection,
      newId: this.#newId,
      spool: () => this.#spool,
      submit: (id) => this.#queue?.submit(id),
    });
  }

  get config(): Config {
    return this.#config;
  }

  get listener(): ListenerService | undefined {
    return this.#listener;
  }

  #makeDeps(): ConnectionDeps {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return connectionDeps({
      config: this.#config,
      policy: this.#policy,
      tls: this.#tls,
      spool: this.#spool,
      logger: this.logger,
      metrics: this.metrics,
      inspection: () => self.inspection,
      auth: this.#auth,
      newId: this.#newId,
      committed: (envelope, editMark) => this.#queue?.submit(envelope.id, envelope, editMark),
    });
  }

  async openSpool(): Promise<RecoveryReport> {
    if (this.#spool) return { discarded: [] };
    const spool = Spool.open(this.#config.spool_directory, { lock: true });
    const report = await spool.recover();
    this.#spool = spool;
    spool.onCommitBatch = (n) => this.metrics.commitBatch.observe(n);
    spool.commitTimeout = this.#config.spool_commit_timeout;
    this.metrics.setQueueSize(() => spool.count());
    this.#deps = this.#makeDeps();
    this.#startQueue(spool);
    this.logger.info(
      { event: 'spool-open', dir: spool.dir, queued: spool.count(), discarded: report.discarded.length },
      `spool ${spool.dir} open: ${spool.count()} messages queued` +
        (report.discarded.length ? `, ${report.discarded.length} half-received messages discarded (${report.discarded.join(' ')})` : ''),
    );
    return report;
  }

  /** Ask the delivery thread about the deliveries it recorded (see ThreadRunners.query). */
  queryDeliveryThread(q: RecordingQuery): Promise<unknown> {
    return this.#threads?.query(q) ?? Promise.resolve(undefined);
  }

  get queue(): QueueService | undefined {
    return this.#queue;
  }

  #startQueue(spool: Spool): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    // A thread is kept ready when signing is configured; otherwise threads start with the first task.
    const signing = (this.#delivery.signing?.dkim ?? []).length > 0 || this.#delivery.signing?.arc !== undefined;
    // With delivery_thread the thread signs with a pool of its own; this one serves only a fallback after the thread failed.
    const pool = (this.#pool ??= new CryptoPool({ minThreads: signing && !this.#config.delivery_thread ? 1 : 0 }));
    const signer = new MessageSigner({
      spool,
      logger: this.logger,
      settings: () => this.#delivery.signing,
      pool: () => this.#pool,
      count: (kind, result) => this.metrics.signing.inc({ kind, result }),
    });
    const inProcess = createRunnerFactory({
      spool,
      logger: this.logger,
      settings: () => this.#delivery.delivery,
      get inspection() {
        return self.inspection;
      },
      signer,
    });
    const threads = this.#config.delivery_thread
      ? new ThreadRunners(this.#config, spool.dir, this.logger, inProcess, (kind, result) => this.metrics.signing.inc({ kind, result }), this.threadEntry)
      : undefined;
    this.#threads = threads;
    // The inspector's live view is fed on the main thread: while somebody watches deliveries, new ones run there.
    if (threads) threads.onMainThread = () => this.inspection.watched?.('delivery') === true;
    this.metrics.setDeliveryThreadBusy(() => threads?.busyMs());
    // Both pools count: the daemon's, and the thread's as of the last message the thread signed.
    const threadWindow = new PoolWindow();
    this.metrics.setSignPool(() => {
      const inThread = threads?.signPool;
      const spans = [pool.spanSinceLastRead(), ...(inThread ? [threadWindow.advance(inThread)] : [])];
      return { ...addCounts(pool.stats(), inThread), utilization: shareOf(spans) };
    });
    if (threads) this.logger.info({ event: 'delivery-thread' }, 'remote deliveries run in the delivery thread (while the inspector watches deliveries live, new ones run on the main thread)');
    const queue = new QueueService({
      spool,
      logger: this.logger,
      // Read at each use: a reload changes routing, retry rules and limits for what comes next.
      settings: () => this.#delivery.queue(this.#dns as unknown as DnsPort, () => selfAddresses(this.#listener?.addresses ?? [])),
      runners: threads ?? inProcess,
      local: createLocalDelivery({ spool, logger: this.logger, root: () => this.#config.maildir_directory, hostname: () => this.#config.primary_hostname }),
      newId: this.#newId,
      metrics: this.metrics,
      inspection: this.inspection,
    });
    this.#queue = queue;
    this.metrics.setDeliveries(() => (this.#queue === queue ? { ...queue.figures(), ...(threads ? { thread: threads.figures() } : {}) } : undefined));
    queue.start();
  }

  /** Let deliveries in flight record their outcome (up to the deadline), then stop the queue. */
  async stopQueue(deadlineMs: number): Promise<void> {
    const q = this.#queue;
    this.#queue = undefined;
    if (q) await q.stop(deadlineMs);
    const threads = this.#threads;
    this.#threads = undefined;
    await threads?.stop();
    // No delivery is signing any more: the worker threads go.
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.stop();
  }

  async startListener(): Promise<void> {
    const c = this.#config;
    const listener = new ListenerService({
      listen: c.listen,
      maxTotal: c.smtp_accept_max,
      maxPerHost: c.smtp_accept_max_per_host,
      logger: this.logger,
      metrics: this.metrics,
      inspection: this.inspection,
      deps: () => this.#deps,
      onFailure: (e) => this.onServiceFailure('listener', e),
    });
    await listener.start();
    this.#listener = listener;
    if (c.session_processes > 1 && !this.#processes) await this.#startProcesses(c);
    const where = listener.addresses.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}${a.tlsOnConnect ? ' (TLS)' : ''}`);
    if (c.admin_listen !== false && !this.#admin) {
      const hp = parseHostPort(c.admin_listen) as { host: string; port: number };
      const admin = new AdminServer({
        ...hp,
        ...(c.admin_token ? { token: c.admin_token } : {}),
        metrics: this.metrics,
        health: () => ({ ok: this.#spool !== undefined && this.#listener !== undefined, detail: { sessions: this.#listener?.active ?? 0, queued: this.#spool?.count() ?? 0, inFlight: this.#queue?.inFlight ?? 0 } }),
      });
      try {
        await admin.start();
        this.#admin = admin;
        this.inspection.mount?.(admin);
      } catch (e) {
        // Mail service does not depend on the admin listener: say so loudly and go on without it.
        this.logger.error({ event: 'admin-error', err: (e as Error).message }, (e as Error).message);
      }
    }
    const admin = this.#admin?.address;
    this.logger.info(
      { event: 'ready', listen: listener.addresses, ...(admin ? { admin } : {}), pid: process.pid, config: c.source },
      `Petrel daemon ready: listening on ${where.join(', ')}${admin ? `; admin on http://${admin.host}:${admin.port}/` : ''}`,
    );
  }

  async #startProcesses(c: Config): Promise<void> {
    const spool = this.#spool;
    if (!spool) throw new Error('spool is not open');
    if (!this.sessionEntry) throw new Error('session_processes: this runtime was given no session process entry (only `petrel daemon` runs them)');
    const processes = new SessionProcesses({
      count: c.session_processes - 1,
      entry: this.sessionEntry,
      configFile: c.source.startsWith('(') ? undefined : c.source,
      logger: this.logger,
      listener: () => this.#listener,
      beginMessage: (id) => spool.beginMessage(id),
      committed: (envelope, editMark) => this.#queue?.submit(envelope.id, envelope, editMark),
      insert: async (envelope, data) => {
        await spool.apply([{ kind: 'insert', envelope, data }]);
        this.#queue?.submit(envelope.id);
      },
    });
    this.#processes = processes;
    try {
      await processes.start();
    } catch (e) {
      this.#processes = undefined;
      throw e;
    }
    this.metrics.setSessionProcesses(() => processes.metrics());
    this.logger.info({ event: 'session-processes', pids: processes.pids }, `${c.session_processes - 1} session processes share the listening sockets (pids ${processes.pids.join(', ')})`);
  }

  get sessionProcesses(): SessionProcesses | undefined {
    return this.#processes;
  }

  /** Bind again whatever address failed; sessions in progress are not touched. */
  async restartListener(): Promise<void> {
    const l = this.#listener;
    if (!l) return this.startListener();
    const c = this.#config;
    await l.reconfigure(c.listen, c.smtp_accept_max, c.smtp_accept_max_per_host);
    this.#processes?.syncServers();
    this.logger.info({ event: 'listener-restarted', listen: l.addresses }, 'listener restarted');
  }

  get admin(): AdminServer | undefined {
    return this.#admin;
  }

  async stopAdmin(): Promise<void> {
    const a = this.#admin;
    this.#admin = undefined;
    await a?.stop();
    this.metrics.stop();
  }

  async stopListener(deadlineMs: number): Promise<void> {
    const l = this.#listener;
    const p = this.#processes;
    this.#processes = undefined;
    // The listener stays reachable while the processes stop: it refuses what they still ask about.
    await Promise.all([l?.stop(deadlineMs), p?.stop(deadlineMs)]);
    this.#listener = undefined;
  }

  /** Re-read the config file; on any error keep running on the old one. */
  async reload(): Promise<void> {
    const file = this.#config.source.startsWith('(') ? undefined : this.#config.source;
    const next = await loadConfig(file);
    const compiled = checkConfig(next);
    const { policy, delivery, tls, dns } = compiled;
    const auth = this.#wireAuth(next, compiled);
    if (next.spool_directory !== this.#config.spool_directory) {
      this.logger.warn({ event: 'reload' }, 'spool_directory changes take effect at the next restart');
    }
    if (this.#listener && !sameListen(this.#config, next)) {
      await this.#listener.reconfigure(next.listen, next.smtp_accept_max, next.smtp_accept_max_per_host);
    }
    this.#config = { ...next, spool_directory: this.#config.spool_directory };
    if (this.#spool) this.#spool.commitTimeout = next.spool_commit_timeout;
    this.#policy = policy;
    this.#delivery = delivery;
    this.#dns = dns;
    this.#auth = auth;
    this.#tls = tls;
    this.#deps = this.#makeDeps();
    // Switching the thread on or off takes a restart; its settings follow the reload.
    if (next.delivery_thread !== Boolean(this.#threads)) this.logger.warn({ event: 'reload' }, 'delivery_thread changes take effect at the next restart');
    if (next.session_processes !== (this.#processes?.count ?? 0) + 1) {
      this.logger.warn({ event: 'reload' }, 'session_processes changes take effect at the next restart');
    }
    this.#processes?.reload();
    this.#threads?.reload(this.#config);
    this.logger.info({ event: 'reload', config: next.source, listen: this.#listener?.addresses }, `configuration reloaded from ${next.source}`);
  }

  async closeSpool(): Promise<void> {
    const s = this.#spool;
    this.#spool = undefined;
    if (s) await s.close();
  }
}
