// Process and port helpers for peers: run a command, wait for an SMTP banner, stop a child for sure.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { PeerError } from '../errors.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion with a deadline. A non-zero exit is returned, not thrown: callers
 * such as `postfix status` use the code as an answer. Spawn failures and timeouts throw.
 */
export function runCommand(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout = keepTail(stdout + d)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = keepTail(stderr + d)));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new PeerError('ERR_PEER_COMMAND', `${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new PeerError('ERR_PEER_COMMAND', `${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/**
 * Runs a command whose output may be large (a queue listing of 20,000 messages): stdout goes to
 * `onData` as it comes instead of being kept. Resolves with the exit code and the tail of stderr.
 */
export function streamCommand(
  cmd: string,
  args: readonly string[],
  onData: (chunk: string) => void,
  opts: { timeoutMs?: number } = {},
): Promise<{ code: number; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = keepTail(stderr + d)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new PeerError('ERR_PEER_COMMAND', `${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new PeerError('ERR_PEER_COMMAND', `${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
  });
}

/** Like runCommand, but a non-zero exit is an error carrying the command's own words. */
export async function mustRun(
  cmd: string,
  args: readonly string[],
  opts: Parameters<typeof runCommand>[2] = {},
): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    throw new PeerError('ERR_PEER_COMMAND', `${cmd} ${args.join(' ')} exited ${r.code}: ${why}`);
  }
  return r.stdout;
}

function keepTail(s: string): string {
  return s.length > 256 * 1024 ? s.slice(-128 * 1024) : s;
}

/** A loopback port nobody listens on right now (the usual small race is acceptable for a bench). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Connects once and reads the first complete reply; resolves its first line, rejects on anything else. */
function readBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = '';
    const done = (err: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (err) socket.destroy();
      else {
        // Say goodbye properly so that a peer does not log a lost connection for every probe.
        socket.end('QUIT\r\n');
        socket.setTimeout(500, () => socket.destroy());
      }
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(() => done(new Error('no banner')), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      // The banner may be multi-line (220-...); its last line has a space after the code.
      const m = /^(\d{3})(?: [^\n]*)?\r?\n/m.exec(buf);
      if (m) done(m[1] === '220' ? undefined : new Error(`banner ${m[0].trim()}`), buf.split('\r\n')[0]);
    });
  });
}

/**
 * Waits until host:port accepts a connection and sends a 220 banner. `exited` is polled so that a
 * peer that dies while starting fails at once instead of at the deadline.
 */
export async function waitForBanner(
  host: string,
  port: number,
  timeoutMs: number,
  exited?: () => string | undefined,
  retryMs = 100,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing tried';
  while (Date.now() < deadline) {
    const dead = exited?.();
    if (dead) throw new PeerError('ERR_PEER_START', dead);
    try {
      return await readBanner(host, port, Math.max(100, Math.min(2000, deadline - Date.now())));
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
  throw new PeerError('ERR_PEER_START', `no SMTP banner on ${host}:${port} within ${timeoutMs} ms (${last})`);
}

/** Resolves once nothing accepts connections on host:port any more, or at the deadline (false). */
export async function waitPortClosed(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (!open) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const tracked = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Remembers a long-running child so that it is killed if this process exits without stopping it.
 * The hook is installed on first use, never at import.
 */
export function trackChild(child: ChildProcess): void {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of tracked) c.kill('SIGKILL');
    });
  }
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (killed && isRunning(child)) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The hard limit of open files of this process (/proc/self/limits), undefined when unknown. */
export function hardFdLimit(text?: string): number | undefined {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(t);
  if (!m) return undefined;
  return m[2] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
}

const PRLIMIT = '/usr/bin/prlimit';

/**
 * The command line that runs `cmd` with at least `want` open files. Node raises its own soft limit
 * to the hard one at start, and children inherit it; only when the hard limit is lower than `want`
 * (and we are root, who may raise it) is the command run under prlimit(1) with both limits raised.
 */
export function withFdLimit(cmd: string, args: readonly string[], want: number | undefined): { cmd: string; args: string[] } {
  const hard = hardFdLimit();
  if (want === undefined || hard === undefined || hard >= want || process.getuid?.() !== 0 || !existsSync(PRLIMIT)) {
    return { cmd, args: [...args] };
  }
  return { cmd: PRLIMIT, args: [`--nofile=${want}:${want}`, '--', cmd, ...args] };
}

/** Open files a process may have, for sessions held at once: each needs one, plus room for the rest. */
export function fdsFor(sessions: number | undefined): number | undefined {
  return sessions === undefined ? undefined : sessions + 4096;
}
