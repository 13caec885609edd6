// Postfix smtp-sink as a peer: the protocol ceiling of this machine; it stores nothing. Also the
// counting destination of the delivery scenarios (`smtp-sink -c`, its counters parsed as they come).

import { spawn, type ChildProcess } from 'node:child_process';
import { PeerError } from '../errors.js';
import { isExecutable, postfixVersion, SMTP_SINK_BIN } from './install.js';
import { fdsFor, freePort, isRunning, stopChild, trackChild, waitForBanner, withFdLimit } from './process.js';
import type { PeerInfo, PeerTarget, RunningPeer, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'sink',
  description: 'Postfix smtp-sink: protocol only, single process, C',
  durable: false,
  durability: 'no (nothing stored: protocol ceiling)',
};

const HOST = '127.0.0.1';
// smtp-sink's listen backlog; large enough that 20 sessions reconnecting never see a refusal.
const BACKLOG = '1000';

/** Arguments of smtp-sink: as root it must drop to another user (-u); -c prints running counters. */
export function sinkArgs(port: number, opts: { count?: boolean; root?: boolean; maxSessions?: number } = {}): string[] {
  const user = (opts.root ?? process.getuid?.() === 0) ? ['-u', 'postfix'] : [];
  // -m: sessions handled at once (default 256; more wait in the listen queue unanswered).
  const sessions = opts.maxSessions !== undefined ? ['-m', String(opts.maxSessions + 100)] : [];
  const backlog = opts.maxSessions !== undefined ? String(Math.max(Number(BACKLOG), opts.maxSessions + 100)) : BACKLOG;
  return [...user, ...(opts.count ? ['-c'] : []), ...sessions, `${HOST}:${port}`, backlog];
}

async function spawnSink(port: number, count: boolean, maxSessions?: number): Promise<{ child: ChildProcess; stderr: () => string }> {
  if (!(await isExecutable(SMTP_SINK_BIN))) {
    throw new PeerError('ERR_PEER_START', `${SMTP_SINK_BIN} not found: run ensurePeers(['sink']) first`);
  }
  const c = withFdLimit(SMTP_SINK_BIN, sinkArgs(port, { count, ...(maxSessions !== undefined ? { maxSessions } : {}) }), fdsFor(maxSessions));
  const child = spawn(c.cmd, c.args, {
    stdio: ['ignore', count ? 'pipe' : 'ignore', 'pipe'],
  });
  trackChild(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  try {
    await waitForBanner(HOST, port, 10_000, () =>
      isRunning(child) ? undefined : `smtp-sink exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`,
    );
  } catch (err) {
    await stopChild(child, 5000);
    throw err;
  }
  return { child, stderr: () => stderr };
}

export function sinkTarget(): PeerTarget {
  return {
    ...INFO,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      const port = opts.port ?? (await freePort(HOST));
      const { child } = await spawnSink(port, false, opts.maxSessions);
      const stop = async (): Promise<void> => stopChild(child, 5000);
      return {
        info: INFO,
        host: HOST,
        port,
        version: await postfixVersion(),
        stop,
        pids: () => (child.pid !== undefined && isRunning(child) ? [child.pid] : []),
      };
    },
  };
}

/**
 * Follows the counters smtp-sink -c writes: `sess=N quit=N mesg=N`, each update ended by a
 * carriage return, updated when a session ends, at QUIT and at each final dot. Chunks may split an
 * update anywhere; only complete updates count.
 */
export class SinkCounter {
  /** Messages received (final dots seen) since the sink started. */
  messages = 0;
  sessions = 0;
  /** Epoch ms at which the message count first and last grew since the start or mark() (0: not yet). */
  firstAt = 0;
  lastAt = 0;
  #rest = '';

  /** Starts a new part of the count: firstAt and lastAt then refer to messages after this call. */
  mark(): number {
    this.firstAt = 0;
    this.lastAt = 0;
    return this.messages;
  }

  push(chunk: string, now: number): void {
    const parts = (this.#rest + chunk).split(/[\r\n]/);
    // The last piece has no terminator yet (or is empty): keep it for the next chunk.
    this.#rest = (parts.pop() ?? '').slice(-256);
    for (const part of parts) {
      const mesg = /\bmesg=(\d+)/.exec(part);
      const sess = /\bsess=(\d+)/.exec(part);
      if (sess) this.sessions = Number(sess[1]);
      if (!mesg) continue;
      const n = Number(mesg[1]);
      if (n > this.messages) {
        if (this.firstAt === 0) this.firstAt = now;
        this.lastAt = now;
        this.messages = n;
      }
    }
  }
}

/** An smtp-sink that counts what it receives: the destination of the delivery scenarios. */
export interface CountingSink {
  readonly host: string;
  readonly port: number;
  readonly counter: SinkCounter;
  /** A reason when smtp-sink has exited, else undefined. */
  dead(): string | undefined;
  /** The last of what smtp-sink wrote to stderr (its warnings: "lost connection", "read timeout"...). */
  said(): string;
  stop(): Promise<void>;
}

export async function startCountingSink(opts: StartOptions = {}): Promise<CountingSink> {
  const port = opts.port ?? (await freePort(HOST));
  const counter = new SinkCounter();
  const { child, stderr } = await spawnSink(port, true);
  child.stdout?.setEncoding('utf8').on('data', (d: string) => counter.push(d, Date.now()));
  return {
    host: HOST,
    port,
    counter,
    dead: () => (isRunning(child) ? undefined : `smtp-sink exited (${child.exitCode ?? child.signalCode}): ${stderr().trim()}`),
    said: () => stderr().trim(),
    stop: () => stopChild(child, 5000),
  };
}
