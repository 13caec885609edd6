// Bulk spool filler of the queue-scale scenario: writes deferred messages straight through Petrel's
// store/ API (Spool.apply inserts, one transaction and one sync per batch) in a child process.

import { randomInt } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Envelope } from '../../store/envelope.js';
import { createIdGenerator } from '../../store/ids.js';
import { Spool } from '../../store/spool.js';
import { bodyText } from '../loadgen/message.js';

/** What the parent asks for: add messages until the spool holds `total`, or until `deadline`. */
export interface FillRequest {
  readonly type: 'fill';
  readonly spoolDir: string;
  readonly total: number;
  /** Epoch ms after which no new batch starts. */
  readonly deadline: number;
  readonly size: number;
  readonly batch: number;
}

export type FillMessage =
  | { readonly type: 'progress'; readonly queued: number; readonly elapsedMs: number }
  | { readonly type: 'done'; readonly queued: number; readonly added: number; readonly elapsedMs: number; readonly timedOut: boolean }
  | { readonly type: 'fatal'; readonly message: string };

// Due a day from now: the daemon's start-up look at the index finds nothing due, as with a queue of
// deferred mail waiting for its next retry.
const DUE_IN_MS = 24 * 3600_000;

/** The stored octets of one filler message: a Received: header, the usual headers and a body. */
export function fillerMessage(id: string, size: number, at: Date): Buffer {
  const head =
    `Received: from loadgen.bench.test ([127.0.0.1]) by bench.petrel.test with ESMTP id ${id}; ${at.toUTCString()}\r\n` +
    'From: <sender@loadgen.bench.test>\r\nTo: <user@example.com>\r\n' +
    `Subject: queued ${id}\r\nMessage-ID: <${id}@loadgen.bench.test>\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(bodyText(Math.max(2, size - head.length)), 'latin1')]);
}

/** A deferred message's envelope, as the queue keeps it after one failed attempt. */
export function fillerEnvelope(id: string, size: number, headerEnd: number, now: number): Envelope {
  const due = now + DUE_IN_MS;
  return {
    format: 1,
    id,
    sender: 'sender@loadgen.bench.test',
    recipients: [
      {
        address: 'user@example.com',
        state: 'deferred',
        attempts: 1,
        firstFailure: now,
        lastAttempt: now,
        nextAttempt: due,
        lastError: '451 4.3.0 bench: queued by the filler',
      },
    ],
    smtputf8: false,
    client: { ip: '127.0.0.1', port: 40000, helo: 'loadgen.bench.test' },
    server: { ip: '127.0.0.1', port: 25 },
    protocol: 'esmtp',
    receivedAt: now,
    size,
    headerEnd,
    headerSeparator: true,
    addedHeaders: [],
    messageIdHeader: `<${id}@loadgen.bench.test>`,
    chunks: 1,
    due,
  };
}

/** Fills the spool in batches; reports progress every half second. The spool is closed at the end. */
export async function fill(req: FillRequest, report: (m: FillMessage) => void): Promise<void> {
  const started = Date.now();
  const spool = Spool.open(req.spoolDir, { lock: true });
  let added = 0;
  let timedOut = false;
  try {
    const newId = createIdGenerator(Date.now, () => randomInt(0, 2 ** 32));
    let queued = spool.count();
    let lastReport = 0;
    while (queued < req.total) {
      if (Date.now() >= req.deadline) {
        timedOut = true;
        break;
      }
      const n = Math.min(req.batch, req.total - queued);
      const now = Date.now();
      const at = new Date(now);
      const changes = [];
      for (let i = 0; i < n; i++) {
        const id = newId();
        const data = fillerMessage(id, req.size, at);
        const headerEnd = data.indexOf('\r\n\r\n') + 4;
        changes.push({ kind: 'insert' as const, envelope: fillerEnvelope(id, data.length, headerEnd, now), data });
      }
      await spool.apply(changes);
      queued += n;
      added += n;
      if (Date.now() - lastReport >= 500) {
        lastReport = Date.now();
        report({ type: 'progress', queued, elapsedMs: lastReport - started });
      }
    }
    report({ type: 'done', queued: spool.count(), added, elapsedMs: Date.now() - started, timedOut });
  } finally {
    await spool.close();
  }
}

function main(): void {
  if (!process.send) {
    process.stderr.write('spool-fill: must be started with child_process.fork\n');
    process.exitCode = 2;
    return;
  }
  const send = (m: FillMessage): void => {
    process.send?.(m);
  };
  process.once('message', (req: FillRequest) => {
    fill(req, send).then(
      () => process.disconnect(),
      (err: unknown) => {
        send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
        process.disconnect();
      },
    );
  });
  process.on('disconnect', () => process.exit(0));
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) main();
