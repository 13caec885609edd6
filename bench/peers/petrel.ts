// Petrel as a target: starts `petrel daemon` with a throw-away config and spool, stops it with SIGTERM.
// For the delivery scenarios it relays to a sink (smarthost), can hold mail (queue_only) and release it
// by a restart, and counts its queue with `petrel queue count`.

import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeerError } from '../errors.js';
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fdsFor, freePort, isRunning, runCommand, stopChild, streamCommand, trackChild, waitForBanner, waitPortClosed, withFdLimit, type CommandResult } from './process.js';
import type { FillMessage, FillRequest } from './spool-fill.js';
import { envConfig, petrelInboundConfig, petrelRelayConfig } from './petrel-config.js';
import { lastEventTime, parseQueueCount, summarizeDaemonLog } from './petrel-log.js';
import type {
  PeerInfo,
  PeerTarget,
  QueueScaleHandle,
  RelayDiagnosis,
  RelayStartOptions,
  RunningPeer,
  RunningRelay,
  StartOptions,
} from './types.js';

const INFO: PeerInfo = {
  name: 'petrel',
  description: 'Petrel daemon: session actors, spool with group commit',
  durable: true,
  durability: 'yes, spool committed with fsync before the 250 (group commit)',
};

const HOST = '127.0.0.1';
/** The daemon writes its log to a file at least this often (cli/log.ts: every 500 ms), with a margin. */
const LOG_FLUSH_MS = 700;

export { envConfig, petrelConfig, petrelInboundConfig, petrelRelayConfig } from './petrel-config.js';
export type { PetrelBenchConfig, PetrelRelayConfig } from './petrel-config.js';
export { lastEventTime, parseQueueCount, summarizeDaemonLog } from './petrel-log.js';
export type { DaemonLogSummary } from './petrel-log.js';

export interface PetrelTargetOptions {
  /** Repository root holding dist/cli/petrel.js; defaults to the root this file was compiled into. */
  readonly root?: string;
  /** The Node binary; defaults to the one running the bench. */
  readonly node?: string;
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Keep the temporary directory (config, spool, daemon output) for inspection. */
  readonly keepDir?: boolean;
  /** log_level of the delivery scenarios (default info: the delivered/deferred lines are the evidence). */
  readonly relayLogLevel?: string;
  /** Further config keys of the delivery scenarios, merged last (experiments, e.g. smtp_transport). */
  readonly relayConfig?: Readonly<Record<string, unknown>>;
  /** Further config keys of the inbound scenarios (start()), merged last (e.g. dns_servers and ACLs of inbound-verify). */
  readonly inboundConfig?: Readonly<Record<string, unknown>>;
  /** Profile every daemon started (node --cpu-prof), each into a directory of its own under this one. */
  readonly profileDir?: string;
}

function defaultRoot(): string {
  // This file runs as dist/bench/peers/petrel.js: the repository root is three levels up.
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
}

async function tail(path: string, bytes = 2000): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.slice(-bytes).trim();
  } catch {
    return '';
  }
}

/** Reads the version from the package.json next to dist/, if any. */
async function packageVersion(root: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

// A filler that has not finished by its deadline gets this long to finish its batch and report.
const FILL_GRACE_MS = 30_000;

/** Runs the bulk filler (spool-fill.js) in a child process: LMDB's writes stay out of the runner. */
function fillSpool(
  node: string,
  root: string,
  req: FillRequest,
  onProgress?: (queued: number) => void,
): Promise<{ queued: number; added: number; ms: number; timedOut: boolean }> {
  const script = join(root, 'dist', 'bench', 'peers', 'spool-fill.js');
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { execPath: node, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new PeerError('ERR_PEER_COMMAND', `spool filler did not finish within ${FILL_GRACE_MS} ms of its deadline`));
    }, Math.max(0, req.deadline - Date.now()) + FILL_GRACE_MS);
    const finish = (err?: Error, v?: { queued: number; added: number; ms: number; timedOut: boolean }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else if (v) resolve(v);
    };
    child.on('message', (m: FillMessage) => {
      if (m.type === 'progress') onProgress?.(m.queued);
      else if (m.type === 'done') finish(undefined, { queued: m.queued, added: m.added, ms: m.elapsedMs, timedOut: m.timedOut });
      else finish(new PeerError('ERR_PEER_COMMAND', `spool filler: ${m.message}`));
    });
    child.on('error', (e) => finish(new PeerError('ERR_PEER_COMMAND', `spool filler: ${e.message}`, { cause: e })));
    child.on('exit', (code, signal) => finish(new PeerError('ERR_PEER_COMMAND', `spool filler exited (${signal ?? code}) before reporting`)));
    child.send(req);
  });
}

/** `petrel ARGS --config FILE` (the queue commands read the spool safely while the daemon runs). */
async function petrelCommand(
  node: string,
  cli: string,
  root: string,
  configPath: string,
  args: readonly string[],
  onData?: (chunk: string) => void,
): Promise<CommandResult> {
  const argv = [cli, ...args, '--config', configPath];
  if (!onData) return runCommand(node, argv, { cwd: root, timeoutMs: 60_000 });
  const r = await streamCommand(node, argv, onData, { timeoutMs: 60_000 });
  return { code: r.code, stdout: '', stderr: r.stderr };
}

/** One daemon process on a config file, its output appended to the log file. */
class Daemon {
  readonly child: ChildProcess;
  #spawnFailure: Error | undefined;
  /** Set before a stop we asked for, so that its exit is not taken for a crash. */
  stopping = false;

  constructor(node: string, cli: string, root: string, configPath: string, logPath: string, fds?: number, extraArgs: readonly string[] = []) {
    // The daemon's output goes to a file, not a pipe: a pipe nobody drains fast enough would
    // block the daemon under load and distort what is measured.
    const fd = openSync(logPath, 'a');
    try {
      // PETREL_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the daemons a bench starts.
      const nodeArgs = (process.env.PETREL_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
      const c = withFdLimit(node, [...nodeArgs, ...extraArgs, cli, 'daemon', '--config', configPath], fds);
      this.child = spawn(c.cmd, c.args, {
        cwd: root,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, NODE_ENV: 'production' },
      });
    } finally {
      closeSync(fd);
    }
    trackChild(this.child);
    this.child.once('error', (e) => (this.#spawnFailure = e));
  }

  /** Why the process is not running (undefined while it runs). */
  exitReason(cli: string): string | undefined {
    if (this.#spawnFailure) return `cannot start ${cli}: ${this.#spawnFailure.message}`;
    return isRunning(this.child) ? undefined : `petrel daemon exited (${this.child.exitCode ?? this.child.signalCode})`;
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await stopChild(this.child, graceMs);
  }
}

/**
 * `node <root>/dist/cli/petrel.js daemon --config <tmp>/petrel.config.json`, ready once the port
 * accepts connections and a 220 banner arrives (20 s by default). stop() sends SIGTERM, SIGKILL
 * after 10 s, and removes the temporary directory.
 */
export function petrelTarget(options: PetrelTargetOptions = {}): PeerTarget {
  // PETREL_BENCH_ROOT runs another checkout's build (dist/) with this harness: A/B timings of two revisions.
  const root = options.root ?? process.env.PETREL_BENCH_ROOT ?? defaultRoot();
  // PETREL_BENCH_KEEP=1 keeps every daemon's directory (config, spool, log) to look into a run.
  if (process.env.PETREL_BENCH_KEEP === '1') options = { ...options, keepDir: true };
  const node = options.node ?? process.execPath;
  const cli = join(root, 'dist', 'cli', 'petrel.js');
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;

  // With profileDir, each daemon started profiles every thread (--cpu-prof) into a directory of its own,
  // handed to the runner by takeProfiles() once the run is over.
  let profiled = 0;
  let profileDirs: string[] = [];
  const profileArgs = (): string[] => {
    if (!options.profileDir) return [];
    const dir = join(options.profileDir, `petrel-${++profiled}`);
    profileDirs.push(dir);
    return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  };

  /** A temporary directory with config and log, and a daemon started on them. */
  async function launch(
    port: number | undefined,
    config: (dir: string, port: number, adminPort: number) => object,
    keep: () => boolean,
    fds?: number,
  ): Promise<{ dir: string; port: number; adminPort: number; configPath: string; logPath: string; daemon: Daemon; removeDir: () => Promise<void> }> {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-'));
    const removeDir = async (): Promise<void> => {
      if (!options.keepDir && !keep()) await rm(dir, { recursive: true, force: true });
    };
    const p = port ?? (await freePort(HOST));
    const adminPort = await freePort(HOST);
    const configPath = join(dir, 'petrel.config.json');
    const logPath = join(dir, 'daemon.log');
    await writeFile(configPath, `${JSON.stringify(config(dir, p, adminPort), null, 2)}\n`);
    return { dir, port: p, adminPort, configPath, logPath, daemon: new Daemon(node, cli, root, configPath, logPath, fds, profileArgs()), removeDir };
  }

  async function ready(daemon: Daemon, port: number, logPath: string): Promise<void> {
    try {
      await waitForBanner(HOST, port, startTimeoutMs, () => daemon.exitReason(cli));
    } catch (err) {
      const output = await tail(logPath);
      const why = err instanceof Error ? err.message : String(err);
      throw new PeerError('ERR_PEER_START', output ? `${why}; daemon output: ${output}` : why, { cause: err });
    }
  }

  // Keys from PETREL_BENCH_CONFIG are named in the description, which the reports carry.
  const tuned = Object.keys(envConfig()).length > 0 ? `${INFO.description}; with ${JSON.stringify(envConfig())}` : undefined;
  const info: PeerInfo = tuned ? { ...INFO, description: tuned } : INFO;
  return {
    ...info,
    takeProfiles() {
      const dirs = profileDirs;
      profileDirs = [];
      return dirs;
    },
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      const sessions = opts.maxSessions;
      const extra = { ...envConfig(), ...options.inboundConfig };
      const { port, adminPort, configPath, logPath, daemon, removeDir } = await launch(
        opts.port,
        (dir, p, admin) => ({ ...petrelInboundConfig(dir, p, { adminPort: admin, ...(sessions !== undefined ? { maxSessions: sessions } : {}) }), ...extra }),
        () => false,
        fdsFor(sessions),
      );
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        try {
          await daemon.stop(stopTimeoutMs);
          if (!(await waitPortClosed(HOST, port, 5000))) {
            throw new PeerError('ERR_PEER_STOP', `port ${port} still open after petrel exited`);
          }
        } finally {
          await removeDir();
        }
      };
      try {
        await ready(daemon, port, logPath);
      } catch (err) {
        await stop().catch(() => undefined);
        throw err;
      }
      return {
        info,
        host: HOST,
        port,
        version: await packageVersion(root),
        stop,
        pids: () => (daemon.child.pid !== undefined && isRunning(daemon.child) ? [daemon.child.pid] : []),
        metricsUrl: () => `http://${HOST}:${adminPort}/metrics`,
        command: (args, onData) => petrelCommand(node, cli, root, configPath, args, onData),
      };
    },

    async openQueueScale(): Promise<QueueScaleHandle> {
      const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-qs-'));
      const port = await freePort(HOST);
      const adminPort = await freePort(HOST);
      const configPath = join(dir, 'petrel.config.json');
      const logPath = join(dir, 'daemon.log');
      // Arrivals wait in the queue (queue_only, no queue runs): what is measured is accepting
      // beside a large queue, not delivering it. The filled messages are due in a day.
      const config = petrelInboundConfig(dir, port, { adminPort });
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
      let daemon: Daemon | undefined;
      const stopDaemon = async (): Promise<void> => {
        const d = daemon;
        daemon = undefined;
        if (!d) return;
        await d.stop(stopTimeoutMs);
        if (!(await waitPortClosed(HOST, port, 5000))) throw new PeerError('ERR_PEER_STOP', `port ${port} still open after petrel exited`);
      };
      return {
        async fill(total, f) {
          if (daemon) throw new PeerError('ERR_PEER_COMMAND', 'the spool can only be filled while the daemon is stopped');
          return fillSpool(node, root, { type: 'fill', spoolDir: config.spool_directory, total, deadline: f.deadline, size: 2048, batch: 5000 }, f.onProgress);
        },
        async start() {
          if (daemon) throw new PeerError('ERR_PEER_START', 'already running');
          const t0 = performance.now();
          const d = new Daemon(node, cli, root, configPath, logPath, undefined, profileArgs());
          daemon = d;
          try {
            // 10 ms between tries: the time to serve is the figure measured here.
            await waitForBanner(HOST, port, Math.max(startTimeoutMs, 120_000), () => d.exitReason(cli), 10);
          } catch (err) {
            await stopDaemon().catch(() => undefined);
            const output = await tail(logPath);
            throw new PeerError('ERR_PEER_START', `${err instanceof Error ? err.message : String(err)}${output ? `; daemon output: ${output}` : ''}`, { cause: err });
          }
          const readyMs = performance.now() - t0;
          const peer: RunningPeer = {
            info,
            host: HOST,
            port,
            version: await packageVersion(root),
            stop: async () => {
              if (daemon === d) await stopDaemon();
            },
            pids: () => (d.child.pid !== undefined && isRunning(d.child) ? [d.child.pid] : []),
            metricsUrl: () => `http://${HOST}:${adminPort}/metrics`,
          };
          return { peer, readyMs };
        },
        async close() {
          try {
            await stopDaemon();
          } finally {
            if (!options.keepDir) await rm(dir, { recursive: true, force: true });
          }
        },
      };
    },

    async startRelay(opts: RelayStartOptions): Promise<RunningRelay> {
      let keep = false;
      const relay = { sinkPort: opts.sinkPort, hold: opts.hold, logLevel: options.relayLogLevel };
      const extra = { ...envConfig(), ...options.relayConfig };
      const launched = await launch(opts.port, (dir, port, adminPort) => petrelRelayConfig(dir, port, { ...relay, adminPort }, extra), () => keep);
      const { dir, port, adminPort, configPath, logPath, removeDir } = launched;
      const daemon = launched.daemon;
      let stopped = false;
      const stopDaemon = async (): Promise<void> => {
        await daemon.stop(stopTimeoutMs);
        if (!(await waitPortClosed(HOST, port, 5000))) {
          throw new PeerError('ERR_PEER_STOP', `port ${port} still open after petrel exited`);
        }
      };
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        try {
          await stopDaemon();
        } finally {
          await removeDir();
        }
      };
      try {
        await ready(daemon, port, logPath);
      } catch (err) {
        // A daemon that cannot start with delivery configured is a finding: keep its files.
        keep = true;
        await stop().catch(() => undefined);
        const why = err instanceof Error ? err.message : String(err);
        throw new PeerError('ERR_PEER_START', `${why} (kept ${dir})`, { cause: err });
      }
      return {
        info,
        host: HOST,
        port,
        version: await packageVersion(root),
        stop,
        pids: () => (daemon.child.pid !== undefined && isRunning(daemon.child) ? [daemon.child.pid] : []),
        metricsUrl: () => `http://${HOST}:${adminPort}/metrics`,
        async release(): Promise<number> {
          // The queue is looked at on SIGUSR1 (petrel queue retry does the same): no restart.
          const at = Date.now();
          daemon.child.kill('SIGUSR1');
          return at;
        },
        async queued(): Promise<number> {
          const r = await runCommand(node, [cli, 'queue', 'count', '--config', configPath], { cwd: root, timeoutMs: 30_000 });
          if (r.code !== 0) {
            throw new PeerError('ERR_PEER_COMMAND', `petrel queue count exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-500)}`);
          }
          return parseQueueCount(r.stdout);
        },
        dead: () => (daemon.stopping ? undefined : daemon.exitReason(cli)),
        // The "completed" line is logged once a message's last recipient is recorded and it has
        // left the spool (log_level info and above keeps it). Written to a file, the daemon's lines
        // reach it within LOG_FLUSH_MS: wait that long, so that the last ones are there.
        async lastDequeuedAt(): Promise<number | undefined> {
          try {
            await new Promise((r) => setTimeout(r, LOG_FLUSH_MS));
            return lastEventTime(await readFile(logPath, 'utf8'), 'completed');
          } catch {
            return undefined;
          }
        },
        async diagnose(): Promise<RelayDiagnosis> {
          keep = true;
          let text = '';
          try {
            if (!daemon.stopping && !daemon.exitReason(cli)) await new Promise((r) => setTimeout(r, LOG_FLUSH_MS));
            text = await readFile(logPath, 'utf8');
          } catch {
            // No log: nothing to quote.
          }
          const s = summarizeDaemonLog(text);
          return { lines: s.notable, keptDir: dir, deliveredLogged: s.delivered };
        },
      };
    },
  };
}
