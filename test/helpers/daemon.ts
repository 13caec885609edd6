// Test helper: run the real `petrel daemon` as a child process on a free loopback port.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry (dist/cli/petrel.js), as package.json's bin names it. */
export const PETREL = resolve(fileURLToPath(import.meta.url), '../../../cli/petrel.js');
export const REPO = resolve(fileURLToPath(import.meta.url), '../../../..');

export interface DaemonLog {
  readonly level: number;
  readonly msg: string;
  readonly event?: string;
  readonly [key: string]: unknown;
}

export interface Daemon {
  readonly dir: string;
  readonly configFile: string;
  readonly port: number;
  readonly ports: readonly number[];
  readonly child: ChildProcess;
  readonly logs: DaemonLog[];
  /** What the daemon wrote to stderr (a crash's stack trace lands here). */
  stderr(): string;
  /** Wait until a log line matching the predicate appears (or fail after timeoutMs). */
  waitForLog(pred: (l: DaemonLog) => boolean, timeoutMs?: number): Promise<DaemonLog>;
  /** Run a petrel CLI command against this daemon's config; resolves with its output. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  /** Remove the temporary directory (after stop). */
  cleanup(): void;
}

export interface DaemonOptions {
  /** Config keys; `listen` defaults to one port chosen by the system, `spool_directory` to the temp dir. */
  config?: Record<string, unknown>;
  /** Reuse a directory (restart on the same spool). */
  dir?: string;
  /** Wrap the node command (e.g. ['strace', '-f', ...]). */
  wrap?: string[];
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'petrel-test-'));
  const configFile = join(dir, 'petrel.config.json');
  const config = {
    listen: ['127.0.0.1:0'],
    spool_directory: join(dir, 'spool'),
    primary_hostname: 'mx.petrel.test',
    log_format: 'json',
    log_level: 'debug',
    // Inbound tests look at what was accepted: it stays in the queue (no delivery on arrival, no
    // queue runs) unless a test asks for delivery with queue_only: false and a queue_run_interval.
    queue_only: true,
    queue_run_interval: 0,
    admin_listen: '127.0.0.1:0',
    ...opts.config,
  };
  // The ready line (with the chosen port) is logged at info.
  if (['warn', 'error', 'fatal', 'silent'].includes(String(config.log_level))) config.log_level = 'info';
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const argv = [PETREL, 'daemon', '--config', configFile];
  const child = opts.wrap
    ? spawn(opts.wrap[0] as string, [...opts.wrap.slice(1), process.execPath, ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: DaemonLog[] = [];
  const waiters: { pred: (l: DaemonLog) => boolean; resolve: (l: DaemonLog) => void }[] = [];
  let stderr = '';
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let entry: DaemonLog;
      try {
        entry = JSON.parse(line) as DaemonLog;
      } catch {
        continue;
      }
      logs.push(entry);
      for (const w of [...waiters]) {
        if (w.pred(entry)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(entry);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  // What the daemon said went wrong: its error and fatal lines (it logs to stdout), then stderr.
  const trouble = (): string => {
    const errors = logs.filter((l) => typeof l.level === 'number' && l.level >= 50).slice(-3).map((l) => String(l.msg));
    return `${errors.length > 0 ? `errors: ${errors.join(' | ')}; ` : ''}stderr: ${stderr.slice(-2000)}`;
  };
  const waitForLog = (pred: (l: DaemonLog) => boolean, timeoutMs = 10000): Promise<DaemonLog> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timed out waiting for a log line; ${trouble()}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => { clearTimeout(t); res(l); } });
      void exited.then((code) => { clearTimeout(t); rej(new Error(`daemon exited with ${code} before the log line; ${trouble()}`)); });
    });
  };

  let ready: DaemonLog;
  try {
    ready = await waitForLog((l) => l.event === 'ready', 20000);
  } catch (e) {
    // Never leave a daemon behind: it would keep the test process alive.
    child.kill('SIGKILL');
    throw e;
  }
  const listen = ready.listen as { port: number }[];
  // Under a wrapper (strace) the child is the wrapper: signals go to the daemon itself.
  const daemonPid = typeof ready.pid === 'number' ? ready.pid : (child.pid as number);
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(daemonPid, sig);
    } catch {
      // already gone
    }
  };
  const ports = listen.map((l) => l.port);
  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((res) => {
      const p = spawn(process.execPath, [PETREL, ...args], { cwd: dir });
      let out = '';
      let err = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      p.on('close', (code) => res({ code: code ?? -1, stdout: out, stderr: err }));
    });
  return {
    dir, configFile, port: ports[0] as number, ports, child, logs, waitForLog, cli,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signal('SIGKILL');
      await exited;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Start a daemon on ports picked beforehand (a fixed port a config must name, such as a
 * tls_on_connect port): another process may take such a port between the pick and the daemon's
 * bind, so a start that fails with EADDRINUSE is tried again on newly picked ports.
 */
export async function startDaemonOnPorts(
  count: number, pick: () => Promise<number>, options: (ports: number[]) => DaemonOptions,
): Promise<{ daemon: Daemon; ports: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await pick());
    try {
      return { daemon: await startDaemon(options(ports)), ports };
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
}

/** The admin listener's base URL (http://host:port), from the daemon's "ready" line. */
export function adminBase(d: Daemon): string {
  const admin = d.logs.find((l) => l.event === 'ready')?.admin as { host: string; port: number } | undefined;
  if (!admin) throw new Error('the daemon reported no admin listener');
  return `http://${admin.host}:${admin.port}`;
}
