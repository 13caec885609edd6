// Postfix 3.7 as a durable peer: smtpd -> cleanup (fsync) -> hold queue (inbound scenarios: stored,
// not delivered), or -> smtp client relaying to a sink (delivery scenarios), optionally held first.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PeerError } from '../errors.js';
import { isExecutable, POSTCONF_BIN, POSTFIX_BIN, POSTQUEUE_BIN, POSTSUPER_BIN, postfixVersion } from './install.js';
import { fdsFor, freePort, mustRun, runCommand, streamCommand, waitForBanner, waitPortClosed, withFdLimit } from './process.js';
import { DEFAULT_MARKER, recordDeletion, SETTLE_MS, settleBeforeStart } from './inode-settle.js';
import type { SettleOptions } from './inode-settle.js';
import type { PeerInfo, PeerTarget, RelayDiagnosis, RelayStartOptions, RunningPeer, RunningRelay, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'postfix',
  description: 'Postfix 3.7: smtpd -> cleanup -> hold queue (stored, not delivered, as Petrel keeps its inbound mail)',
  durable: true,
  durability: 'yes, queue file fsynced by cleanup before the 250',
};

const RELAY_INFO: PeerInfo = {
  ...INFO,
  description: 'Postfix 3.7: smtpd -> cleanup -> queue -> qmgr -> smtp client to smtp-sink',
};

const HOST = '127.0.0.1';
/** The HOLD action (access(5)) for the bench's clients: the whole message goes on the hold queue. */
const HOLD_ALL = `check_client_access inline:{ ${HOST}=HOLD }`;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

/** What Postfix does with mail for example.com. */
export type PostfixMode =
  /**
   * Inbound scenarios: store, durably, and do no more. Every accepted message goes on hold, so no
   * queue manager or delivery agent runs during the measurement: the work Petrel does there too,
   * whose inbound runs keep their mail queued (queue_only, no queue runs). With the discard
   * transport instead, Postfix delivered as it accepted and was measured doing more than Petrel.
   */
  | { readonly kind: 'store' }
  /** Relay to the sink on 127.0.0.1:sinkPort; with hold, every accepted message goes on hold. */
  | { readonly kind: 'relay'; readonly sinkPort: number; readonly hold: boolean };

/**
 * main.cf settings of the peer. The limits matter: by default anvil and the process limit would
 * throttle 20 concurrent sessions and the measurement would show Postfix's policy, not its speed.
 * Every mode sets the same keys, so that what one run set never leaks into the next.
 */
export function postfixSettings(mode: PostfixMode = { kind: 'store' }, maxSessions?: number): string[] {
  const relay = mode.kind === 'relay';
  const hold = mode.kind === 'store' || mode.hold;
  // One smtpd process per session: idle-connections needs as many processes as sessions, and some
  // for cleanup, qmgr and the probes.
  const processes = maxSessions !== undefined ? Math.max(100, maxSessions + 200) : 100;
  return [
    `inet_interfaces = ${HOST}`,
    'inet_protocols = ipv4',
    'myhostname = postfix.bench.test',
    'mydestination = localhost',
    'relay_domains = example.com',
    relay
      ? `transport_maps = inline:{ example.com=smtp:[${HOST}]:${mode.sinkPort} }`
      : 'transport_maps = inline:{ example.com=discard:peer }',
    // HOLD (access(5)) puts the whole message on the hold queue and lets evaluation go on, so
    // the relay check of smtpd_relay_restrictions still applies. Released by postsuper -H ALL.
    hold ? `smtpd_recipient_restrictions = ${HOLD_ALL}` : 'smtpd_recipient_restrictions =',
    // Tens of thousands of held files (a run and its warm-up) are spread over subdirectories, as
    // Postfix does for its deferred queue, rather than kept in one directory.
    'hash_queue_names = deferred, defer, hold',
    'defer_transports =',
    // Petrel opens up to 20 connections per destination (remote_max_parallel_per_host).
    'smtp_destination_concurrency_limit = 20',
    'smtpd_banner = $myhostname ESMTP',
    'smtpd_client_connection_rate_limit = 0',
    'smtpd_client_connection_count_limit = 0',
    'smtpd_client_message_rate_limit = 0',
    'smtpd_client_recipient_rate_limit = 0',
    `default_process_limit = ${processes}`,
    'in_flow_delay = 0',
    'smtpd_error_sleep_time = 0',
  ];
}

/** The commands that let held mail go: out of hold into the deferred queue, then a flush of it all. */
export function postfixReleaseCommands(): Array<[string, string[]]> {
  return [
    [POSTSUPER_BIN, ['-H', 'ALL']],
    [POSTQUEUE_BIN, ['-f']],
  ];
}

/**
 * Counts the messages of `postqueue -j` output as it streams: one JSON object per line, one line
 * per queue file. A line that is not JSON is an error (the listing is not what we think it is).
 */
export class PostqueueJsonCounter {
  count = 0;
  #rest = '';

  push(chunk: string): void {
    const lines = (this.#rest + chunk).split('\n');
    this.#rest = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  end(): number {
    this.#line(this.#rest);
    this.#rest = '';
    return this.count;
  }

  #line(line: string): void {
    const text = line.trim();
    if (text === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new PeerError('ERR_PEER_COMMAND', `postqueue -j printed a line that is not JSON: ${text.slice(0, 200)}`);
    }
    if (typeof v === 'object' && v !== null && typeof (v as { queue_id?: unknown }).queue_id === 'string') this.count++;
  }
}

/** Messages in a whole `postqueue -j` output. */
export function parsePostqueueJson(stdout: string): number {
  const c = new PostqueueJsonCounter();
  c.push(stdout);
  return c.end();
}

/** Messages in the queue as showq sees them (all queues, held ones included). */
export async function postqueueCount(): Promise<number> {
  const counter = new PostqueueJsonCounter();
  let failure: unknown;
  const r = await streamCommand(POSTQUEUE_BIN, ['-j'], (d) => {
    if (failure) return;
    try {
      counter.push(d);
    } catch (err) {
      failure = err;
    }
  }, { timeoutMs: 30_000 });
  if (failure) throw failure;
  if (r.code !== 0) throw new PeerError('ERR_PEER_COMMAND', `postqueue -j exited ${r.code}: ${r.stderr.trim().slice(-500)}`);
  return counter.end();
}

/** master.cf entry of the listener: no chroot, so no copy of /etc is needed in the queue directory. */
export function listenerEntry(port: number): string {
  return `${HOST}:${port}/inet = ${HOST}:${port} inet n - n - - smtpd`;
}

async function postconf(args: readonly string[]): Promise<string> {
  return mustRun(POSTCONF_BIN, args, { timeoutMs: 30_000 });
}

/** Whether the Postfix master is running (postfix status answers with its exit code). */
export async function postfixRunning(): Promise<boolean> {
  const r = await runCommand(POSTFIX_BIN, ['status'], { timeoutMs: 15_000 });
  return r.code === 0;
}

async function masterPid(): Promise<number | undefined> {
  try {
    const dir = await queueDirectory();
    const pid = Number.parseInt((await readFile(join(dir, 'pid', 'master.pid'), 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Writes the peer's main.cf settings and replaces every smtpd inet listener by ours. */
async function configure(port: number, mode: PostfixMode = { kind: 'store' }, maxSessions?: number): Promise<void> {
  await postconf(['-e', ...postfixSettings(mode, maxSessions)]);
  const master = await postconf(['-M']);
  const stale: string[] = [];
  for (const line of master.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === 'inet' && f[7] === 'smtpd' && f[0]) stale.push(`${f[0]}/inet`);
  }
  if (stale.length > 0) await postconf(['-MX', ...stale]);
  await postconf(['-Me', listenerEntry(port)]);
  await postconf(['-F', '*/*/chroot = n']);
}

/** Where Postfix keeps its queues. */
async function queueDirectory(): Promise<string> {
  return (await postconf(['-h', 'queue_directory'])).trim();
}

/** Files in any of Postfix's queues. */
export async function queuedFiles(): Promise<number> {
  const dir = await queueDirectory();
  let n = 0;
  for (const q of QUEUES) {
    try {
      const entries = await readdir(join(dir, q), { recursive: true, withFileTypes: true });
      n += entries.filter((e) => e.isFile()).length;
    } catch {
      // A queue directory that does not exist holds nothing.
    }
  }
  return n;
}

/**
 * A run starts from an empty queue, and what is queued when it stops is the run's own to delete. What
 * is queued before is not the bench's (this is the system's Postfix), unless a run of the bench left it.
 */
async function requireEmptyQueue(why: string): Promise<void> {
  const before = await queuedFiles();
  if (before > 0) {
    throw new PeerError('ERR_PEER_START', `the Postfix queue holds ${before} messages; it must be empty (${why}); postsuper -d ALL deletes them`);
  }
}

/** Deletes every queued message (what the run that is stopping accepted). */
async function deleteQueued(): Promise<void> {
  if ((await queuedFiles()) > 0) await mustRun(POSTSUPER_BIN, ['-d', 'ALL'], { timeoutMs: 60_000 });
}

/** Stops Postfix and waits until its master has exited; aborts it (then kills it) if it lingers. */
export async function stopPostfix(port?: number): Promise<void> {
  const pid = await masterPid();
  if (await postfixRunning()) {
    await runCommand(POSTFIX_BIN, ['stop'], { timeoutMs: STOP_TIMEOUT_MS });
  }
  if (pid !== undefined && !(await waitUntil(() => !alive(pid), STOP_TIMEOUT_MS))) {
    await runCommand(POSTFIX_BIN, ['abort'], { timeoutMs: STOP_TIMEOUT_MS }).catch(() => undefined);
    if (!(await waitUntil(() => !alive(pid), 5000))) process.kill(pid, 'SIGKILL');
  }
  if (port !== undefined && !(await waitPortClosed(HOST, port, 5000))) {
    throw new PeerError('ERR_PEER_STOP', `port ${port} still open after postfix stop`);
  }
}

/** Stops any running master, writes our configuration, starts Postfix and waits for its banner. */
async function bringUp(port: number, mode: PostfixMode, maxSessions?: number): Promise<void> {
  if (!(await isExecutable(POSTFIX_BIN))) {
    throw new PeerError('ERR_PEER_START', `${POSTFIX_BIN} not found: run ensurePeers(['postfix']) first`);
  }
  // Idempotent: a master left running (by us or by the package install) is stopped, then
  // restarted with this configuration, so the listener and limits are always ours.
  if (await postfixRunning()) await stopPostfix();
  await configure(port, mode, maxSessions);
  // The master and every process it starts inherit the limits of `postfix start`.
  const c = withFdLimit(POSTFIX_BIN, ['start'], fdsFor(maxSessions));
  const r = await runCommand(c.cmd, c.args, { timeoutMs: START_TIMEOUT_MS });
  if (r.code !== 0) {
    throw new PeerError('ERR_PEER_START', `postfix start exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  }
}

/** `postqueue -p`, first lines: why messages are still queued (no syslog to read here). */
async function queueListing(lines = 20): Promise<string[]> {
  try {
    let head = '';
    const r = await streamCommand(POSTQUEUE_BIN, ['-p'], (d) => {
      if (head.length < 16_384) head += d;
    }, { timeoutMs: 30_000 });
    const out = head.split('\n').filter((l) => l.trim() !== '').slice(0, lines);
    return out.length > 0 ? out : r.stderr.split('\n').filter((l) => l.trim() !== '').slice(0, lines);
  } catch (err) {
    return [`postqueue -p failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}

// One smtpd process per session, about 1.2 MB of PSS each here: 2,000 show the cost per session
// (it is linear) without taking 12 GB of the machine for 10,000.
export const POSTFIX_MAX_IDLE_SESSIONS = 2000;

/**
 * `settle`: how long after its last run's queue files were deleted a run may start (inode-settle.ts);
 * `windowMs: 0` for runs too short to matter.
 */
export function postfixTarget(settle: SettleOptions = {}): PeerTarget {
  const marker = settle.marker ?? DEFAULT_MARKER;
  const settling = (settle.windowMs ?? SETTLE_MS) > 0;
  /** Wait out the file system's delay on the last run's deleted inodes; the line says so in the report. */
  const settleFirst = async (signal?: AbortSignal): Promise<string[] | undefined> => {
    const line = await settleBeforeStart(await queueDirectory(), { ...settle, marker }, signal);
    return line ? [line] : undefined;
  };
  /** Every run deletes queue files (at its stop, or as it delivers): the next one waits from here. */
  const deleted = async (): Promise<void> => {
    if (settling) await recordDeletion(marker, await queueDirectory()).catch(() => undefined);
  };
  return {
    ...INFO,
    maxIdleSessions: POSTFIX_MAX_IDLE_SESSIONS,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      await requireEmptyQueue('the inbound scenarios keep what they accept on hold and delete it afterwards');
      const startNotes = await settleFirst(opts.signal);
      const port = opts.port ?? (await freePort(HOST));
      await bringUp(port, { kind: 'store' }, opts.maxSessions);
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        // Held, never to be delivered: accepted by this run (the queue was empty at start), so it
        // goes, and the next run starts from an empty queue as Petrel's fresh spool does.
        try {
          await deleteQueued();
        } finally {
          await stopPostfix(port);
          await deleted();
        }
      };
      let pid: number | undefined;
      try {
        await waitForBanner(HOST, port, START_TIMEOUT_MS);
        pid = await masterPid();
      } catch (err) {
        await stop().catch(() => undefined);
        throw err;
      }
      return {
        info: INFO,
        host: HOST,
        port,
        version: await postfixVersion(),
        ...(startNotes ? { startNotes } : {}),
        stop,
        pids: () => (pid !== undefined && alive(pid) ? [pid] : []),
      };
    },

    async startRelay(opts: RelayStartOptions): Promise<RunningRelay> {
      // The scenario counts messages in the queue: it must start empty.
      await requireEmptyQueue('the delivery scenarios count what is queued');
      const startNotes = await settleFirst(opts.signal);
      const port = opts.port ?? (await freePort(HOST));
      await bringUp(port, { kind: 'relay', sinkPort: opts.sinkPort, hold: opts.hold });
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        // Whatever is left was accepted during this run (the queue was empty at start): without
        // the sink it could only wait, so it goes, and the next run starts from an empty queue.
        try {
          await deleteQueued();
        } finally {
          await stopPostfix(port);
          await deleted();
        }
      };
      let pid: number | undefined;
      try {
        await waitForBanner(HOST, port, START_TIMEOUT_MS);
        pid = await masterPid();
      } catch (err) {
        await stop().catch(() => undefined);
        throw err;
      }
      return {
        info: RELAY_INFO,
        host: HOST,
        port,
        version: await postfixVersion(),
        ...(startNotes ? { startNotes } : {}),
        stop,
        pids: () => (pid !== undefined && alive(pid) ? [pid] : []),
        async release(): Promise<number> {
          const at = Date.now();
          for (const [cmd, args] of postfixReleaseCommands()) await mustRun(cmd, args, { timeoutMs: 60_000 });
          return at;
        },
        queued: postqueueCount,
        dead: () => (pid !== undefined && !alive(pid) ? `postfix master (pid ${pid}) exited` : undefined),
        async diagnose(): Promise<RelayDiagnosis> {
          return { lines: await queueListing() };
        },
      };
    },
  };
}
