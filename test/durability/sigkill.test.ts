// Acknowledged means durable: SIGKILL the daemon again and again while clients send; every message
// that got its 250 must be in the spool byte for byte, and no half-received message may be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Daemon } from '../helpers/daemon.js';
import { startDaemon } from '../helpers/daemon.js';
import { RawClient } from '../helpers/smtp-client.js';
import { Spool } from '../../store/spool.js';

const KILLS = 20;

interface Sent {
  readonly mid: string;
  readonly content: Buffer;
}

/** A message of about `size` octets whose every line is distinct, so that any damage shows. */
function makeMessage(seq: number, size: number): Sent {
  const mid = `<durability-${seq}-${randomBytes(6).toString('hex')}@client.test>`;
  const lines = [`Message-ID: ${mid}`, `Subject: durability ${seq}`, 'From: <d@client.test>', ''];
  let n = 0;
  let total = lines.join('\r\n').length;
  while (total < size) {
    // Some lines start with a dot, to exercise transparency both ways.
    const line = `${n % 7 === 0 ? '.' : ''}${seq}:${n}:${randomBytes(24).toString('base64')}`;
    lines.push(line);
    total += line.length + 2;
    n++;
  }
  return { mid, content: Buffer.from(lines.join('\r\n') + '\r\n') };
}

function dotStuff(content: Buffer): Buffer {
  return Buffer.from(content.toString('latin1').replace(/^\./gm, '..'), 'latin1');
}

/**
 * One client: keeps a connection and sends message after message on it (MAIL, RCPT and DATA
 * pipelined), reconnecting whenever the daemon is killed, until told to stop. A high rate keeps
 * many messages between "250 sent" and "on disk" at any moment, which is what a kill must catch.
 */
async function client(port: () => number, seqBase: number, acked: Sent[], attempted: Sent[], stop: { now: boolean }): Promise<void> {
  let seq = seqBase;
  while (!stop.now) {
    let c: RawClient | undefined;
    try {
      c = await RawClient.connect(port());
      if ((await c.read(3000))?.code !== 220) throw new Error('no banner');
      if ((await c.cmd('EHLO durability.client.test'))?.code !== 250) throw new Error('EHLO');
      while (!stop.now) {
        // Mostly small messages, some bigger than one spool chunk (64 KiB).
        const msg = makeMessage(seq++, seq % 9 === 0 ? 150_000 + (seq % 3) * 40_000 : 1500 + (seq % 11) * 300);
        attempted.push(msg);
        c.write('MAIL FROM:<d@client.test>\r\nRCPT TO:<keep@localhost>\r\nDATA\r\n');
        const replies = [await c.read(3000), await c.read(3000), await c.read(3000)];
        if (replies.map((r) => r?.code).join() !== '250,250,354') throw new Error(`refused: ${replies.map((r) => r?.code).join()}`);
        c.write(Buffer.concat([dotStuff(msg.content), Buffer.from('.\r\n')]));
        const r = await c.read(10_000);
        if (r?.code !== 250) throw new Error('not accepted');
        acked.push(msg);
      }
      c.close();
    } catch {
      c?.close();
      // The daemon is being killed; try again once it is back.
      await new Promise((r) => setTimeout(r, 30));
    }
  }
}

test('SIGKILL during load: every acknowledged message survives intact, nothing partial is kept', { timeout: 240_000 }, async (t) => {
  const config = { log_level: 'warn', smtp_accept_max_per_host: 50 };
  let d: Daemon = await startDaemon({ config });
  const dir = d.dir;
  let port = d.port;
  const acked: Sent[] = [];
  const attempted: Sent[] = [];
  const stop = { now: false };
  const clients = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => client(() => port, i * 100_000, acked, attempted, stop));
  try {
    for (let round = 0; round < KILLS; round++) {
      await new Promise((r) => setTimeout(r, 150 + (round % 4) * 80));
      await d.kill();
      d = await startDaemon({ dir, config });
      port = d.port;
    }
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    stop.now = true;
    await Promise.all(clients);
    await d.stop();
  }
  t.diagnostic(`${acked.length} of ${attempted.length} messages acknowledged across ${KILLS} kills`);
  assert.ok(acked.length >= 50, `enough messages were acknowledged to mean something (${acked.length})`);

  const spool = Spool.open(join(dir, 'spool'), { readOnly: true });
  try {
    const byMid = new Map<string, Buffer>();
    for (const env of spool.list()) {
      const stored = Buffer.concat([...spool.data(env.id)]);
      // Our Received: header comes first; the client's content follows it unchanged.
      const start = stored.indexOf('Message-ID: ');
      assert.ok(start > 0, `message ${env.id} has the client's content after the trace header`);
      assert.equal(stored.length, env.size, `message ${env.id}: stored size matches the envelope`);
      byMid.set(env.messageIdHeader ?? '', stored.subarray(start));
    }
    for (const m of acked) {
      const got = byMid.get(m.mid);
      assert.ok(got, `acknowledged message ${m.mid} is in the spool`);
      assert.ok(got.equals(m.content), `acknowledged message ${m.mid} is stored byte for byte`);
    }
    // Anything else in the spool (committed, but its 250 was lost in a kill) must be whole too.
    const attemptedByMid = new Map(attempted.map((m) => [m.mid, m.content]));
    for (const [mid, got] of byMid) {
      const want = attemptedByMid.get(mid);
      assert.ok(want, `spool holds only messages that were sent (${mid})`);
      assert.ok(got.equals(want), `message ${mid} in the spool is complete`);
    }
  } finally {
    await spool.close();
    d.cleanup();
  }
});
