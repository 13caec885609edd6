// The admin listener: /metrics in Prometheus text format with the counters a bench samples, /health.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Daemon } from '../helpers/daemon.js';
import { startDaemon } from '../helpers/daemon.js';
import { RawClient, sendMail } from '../helpers/smtp-client.js';

let d: Daemon;
let base: string;
before(async () => {
  d = await startDaemon();
  const ready = d.logs.find((l) => l.event === 'ready');
  const admin = ready?.admin as { host: string; port: number } | undefined;
  assert.ok(admin, 'the ready line names the admin address');
  base = `http://${admin.host}:${admin.port}`;
});
after(async () => {
  await d.stop();
  d.cleanup();
});

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

test('/metrics counts connections, accepted and rejected messages, commits and the queue', async () => {
  const c = await RawClient.connect(d.port);
  await c.read();
  await c.cmd('EHLO metrics.test');
  assert.equal((await sendMail(c, 'm@metrics.test', ['one@localhost'], 'Subject: m\r\n\r\nbody\r\n'))?.code, 250);
  assert.equal((await sendMail(c, 'm@metrics.test', ['two@localhost'], 'Subject: m\r\n\r\nbare\nLF\r\n'))?.code, 554);
  await c.cmd('QUIT');
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.equal(value(text, 'petrel_connections_total{result="admitted"}'), 1);
  assert.equal(value(text, 'petrel_messages_total{outcome="accepted"}'), 1);
  assert.equal(value(text, 'petrel_messages_total{outcome="rejected"}'), 1);
  assert.equal(value(text, 'petrel_spool_commit_seconds_count'), 1);
  assert.equal(value(text, 'petrel_spool_commit_batch_size_sum'), 1);
  assert.equal(value(text, 'petrel_queue_messages'), 1);
  assert.ok(value(text, 'petrel_event_loop_delay_seconds{quantile="max"}') >= 0);
  // The loop has run this test's sessions: its busy time is more than nothing and less than its uptime.
  const busy = value(text, 'petrel_event_loop_busy_seconds_total');
  assert.ok(busy > 0 && busy < process.uptime(), `loop busy ${busy} s`);
  const later = value(await (await fetch(`${base}/metrics`)).text(), 'petrel_event_loop_busy_seconds_total');
  assert.ok(later >= busy, 'the busy counter never goes back');
  assert.equal(value(text, 'petrel_delivery_thread_busy_seconds_total'), 0, 'no delivery thread here');
});

test('/health is 200 with the session and queue counts; unknown paths are 404', async () => {
  const res = await fetch(`${base}/health`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; queued: number };
  assert.equal(body.status, 'ok');
  assert.equal(typeof body.queued, 'number');
  assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
});
