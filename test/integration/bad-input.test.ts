// End-to-end: bad input on the wire (RFC 5321 sections 4.1.4, 4.5.3, 4.5.3.2; RFC 1870; RFC 2034 codes).
// Each case gets its RFC reply or a clean close, and nothing half-written is ever queued.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { sendMail } from '../helpers/smtp-client.js';
import {
  anyInput, connectEhlo, expectReply, message, queueList, queuedFrom, readUntilClosed, sleep,
  closeClients, connect,
} from '../helpers/integration.js';

describe('bad input: commands', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_max_synprot_errors: 50, smtp_max_unknown_commands: 50, recipients_max: 3, message_size_limit: '10K' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('a command line over 512 octets gets 500 5.5.2 and the session continues', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd(`NOOP ${'x'.repeat(600)}`), 500, '5.5.2', 'long NOOP');
    expectReply(await c.cmd(`HELO ${'a'.repeat(520)}.test`), 500, '5.5.2', 'long HELO');
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP after');
    const r = await sendMail(c, 'long-line@example.test', ['rcpt@localhost'], message());
    expectReply(r, 250, '2.0.0', 'message after long line');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'long-line@example.test')).length, 1);
  });

  test('512 octets with CRLF is the longest command line accepted; 513 gets 500 5.5.2', async () => {
    const { c } = await connectEhlo(d.port);
    // "NOOP " + arg + CRLF: 5 + 505 + 2 = 512 octets (RFC 5321 section 4.5.3.1.4).
    expectReply(await c.cmd(`NOOP ${'n'.repeat(505)}`), 250, '2.0.0', '512 octets');
    expectReply(await c.cmd(`NOOP ${'n'.repeat(506)}`), 500, '5.5.2', '513 octets');
    c.close();
  });

  test('a bare LF or CR in a command line gets 500 5.5.2 (only CRLF ends a command)', async () => {
    const { c } = await connectEhlo(d.port);
    c.write('NOOP\n');
    expectReply(await c.read(), 500, '5.5.2', 'NOOP<LF>');
    c.write('NOOP\rRSET\r\n');
    expectReply(await c.read(), 500, '5.5.2', 'NOOP<CR>RSET<CRLF>');
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP after');
    c.close();
  });

  test('a 5,000-octet line without CRLF, then CRLF: one 500 5.5.2, then the session continues', async () => {
    const { c } = await connectEhlo(d.port);
    c.write(`MAIL FROM:<${'y'.repeat(5000)}@example.test>`);
    await sleep(100);
    assert.equal(await anyInput(c, 100), false, 'no reply before the line ends');
    c.write('\r\n');
    expectReply(await c.read(), 500, '5.5.2', 'over-long line');
    // Exactly one reply for the whole line: the next reply is NOOP's.
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP after');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    await c.waitClosed();
  });

  test('a NUL byte in a command gets 500 5.5.2', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('NOOP\x00x'), 500, '5.5.2', 'NUL in NOOP');
    expectReply(await c.cmd('MAIL FROM:<a\x00b@example.test>'), 500, '5.5.2', 'NUL in MAIL');
    expectReply(await c.cmd('RSET'), 250, '2.0.0', 'RSET');
    c.close();
  });

  test('8-bit bytes in EHLO (latin1) get 500 5.5.2; the session continues', async () => {
    const { c } = await connectEhlo(d.port);
    // latin1: "héllo.test" as one octet 0xE9 (not UTF-8).
    c.write(Buffer.concat([Buffer.from('EHLO h'), Buffer.from([0xe9]), Buffer.from('llo.test\r\n')]));
    expectReply(await c.read(), 500, '5.5.2', 'latin1 EHLO');
    // Valid UTF-8 is still not a host name for EHLO.
    c.write(Buffer.from('EHLO bücher.test\r\n', 'utf8'));
    const r = await c.read();
    assert.ok(r && r.code >= 500 && r.code <= 501, `UTF-8 EHLO refused with 500/501, got ${r?.text}`);
    expectReply(await c.cmd('EHLO ok.example.test'), 250, undefined, 'EHLO after');
    c.close();
  });

  test('malformed sender addresses get 501 5.1.7, malformed recipients 501 5.1.3', async () => {
    const { c } = await connectEhlo(d.port);
    for (const bad of ['<a@@b.test>', '<a..b@c.test>', '<a@b.test', 'a@b.test>', '<@>', '<a@>', '<a@b..test>']) {
      expectReply(await c.cmd(`MAIL FROM:${bad}`), 501, '5.1.7', `MAIL FROM:${bad}`);
    }
    expectReply(await c.cmd('MAIL FROM:<ok@example.test>'), 250, '2.1.0', 'good MAIL');
    for (const bad of ['<a@@b.test>', '<a..b@c.test>', '<a@b.test', '<>', '<a@>']) {
      expectReply(await c.cmd(`RCPT TO:${bad}`), 501, '5.1.3', `RCPT TO:${bad}`);
    }
    // No valid recipient: DATA is refused, nothing is queued.
    const data = await c.cmd('DATA');
    assert.ok(data && (data.code === 503 || data.code === 554), `DATA without a valid RCPT refused, got ${data?.text}`);
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'ok@example.test')).length, 0);
  });

  test('unknown parameter gets 555 5.5.4, duplicated parameter 501 5.5.4', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<p@example.test> FOO=bar'), 555, '5.5.4', 'unknown MAIL parameter');
    expectReply(await c.cmd('MAIL FROM:<p@example.test> SIZE=10 SIZE=10'), 501, '5.5.4', 'duplicate SIZE');
    expectReply(await c.cmd('MAIL FROM:<p@example.test> BODY=8BITMIME body=7BIT'), 501, '5.5.4', 'duplicate BODY (case-insensitive)');
    expectReply(await c.cmd('MAIL FROM:<p@example.test>'), 250, '2.1.0', 'good MAIL');
    expectReply(await c.cmd('RCPT TO:<r@localhost> XYZZY'), 555, '5.5.4', 'unknown RCPT parameter');
    expectReply(await c.cmd('RCPT TO:<r@localhost> NOTIFY=NEVER NOTIFY=NEVER'), 501, '5.5.4', 'duplicate NOTIFY');
    expectReply(await c.cmd('RCPT TO:<r@localhost>'), 250, '2.1.5', 'good RCPT');
    c.close();
  });

  test('commands out of sequence get 503 5.5.1', async () => {
    const c = await connect(d.port);
    expectReply(await c.read(), 220, undefined, 'banner');
    // Before EHLO the client has not been offered ENHANCEDSTATUSCODES (RFC 2034): 503 alone, or 503 5.5.1.
    const early = await c.cmd('MAIL FROM:<seq@example.test>');
    assert.ok(early && early.code === 503, `MAIL before EHLO: 503, got ${early?.text}`);
    assert.match(early.lines.at(-1) ?? '', /^(5\.5\.1 )?\S/, 'no enhanced code other than 5.5.1');
    expectReply(await c.cmd('EHLO client.petrel.test'), 250, undefined, 'EHLO');
    expectReply(await c.cmd('RCPT TO:<r@localhost>'), 503, '5.5.1', 'RCPT before MAIL');
    expectReply(await c.cmd('DATA'), 503, '5.5.1', 'DATA before MAIL');
    expectReply(await c.cmd('MAIL FROM:<seq@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('DATA'), 503, '5.5.1', 'DATA before RCPT');
    expectReply(await c.cmd('MAIL FROM:<seq2@example.test>'), 503, '5.5.1', 'nested MAIL');
    expectReply(await c.cmd('RSET'), 250, '2.0.0', 'RSET');
    expectReply(await c.cmd('RCPT TO:<r@localhost>'), 503, '5.5.1', 'RCPT after RSET');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'seq@example.test')).length, 0);
  });

  test('recipients_max 3: the 4th RCPT gets 452 4.5.3; the message goes to the first three', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<many@example.test>'), 250, '2.1.0', 'MAIL');
    for (const r of ['r1', 'r2', 'r3']) expectReply(await c.cmd(`RCPT TO:<${r}@localhost>`), 250, '2.1.5', r);
    expectReply(await c.cmd('RCPT TO:<r4@localhost>'), 452, '4.5.3', '4th RCPT');
    expectReply(await c.cmd('RCPT TO:<r5@localhost>'), 452, '4.5.3', '5th RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${message('many')}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const q = await queuedFrom(d, 'many@example.test');
    assert.equal(q.length, 1);
    assert.deepEqual(q[0]?.recipients.map((r) => r.address), ['r1@localhost', 'r2@localhost', 'r3@localhost']);
  });

  test('SIZE over message_size_limit is refused at MAIL with 552 5.3.4', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<declared@example.test> SIZE=50000'), 552, '5.3.4', 'MAIL SIZE=50000');
    expectReply(await c.cmd('RCPT TO:<r@localhost>'), 503, '5.5.1', 'RCPT after refused MAIL');
    expectReply(await c.cmd('MAIL FROM:<declared@example.test> SIZE=5000'), 250, '2.1.0', 'MAIL SIZE=5000');
    c.close();
    assert.equal((await queuedFrom(d, 'declared@example.test')).length, 0);
  });

  test('EHLO advertises SIZE with the limit; a message of exactly the limit is accepted, one octet more is not', async () => {
    const { c, ehlo } = await connectEhlo(d.port);
    assert.ok(ehlo.lines.includes('SIZE 10240'), `SIZE 10240 advertised: ${ehlo.text}`);
    // RFC 1870: the size is that of the content as sent (dot-stuffing removed, CRLF line ends, final CRLF included).
    const exact = (n: number): string => {
      const head = 'Subject: exact\r\n\r\n';
      let body = '';
      let left = n - head.length;
      for (; left > 102; left -= 100) body += 'e'.repeat(98) + '\r\n';
      body += 'e'.repeat(left - 2) + '\r\n';
      assert.equal(head.length + body.length, n);
      return head + body;
    };
    expectReply(await c.cmd('MAIL FROM:<exact@example.test> SIZE=10240'), 250, '2.1.0', 'MAIL SIZE=limit');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${exact(10240)}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'message of exactly 10240 octets');
    expectReply(await sendMail(c, 'exact-plus@example.test', ['rcpt@localhost'], exact(10241)), 552, '5.3.4', 'message of 10241 octets');
    c.close();
    assert.equal((await queuedFrom(d, 'exact@example.test')).length, 1);
    assert.equal((await queuedFrom(d, 'exact-plus@example.test')).length, 0);
  });

  test('an undeclared oversized message gets 552 5.3.4 after the dot; the next message on the session is queued', async () => {
    const { c } = await connectEhlo(d.port);
    const line = 'z'.repeat(76) + '\r\n';
    const big = message('big', line.repeat(Math.ceil(50_000 / line.length)));
    expectReply(await sendMail(c, 'big@example.test', ['rcpt@localhost'], big), 552, '5.3.4', 'oversized message');
    const small = await sendMail(c, 'small@example.test', ['rcpt@localhost'], message('small'));
    expectReply(small, 250, '2.0.0', 'next message');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'big@example.test')).length, 0, 'oversized message not queued');
    assert.equal((await queuedFrom(d, 'small@example.test')).length, 1, 'next message queued');
  });

  test('a text line over 998 octets in DATA gets 554 5.6.0 and nothing is queued', async () => {
    const { c } = await connectEhlo(d.port);
    const r = await sendMail(c, 'longtext@example.test', ['rcpt@localhost'], message('long', 'x'.repeat(1500)));
    expectReply(r, 554, '5.6.0', 'line of 1500 octets');
    // 998 octets exactly is allowed (RFC 5322 section 2.1.1).
    expectReply(await sendMail(c, 'edge@example.test', ['rcpt@localhost'], message('edge', 'x'.repeat(998))), 250, '2.0.0', 'line of 998');
    c.close();
    assert.equal((await queuedFrom(d, 'longtext@example.test')).length, 0);
    assert.equal((await queuedFrom(d, 'edge@example.test')).length, 1);
  });
});

describe('bad input: error counting', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_max_synprot_errors: 2, smtp_max_unknown_commands: 2 } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('too many syntax errors: 421 4.7.0 and close', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<a@@b.test>'), 501, '5.1.7', 'error 1');
    expectReply(await c.cmd('MAIL FROM:<a..b@c.test>'), 501, '5.1.7', 'error 2');
    c.write('RCPT TO:<x@localhost>\r\n');
    const rest = await readUntilClosed(c);
    assert.ok(rest.length >= 1, 'a reply before the close');
    expectReply(rest.at(-1) ?? null, 421, '4.7.0', 'after too many errors');
    for (const r of rest.slice(0, -1)) assert.equal(r.code, 503, `only the error's own reply before 421: ${r.text}`);
  });

  test('too many unknown commands: 421 4.7.0 and close', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('FOO'), 500, '5.5.1', 'unknown 1');
    expectReply(await c.cmd('BAR baz'), 500, '5.5.1', 'unknown 2');
    c.write('XYZZY\r\n');
    const rest = await readUntilClosed(c);
    expectReply(rest.at(-1) ?? null, 421, '4.7.0', 'after too many unknown commands');
  });

  test('errors are counted per connection: a fresh connection is served', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });
});

describe('bad input: slow clients', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { smtp_receive_timeout: '1s', smtp_data_timeout: '1s' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('smtp_receive_timeout: an idle client gets 421 4.4.2 and is disconnected', async () => {
    const { c } = await connectEhlo(d.port);
    const t0 = Date.now();
    expectReply(await c.read(4000), 421, '4.4.2', 'command timeout');
    await c.waitClosed(2000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 800 && waited < 3500, `timeout after about 1s, took ${waited} ms`);
  });

  test('smtp_data_timeout: a client stalling mid-DATA gets 421 and nothing is queued', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<stall@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: stall\r\n\r\nsome text\r\n');
    const r = await c.read(4000);
    assert.ok(r, 'a reply before the close');
    assert.equal(r.code, 421, `data timeout: 421, got ${r.text}`);
    await c.waitClosed(2000);
    await sleep(100);
    assert.equal((await queuedFrom(d, 'stall@example.test')).length, 0);
  });
});

describe('bad input: a client vanishing mid-DATA', () => {
  let d: Daemon;
  let restarted: Daemon | undefined;
  const config = { message_size_limit: '10M' };
  before(async () => {
    d = await startDaemon({ config });
  });
  after(async () => {
    closeClients();
    await d.stop();
    await restarted?.stop();
    d.cleanup();
  });

  test('over 200 KB sent, then the socket closes: nothing is queued, before or after a restart', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<vanish@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    const line = 'v'.repeat(98) + '\r\n';
    c.write(`Subject: vanish\r\n\r\n${line.repeat(2500)}`); // 250 KB, no end of data
    await new Promise<void>((resolve) => c.socket.end(resolve));
    c.close();
    await sleep(500);
    assert.deepEqual(await queueList(d), [], 'queue empty after the client vanished');
    assert.equal(await d.stop(), 0, 'daemon exits 0');

    restarted = await startDaemon({ dir: d.dir, config });
    const open = await restarted.waitForLog((l) => l.event === 'spool-open');
    assert.equal(open.queued, 0, 'spool-open reports an empty queue');
    assert.ok(typeof open.discarded === 'number', 'spool-open says how many were discarded');
    assert.deepEqual(await queueList(restarted), [], 'queue empty after restart');
  });
});

describe('bad input: the daemon killed while a client is mid-DATA', () => {
  let d: Daemon;
  let restarted: Daemon | undefined;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.kill();
    await restarted?.stop();
    d.cleanup();
  });

  test('SIGKILL with a half-received message: after a restart the queue is empty', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<killed@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    const line = 'k'.repeat(98) + '\r\n';
    c.write(`Subject: killed\r\n\r\n${line.repeat(3000)}`); // 300 KB, no end of data
    await new Promise<void>((resolve) => c.socket.write('', () => resolve()));
    await sleep(500);
    await d.kill();
    await c.waitClosed();
    restarted = await startDaemon({ dir: d.dir, config: {} });
    const open = await restarted.waitForLog((l) => l.event === 'spool-open');
    assert.equal(open.queued, 0, `spool-open: ${open.msg}`);
    assert.deepEqual(await queueList(restarted), [], 'nothing half-written is queued');
    // The spool is usable: a new message is queued.
    const { c: c2 } = await connectEhlo(restarted.port);
    expectReply(await sendMail(c2, 'after-kill@example.test', ['rcpt@localhost'], message('after')), 250, '2.0.0', 'message after restart');
    c2.close();
    assert.equal((await queueList(restarted)).length, 1);
  });
});
