// Petrel as a target: starts `petrel daemon` with a throw-away config and spool, stops it with SIGTERM.

import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeerError } from '../errors.js';
import { freePort, isRunning, stopChild, trackChild, waitForBanner, waitPortClosed } from './process.js';
import type { PeerInfo, PeerTarget, RunningPeer, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'petrel',
  description: 'Petrel daemon: session actors, spool with group commit',
  durable: true,
  durability: 'yes, spool committed with fsync before the 250 (group commit)',
};

const HOST = '127.0.0.1';

export interface PetrelTargetOptions {
  /** Repository root holding dist/cli/petrel.js; defaults to the root this file was compiled into. */
  readonly root?: string;
  /** The Node binary; defaults to the one running the bench. */
  readonly node?: string;
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Keep the temporary directory (config, spool, daemon output) for inspection. */
  readonly keepDir?: boolean;
}

/** The daemon configuration the bench relies on; every key here is part of the contract. */
export interface PetrelBenchConfig {
  readonly listen: string[];
  readonly spool_directory: string;
  readonly primary_hostname: string;
  readonly relay_to_domains: string[];
  readonly log_level: string;
}

export function petrelConfig(dir: string, port: number): PetrelBenchConfig {
  return {
    listen: [`${HOST}:${port}`],
    spool_directory: join(dir, 'spool'),
    primary_hostname: 'bench.petrel.test',
    relay_to_domains: ['example.com'],
    log_level: 'warn',
  };
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

/**
 * `node <root>/dist/cli/petrel.js daemon --config <tmp>/petrel.config.json`, ready once the port
 * accepts connections and a 220 banner arrives (20 s by default). stop() sends SIGTERM, SIGKILL
 * after 10 s, and removes the temporary directory.
 */
export function petrelTarget(options: PetrelTargetOptions = {}): PeerTarget {
  const root = options.root ?? defaultRoot();
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  return {
    ...INFO,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      const cli = join(root, 'dist', 'cli', 'petrel.js');
      const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-'));
      const removeDir = async (): Promise<void> => {
        if (!options.keepDir) await rm(dir, { recursive: true, force: true });
      };
      const port = opts.port ?? (await freePort(HOST));
      const configPath = join(dir, 'petrel.config.json');
      const logPath = join(dir, 'daemon.log');
      await writeFile(configPath, `${JSON.stringify(petrelConfig(dir, port), null, 2)}\n`);
      // The daemon's output goes to a file, not a pipe: a pipe nobody drains fast enough would
      // block the daemon under load and distort what is measured.
      const fd = openSync(logPath, 'a');
      let child;
      try {
        child = spawn(options.node ?? process.execPath, [cli, 'daemon', '--config', configPath], {
          cwd: root,
          stdio: ['ignore', fd, fd],
          env: { ...process.env, NODE_ENV: 'production' },
        });
      } finally {
        closeSync(fd);
      }
      trackChild(child);
      const spawnError = new Promise<Error>((res) => child.once('error', res));
      let spawnFailure: Error | undefined;
      void spawnError.then((e) => (spawnFailure = e));

      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        try {
          await stopChild(child, stopTimeoutMs);
          if (!(await waitPortClosed(HOST, port, 5000))) {
            throw new PeerError('ERR_PEER_STOP', `port ${port} still open after petrel exited`);
          }
        } finally {
          await removeDir();
        }
      };
      try {
        await waitForBanner(HOST, port, startTimeoutMs, () => {
          if (spawnFailure) return `cannot start ${cli}: ${spawnFailure.message}`;
          return isRunning(child) ? undefined : `petrel daemon exited (${child.exitCode ?? child.signalCode})`;
        });
      } catch (err) {
        const output = await tail(logPath);
        await stop().catch(() => undefined);
        const why = err instanceof Error ? err.message : String(err);
        throw new PeerError('ERR_PEER_START', output ? `${why}; daemon output: ${output}` : why, { cause: err });
      }
      return { info: INFO, host: HOST, port, version: await packageVersion(root), stop };
    },
  };
}
