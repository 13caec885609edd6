// Idle sessions for idle-connections: a child process opens N SMTP sessions (banner, EHLO) and keeps
// them open, silent, until told to close them. The parent side starts it with a file-descriptor
// limit large enough for N sockets.

import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LoadgenError } from '../errors.js';
import { ReplyReader } from './reply.js';

export interface IdleRequest {
  readonly type: 'open';
  readonly host: string;
  readonly port: number;
  readonly sessions: number;
  /** Connections being set up at once. */
  readonly parallel: number;
  /** Deadline for opening them all (ms). */
  readonly timeoutMs: number;
}

export type IdleParentMessage = IdleRequest | { readonly type: 'close' };

export type IdleChildMessage =
  | { readonly type: 'progress'; readonly opened: number; readonly failed: number }
  | {
      readonly type: 'opened';
      readonly opened: number;
      readonly failed: number;
      readonly ms: number;
      readonly timedOut: boolean;
      readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
    }
  | { readonly type: 'closed'; readonly stillOpen: number; readonly lost: number }
  | { readonly type: 'fatal'; readonly message: string };

/** One session: connect, read the banner, EHLO, read the reply; then nothing until closed. */
function openOne(host: string, port: number, timeoutMs: number, open: Set<net.Socket>, onLost: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const reader = new ReplyReader();
    let step = 0;
    let settled = false;
    const timer = setTimeout(() => fail(new Error('no banner or EHLO reply in time')), timeoutMs);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.setNoDelay(true);
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      if (!settled) fail(new Error('closed by server while opening'));
      else if (open.delete(socket)) onLost();
    });
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      let replies;
      try {
        replies = reader.push(chunk);
      } catch (err) {
        fail(err as Error);
        return;
      }
      for (const r of replies) {
        if (step === 0) {
          if (r.code !== 220) return fail(new Error(`banner ${r.code} ${(r.lines[0] ?? '').slice(0, 80)}`));
          step = 1;
          socket.write('EHLO idle.bench.test\r\n');
        } else if (step === 1) {
          if (r.code !== 250) return fail(new Error(`EHLO ${r.code} ${(r.lines[0] ?? '').slice(0, 80)}`));
          step = 2;
          settled = true;
          clearTimeout(timer);
          open.add(socket);
          resolve();
        }
      }
    });
  });
}

async function openAll(req: IdleRequest, open: Set<net.Socket>, send: (m: IdleChildMessage) => void, state: { lost: number }): Promise<void> {
  const t0 = performance.now();
  const deadline = t0 + req.timeoutMs;
  const errors = new Map<string, number>();
  let next = 0;
  let failed = 0;
  let timedOut = false;
  const progress = setInterval(() => send({ type: 'progress', opened: open.size, failed }), 250);
  const worker = async (): Promise<void> => {
    while (next < req.sessions) {
      if (performance.now() >= deadline) {
        timedOut = true;
        return;
      }
      next++;
      try {
        await openOne(req.host, req.port, Math.max(1000, Math.min(30_000, deadline - performance.now())), open, () => state.lost++);
      } catch (err) {
        failed++;
        const msg = err instanceof Error ? err.message : String(err);
        if (errors.size < 20 || errors.has(msg)) errors.set(msg, (errors.get(msg) ?? 0) + 1);
        // A refusal (limit reached) comes fast: a short pause keeps this from spinning.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.parallel, req.sessions)) }, worker));
  } finally {
    clearInterval(progress);
  }
  send({
    type: 'opened',
    opened: open.size,
    failed,
    ms: Math.round(performance.now() - t0),
    timedOut,
    errors: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([message, count]) => ({ message, count })),
  });
}

function main(): void {
  if (!process.send) {
    process.stderr.write('idle holder: must be started with an IPC channel\n');
    process.exitCode = 2;
    return;
  }
  const open = new Set<net.Socket>();
  const state = { lost: 0 };
  const send = (m: IdleChildMessage): void => {
    process.send?.(m);
  };
  process.on('message', (msg: IdleParentMessage) => {
    if (msg.type === 'open') {
      openAll(msg, open, send, state).catch((err: unknown) => send({ type: 'fatal', message: String(err) }));
    } else if (msg.type === 'close') {
      const stillOpen = open.size;
      for (const s of open) {
        open.delete(s);
        s.end('QUIT\r\n');
        s.setTimeout(1000, () => s.destroy());
      }
      send({ type: 'closed', stillOpen, lost: state.lost });
      setTimeout(() => process.exit(0), 1500).unref();
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => undefined);
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) main();

/** The parent side: a running holder of idle sessions. */
export interface IdleHolder {
  /** Resolves once every session is open (or the time is up); reports as it goes. */
  readonly opened: Promise<Extract<IdleChildMessage, { type: 'opened' }>>;
  /** Closes them all; resolves with how many were still open (the server may have dropped some). */
  close(): Promise<{ stillOpen: number; lost: number }>;
}

/**
 * Starts the holder process and asks it to open the sessions. `command` wraps the Node command
 * line (for a raised file-descriptor limit: see withFdLimit).
 */
export function holdIdleSessions(
  req: Omit<IdleRequest, 'type'>,
  opts: { onProgress?: (opened: number, failed: number) => void; command?: (cmd: string, args: string[]) => { cmd: string; args: string[] } } = {},
): IdleHolder {
  const script = fileURLToPath(new URL('./idle.js', import.meta.url));
  const c = opts.command ? opts.command(process.execPath, [script]) : { cmd: process.execPath, args: [script] };
  const child: ChildProcess = spawn(c.cmd, c.args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let onOpened: (m: Extract<IdleChildMessage, { type: 'opened' }>) => void = () => undefined;
  let onFail: (e: Error) => void = () => undefined;
  let onClosed: (m: { stillOpen: number; lost: number }) => void = () => undefined;
  const opened = new Promise<Extract<IdleChildMessage, { type: 'opened' }>>((resolve, reject) => {
    onOpened = resolve;
    onFail = reject;
  });
  opened.catch(() => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (m: IdleChildMessage) => {
    if (m.type === 'progress') opts.onProgress?.(m.opened, m.failed);
    else if (m.type === 'opened') onOpened(m);
    else if (m.type === 'closed') onClosed({ stillOpen: m.stillOpen, lost: m.lost });
    else onFail(new LoadgenError('ERR_LOADGEN_WORKER', m.message));
  });
  child.on('error', (e) => onFail(new LoadgenError('ERR_LOADGEN_WORKER', e.message, { cause: e })));
  child.on('exit', (code, signal) => onFail(new LoadgenError('ERR_LOADGEN_WORKER', `idle holder exited (${signal ?? code})`)));
  child.send({ type: 'open', ...req });
  return {
    opened,
    async close() {
      const closed = new Promise<{ stillOpen: number; lost: number }>((resolve) => (onClosed = resolve));
      if (child.connected) child.send({ type: 'close' });
      const r = await Promise.race([closed, exited.then(() => ({ stillOpen: 0, lost: 0 }))]);
      await Promise.race([exited, new Promise((res) => setTimeout(res, 5000).unref())]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      return r;
    },
  };
}
