// A small message gone from the spool when its 354 comes (runner.ts, writeWhole): nothing of it is
// written, the connection is cut, and the recipient is deferred as not delivered, with a warning.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from 'pino';
import { createRunnerFactory } from '../../../actors/delivery/runner.js';
import type { RecipientResult } from '../../../actors/delivery/types.js';
import { Spool } from '../../../store/spool.js';
import type { Envelope } from '../../../store/envelope.js';
import { testDraft } from '../../helpers/envelope.js';
import { startPeer } from '../../helpers/smtp-peer.js';
import { until } from '../../helpers/integration.js';

test('a message deleted before its data goes is deferred as not delivered, and nothing of it is sent', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-unsent-'));
  const spool = Spool.open(dir);
  const peer = await startPeer({ name: 'mx.unsent.test' });
  const warnings: string[] = [];
  const quiet = (): void => undefined;
  const logger = { debug: quiet, info: quiet, error: quiet, warn: (_f: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;
  try {
    const body = Buffer.from('Subject: gone\r\n\r\nbody\r\n');
    const id = '01UNSENTAAAAAAAA';
    const envelope: Envelope = { ...testDraft({}), format: 1, id, size: body.length, chunks: 1, due: Date.now() };
    await spool.apply([{ kind: 'insert', envelope, data: body }]);
    // Deleted (petrel queue delete) after the queue made the job, before the server's 354.
    assert.equal(await spool.remove(id), true);
    const results: RecipientResult[] = [];
    let ended = false;
    const factory = createRunnerFactory({
      spool,
      logger,
      settings: () => ({ heloName: 'petrel.test', timeouts: { connect: 5000, command: 5000, data: 5000, final: 5000 }, tls: () => 'avoid', maxMessages: 10 }),
    });
    factory.start(
      { key: 'unsent', hosts: [{ name: 'mx.unsent.test', port: peer.port, addresses: ['127.0.0.1'] }] },
      { messageId: id, sender: 'a@b.test', recipients: [{ index: 0, address: 'c@d.test' }], size: body.length, smtputf8: false },
      { results: (_j, r) => results.push(...r), nextJob: () => undefined, ended: () => void (ended = true) },
    );
    await until(() => ended, 10_000);
    assert.equal(results.length, 1);
    const outcome = results[0]?.outcome;
    assert.equal(outcome?.kind, 'deferred');
    assert.ok(outcome?.kind === 'deferred' && !outcome.maybeDelivered && !/may have been delivered/.test(outcome.reason), JSON.stringify(outcome));
    assert.ok(warnings.some((w) => w.includes(`${id} has no data in the spool`)), warnings.join('\n'));
    // The server got DATA, and then nothing: no message, no final dot.
    assert.ok(peer.commands.some((c) => c.line.startsWith('DATA')), peer.commands.map((c) => c.line).join(' | '));
    assert.equal(peer.transactions.length, 0);
  } finally {
    await peer.close();
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
