// Tests of the wait before a Postfix run for ext4's delay on reusing deleted inodes: the arithmetic,
// the file-system check against the kernel's own list of journals, and the real Postfix target.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postfixTarget } from '../../bench/peers/postfix.js';
import { delaysInodeReuse, lastDeletion, recordDeletion, settleBeforeStart, settleWaitMs, SETTLE_MS } from '../../bench/peers/inode-settle.js';
import { withStartNotes } from '../../bench/scenarios/common.js';
import type { TargetRun } from '../../bench/scenarios/index.js';

/** The kernel's answer, read another way: ext4, and no jbd2 journal listed for its device. */
function ext4WithoutJournal(dir: string): boolean {
  const [source, fstype] = execFileSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE', '--target', dir], { encoding: 'utf8' }).trim().split(/\s+/);
  if (fstype !== 'ext4' || !source) return false;
  const device = basename(realpathSync(source));
  const journals = existsSync('/proc/fs/jbd2') ? readdirSync('/proc/fs/jbd2') : [];
  return !journals.some((j) => j.startsWith(`${device}-`));
}

describe('settle arithmetic', () => {
  it('waits out the rest of the window after the last deletion, and not otherwise', () => {
    assert.equal(settleWaitMs(undefined, 100_000, SETTLE_MS), 0);
    assert.equal(settleWaitMs(100_000, 100_000, 65_000), 65_000);
    assert.equal(settleWaitMs(100_000, 140_000, 65_000), 25_000);
    assert.equal(settleWaitMs(100_000, 165_000, 65_000), 0);
    assert.equal(settleWaitMs(100_000, 500_000, 65_000), 0);
    // A mark from the future (a clock set back) is not a reason to wait.
    assert.equal(settleWaitMs(200_000, 100_000, 65_000), 0);
    assert.equal(settleWaitMs(Number.NaN, 100_000, 65_000), 0);
    // The window is the kernel's minute with a margin.
    assert.ok(SETTLE_MS > 60_000 && SETTLE_MS <= 70_000);
  });

  it('puts what the system said about its start first among the run checks', () => {
    const run = { system: 'postfix', description: '', durable: true, durability: '', checks: ['later'] } as TargetRun;
    assert.deepEqual(withStartNotes(run, { startNotes: ['waited'] } as never).checks, ['waited', 'later']);
    assert.equal(withStartNotes(run, undefined), run);
  });
});

describe('which file systems delay inode reuse', () => {
  it('agrees with the kernel list of journals for the root and the Postfix queue', async () => {
    for (const dir of ['/', '/var/spool/postfix']) {
      if (!existsSync(dir)) continue;
      assert.equal(await delaysInodeReuse(dir), ext4WithoutJournal(dir), dir);
    }
  });

  it('says no for tmpfs and for a path that does not exist', async () => {
    if (existsSync('/dev/shm')) assert.equal(await delaysInodeReuse('/dev/shm'), false);
    assert.equal(await delaysInodeReuse('/no/such/directory/here'), false);
  });
});

describe('the Postfix target waits after its previous run', { timeout: 120_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-settle-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records the deletion at stop and, where the file system delays reuse, waits the window out before the next start', async () => {
    const marker = join(dir, 'deleted');
    const windowMs = 6000;
    const target = postfixTarget({ windowMs, marker });
    const first = await target.start();
    assert.equal(first.startNotes, undefined, 'nothing was deleted before: no wait');
    await first.stop();
    const stoppedAt = Date.now();
    const mark = await lastDeletion(marker);
    assert.ok(mark !== undefined && mark <= stoppedAt && stoppedAt - mark < 10_000, `marker ${mark}`);

    const delays = ext4WithoutJournal('/var/spool/postfix');
    const t0 = Date.now();
    const second = await target.start();
    const took = Date.now() - t0;
    try {
      if (delays) {
        assert.ok(Date.now() - (mark ?? 0) >= windowMs, `started ${Date.now() - (mark ?? 0)} ms after the deletion`);
        assert.match(second.startNotes?.[0] ?? '', /^started after waiting \d+ s: its queue is on ext4 without a journal/);
      } else {
        assert.equal(second.startNotes, undefined);
        assert.ok(took < windowMs + 20_000);
      }
    } finally {
      await second.stop();
    }
  });

  it('stops waiting when the bench is interrupted', async () => {
    const marker = join(dir, 'interrupted');
    await recordDeletion(marker, dir);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const t0 = Date.now();
    const line = await settleBeforeStart(dir, { windowMs: 60_000, marker }, abort.signal);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `${took} ms`);
    if (ext4WithoutJournal(dir)) {
      assert.ok(took >= 250, `it waited ${took} ms`);
      assert.match(line ?? '', /^interrupted after waiting 0 s/);
    } else assert.equal(line, undefined);
  });

  it('with a window of 0 neither waits nor records', async () => {
    const marker = join(dir, 'off');
    const target = postfixTarget({ windowMs: 0, marker });
    const p = await target.start();
    await p.stop();
    await assert.rejects(readFile(marker, 'utf8'));
    const again = await target.start();
    assert.equal(again.startNotes, undefined);
    await again.stop();
  });
});
