// Haraka 3 (Node.js) as a peer: installed from npm into the bench's own cache directory (never the
// project's node_modules), one process, queue/discard for the inbound scenarios and
// queue/smtp_forward to the sink for relay-through. It stores nothing: its 250 is not durable.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerError } from '../errors.js';
import { fdsFor, freePort, isRunning, runCommand, stopChild, trackChild, waitForBanner, waitPortClosed, withFdLimit } from './process.js';
import type { PeerInfo, PeerTarget, RelayDiagnosis, RelayStartOptions, RunningPeer, RunningRelay, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'haraka',
  description: 'Haraka 3 (Node.js): one process, queue/discard',
  durable: false,
  durability: 'no (queue/discard: nothing written)',
};

const RELAY_INFO: PeerInfo = {
  ...INFO,
  description: 'Haraka 3 (Node.js): one process, queue/smtp_forward to smtp-sink within the transaction',
  durability: 'no (smtp_forward relays before its 250; nothing stored)',
};

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** The Haraka release line the bench installs. */
export const HARAKA_VERSION = '^3.3.0';

/** Where the bench keeps what it installs for its peers: $PETREL_BENCH_CACHE, else ~/.cache/petrel-bench. */
export function benchCacheDir(): string {
  return process.env.PETREL_BENCH_CACHE ?? join(homedir(), '.cache', 'petrel-bench');
}

export function harakaDir(cache = benchCacheDir()): string {
  return join(cache, 'haraka');
}

/** haraka.js of the cached install. */
export function harakaMain(cache = benchCacheDir()): string {
  return join(harakaDir(cache), 'node_modules', 'Haraka', 'haraka.js');
}

/**
 * package.json of the cache: Haraka, with libmime pinned to 5.4.8 (the registry's newer libmime
 * does not install with Haraka 3.3, see PEERS.md).
 */
export function harakaPackageJson(): string {
  const pkg = {
    name: 'petrel-bench-haraka',
    private: true,
    description: 'Haraka installed by the Petrel bench harness',
    dependencies: { Haraka: HARAKA_VERSION },
    overrides: { libmime: '5.4.8' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/** Installs Haraka into the cache with npm when it is not there yet. */
export async function ensureHaraka(log: (line: string) => void = () => undefined, cache = benchCacheDir()): Promise<void> {
  if (existsSync(harakaMain(cache))) return;
  const dir = harakaDir(cache);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), harakaPackageJson());
  log(`installing Haraka ${HARAKA_VERSION} with npm into ${dir}`);
  const r = await runCommand('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--no-package-lock'], {
    cwd: dir,
    timeoutMs: INSTALL_TIMEOUT_MS,
  });
  if (r.code !== 0 || !existsSync(harakaMain(cache))) {
    throw new PeerError('ERR_PEER_INSTALL', `npm install Haraka in ${dir} failed (${r.code}): ${(r.stderr || r.stdout).trim().slice(-800)}`);
  }
}

export async function harakaVersion(cache = benchCacheDir()): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(join(harakaDir(cache), 'node_modules', 'Haraka', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

export type HarakaMode = { readonly kind: 'discard' } | { readonly kind: 'forward'; readonly sinkPort: number };

/** The files of a Haraka instance directory (config/...), by path relative to it. */
export function harakaConfig(port: number, mode: HarakaMode, maxSessions?: number): Record<string, string> {
  const files: Record<string, string> = {
    // nodes unset: one process, no cluster (what PEERS.md measured). Sessions idle for up to 10 min.
    'config/smtp.ini': `listen=${HOST}:${port}\ninactivity_timeout=${maxSessions !== undefined ? 900 : 300}\n`,
    'config/me': 'haraka.bench.test\n',
    'config/host_list': 'example.com\n',
    'config/log.ini': '[main]\nlevel=warn\ntimestamps=true\n',
    'config/plugins': `rcpt_to.in_host_list\n${mode.kind === 'discard' ? 'queue/discard' : 'queue/smtp_forward'}\n`,
  };
  if (mode.kind === 'forward') files['config/smtp_forward.ini'] = `host=${HOST}\nport=${mode.sinkPort}\nenable_tls=false\n`;
  return files;
}

/** One Haraka process on an instance directory of its own. */
async function launch(
  mode: HarakaMode,
  opts: { port?: number; maxSessions?: number },
): Promise<{ child: ChildProcess; port: number; dir: string; logPath: string; stop: () => Promise<void> }> {
  const main = harakaMain();
  if (!existsSync(main)) throw new PeerError('ERR_PEER_START', `Haraka is not installed (${main}): run ensurePeers(['haraka']) first`);
  const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-haraka-'));
  const port = opts.port ?? (await freePort(HOST));
  // Haraka reads its whole configuration from $HARAKA/config (what `haraka -i` copies there):
  // the package's defaults first, then the bench's files over them.
  await cp(join(main, '..', 'config'), join(dir, 'config'), { recursive: true });
  for (const [rel, text] of Object.entries(harakaConfig(port, mode, opts.maxSessions))) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  const logPath = join(dir, 'haraka.log');
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // haraka.js ignores -c (that is the `haraka` wrapper's option); it takes the directory from $HARAKA.
    const c = withFdLimit(process.execPath, [main], fdsFor(opts.maxSessions));
    child = spawn(c.cmd, c.args, {
      cwd: dir,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, HARAKA: dir, NODE_ENV: 'production', ...(mode.kind === 'discard' ? { YES_REALLY_DO_DISCARD: '1' } : {}) },
    });
  } finally {
    closeSync(fd);
  }
  trackChild(child);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await stopChild(child, STOP_TIMEOUT_MS);
      if (!(await waitPortClosed(HOST, port, 5000))) throw new PeerError('ERR_PEER_STOP', `port ${port} still open after haraka exited`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await waitForBanner(HOST, port, START_TIMEOUT_MS, () => (isRunning(child) ? undefined : `haraka exited (${child.exitCode ?? child.signalCode})`));
  } catch (err) {
    const out = await readFile(logPath, 'utf8').catch(() => '');
    await stop().catch(() => undefined);
    throw new PeerError('ERR_PEER_START', `${err instanceof Error ? err.message : String(err)}; output: ${out.slice(-1500).trim()}`, { cause: err });
  }
  return { child, port, dir, logPath, stop };
}

export function harakaTarget(): PeerTarget {
  return {
    ...INFO,
    canHold: false,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      const h = await launch({ kind: 'discard' }, opts);
      return {
        info: INFO,
        host: HOST,
        port: h.port,
        version: await harakaVersion(),
        stop: h.stop,
        pids: () => (h.child.pid !== undefined && isRunning(h.child) ? [h.child.pid] : []),
      };
    },
    async startRelay(opts: RelayStartOptions): Promise<RunningRelay> {
      if (opts.hold) throw new PeerError('ERR_PEER_START', 'Haraka with smtp_forward keeps no queue to hold');
      const h = await launch({ kind: 'forward', sinkPort: opts.sinkPort }, { ...(opts.port !== undefined ? { port: opts.port } : {}) });
      const started = h.child;
      return {
        info: RELAY_INFO,
        host: HOST,
        port: h.port,
        version: await harakaVersion(),
        stop: h.stop,
        pids: () => (started.pid !== undefined && isRunning(started) ? [started.pid] : []),
        release: async () => Date.now(),
        // Forwarding happens before the 250: once a message is accepted, it is at the sink.
        queued: async () => 0,
        dead: () => (isRunning(started) ? undefined : `haraka exited (${started.exitCode ?? started.signalCode})`),
        async diagnose(): Promise<RelayDiagnosis> {
          const text = await readFile(h.logPath, 'utf8').catch(() => '');
          return { lines: text.split('\n').filter((l) => /\[(WARN|ERROR|CRIT)\]|Error/.test(l)).slice(-40) };
        },
      };
    },
  };
}
