// Tests of the load generator's reply reading: multi-line replies, replies split across packets and writes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLoad } from '../../bench/loadgen/index.js';
import { classify, hasExtension, ReplyReader, ReplySyntaxError } from '../../bench/loadgen/reply.js';
import { startRawServer } from './raw-server.js';

describe('ReplyReader', () => {
  it('assembles a multi-line reply and keeps every line', () => {
    const r = new ReplyReader();
    const out = r.push('250-mx.example greets you\r\n250-PIPELINING\r\n250 SIZE 1000\r\n');
    assert.equal(out.length, 1);
    assert.equal(out[0]?.code, 250);
    assert.deepEqual(out[0]?.lines, ['mx.example greets you', 'PIPELINING', 'SIZE 1000']);
    assert.equal(r.pending, false);
  });

  it('assembles replies fed one byte at a time', () => {
    const text = '220-a\r\n220 b\r\n250 ok\r\n354 go\r\n';
    const r = new ReplyReader();
    const out = [];
    for (const ch of text) out.push(...r.push(Buffer.from(ch, 'latin1')));
    assert.deepEqual(
      out.map((x) => [x.code, x.lines.length]),
      [
        [220, 2],
        [250, 1],
        [354, 1],
      ],
    );
  });

  it('returns several replies from one packet, in order (pipelined answers)', () => {
    const out = new ReplyReader().push('250 2.1.0 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n');
    assert.deepEqual(
      out.map((x) => x.code),
      [250, 550, 554],
    );
  });

  it('holds a reply whose CRLF is split between packets', () => {
    const r = new ReplyReader();
    assert.equal(r.push('250 ok\r').length, 0);
    assert.equal(r.pending, true);
    const out = r.push('\n');
    assert.equal(out[0]?.code, 250);
    assert.deepEqual(out[0]?.lines, ['ok']);
  });

  it('accepts a bare code and a bare LF', () => {
    const out = new ReplyReader().push('250\n221 bye\n');
    assert.deepEqual(
      out.map((x) => [x.code, x.lines[0]]),
      [
        [250, ''],
        [221, 'bye'],
      ],
    );
  });

  it('rejects lines that are not replies, and a code change inside a multi-line reply', () => {
    assert.throws(() => new ReplyReader().push('hello\r\n'), ReplySyntaxError);
    assert.throws(() => new ReplyReader().push('250x\r\n'), ReplySyntaxError);
    assert.throws(() => new ReplyReader().push('250-a\r\n251 b\r\n'), (e: unknown) => {
      return e instanceof ReplySyntaxError && e.code === 'ERR_LOADGEN_PROTOCOL';
    });
  });

  it('finds extensions in an EHLO reply but not in its greeting line', () => {
    const [ehlo] = new ReplyReader().push('250-PIPELINING is a word here\r\n250-SIZE 10\r\n250 pipelining\r\n');
    assert.ok(ehlo);
    assert.equal(hasExtension(ehlo, 'PIPELINING'), true);
    const [plain] = new ReplyReader().push('250-PIPELINING greeting only\r\n250 SIZE 10\r\n');
    assert.ok(plain);
    assert.equal(hasExtension(plain, 'PIPELINING'), false);
  });

  it('classifies codes', () => {
    assert.equal(classify(250), 'ok');
    assert.equal(classify(354), 'ok');
    assert.equal(classify(421), 'temp');
    assert.equal(classify(554), 'perm');
  });
});

describe('load generator against a raw responder', { timeout: 30_000 }, () => {
  it('completes every message when each reply is split across many writes', async () => {
    const server = await startRawServer({ pipelining: true, split: true });
    try {
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 12, concurrency: 3, messagesPerConnection: 4 });
      assert.equal(r.sent, 12);
      assert.equal(r.failed, 0);
      assert.equal(server.messages.length, 12);
      // 12 messages, 4 per connection: exactly 3 connections, each saw the three-line banner parsed.
      assert.equal(r.connections, 3);
      assert.equal(r.pipelinedSessions, 3);
    } finally {
      await server.close();
    }
  });

  it('sends MAIL, RCPT and DATA in one write when PIPELINING is offered', async () => {
    const server = await startRawServer({ pipelining: true });
    try {
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 4, concurrency: 1, recipients: 2 });
      assert.equal(r.sent, 4);
      for (const log of server.commands) {
        const mail = log.find((c) => c.line.startsWith('MAIL FROM:'));
        const rcpts = log.filter((c) => c.line.startsWith('RCPT TO:'));
        const data = log.find((c) => c.line === 'DATA');
        assert.ok(mail && data);
        assert.equal(rcpts.length, 2);
        // Same chunk: the client did not wait for the MAIL reply before sending the rest.
        assert.ok(rcpts.every((c) => c.chunk === mail.chunk));
        assert.equal(data.chunk, mail.chunk);
      }
    } finally {
      await server.close();
    }
  });

  it('waits for each reply when PIPELINING is not offered', async () => {
    const server = await startRawServer({ pipelining: false });
    try {
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 3, concurrency: 1 });
      assert.equal(r.sent, 3);
      assert.equal(r.pipelinedSessions, 0);
      for (const log of server.commands) {
        const chunks = log.filter((c) => /^(MAIL|RCPT|DATA)/.test(c.line)).map((c) => c.chunk);
        assert.equal(new Set(chunks).size, chunks.length, 'each command in a chunk of its own');
      }
    } finally {
      await server.close();
    }
  });

  it('records latency from the final dot to the 250', async () => {
    const server = await startRawServer({ pipelining: true, dataDelayMs: 40 });
    try {
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 6, concurrency: 2, messagesPerConnection: 0 });
      assert.equal(r.sent, 6);
      assert.ok(r.latencyMs.p50 >= 39, `p50 ${r.latencyMs.p50} should include the 40 ms delay`);
      assert.ok(r.latencyMs.max < 1000, `max ${r.latencyMs.max}`);
      assert.ok(r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
    } finally {
      await server.close();
    }
  });

  it('stops at its deadline and reports what it measured', async () => {
    const server = await startRawServer({ pipelining: true, silentAfterData: true });
    try {
      const started = Date.now();
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 100, concurrency: 5, timeoutMs: 1000 });
      const took = Date.now() - started;
      assert.equal(r.timedOut, true);
      assert.equal(r.sent, 0);
      assert.equal(r.aborted, 5, 'the five messages in flight were cut, not counted as failures');
      assert.ok(took < 8000, `took ${took} ms`);
    } finally {
      await server.close();
    }
  });

  it('stops at its deadline while waiting for a banner that never comes', async () => {
    const server = await startRawServer({ noBanner: true });
    try {
      const started = Date.now();
      const r = await runLoad({ host: '127.0.0.1', port: server.port, messages: 10, concurrency: 3, timeoutMs: 800 });
      const took = Date.now() - started;
      assert.equal(r.timedOut, true);
      assert.equal(r.aborted, 3);
      assert.equal(r.failed, 0);
      assert.ok(took < 3000, `took ${took} ms: the stop must cut the greeting, not wait for the reply timeout`);
    } finally {
      await server.close();
    }
  });
});
