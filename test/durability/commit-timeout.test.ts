// spool_commit_timeout: a commit that cannot reach the disk gets 451 after the timeout, not a client held forever.
// Another process holds LMDB's write lock (as a stuck writer would), so the daemon's commits cannot start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { closeClients, connectEhlo, expectReply, queueList } from '../helpers/integration.js';
import { sendMail } from '../helpers/smtp-client.js';

const TIMEOUT_S = 2;
const HOLD_MS = 6000;

/**
 * Start a process that opens the spool's LMDB environment and holds a write transaction for `ms`;
 * resolves once it holds it, with a promise of its exit (wrapped: an async function's returned
 * promise would be adopted).
 */
async function holdWriteLock(d: Daemon, ms: number): Promise<{ released: Promise<void> }> {
  const script = join(d.dir, 'hold.mjs');
  const lmdb = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'node_modules', 'lmdb', 'index.js')).href;
  writeFileSync(
    script,
    [
      `import { open } from ${JSON.stringify(lmdb)};`,
      "import { writeSync } from 'node:fs';",
      'const [path, ms] = process.argv.slice(2);',
      'const root = open({ path, maxDbs: 16, overlappingSync: false });',
      'root.transactionSync(() => {',
      // Written synchronously: the wait below blocks this process before an asynchronous write would go out.
      "  writeSync(1, 'holding\\n');",
      '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms));',
      '});',
      'await root.close();',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [script, join(d.dir, 'spool', 'petrel.lmdb'), String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('holding')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the lock holder exited early (${code})`)));
  });
  return { released: new Promise((resolve) => child.once('exit', () => resolve())) };
}

test('a commit stuck behind the write lock is answered 451 after spool_commit_timeout; mail flows again after', { timeout: 60_000 }, async (t) => {
  const d = await startDaemon({ config: { spool_commit_timeout: `${TIMEOUT_S}s` } });
  t.after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });
  const { c } = await connectEhlo(d.port);
  expectReply(await sendMail(c, 'before@client.test', ['someone@localhost'], 'Subject: before\r\n\r\nbefore the lock\r\n'), 250, '2.0.0', 'before the lock');

  const { released } = await holdWriteLock(d, HOLD_MS);
  const t0 = performance.now();
  const stuck = await sendMail(c, 'stuck@client.test', ['someone@localhost'], 'Subject: stuck\r\n\r\nwhile the lock is held\r\n');
  const waited = performance.now() - t0;
  expectReply(stuck, 451, '4.3.0', 'end of data while the spool cannot commit');
  assert.ok(waited >= TIMEOUT_S * 1000 - 50, `answered after ${waited.toFixed(0)} ms, before the timeout`);
  assert.ok(waited < HOLD_MS - 500, `answered after ${waited.toFixed(0)} ms: it waited for the lock, not the timeout`);
  const logged = await d.waitForLog((l) => l.event === 'spool-error');
  assert.match(logged.msg, /spool_commit_timeout/);

  // The session goes on: the client may retry on the same connection once the spool recovers.
  expectReply(await c.cmd('NOOP'), 250, undefined, 'NOOP after the 451');
  await released;
  expectReply(await sendMail(c, 'after@client.test', ['someone@localhost'], 'Subject: after\r\n\r\nafter the lock\r\n'), 250, '2.0.0', 'after the lock');
  expectReply(await c.cmd('QUIT'), 221, undefined, 'QUIT');

  const senders = (await queueList(d)).map((m) => m.sender);
  assert.ok(senders.includes('before@client.test') && senders.includes('after@client.test'), `queued: ${senders.join(', ')}`);
  // The stuck message may land once the lock is gone (its 451 makes the client retry: RFC 5321
  // section 6.1 accepts that duplicate); it is never there twice.
  assert.ok(senders.filter((s) => s === 'stuck@client.test').length <= 1);
});

test('a spool_commit_timeout changed by SIGHUP applies to the next commits', { timeout: 60_000 }, async (t) => {
  // Started with the default (1m): were the reload not applied, the commit would wait for the lock.
  const d = await startDaemon();
  t.after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });
  const cfg = JSON.parse(readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(d.configFile, JSON.stringify({ ...cfg, spool_commit_timeout: `${TIMEOUT_S}s` }, null, 2));
  const n = d.logs.length;
  d.child.kill('SIGHUP');
  await d.waitForLog((l) => l.event === 'reload' && d.logs.indexOf(l) >= n, 5000);

  const { c } = await connectEhlo(d.port);
  const { released } = await holdWriteLock(d, HOLD_MS);
  const t0 = performance.now();
  const stuck = await sendMail(c, 'stuck@client.test', ['someone@localhost'], 'Subject: stuck\r\n\r\nafter the reload\r\n');
  const waited = performance.now() - t0;
  expectReply(stuck, 451, '4.3.0', 'end of data while the spool cannot commit, after the reload');
  assert.ok(waited < HOLD_MS - 500, `answered after ${waited.toFixed(0)} ms: the reloaded timeout was not used`);
  await released;
  expectReply(await c.cmd('QUIT'), 221, undefined, 'QUIT');
});
