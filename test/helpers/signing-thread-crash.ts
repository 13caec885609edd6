// A stand-in delivery thread for tests: it reports one signed message with its pool's figures, then fails.
import { parentPort } from 'node:worker_threads';
import type { FromThread } from '../../actors/delivery/thread/messages.js';

const pool = { tasks: 5, failures: 0, retries: 0, lost: 0, threads: 2, maxThreads: 2, queued: 1, utilization: 0.5, durationMs: 1000, busyMs: 1000 };
parentPort?.once('message', () => {
  parentPort?.postMessage([{ op: 'signed', kind: 'dkim', result: 'signed', pool }] satisfies FromThread[]);
  setTimeout(() => process.exit(3), 50);
});
