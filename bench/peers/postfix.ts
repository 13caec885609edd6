// Postfix 3.7 as a durable inbound peer: smtpd -> cleanup (fsync) -> queue -> discard transport.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PeerError } from '../errors.js';
import { isExecutable, POSTCONF_BIN, POSTFIX_BIN, postfixVersion } from './install.js';
import { freePort, mustRun, runCommand, waitForBanner, waitPortClosed } from './process.js';
import type { PeerInfo, PeerTarget, RunningPeer, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'postfix',
  description: 'Postfix 3.7: smtpd -> cleanup -> queue, discard transport for example.com',
  durable: true,
  durability: 'yes, queue file fsynced by cleanup before the 250',
};

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
// What is still queued is delivered by the discard transport within seconds; waiting for it keeps
// that work from running during the next target's measurement.
const DRAIN_TIMEOUT_MS = 20_000;
const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

/**
 * main.cf settings of the peer. The limits matter: by default anvil and the process limit would
 * throttle 20 concurrent sessions and the measurement would show Postfix's policy, not its speed.
 */
export function postfixSettings(): string[] {
  return [
    `inet_interfaces = ${HOST}`,
    'inet_protocols = ipv4',
    'myhostname = postfix.bench.test',
    'mydestination = localhost',
    'relay_domains = example.com',
    'transport_maps = inline:{ example.com=discard:peer }',
    'smtpd_banner = $myhostname ESMTP',
    'smtpd_client_connection_rate_limit = 0',
    'smtpd_client_connection_count_limit = 0',
    'smtpd_client_message_rate_limit = 0',
    'smtpd_client_recipient_rate_limit = 0',
    'default_process_limit = 100',
    'in_flow_delay = 0',
    'smtpd_error_sleep_time = 0',
  ];
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
    const dir = (await postconf(['-h', 'queue_directory'])).trim();
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
async function configure(port: number): Promise<void> {
  await postconf(['-e', ...postfixSettings()]);
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

/** Files still queued (all queues); the discard transport empties them within seconds. */
export async function queuedFiles(): Promise<number> {
  const dir = (await postconf(['-h', 'queue_directory'])).trim();
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

export function postfixTarget(): PeerTarget {
  return {
    ...INFO,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      if (!(await isExecutable(POSTFIX_BIN))) {
        throw new PeerError('ERR_PEER_START', `${POSTFIX_BIN} not found: run ensurePeers(['postfix']) first`);
      }
      // Idempotent: a master left running (by us or by the package install) is stopped, then
      // restarted with this configuration, so the listener and limits are always ours.
      if (await postfixRunning()) await stopPostfix();
      const port = opts.port ?? (await freePort(HOST));
      await configure(port);
      const r = await runCommand(POSTFIX_BIN, ['start'], { timeoutMs: START_TIMEOUT_MS });
      if (r.code !== 0) {
        throw new PeerError('ERR_PEER_START', `postfix start exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
      }
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        await waitUntil(async () => (await queuedFiles()) === 0, DRAIN_TIMEOUT_MS);
        await stopPostfix(port);
      };
      try {
        await waitForBanner(HOST, port, START_TIMEOUT_MS);
      } catch (err) {
        await stop().catch(() => undefined);
        throw err;
      }
      return { info: INFO, host: HOST, port, version: await postfixVersion(), stop };
    },
  };
}
