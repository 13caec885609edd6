// End-to-end: connection limits, graceful shutdown on SIGTERM, and configuration reload on SIGHUP.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startDaemon, startDaemonOnPorts } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import type { RawClient } from '../helpers/smtp-client.js';
import {
  connectEhlo, expectReply, freePort, message, queueList, readUntilClosed, sleep, until,
  closeClients, connect,
} from '../helpers/integration.js';

/** Open a connection and return it with its first reply. */
async function open(port: number): Promise<{ c: RawClient; first: Awaited<ReturnType<RawClient['read']>> }> {
  const c = await connect(port);
  return { c, first: await c.read() };
}

/** Open connections until one gets a 220 (the server may take a moment to count a closed one). */
async function eventuallyServed(port: number): Promise<RawClient> {
  let served: RawClient | undefined;
  await until(async () => {
    const { c, first } = await open(port);
    if (first?.code === 220) {
      served = c;
      return true;
    }
    c.close();
    return false;
  }, 5000, 'a connection to be served again');
  return served as RawClient;
}

describe('smtp_accept_max_per_host', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_accept_max_per_host: 2 } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('the third concurrent connection from one host gets 421 4.7.0 and is closed', async () => {
    const a = await open(d.port);
    const b = await open(d.port);
    expectReply(a.first, 220, undefined, 'first');
    expectReply(b.first, 220, undefined, 'second');
    const third = await open(d.port);
    expectReply(third.first, 421, '4.7.0', 'third');
    await third.c.waitClosed();
    a.c.close();
    const again = await eventuallyServed(d.port);
    expectReply(await again.cmd('QUIT'), 221, undefined, 'QUIT');
    b.c.close();
  });
});

describe('smtp_accept_max', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_accept_max: 3 } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('the fourth concurrent connection gets 421 4.7.0 and is closed', async () => {
    const held = [await open(d.port), await open(d.port), await open(d.port)];
    for (const h of held) expectReply(h.first, 220, undefined, 'held');
    const fourth = await open(d.port);
    expectReply(fourth.first, 421, '4.7.0', 'fourth');
    await fourth.c.waitClosed();
    // QUIT on one frees a slot.
    expectReply(await held[0]?.c.cmd('QUIT') ?? null, 221, undefined, 'QUIT');
    const again = await eventuallyServed(d.port);
    again.close();
    for (const h of held) h.c.close();
  });
});

describe('graceful shutdown (SIGTERM)', () => {
  let d: Daemon;
  let restarted: Daemon | undefined;
  const config = { shutdown_timeout: '5s' };
  before(async () => {
    d = await startDaemon({ config });
  });
  after(async () => {
    closeClients();
    await d.stop();
    await restarted?.stop();
    d.cleanup();
  });

  test('idle session gets 421 4.3.2 at once; the one in DATA finishes (250), then 421; exit 0; message kept', async () => {
    const idle = await connectEhlo(d.port, 'idle.petrel.test');
    const busy = await connectEhlo(d.port, 'busy.petrel.test');
    const bc = busy.c;
    expectReply(await bc.cmd('MAIL FROM:<shutdown@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await bc.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await bc.cmd('DATA'), 354, undefined, 'DATA');
    bc.write('From: <shutdown@example.test>\r\nSubject: shutdown\r\n\r\nfirst half\r\n');
    await sleep(100);

    const exited = new Promise<number | null>((res) => d.child.once('exit', (code) => res(code)));
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    expectReply(await idle.c.read(2000), 421, '4.3.2', 'idle session');
    assert.ok(Date.now() - t0 < 1500, `the idle session is told promptly (${Date.now() - t0} ms)`);
    await idle.c.waitClosed(2000);

    // New connections are no longer served.
    const late = await connect(d.port).catch(() => undefined);
    if (late) {
      const r = await late.read(2000);
      assert.ok(r === null || r.code === 421, `a new connection is refused: ${r?.text}`);
      late.close();
    }

    bc.write('second half\r\n.\r\n');
    const done = await bc.read(3000);
    expectReply(done, 250, '2.0.0', 'end of data during shutdown');
    const id = /id=(\S+)/.exec(done.text)?.[1];
    expectReply(await bc.cmd('NOOP'), 421, '4.3.2', 'next command after the message');
    await bc.waitClosed(2000);

    assert.equal(await exited, 0, 'daemon exits 0');
    assert.ok(Date.now() - t0 < 5000, 'before the shutdown deadline, since every session ended');

    restarted = await startDaemon({ dir: d.dir, config });
    const q = (await queueList(restarted)).filter((m) => m.sender === 'shutdown@example.test');
    assert.equal(q.length, 1, 'the finished message is in the spool after a restart');
    if (id) assert.equal(q[0]?.id, id);
  });
});

describe('graceful shutdown: the deadline', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { shutdown_timeout: '1s' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('a session still in DATA at shutdown_timeout is cut, its message is not queued, and the daemon exits 0', async () => {
    const { c } = await connectEhlo(d.port, 'stuck.petrel.test');
    expectReply(await c.cmd('MAIL FROM:<stuck@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: stuck\r\n\r\nnever finished\r\n');
    await sleep(100);
    const exited = new Promise<number | null>((res) => d.child.once('exit', (code) => res(code)));
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    await c.waitClosed(4000);
    assert.equal(await exited, 0, 'daemon exits 0');
    const took = Date.now() - t0;
    assert.ok(took >= 800 && took < 4000, `cut at the deadline (${took} ms)`);
    assert.deepEqual(await queueList(d), [], 'the unfinished message is not queued');
  });
});

describe('reload (SIGHUP)', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_banner: '$primary_hostname ESMTP first banner' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('a changed smtp_banner is used by new connections after SIGHUP', async () => {
    const before1 = await open(d.port);
    expectReply(before1.first, 220, undefined, 'banner before');
    assert.match(before1.first.text, /first banner/);
    before1.c.close();

    const cfg = JSON.parse(readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(d.configFile, JSON.stringify({ ...cfg, smtp_banner: '$primary_hostname ESMTP second banner' }, null, 2));
    const n = d.logs.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload' && d.logs.indexOf(l) >= n, 5000);
    const after1 = await open(d.port);
    expectReply(after1.first, 220, undefined, 'banner after');
    assert.match(after1.first.text, /^220 mx\.petrel\.test ESMTP second banner$/);
    expectReply(await after1.c.cmd('QUIT'), 221, undefined, 'QUIT');
  });

  test('a broken config + SIGHUP: "reload failed" is logged and the daemon keeps the old config', async () => {
    const good = readFileSync(d.configFile, 'utf8');
    writeFileSync(d.configFile, JSON.stringify({ ...(JSON.parse(good) as object), smtp_banner: 'third banner', no_such_key: 1 }));
    const n = d.logs.length;
    d.child.kill('SIGHUP');
    const line = await d.waitForLog((l) => /reload failed/.test(l.msg) && d.logs.indexOf(l) >= n, 5000);
    assert.ok(line.level >= 50, `logged as an error (level ${line.level})`);
    assert.equal(d.child.exitCode, null, 'still running');
    const still = await open(d.port);
    expectReply(still.first, 220, undefined, 'banner');
    assert.match(still.first.text, /second banner/, 'the last good config is still in use');
    expectReply(await still.c.cmd('EHLO client.petrel.test'), 250, undefined, 'EHLO');
    const r = await still.c.cmd('MAIL FROM:<reload@example.test>');
    expectReply(r, 250, '2.1.0', 'MAIL');
    still.c.close();

    // Invalid JSON is handled the same way.
    writeFileSync(d.configFile, '{ not json');
    const m = d.logs.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => /reload failed/.test(l.msg) && d.logs.indexOf(l) >= m, 5000);
    const again = await open(d.port);
    expectReply(again.first, 220, undefined, 'banner after the second bad reload');
    again.c.close();
    writeFileSync(d.configFile, good);
  });

  test('a message sent around a reload is queued', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<around@example.test>'), 250, '2.1.0', 'MAIL');
    d.child.kill('SIGHUP');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${message('around')}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    await readUntilClosed(c);
    assert.equal((await queueList(d)).filter((m) => m.sender === 'around@example.test').length, 1);
  });
});

describe('reload (SIGHUP) that changes connection limits', () => {
  let d: Daemon;
  let port = 0;
  before(async () => {
    const started = await startDaemonOnPorts(1, freePort, ([p]) => ({ config: { listen: [`127.0.0.1:${p}`], smtp_accept_max: 10 } }));
    d = started.daemon;
    port = started.ports[0] as number;
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('sessions in progress survive the reload and finish their message', async () => {
    const { c } = await connectEhlo(port, 'reload.petrel.test');
    expectReply(await c.cmd('MAIL FROM:<limits@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: reload\r\n\r\nfirst half\r\n');
    const cfg = JSON.parse(readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(d.configFile, JSON.stringify({ ...cfg, smtp_accept_max: 20 }, null, 2));
    const n = d.logs.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload' && d.logs.indexOf(l) >= n, 5000);
    await sleep(1000); // the supervisor restarts the listener after its restart delay (500 ms)
    assert.equal(c.closed, false, 'the session in DATA is still connected after the reload');
    c.write('second half\r\n.\r\n');
    expectReply(await c.read(), 250, '2.0.0', 'end of data after the reload');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queueList(d)).filter((m) => m.sender === 'limits@example.test').length, 1);
    // New connections are served on the same port with the new limits.
    const { c: c2 } = await connectEhlo(port);
    c2.close();
  });
});
