// End-to-end: what the spool keeps of a message: envelope with DSN parameters (RFC 3461), client facts,
// the Received: trace header (RFC 5321 section 4.4), and SMTPUTF8 addresses (RFC 6531).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import type { RawClient } from '../helpers/smtp-client.js';
import {
  connectEhlo, ehloKeywords, expectReply, queueList, queueShow, queueShowText, queuedFrom,
  closeClients, connect,
} from '../helpers/integration.js';

/** Write a line as UTF-8 octets (RawClient.write sends strings as latin1) and read the reply. */
async function utf8Cmd(c: RawClient, line: string): ReturnType<RawClient['read']> {
  c.write(Buffer.from(`${line}\r\n`, 'utf8'));
  return c.read();
}

describe('envelope and trace header', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('queue show reports sender, recipients with DSN parameters, RET/ENVID, client ip/helo, Message-ID', async () => {
    const { c, ehlo } = await connectEhlo(d.port, 'helo.client.test');
    assert.ok(ehloKeywords(ehlo).includes('DSN'), ehlo.text);
    expectReply(await c.cmd('MAIL FROM:<env@example.test> RET=HDRS ENVID=abc'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<x@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('From: <env@example.test>\r\nTo: <x@localhost>\r\nMessage-ID: <m1.env@example.test>\r\nSubject: envelope\r\n\r\nbody\r\n.\r\n');
    const done = await c.read();
    expectReply(done, 250, '2.0.0', 'end of data');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');

    const list = await queuedFrom(d, 'env@example.test');
    assert.equal(list.length, 1);
    const m = list[0];
    assert.ok(m);
    assert.ok(done.text.includes(m.id), `the 250 names the queue id ${m.id}: ${done.text}`);
    assert.equal(m.messageId, '<m1.env@example.test>');
    assert.deepEqual(m.recipients, [{ address: 'x@localhost', state: 'pending', attempts: 0, nextAttempt: null }]);
    assert.ok(m.size > 0);
    assert.ok(Math.abs(Date.parse(m.received) - Date.now()) < 60_000, `received time ${m.received}`);

    const { envelope: e, headers } = await queueShow(d, m.id);
    assert.equal(e.sender, 'env@example.test');
    assert.equal(e.ret, 'HDRS');
    assert.equal(e.envid, 'abc');
    assert.equal(e.recipients.length, 1);
    assert.deepEqual(e.recipients[0]?.notify, ['SUCCESS', 'FAILURE']);
    assert.deepEqual(e.recipients[0]?.orcpt, { type: 'rfc822', address: 'x@y' });
    assert.equal(e.client.ip, '127.0.0.1');
    assert.equal(e.client.helo, 'helo.client.test');
    assert.equal(e.protocol, 'esmtp');
    assert.equal(e.smtputf8, false);
    assert.equal(e.tls, undefined);
    assert.equal(e.messageIdHeader, '<m1.env@example.test>');

    // The stored message begins with our Received: header.
    assert.equal(headers[0]?.name, 'Received');
    const rcv = headers[0]?.value ?? '';
    assert.match(rcv, /^from helo\.client\.test \(\[127\.0\.0\.1\]\)/);
    assert.match(rcv, /by mx\.petrel\.test with ESMTP/);
    assert.ok(rcv.includes(`id ${m.id}`), `Received names the id: ${rcv}`);
    assert.match(rcv, /for <x@localhost>;/);
    assert.ok(headers.some((h) => h.name === 'Message-ID' && h.value === '<m1.env@example.test>'));
    const text = await queueShowText(d, m.id);
    assert.ok(text.includes('\r\n\r\nbody\r\n') || text.includes('\nbody'), 'the body is stored');
  });

  test('dot-stuffing is removed (RFC 5321 section 4.5.2) and the content is stored as sent', async () => {
    const { c } = await connectEhlo(d.port, 'dots.client.test');
    expectReply(await c.cmd('MAIL FROM:<dots@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<dots@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: dots\r\n\r\n..leading dot\r\n...\r\n. \r\nx.y\r\n.\r\n');
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const m = (await queuedFrom(d, 'dots@example.test'))[0];
    assert.ok(m);
    const text = await queueShowText(d, m.id);
    assert.ok(text.endsWith('\n.leading dot\r\n..\r\n \r\nx.y\r\n'), `stored body: ${JSON.stringify(text.slice(-60))}`);
  });

  test('with two recipients the Received: header has no "for"', async () => {
    const { c } = await connectEhlo(d.port, 'two.client.test');
    expectReply(await c.cmd('MAIL FROM:<two@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<a@localhost>'), 250, '2.1.5', 'RCPT a');
    expectReply(await c.cmd('RCPT TO:<b@localhost>'), 250, '2.1.5', 'RCPT b');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: two\r\n\r\nbody\r\n.\r\n');
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const m = (await queuedFrom(d, 'two@example.test'))[0];
    assert.ok(m);
    assert.equal(m.messageId, null, 'no Message-ID header given');
    const { headers } = await queueShow(d, m.id);
    assert.equal(headers[0]?.name, 'Received');
    assert.ok(!/\bfor </.test(headers[0]?.value ?? ''), `no "for" with two recipients: ${headers[0]?.value}`);
  });

  test('a HELO session is recorded as protocol smtp, "with SMTP"', async () => {
    const c = await connect(d.port);
    expectReply(await c.read(), 220, undefined, 'banner');
    expectReply(await c.cmd('HELO old.client.test'), 250, null, 'HELO');
    expectReply(await c.cmd('MAIL FROM:<helo@example.test>'), 250, null, 'MAIL (no enhanced codes after HELO)');
    expectReply(await c.cmd('RCPT TO:<helo@localhost>'), 250, null, 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: helo\r\n\r\nbody\r\n.\r\n');
    expectReply(await c.read(), 250, null, 'end of data');
    c.close();
    const m = (await queuedFrom(d, 'helo@example.test'))[0];
    assert.ok(m);
    const { envelope: e, headers } = await queueShow(d, m.id);
    assert.equal(e.protocol, 'smtp');
    assert.equal(e.client.helo, 'old.client.test');
    assert.match(headers[0]?.value ?? '', /^from old\.client\.test \(\[127\.0\.0\.1\]\)[\s\S]*with SMTP[\s\S]*for <helo@localhost>;/);
  });

  test('the null sender <> is kept as ""', async () => {
    const { c } = await connectEhlo(d.port, 'null.client.test');
    expectReply(await c.cmd('MAIL FROM:<>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<nullsender@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: bounce\r\n\r\nbody\r\n.\r\n');
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const m = (await queueList(d)).find((x) => x.recipients.some((r) => r.address === 'nullsender@localhost'));
    assert.ok(m);
    assert.equal(m.sender, '');
  });

  test('RCPT TO:<Postmaster> is queued for postmaster at the primary hostname', async () => {
    const { c } = await connectEhlo(d.port, 'pm.client.test');
    expectReply(await c.cmd('MAIL FROM:<to-pm@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<Postmaster>'), 250, '2.1.5', 'RCPT <Postmaster>');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write('Subject: pm\r\n\r\nbody\r\n.\r\n');
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const m = (await queuedFrom(d, 'to-pm@example.test'))[0];
    assert.ok(m);
    assert.match(m.recipients[0]?.address ?? '', /^postmaster@mx\.petrel\.test$/i, `recipient: ${m.recipients[0]?.address}`);
  });

  test('SMTPUTF8: a UTF-8 sender and recipient are accepted with the parameter', async () => {
    const { c, ehlo } = await connectEhlo(d.port, 'utf8.client.test');
    assert.ok(ehloKeywords(ehlo).includes('SMTPUTF8'), ehlo.text);
    expectReply(await utf8Cmd(c, 'MAIL FROM:<dörte@bücher.test> SMTPUTF8'), 250, '2.1.0', 'MAIL SMTPUTF8');
    expectReply(await utf8Cmd(c, 'RCPT TO:<jörg@localhost>'), 250, '2.1.5', 'RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(Buffer.from('Subject: Grüße\r\n\r\nHallo Jörg\r\n.\r\n', 'utf8'));
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const m = (await queuedFrom(d, 'dörte@bücher.test'))[0];
    assert.ok(m, 'queued with the UTF-8 sender intact');
    assert.deepEqual(m.recipients.map((r) => r.address), ['jörg@localhost']);
    const { envelope: e, headers } = await queueShow(d, m.id);
    assert.equal(e.smtputf8, true);
    assert.match(e.protocol, /^utf8smtp/);
    assert.match(headers[0]?.value ?? '', /with UTF8SMTP/);
  });

  test('SMTPUTF8: a UTF-8 sender without the parameter is refused 553 5.6.7; so is a UTF-8 recipient', async () => {
    const { c } = await connectEhlo(d.port, 'ascii.client.test');
    expectReply(await utf8Cmd(c, 'MAIL FROM:<dörte@bücher.test>'), 553, '5.6.7', 'MAIL without SMTPUTF8');
    expectReply(await c.cmd('MAIL FROM:<ascii@example.test>'), 250, '2.1.0', 'ASCII MAIL');
    expectReply(await utf8Cmd(c, 'RCPT TO:<jörg@localhost>'), 553, '5.6.7', 'UTF-8 RCPT without SMTPUTF8');
    c.close();
    assert.equal((await queuedFrom(d, 'dörte@bücher.test')).length, 1, 'only the one from the previous test');
  });
});
