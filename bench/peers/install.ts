// Installs the Debian packages the peers need (postfix, swaks), non-interactively, only when missing.

import { access, constants } from 'node:fs/promises';
import { PeerError } from '../errors.js';
import { ensureHaraka } from './haraka.js';
import { mustRun, runCommand } from './process.js';

export const POSTFIX_BIN = '/usr/sbin/postfix';
export const POSTCONF_BIN = '/usr/sbin/postconf';
export const POSTQUEUE_BIN = '/usr/sbin/postqueue';
export const POSTSUPER_BIN = '/usr/sbin/postsuper';
export const SMTP_SINK_BIN = '/usr/sbin/smtp-sink';
export const SWAKS_BIN = '/usr/bin/swaks';

/** The binary each package must provide, so the check needs no dpkg query. */
const PACKAGES: Record<string, string> = {
  postfix: POSTFIX_BIN,
  swaks: SWAKS_BIN,
};

/** Debian packages each peer needs. swaks comes along with Postfix: the project's tests use it. */
const NEEDS: Record<string, readonly string[]> = {
  postfix: ['postfix', 'swaks'],
  sink: ['postfix', 'swaks'],
  petrel: [],
  // Haraka comes from npm (ensureHaraka), not from Debian.
  haraka: [],
};

// Without a preseed the postfix package asks which mailer type to configure and blocks.
const PRESEED = [
  'postfix postfix/main_mailer_type select Local only',
  'postfix postfix/mailname string postfix.bench.test',
].join('\n');

const APT_TIMEOUT_MS = 10 * 60_000;

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Packages (of those the peers need) whose binary is absent. */
export async function missingPackages(peers: readonly string[]): Promise<string[]> {
  const wanted = new Set<string>();
  for (const p of peers) {
    const needs = NEEDS[p];
    if (!needs) throw new PeerError('ERR_PEER_UNKNOWN', `unknown peer "${p}" (known: ${Object.keys(NEEDS).join(', ')})`);
    for (const pkg of needs) wanted.add(pkg);
  }
  const missing: string[] = [];
  for (const pkg of wanted) {
    const bin = PACKAGES[pkg];
    if (bin && !(await isExecutable(bin))) missing.push(pkg);
  }
  return missing;
}

/**
 * Makes sure the peers can be started: apt-installs what is missing with the debconf preseed.
 * Nothing is done (and nothing needs root) when all is present.
 */
export async function ensurePeers(
  peers: readonly string[],
  log: (line: string) => void = () => undefined,
): Promise<void> {
  if (peers.includes('haraka')) await ensureHaraka(log);
  const missing = await missingPackages(peers);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new PeerError('ERR_PEER_INSTALL', `missing packages ${missing.join(', ')} and not root to install them`);
  }
  log(`installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
  try {
    await mustRun('debconf-set-selections', [], { input: `${PRESEED}\n`, env, timeoutMs: 60_000 });
    const args = ['install', '-y', '-q', '--no-install-recommends', ...missing];
    const first = await runCommand('apt-get', args, { env, timeoutMs: APT_TIMEOUT_MS });
    if (first.code !== 0) {
      // Usually stale or absent package lists (a fresh container): refresh once and retry.
      log('apt-get install failed; running apt-get update and retrying');
      await mustRun('apt-get', ['update', '-q'], { env, timeoutMs: APT_TIMEOUT_MS });
      await mustRun('apt-get', args, { env, timeoutMs: APT_TIMEOUT_MS });
    }
  } catch (err) {
    throw new PeerError('ERR_PEER_INSTALL', `could not install ${missing.join(', ')}`, { cause: err });
  }
  const still = await missingPackages(peers);
  if (still.length > 0) throw new PeerError('ERR_PEER_INSTALL', `still missing after install: ${still.join(', ')}`);
}

/** The Postfix version that ships the binary, e.g. "3.7.11"; undefined when Postfix is absent. */
export async function postfixVersion(): Promise<string | undefined> {
  try {
    const r = await runCommand(POSTCONF_BIN, ['-h', 'mail_version'], { timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}
