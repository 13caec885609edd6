// End-to-end: command pipelining (RFC 2920) and the synchronization checks around it (RFC 5321 section 4.3.1).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import {
  connectEhlo, ehloKeywords, expectReply, message, queuedFrom, readUntilClosed,
  closeClients, connect,
} from '../helpers/integration.js';

/** A 554 synchronization error; before EHLO (or after HELO) without an enhanced code, else 5.5.0. */
function assertSyncError(r: { code: number; lines: string[]; text: string } | undefined, what: string): void {
  assert.ok(r, `${what}: a reply`);
  assert.equal(r.code, 554, `${what}: 554, got ${r.text}`);
  assert.match(r.lines.at(-1) ?? '', /^(5\.5\.0 )?.*synchroni[sz]ation/i, `${what}: synchronization error, got ${r.text}`);
}

describe('pipelining', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('EHLO offers PIPELINING; MAIL+RCPT+RCPT+DATA in one write get four replies in order', async () => {
    const { c, ehlo } = await connectEhlo(d.port);
    assert.ok(ehloKeywords(ehlo).includes('PIPELINING'), ehlo.text);
    c.write('MAIL FROM:<pipe@example.test>\r\nRCPT TO:<a@localhost>\r\nRCPT TO:<b@localhost>\r\nDATA\r\n');
    expectReply(await c.read(), 250, '2.1.0', 'MAIL');
    expectReply(await c.read(), 250, '2.1.5', 'RCPT a');
    expectReply(await c.read(), 250, '2.1.5', 'RCPT b');
    expectReply(await c.read(), 354, undefined, 'DATA');
    // Content, end of data and QUIT in one write.
    c.write(`${message('pipelined')}.\r\nQUIT\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    expectReply(await c.read(), 221, '2.0.0', 'QUIT');
    await c.waitClosed();
    const q = await queuedFrom(d, 'pipe@example.test');
    assert.equal(q.length, 1);
    assert.deepEqual(q[0]?.recipients.map((r) => r.address), ['a@localhost', 'b@localhost']);
  });

  test('two whole transactions in one write are both queued', async () => {
    const { c } = await connectEhlo(d.port);
    const one = (n: number): string => `MAIL FROM:<pipe2@example.test>\r\nRCPT TO:<n${n}@localhost>\r\nDATA\r\n`;
    c.write(one(1));
    expectReply(await c.read(), 250, '2.1.0', 'MAIL 1');
    expectReply(await c.read(), 250, '2.1.5', 'RCPT 1');
    expectReply(await c.read(), 354, undefined, 'DATA 1');
    c.write(`${message('one')}.\r\n${one(2)}`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data 1');
    expectReply(await c.read(), 250, '2.1.0', 'MAIL 2');
    expectReply(await c.read(), 250, '2.1.5', 'RCPT 2');
    expectReply(await c.read(), 354, undefined, 'DATA 2');
    c.write(`${message('two')}.\r\nQUIT\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data 2');
    expectReply(await c.read(), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'pipe2@example.test')).length, 2);
  });

  test('pipelining after HELO (PIPELINING not offered): 554 synchronization error and close', async () => {
    const c = await connect(d.port);
    expectReply(await c.read(), 220, undefined, 'banner');
    expectReply(await c.cmd('HELO client.petrel.test'), 250, undefined, 'HELO');
    c.write('MAIL FROM:<helo-pipe@example.test>\r\nRCPT TO:<a@localhost>\r\nDATA\r\n');
    const replies = await readUntilClosed(c);
    assert.ok(replies.length >= 1, 'a reply before the close');
    assertSyncError(replies.at(-1), 'after HELO');
    assert.ok(!replies.some((r) => r.code === 354), 'DATA was never accepted');
    assert.equal((await queuedFrom(d, 'helo-pipe@example.test')).length, 0);
  });

  test('EHLO and MAIL in one write (before PIPELINING was offered): 554 synchronization error and close', async () => {
    const c = await connect(d.port);
    expectReply(await c.read(), 220, undefined, 'banner');
    c.write('EHLO client.petrel.test\r\nMAIL FROM:<ehlo-pipe@example.test>\r\n');
    const replies = await readUntilClosed(c);
    assert.ok(replies.length >= 1, 'a reply before the close');
    assertSyncError(replies.find((r) => r.code !== 250), 'EHLO+MAIL');
    assert.ok(!replies.some((r) => r.code === 250 && /^2\.1\.0/.test(r.lines.at(-1) ?? '')), 'MAIL was not accepted');
  });

  test('DATA followed by content in the same write (DATA must end a group): no message is taken', async () => {
    const { c } = await connectEhlo(d.port);
    c.write(`MAIL FROM:<data-pipe@example.test>\r\nRCPT TO:<a@localhost>\r\nDATA\r\n${message('too soon')}.\r\n`);
    const replies = await readUntilClosed(c, 2000).catch(() => undefined);
    // Either a synchronization error and close, or (if the server were lenient) one message; never two.
    if (replies) assert.ok(replies.some((r) => r.code === 554), `554 before the close: ${replies.map((r) => r.text).join(' | ')}`);
    else c.close();
    assert.ok((await queuedFrom(d, 'data-pipe@example.test')).length <= 1);
  });
});

describe('input before the banner', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { acl_smtp_connect: 'accept delay = 500ms' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('a client that talks before the banner gets 554 and is disconnected', async () => {
    const c = await connect(d.port);
    c.write('EHLO early.petrel.test\r\n');
    const replies = await readUntilClosed(c);
    assert.ok(replies.some((r) => r.code === 554), `554 before the close: ${replies.map((r) => r.text).join(' | ')}`);
    assert.ok(!replies.some((r) => r.code === 250), 'the early EHLO was not answered with 250');
    assertSyncError(replies.find((r) => r.code === 554), 'early talker');
  });

  test('a client that waits for the banner is served normally', async () => {
    const c = await connect(d.port);
    const t0 = Date.now();
    expectReply(await c.read(), 220, undefined, 'banner');
    assert.ok(Date.now() - t0 >= 400, 'the banner came after the connect ACL delay');
    expectReply(await c.cmd('EHLO patient.petrel.test'), 250, undefined, 'EHLO');
    expectReply(await c.cmd('MAIL FROM:<patient@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });
});
