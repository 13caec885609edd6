// The daemon's side of its session processes (session_processes): forks them, hands them the listening
// sockets, answers their admission questions from the one listener count, stores and queues their messages,
// gathers their metrics, and restarts one that dies.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Envelope } from '../../../store/envelope.js';
import type { MessageWriter } from '../../../store/writer.js';
import type { MetricsJson } from '../../../net/admin/metrics.js';
import type { ListenerService } from '../service.js';
import type { FromSession, ToSession } from './messages.js';
import { Asks } from '../../asks.js';

export class SessionProcessError extends Error {
  readonly code = 'SESSION_PROCESS';
  constructor(message: string) {
    super(message);
    this.name = 'SessionProcessError';
  }
}

export interface SessionProcessesOptions {
  /** How many processes to run besides the daemon. */
  readonly count: number;
  /** The entry file of a session process (the daemon's, in cli/). */
  readonly entry: URL;
  /** The daemon's config file (undefined: the embedded default); each process loads it itself. */
  readonly configFile: string | undefined;
  readonly logger: Logger;
  /** The daemon's listener: its servers are shared, its actor counts every connection. */
  listener(): ListenerService | undefined;
  /** A writer into the daemon's spool, for a message a process receives. */
  beginMessage(id: string): MessageWriter;
  /** A process's message is durable: hand it to the queue, with the edit mark read at its commit. */
  committed(envelope: Envelope, editMark: number): void;
  /** Store and queue a message a process generated (a DMARC failure report). */
  insert(envelope: Envelope, data: Buffer): Promise<void>;
  /** How long a process must wait for its start (ms); default 30 s. */
  readonly startTimeoutMs?: number;
}

interface Child {
  readonly slot: number;
  readonly proc: ChildProcess;
  ready: boolean;
  readonly startedAt: number;
  /** Connections this process had admitted and not yet closed, per client IP (released if it dies). */
  readonly open: Map<string, number>;
  /** Server keys handed over. */
  readonly servers: Set<string>;
  /** The process's messages being received, by id. */
  readonly writers: Map<string, MessageWriter>;
  out: ToSession[];
}

/** Bytes that crossed the channel (a Uint8Array there) as a Buffer, without a copy. */
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Longest wait before a process that keeps dying is started again. */
const MAX_RESTART_DELAY = 30_000;

export class SessionProcesses {
  readonly #o: SessionProcessesOptions;
  readonly #children = new Map<number, Child>();
  readonly #metricsAsked = new Asks<MetricsJson>();
  #stopping = false;
  readonly #restartDelay = new Map<number, number>();

  constructor(o: SessionProcessesOptions) {
    this.#o = o;
  }

  /** How many processes run besides the daemon (when none is being restarted). */
  get count(): number {
    return this.#o.count;
  }

  get pids(): readonly number[] {
    return [...this.#children.values()].flatMap((c) => (c.proc.pid === undefined ? [] : [c.proc.pid]));
  }

  /** Start every process; rejects (stopping those started) if one cannot start. */
  async start(): Promise<void> {
    try {
      await Promise.all(Array.from({ length: this.#o.count }, (_, i) => this.#spawn(i + 1)));
    } catch (e) {
      await this.stop(0);
      throw e;
    }
  }

  #spawn(slot: number): Promise<void> {
    const proc = fork(this.#o.entry, [], { serialization: 'advanced', stdio: 'inherit' });
    const child: Child = { slot, proc, ready: false, startedAt: Date.now(), open: new Map(), servers: new Set(), writers: new Map(), out: [] };
    this.#children.set(slot, child);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SessionProcessError(`session process ${slot} did not start within ${(this.#o.startTimeoutMs ?? 30_000) / 1000}s`));
        proc.kill('SIGKILL');
      }, this.#o.startTimeoutMs ?? 30_000);
      proc.on('message', (batch: FromSession[]) => {
        for (const m of batch) {
          if (m.op === 'ready') {
            clearTimeout(timer);
            child.ready = true;
            this.#handOver(child);
            resolve();
          } else if (m.op === 'failed') {
            clearTimeout(timer);
            reject(new SessionProcessError(`session process ${slot} could not start: ${m.error}`));
          } else this.#handle(child, m);
        }
      });
      proc.on('error', (e) => this.#o.logger.error({ event: 'session-process', slot, err: e.message }, `session process ${slot}: ${e.message}`));
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.#exited(child, code, signal);
        reject(new SessionProcessError(`session process ${slot} exited before it was ready (${signal ?? `code ${code}`})`));
      });
      this.#post(child, { op: 'init', configFile: this.#o.configFile, slot });
    });
  }

  #post(child: Child, m: ToSession): void {
    if (child.out.push(m) === 1) queueMicrotask(() => this.#flush(child));
  }

  #flush(child: Child): void {
    const batch = child.out;
    child.out = [];
    if (child.proc.connected) child.proc.send(batch, (e: Error | null) => e && undefined);
  }

  /** Give the process every server the daemon listens on that it lacks, and take back those gone. */
  #handOver(child: Child): void {
    const servers = this.#o.listener()?.servers ?? [];
    const keys = new Set(servers.map((s) => s.key));
    for (const key of child.servers) {
      if (keys.has(key)) continue;
      child.servers.delete(key);
      this.#post(child, { op: 'drop', key });
    }
    for (const { key, server } of servers) {
      if (child.servers.has(key)) continue;
      child.servers.add(key);
      // A handle travels alone, after what was waiting to be sent.
      this.#flush(child);
      if (child.proc.connected) child.proc.send([{ op: 'server', key, tlsOnConnect: key.endsWith('|true') }], server, (e: Error | null) => e && undefined);
    }
  }

  #handle(child: Child, m: FromSession): void {
    switch (m.op) {
      case 'open': {
        const admission = this.#o.listener()?.admit(m.ip) ?? 'stopping';
        if (admission === 'admit') child.open.set(m.ip, (child.open.get(m.ip) ?? 0) + 1);
        this.#post(child, { op: 'admission', seq: m.seq, admission });
        return;
      }
      case 'closed': {
        const n = child.open.get(m.ip) ?? 0;
        if (n === 0) return;
        if (n > 1) child.open.set(m.ip, n - 1);
        else child.open.delete(m.ip);
        this.#o.listener()?.release(m.ip);
        return;
      }
      case 'data': {
        const w = this.#writer(child, m.id);
        const bytes = m.data.length;
        if (w.write(asBuffer(m.data))) this.#post(child, { op: 'taken', id: m.id, bytes });
        else void w.drain().then(() => this.#post(child, { op: 'taken', id: m.id, bytes }));
        return;
      }
      case 'commit': {
        const w = this.#writer(child, m.id);
        if (m.data.length > 0) w.write(asBuffer(m.data));
        w.commit(m.draft).then(
          (envelope) => {
            child.writers.delete(m.id);
            this.#o.committed(envelope, w.editMark);
            this.#post(child, { op: 'stored', id: m.id, envelope });
          },
          (e: unknown) => {
            child.writers.delete(m.id);
            this.#post(child, { op: 'stored', id: m.id, error: (e as Error).message });
          },
        );
        return;
      }
      case 'abort': {
        const w = child.writers.get(m.id);
        child.writers.delete(m.id);
        void w?.abort().catch(() => undefined);
        return;
      }
      case 'insert':
        this.#o.insert(m.envelope, asBuffer(m.data)).then(
          () => this.#post(child, { op: 'inserted', seq: m.seq }),
          (e: unknown) => this.#post(child, { op: 'inserted', seq: m.seq, error: (e as Error).message }),
        );
        return;
      case 'metrics':
        this.#metricsAsked.answer(m.seq, m.json);
        return;
      default:
        return;
    }
  }

  #writer(child: Child, id: string): MessageWriter {
    let w = child.writers.get(id);
    if (!w) {
      w = this.#o.beginMessage(id);
      child.writers.set(id, w);
    }
    return w;
  }

  #exited(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#children.get(child.slot) !== child) return;
    this.#children.delete(child.slot);
    const listener = this.#o.listener();
    for (const [ip, n] of child.open) for (let i = 0; i < n; i++) listener?.release(ip);
    child.open.clear();
    // Messages it was receiving were never acknowledged: their data goes (one already committing stays queued).
    const discarded = [...child.writers.keys()];
    for (const w of child.writers.values()) void w.abort().catch(() => undefined);
    child.writers.clear();
    if (discarded.length > 0) {
      this.#o.logger.warn({ event: 'discarded', ids: discarded }, `discarded ${discarded.length} half-received messages of session process ${child.slot}: ${discarded.join(' ')}`);
    }
    if (this.#stopping || !child.ready) return;
    const pid = child.proc.pid ?? 0;
    // A process that lived a while starts again at once; one that keeps dying waits longer each time.
    const lived = Date.now() - child.startedAt;
    const delay = lived > 60_000 ? 500 : Math.min((this.#restartDelay.get(child.slot) ?? 250) * 2, MAX_RESTART_DELAY);
    this.#restartDelay.set(child.slot, delay);
    this.#o.logger.error(
      { event: 'session-process-exit', slot: child.slot, pid, code, signal },
      `session process ${child.slot} (pid ${pid}) exited (${signal ?? `code ${code}`}); starting it again in ${delay / 1000}s`,
    );
    setTimeout(() => {
      if (this.#stopping || this.#children.has(child.slot)) return;
      this.#spawn(child.slot).catch((e: unknown) => {
        this.#o.logger.error({ event: 'session-process', slot: child.slot, err: (e as Error).message }, (e as Error).message);
      });
    }, delay).unref();
  }

  /** The listener's servers changed (reload, rebind): every process follows. */
  syncServers(): void {
    for (const c of this.#children.values()) if (c.ready) this.#handOver(c);
  }

  /** The daemon reloaded its config: each process reads the file again. */
  reload(): void {
    for (const c of this.#children.values()) if (c.ready) this.#post(c, { op: 'reload' });
    this.syncServers();
  }

  /** Each ready process's metrics; one that does not answer within a second is left out of this scrape. */
  async metrics(): Promise<MetricsJson[]> {
    const ready = [...this.#children.values()].filter((c) => c.ready);
    return Promise.all(ready.map((c) => this.#metricsAsked.ask((seq) => this.#post(c, { op: 'metrics', seq }), 1000, [])));
  }

  /** Tell every process to stop (sessions finish up to the deadline); kill what is left a little after it. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    const exits = [...this.#children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
          c.proc.once('exit', () => resolve());
          const kill = setTimeout(() => c.proc.kill('SIGKILL'), deadlineMs + 5000);
          c.proc.once('exit', () => clearTimeout(kill));
          this.#post(c, { op: 'stop', deadlineMs });
        }),
    );
    await Promise.all(exits);
  }
}
