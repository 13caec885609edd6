// session_processes: further processes accept on the daemon's listening sockets and write its spool. Real
// daemons, real peers: everything accepted by any process arrives exactly once, connection limits count
// every process's sessions, a killed process loses nothing acknowledged and leaves nothing half-written,
// a reload reaches every process, and a stop leaves no process behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertAlive, assertAllOnceAtSink, smtpSource, startDeliveryDaemon, startSmtpServerSink, tally, waitMaildir } from '../helpers/delivery.js';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { adminBase, PETREL, startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { alive, queueList, until } from '../helpers/integration.js';
import { RawClient, sendMail } from '../helpers/smtp-client.js';

const MESSAGES = 1000;

/** The pids of the session processes, from the daemon's log line once they are up. */
async function sessionPids(d: Daemon): Promise<number[]> {
  const line = await d.waitForLog((l) => l.event === 'session-processes', 15_000);
  return line.pids as number[];
}

/** Which process logged the arrival of this queue id. */
function arrivalPid(d: Daemon, id: string): number | undefined {
  return d.logs.find((l) => l.event === 'arrival' && l.id === id)?.pid as number | undefined;
}

/** A greeted session that sent one message; resolves with it and the queue id. */
async function sessionWithMessage(d: Daemon): Promise<{ c: RawClient; id: string; banner: string }> {
  const c = await RawClient.connect(d.port);
  const banner = await c.read();
  assert.equal(banner?.code, 220);
  assert.equal((await c.cmd('EHLO client.petrel.test'))?.code, 250);
  const done = await sendMail(c, 'a@client.petrel.test', ['postmaster@mx.petrel.test'], 'Subject: one\r\n\r\nbody\r\n');
  assert.equal(done?.code, 250, done?.text);
  const id = /id=([0-9A-Z]+)/.exec(done?.text ?? '')?.[1] as string;
  await until(() => arrivalPid(d, id) !== undefined, 5000, `arrival line of ${id}`);
  return { c, id, banner: banner?.text ?? '' };
}

/** Open sessions until one is served by a session process (not the daemon); the others are closed. */
async function sessionInChild(d: Daemon, child: number): Promise<{ c: RawClient; id: string }> {
  for (let i = 0; i < 40; i++) {
    const s = await sessionWithMessage(d);
    if (arrivalPid(d, s.id) === child) return s;
    await s.c.cmd('QUIT').catch(() => null);
    s.c.close();
  }
  throw new Error('40 sessions in a row went to the daemon itself');
}

test('1,000 messages from smtp-source over two processes arrive at the smarthost exactly once; both processes served; /metrics sums them', { timeout: 180_000 }, async () => {
  const sink = await startSmtpServerSink();
  let d: DeliveryDaemon | undefined;
  try {
    d = await startDeliveryDaemon({ smarthost: sink.hostPort, session_processes: 2 });
    const [child] = await sessionPids(d);
    assert.ok(child && child !== d.child.pid);
    const src = await smtpSource(d.port, MESSAGES, 'load@client.petrel.test');
    assert.equal(src.code, 0, `smtp-source failed: ${src.stderr}`);
    await assertAllOnceAtSink(d, sink, MESSAGES, 90_000);
    // Both processes took sessions, and their ids never met.
    const arrivals = d.logs.filter((l) => l.event === 'arrival');
    assert.equal(arrivals.length, MESSAGES);
    assert.equal(new Set(arrivals.map((l) => l.id)).size, MESSAGES, 'ids unique across processes');
    const byPid = tally(arrivals.map((l) => String(l.pid)));
    assert.ok((byPid.get(String(child)) ?? 0) > 0, `the session process served none: ${JSON.stringify([...byPid])}`);
    assert.ok((byPid.get(String(d.child.pid)) ?? 0) > 0, `the daemon served none: ${JSON.stringify([...byPid])}`);
    assert.equal(d.logs.filter((l) => l.event === 'delivered').length, MESSAGES);
    const metrics = await (await fetch(`${adminBase(d)}/metrics`)).text();
    assert.equal(Number(/^petrel_messages_total\{outcome="accepted"\} (\S+)$/m.exec(metrics)?.[1]), MESSAGES, 'accepted summed over both processes');
    assert.ok(Number(/^petrel_session_processes_busy_seconds_total (\S+)$/m.exec(metrics)?.[1]) > 0, 'the session process\'s loop is counted');
    assert.ok(Number(/^petrel_event_loop_busy_seconds_total (\S+)$/m.exec(metrics)?.[1]) > 0);
  } finally {
    await d?.stop();
    d?.cleanup();
    await sink.close();
  }
});

test('a 1 MB message received by a session process is stored whole by the daemon and delivered byte for byte', { timeout: 60_000 }, async () => {
  const d = await startDeliveryDaemon({ session_processes: 2 });
  try {
    const [child] = await sessionPids(d);
    assert.ok(child);
    const { c } = await sessionInChild(d, child);
    // Lines that differ, so that a lost, repeated or reordered 64 KB chunk shows.
    const body = Array.from({ length: 12_000 }, (_, i) => `line ${String(i).padStart(6, '0')} ${'abcdefghij'.repeat(8)}`).join('\r\n');
    const done = await sendMail(c, 'big@client.petrel.test', ['postmaster@mx.petrel.test'], `Subject: big one\r\n\r\n${body}\r\n`);
    assert.equal(done?.code, 250, done?.text);
    const id = /id=([0-9A-Z]+)/.exec(done?.text ?? '')?.[1] as string;
    assert.equal(arrivalPid(d, id) ?? (await d.waitForLog((l) => l.event === 'arrival' && l.id === id)).pid, child);
    c.close();
    const m = await waitMaildir(d.maildir, 'postmaster', (x) => x.text.includes('Subject: big one'));
    // Maildir files end lines with LF alone.
    const got = m.text.slice(m.text.indexOf('\n\n') + 2);
    assert.equal(got, `${body.replaceAll('\r\n', '\n')}\n`);
  } finally {
    await d.stop();
    d.cleanup();
  }
});

test('smtp_accept_max_per_host counts the sessions of every process; a killed process releases its count, loses nothing acknowledged and leaves nothing half-written', { timeout: 90_000 }, async () => {
  const d = await startDaemon({ config: { session_processes: 2, smtp_accept_max_per_host: 4 } });
  try {
    const [child] = await sessionPids(d);
    assert.ok(child);
    // Eight at once: whichever process accepts each, four are admitted and four refused.
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(d.port)));
    const banners = await Promise.all(clients.map((c) => c.read()));
    const codes = banners.map((b) => b?.code).sort();
    assert.deepEqual(codes, [220, 220, 220, 220, 421, 421, 421, 421], `banners: ${banners.map((b) => b?.text).join(' | ')}`);
    for (const c of clients) c.close();
    await until(() => d.logs.filter((l) => l.event === 'refused').length >= 4, 5000, 'four refusals logged');

    // A session in the session process, with a message acknowledged and a large second one half sent.
    await new Promise((r) => setTimeout(r, 300));
    const { c, id: kept } = await sessionInChild(d, child);
    assert.equal((await c.cmd('MAIL FROM:<a@client.petrel.test>'))?.code, 250);
    assert.equal((await c.cmd('RCPT TO:<postmaster@mx.petrel.test>'))?.code, 250);
    assert.equal((await c.cmd('DATA'))?.code, 354);
    // Past one spool chunk (64 KB), so that data is written before the end: the half-written case.
    c.write(`Subject: half\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(200));
    await new Promise((r) => setTimeout(r, 500));
    process.kill(child, 'SIGKILL');
    await c.waitClosed(5000);
    const exit = await d.waitForLog((l) => l.event === 'session-process-exit' && l.pid === child, 5000);
    assert.match(exit.msg, /SIGKILL/);
    const discarded = await d.waitForLog((l) => l.event === 'discarded', 5000);
    assert.equal((discarded.ids as string[]).length, 1);
    const restarted = await d.waitForLog((l) => l.event === 'session-process' && l.pid !== child, 15_000);
    assert.ok(alive(restarted.pid as number));

    // What was acknowledged is queued; what was half sent is not.
    const list = await queueList(d);
    assert.ok(list.some((m) => m.id === kept), `${kept} still queued`);
    assert.ok(!list.some((m) => m.id === (discarded.ids as string[])[0]));
    // The dead process's sessions no longer count: four new ones from this host are admitted.
    const again = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(d.port)));
    assert.deepEqual((await Promise.all(again.map((a) => a.read()))).map((r) => r?.code), [220, 220, 220, 220]);
    for (const a of again) a.close();
    assertAlive(d);
  } finally {
    await d.stop();
    d.cleanup();
  }
});

test('a reload reaches the session processes; a stop ends them with the daemon', { timeout: 60_000 }, async () => {
  const d = await startDaemon({ config: { session_processes: 3, smtp_banner: '${primary_hostname} first banner' } });
  let pids: number[] = [];
  try {
    pids = await sessionPids(d);
    assert.equal(pids.length, 2);
    const config = JSON.parse(readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(d.configFile, JSON.stringify({ ...config, smtp_banner: '${primary_hostname} second banner' }));
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload', 10_000);
    // Each process reads the file itself; give them a moment, then every new session, wherever it lands, greets anew.
    await new Promise((r) => setTimeout(r, 1000));
    const served = new Set<number>();
    for (let i = 0; i < 40 && served.size < 3; i++) {
      const { c, id, banner } = await sessionWithMessage(d);
      const pid = arrivalPid(d, id) as number;
      served.add(pid);
      assert.match(banner, /^220 mx\.petrel\.test second banner/, `the banner of a session in pid ${pid}`);
      c.close();
    }
    assert.equal(served.size, 3, `sessions reached ${[...served].join(', ')} only`);
  } finally {
    const code = await d.stop();
    assert.equal(code, 0);
    d.cleanup();
  }
  await until(() => pids.every((p) => !alive(p)), 5000, `session processes ${pids.join(', ')} gone`);
});

test('config check refuses session_processes below 1, naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-sp-'));
  try {
    const file = join(dir, 'petrel.config.json');
    writeFileSync(file, JSON.stringify({ session_processes: 0 }));
    const r = spawnSync(process.execPath, [PETREL, 'config', 'check', file], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /session_processes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
