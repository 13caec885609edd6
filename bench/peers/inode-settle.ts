// Waiting out ext4's delay on reusing deleted inodes before a system that stores a file per message starts.
//
// ext4 without a journal will not hand out an inode whose file was deleted less than 60 s ago (five
// minutes more while its inode-table block is dirty): each file created in that time scans past
// every such inode. A Postfix run deletes the tens of thousands of queue files it made (at its stop,
// or as it delivers), so the next Postfix run within that minute created each queue file behind that
// scan: on the bench machine it took half its rate and twice its CPU per message (docs/decisions/0018).

import { readFile, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runCommand } from './process.js';

/** ext4's own window (RECENTCY_MIN in fs/ext4/ialloc.c) and a margin for clocks and the last deletions. */
export const INODE_REUSE_WINDOW_MS = 60_000;
export const SETTLE_MARGIN_MS = 5_000;
export const SETTLE_MS = INODE_REUSE_WINDOW_MS + SETTLE_MARGIN_MS;

/** Where the time of the last deletion is kept, so that a second bench started soon after waits too. */
export const DEFAULT_MARKER = join(tmpdir(), 'petrel-bench-postfix-deleted');

/** How long to wait before starting, given the last deletion (epoch ms) and the window; 0 if none. */
export function settleWaitMs(lastDeletion: number | undefined, now: number, windowMs: number): number {
  if (lastDeletion === undefined || !Number.isFinite(lastDeletion) || lastDeletion > now) return 0;
  return Math.max(0, lastDeletion + windowMs - now);
}

/**
 * True when `dir` is on ext4 without a journal, where the kernel checks for recently deleted inodes
 * (only then: with a journal it does not). The file system's sysfs directory names its device, and
 * its `journal_task` gives no journal thread when there is no journal.
 */
export async function delaysInodeReuse(dir: string): Promise<boolean> {
  const r = await runCommand('findmnt', ['-n', '-o', 'SOURCE,FSTYPE', '--target', dir], { timeoutMs: 5000 }).catch(() => undefined);
  if (!r || r.code !== 0) return false;
  const [source, fstype] = r.stdout.trim().split(/\s+/);
  if (fstype !== 'ext4' || !source?.startsWith('/dev/')) return false;
  const device = basename(await realpath(source).catch(() => source));
  const task = await readFile(join('/sys/fs/ext4', device, 'journal_task'), 'utf8').catch(() => undefined);
  // The journal thread's pid when there is a journal; "<none>" (as on the bench machine) without one.
  return task !== undefined && !/^\d+$/.test(task.trim());
}

/** The last deletion recorded in `file`, or undefined. */
export async function lastDeletion(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const at = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(at) ? at : undefined;
}

/**
 * Record a deletion now. The file system is synced first: that cleans the inode-table blocks, so the
 * kernel's window is its one minute, not the six it gives while they are dirty.
 */
export async function recordDeletion(file: string, dir: string): Promise<void> {
  await runCommand('sync', ['-f', dir], { timeoutMs: 60_000 }).catch(() => undefined);
  await writeFile(file, `${Date.now()}\n`);
}

/** Settling for one peer: `windowMs` 0 turns it off (short test runs delete too few files to matter). */
export interface SettleOptions {
  readonly windowMs?: number;
  readonly marker?: string;
}

/**
 * Wait, if `dir`'s file system delays inode reuse, until the window after the last recorded
 * deletion has passed. Returns a line for the report when it waited, else undefined.
 */
export async function settleBeforeStart(dir: string, opts: SettleOptions, signal?: AbortSignal): Promise<string | undefined> {
  const windowMs = opts.windowMs ?? SETTLE_MS;
  if (windowMs <= 0 || !(await delaysInodeReuse(dir))) return undefined;
  const wait = settleWaitMs(await lastDeletion(opts.marker ?? DEFAULT_MARKER), Date.now(), windowMs);
  if (wait <= 0) return undefined;
  if (signal?.aborted) return undefined;
  const began = Date.now();
  await new Promise<void>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, wait);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const waited = Date.now() - began;
  if (signal?.aborted) return `interrupted after waiting ${(waited / 1000).toFixed(0)} s for the file system (ext4 without a journal)`;
  return `started after waiting ${(waited / 1000).toFixed(0)} s: its queue is on ext4 without a journal, which delays reusing the inodes of files deleted in the last minute (the previous run's queue files)`;
}
