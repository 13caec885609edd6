// The queue's side of the delivery thread, with a real worker thread and a real (silent) SMTP server:
// a job the thread held is handed back when the thread stops or fails, and after a failure new
// connections run on the main thread.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../../config/load.js';
import type { Config } from '../../../config/load.js';
import { ThreadRunners } from '../../../actors/delivery/thread/proxy.js';
import type { DeliveryRunnerFactory, RunnerHooks } from '../../../actors/queue/ports.js';
import type { DeliveryJob, Destination } from '../../../actors/delivery/types.js';
import { Spool } from '../../../store/spool.js';
import { until } from '../../helpers/integration.js';

let dir: string;
let spool: Spool;
let config: Config;
const sockets: Socket[] = [];
// Accepts and never answers: a connection stays at the banner as long as the test wants.
const silent = createServer((s) => sockets.push(s));
let dest: Destination;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'petrel-thread-runners-'));
  spool = Spool.open(dir);
  config = await loadConfig(undefined, dir);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as AddressInfo).port;
  dest = { key: `silent:${port}`, hosts: [{ name: 'silent.test', port, addresses: ['127.0.0.1'] }] };
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
  await spool.close();
  rmSync(dir, { recursive: true, force: true });
});

const job = (id: string): DeliveryJob => ({ messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: 'c@d.test' }], size: 10, smtputf8: false });

function recorder(): { hooks: RunnerHooks; givenBack: string[]; results: string[]; ended: () => number } {
  const givenBack: string[] = [];
  const results: string[] = [];
  let ended = 0;
  return {
    givenBack,
    results,
    ended: () => ended,
    hooks: {
      results: (j) => results.push(j.messageId),
      nextJob: () => undefined,
      giveBack: (j) => givenBack.push(j.messageId),
      ended: () => void ended++,
    },
  };
}

const noFallback: DeliveryRunnerFactory = {
  start: () => {
    throw new Error('the fallback was not expected here');
  },
};

test('a job the delivery thread holds when it is stopped goes back to the queue, and the connection ends once', async () => {
  const threads = new ThreadRunners(config, dir, pino({ level: 'silent' }), noFallback);
  const r = recorder();
  const before = sockets.length;
  threads.start(dest, job('M1'), r.hooks);
  await until(() => sockets.length > before, 10_000, 'the thread connected to the silent server');
  await threads.stop();
  assert.deepEqual(r.givenBack, ['M1']);
  assert.deepEqual(r.results, [], 'no result was invented for a job never tried');
  assert.equal(r.ended(), 1);
});

test('a delivery thread that fails hands its jobs back; later connections run on the main thread', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (s: string) => void lines.push(s) });
  const started: string[] = [];
  const fallback: DeliveryRunnerFactory = {
    start: (_d, first) => {
      started.push(first.messageId);
      return { stop: () => undefined };
    },
  };
  // A config the thread cannot compile (no smtp_transport) makes it fail as it starts.
  const broken = { ...config, smtp_transport: undefined } as unknown as Config;
  const threads = new ThreadRunners(broken, dir, logger, fallback);
  const r = recorder();
  threads.start(dest, job('M2'), r.hooks);
  await until(() => r.ended() === 1, 10_000, 'the connection ended with the thread');
  assert.deepEqual(r.givenBack, ['M2']);
  assert.ok(lines.some((l) => /the delivery thread stopped/.test(l)), `an error line: ${lines.join('')}`);
  threads.start(dest, job('M3'), recorder().hooks);
  assert.deepEqual(started, ['M3'], 'the next connection ran on the main thread');
  await threads.stop();
});

test('after the delivery thread failed, its signing pool counts what it did but has no threads and nothing queued', async () => {
  const fallback: DeliveryRunnerFactory = { start: () => ({ stop: () => undefined }) };
  const entry = new URL('../../helpers/signing-thread-crash.js', import.meta.url);
  const threads = new ThreadRunners(config, dir, pino({ level: 'silent' }), fallback, () => undefined, entry);
  const r = recorder();
  threads.start(dest, job('M4'), r.hooks);
  await until(() => threads.signPool !== undefined, 10_000, 'the thread reported its pool');
  await until(() => r.ended() === 1, 10_000, 'the connection ended with the thread');
  assert.deepEqual(
    { tasks: threads.signPool?.tasks, threads: threads.signPool?.threads, queued: threads.signPool?.queued },
    { tasks: 5, threads: 0, queued: 0 },
  );
  await threads.stop();
});
