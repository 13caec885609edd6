// Tests of the load generator against an in-process smtp-server: counts, connection reuse, outcomes, message shape.

import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { LoadClients, runLoad } from '../../bench/loadgen/index.js';
import { planWorkers, resolveLoadOptions } from '../../bench/loadgen/options.js';
import { bodyText, MessageFactory } from '../../bench/loadgen/message.js';
import { freePort } from '../../bench/peers/process.js';
import { alive } from '../helpers/integration.js';

/** What the in-process server saw. */
interface Seen {
  messages: Buffer[];
  /** Messages received on each connection, by smtp-server session id. */
  perConnection: Map<string, number>;
  connections: number;
  recipients: string[];
}

function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

describe('load generator against smtp-server', { timeout: 60_000 }, () => {
  let server: SMTPServer;
  let port = 0;
  const seen: Seen = { messages: [], perConnection: new Map(), connections: 0, recipients: [] };

  before(async () => {
    server = new SMTPServer({
      logger: false,
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      onConnect(_session, cb) {
        seen.connections++;
        cb();
      },
      onRcptTo(address, _session, cb) {
        seen.recipients.push(address.address);
        if (address.address.endsWith('@reject.test')) cb(smtpError('no such user', 550));
        else if (address.address.endsWith('@defer.test')) cb(smtpError('try later', 451));
        else cb();
      },
      onData(stream, session, cb) {
        seen.perConnection.set(session.id, (seen.perConnection.get(session.id) ?? 0) + 1);
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => {
          seen.messages.push(Buffer.concat(parts));
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    seen.messages = [];
    seen.perConnection = new Map();
    seen.connections = 0;
    seen.recipients = [];
  });

  it('delivers exactly N messages over reused connections, with pipelining and latencies', async () => {
    const r = await runLoad({ host: '127.0.0.1', port, messages: 203, concurrency: 7, messagesPerConnection: 0 });
    assert.equal(r.sent, 203);
    assert.equal(r.failed, 0);
    assert.equal(seen.messages.length, 203, 'the server received exactly N messages');
    assert.equal(r.connections, 7, 'one connection per session when reuse is unlimited');
    assert.equal(r.pipelinedSessions, 7, 'smtp-server offers PIPELINING and the client used it');
    assert.ok(r.latencyMs.p50 > 0 && Number.isFinite(r.latencyMs.p99));
    assert.ok(r.latencyMs.p50 <= r.latencyMs.p90 && r.latencyMs.p90 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
    assert.ok(r.rate > 0 && r.elapsedMs > 0);
    assert.equal(
      r.perSecond.reduce((a, b) => a + b, 0),
      203,
      'per-second samples add up to the messages sent',
    );
  });

  it('opens one connection per message with messagesPerConnection = 1, split over two processes', async () => {
    const r = await runLoad({
      host: '127.0.0.1',
      port,
      messages: 40,
      concurrency: 10,
      messagesPerConnection: 1,
      processes: 2,
    });
    assert.equal(r.sent, 40);
    assert.equal(r.processes, 2);
    assert.equal(r.connections, 40);
    assert.equal(seen.connections, 40);
    assert.equal(seen.messages.length, 40);
  });

  it('caps messages per connection at N', async () => {
    const r = await runLoad({ host: '127.0.0.1', port, messages: 30, concurrency: 2, messagesPerConnection: 5 });
    assert.equal(r.sent, 30);
    assert.ok(Math.max(...seen.perConnection.values()) === 5, 'no connection carries more than 5');
    // Sessions claim work as they go, so each session's last connection may carry fewer than 5.
    assert.ok(r.connections >= 6 && r.connections <= 7, `${r.connections} connections`);
    assert.equal(seen.perConnection.size, r.connections);
  });

  it('sends realistic messages of exactly the requested size, to every recipient', async () => {
    const r = await runLoad({ host: '127.0.0.1', port, messages: 4, concurrency: 2, size: 3000, recipients: 3 });
    assert.equal(r.sent, 4);
    assert.deepEqual([...new Set(seen.recipients)].sort(), ['user2@example.com', 'user3@example.com', 'user@example.com']);
    const ids = new Set<string>();
    for (const m of seen.messages) {
      assert.equal(m.length, 3000);
      const text = m.toString('latin1');
      const [head, body] = text.split('\r\n\r\n', 2);
      assert.ok(head && body !== undefined);
      for (const h of ['From', 'To', 'Subject', 'Date', 'Message-ID']) assert.match(head, new RegExp(`^${h}: `, 'm'));
      ids.add(/^Message-ID: (.*)$/m.exec(head)?.[1] ?? '');
      assert.ok(body.endsWith('\r\n'));
      for (const line of body.split('\r\n')) assert.ok(line.length <= 76, `body line of ${line.length}`);
    }
    assert.equal(ids.size, 4, 'every Message-ID is unique');
  });

  it('counts 5xx and 4xx refusals by class and keeps going', async () => {
    const perm = await runLoad({ host: '127.0.0.1', port, messages: 6, concurrency: 2, recipientDomain: 'reject.test' });
    assert.equal(perm.sent, 0);
    assert.equal(perm.outcomes.perm, 6);
    assert.match(perm.errors[0]?.message ?? '', /^RCPT: 550/);
    const temp = await runLoad({
      host: '127.0.0.1',
      port,
      messages: 6,
      concurrency: 2,
      messagesPerConnection: 0,
      recipientDomain: 'defer.test',
    });
    assert.equal(temp.outcomes.temp, 6);
    assert.equal(temp.connections, 2, 'a refused transaction is reset, not a reason to reconnect');
    assert.equal(seen.messages.length, 0);
  });

  it('runs one load after another on the same client processes, and replaces one that died', async () => {
    const clients = new LoadClients();
    try {
      const first = await clients.run({ host: '127.0.0.1', port, messages: 9, concurrency: 4, processes: 2 });
      const pids = clients.pids;
      assert.equal(pids.length, 2);
      const second = await clients.run({ host: '127.0.0.1', port, messages: 7, concurrency: 4, processes: 2 });
      assert.deepEqual(clients.pids, pids, 'the second run used the processes of the first');
      // Each run counts only its own messages.
      assert.equal(first.sent, 9);
      assert.equal(second.sent, 7);
      assert.equal(second.outcomes.ok, 7);
      assert.equal(seen.messages.length, 16);

      process.kill(pids[0] as number, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const third = await clients.run({ host: '127.0.0.1', port, messages: 5, concurrency: 4, processes: 2 });
      assert.equal(third.sent, 5, 'a dead client is replaced before the next run');
      assert.equal(clients.pids.length, 2);
      assert.ok(!clients.pids.includes(pids[0] as number));
    } finally {
      const last = clients.pids;
      await clients.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(last.filter(alive), [], 'close() leaves no client process');
    }
    await assert.rejects(clients.run({ host: '127.0.0.1', port, messages: 1 }), { code: 'ERR_LOADGEN_WORKER' });
  });

  it('counts connection errors when nothing listens', async () => {
    const closed = await freePort();
    const r = await runLoad({ host: '127.0.0.1', port: closed, messages: 10, concurrency: 2 });
    assert.equal(r.sent, 0);
    assert.equal(r.outcomes.error, 10);
    assert.match(r.errors[0]?.message ?? '', /ECONNREFUSED/);
  });
});

describe('load options and messages', () => {
  it('splits sessions and messages between processes', () => {
    const plans = planWorkers(resolveLoadOptions({ host: 'h', port: 25, messages: 1001, concurrency: 5, processes: 2 }));
    assert.deepEqual(
      plans.map((p) => [p.sessions, p.messages]),
      [
        [3, 601],
        [2, 400],
      ],
    );
  });

  it('rejects impossible options with a stable code', () => {
    assert.throws(() => resolveLoadOptions({ host: 'h', port: 25, processes: 3 }), { code: 'ERR_LOADGEN_OPTIONS' });
    assert.throws(() => resolveLoadOptions({ host: 'h', port: 0 }), { code: 'ERR_LOADGEN_OPTIONS' });
  });

  it('builds bodies of any exact size from short lines', () => {
    for (const n of [0, 1, 2, 3, 77, 78, 79, 80, 81, 157, 158, 159, 2000]) {
      const b = bodyText(n);
      assert.equal(b.length, n, `size ${n}`);
      assert.ok(b.split('\r\n').every((l) => l.length <= 76 && !l.startsWith('.')));
    }
    const f = new MessageFactory({ size: 2048, sender: 's@a.test', recipients: ['u@b.test'], worker: 0, hostname: 'h.test' });
    assert.equal(f.headers(1).length + f.body.length, 2048);
    assert.equal(f.headers(9_999_999).length + f.body.length, 2048);
  });
});
