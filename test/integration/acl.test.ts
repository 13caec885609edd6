// End-to-end: relay control (DESIGN invariant 7) and Exim-style ACL verbs at MAIL, RCPT and their replies.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { sendMail } from '../helpers/smtp-client.js';
import {
  connectEhlo, expectReply, message, queueShow, queuedFrom, readUntilClosed,
  closeClients,
} from '../helpers/integration.js';

describe('relay control, default config', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('127.0.0.1 is in relay_from_hosts: RCPT to another domain is accepted', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<relay@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<x@elsewhere.test>'), 250, '2.1.5', 'RCPT x@elsewhere.test');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });
});

describe('relay control, relay_from_hosts empty', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { relay_from_hosts: [], relay_to_domains: ['relay.test'], local_users: ['alice'] } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('RCPT to another domain is refused 550 5.7.1 Relay not permitted', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<relay@example.test>'), 250, '2.1.0', 'MAIL');
    const r = await c.cmd('RCPT TO:<x@elsewhere.test>');
    expectReply(r, 550, '5.7.1', 'RCPT x@elsewhere.test');
    assert.match(r.text, /Relay not permitted/);
    // Nothing accepted, so DATA is refused and nothing is queued.
    const data = await c.cmd('DATA');
    assert.ok(data && data.code >= 500, `DATA with no recipient is refused: ${data?.text}`);
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    assert.equal((await queuedFrom(d, 'relay@example.test')).length, 0);
  });

  test('postmaster at the primary hostname and <Postmaster> are accepted', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<pm@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<postmaster@mx.petrel.test>'), 250, '2.1.5', 'RCPT postmaster@primary_hostname');
    expectReply(await c.cmd('RCPT TO:<Postmaster>'), 250, '2.1.5', 'RCPT <Postmaster>');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${message('to postmaster')}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const q = await queuedFrom(d, 'pm@example.test');
    assert.equal(q.length, 1);
    assert.equal(q[0]?.recipients.length, 2);
  });

  test('relay_to_domains: RCPT to relay.test is accepted', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<rt@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<someone@relay.test>'), 250, '2.1.5', 'RCPT someone@relay.test');
    expectReply(await c.cmd('RCPT TO:<someone@sub.relay.test>'), 550, '5.7.1', 'RCPT to a subdomain is not relay.test');
    c.close();
  });

  test('local_users: alice is accepted, bob is refused 550 Unknown user (verify = recipient)', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<lu@example.test>'), 250, '2.1.0', 'MAIL');
    const bob = await c.cmd('RCPT TO:<bob@localhost>');
    expectReply(bob, 550, undefined, 'RCPT bob@localhost');
    assert.match(bob.lines.at(-1) ?? '', /^5\.\d+\.\d+ /, `bob: an enhanced code: ${bob.text}`);
    assert.match(bob.text, /Unknown user/);
    expectReply(await c.cmd('RCPT TO:<alice@localhost>'), 250, '2.1.5', 'RCPT alice@localhost');
    expectReply(await c.cmd('RCPT TO:<alice@mx.petrel.test>'), 250, '2.1.5', 'RCPT alice@primary_hostname (@ in local_domains)');
    c.close();
  });
});

const MAIL_ACL = [
  'deny    senders = *@spam.test',
  '        message = go away',
  'defer   senders = *@later.test',
  'drop    senders = *@drop.test',
  '        message = dropped',
  'warn    add_header = X-Test: yes',
  'accept',
].join('\n');

const RCPT_ACL = [
  'discard recipients = gone@localhost',
  'accept',
].join('\n');

describe('ACL verbs', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { acl_smtp_mail: MAIL_ACL, acl_smtp_rcpt: RCPT_ACL } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('deny with a message: 550 5.7.1 go away', async () => {
    const { c } = await connectEhlo(d.port);
    const r = await c.cmd('MAIL FROM:<bad@spam.test>');
    expectReply(r, 550, '5.7.1', 'denied sender');
    assert.equal(r.lines.at(-1), '5.7.1 go away');
    // The session goes on: another sender is accepted.
    expectReply(await c.cmd('MAIL FROM:<good@example.test>'), 250, '2.1.0', 'another sender');
    c.close();
  });

  test('defer: 451 and the session goes on', async () => {
    const { c } = await connectEhlo(d.port);
    const r = await c.cmd('MAIL FROM:<x@later.test>');
    expectReply(r, 451, undefined, 'deferred sender');
    assert.match(r.lines.at(-1) ?? '', /^4\.\d+\.\d+ /, `an enhanced 4.x.x code: ${r.text}`);
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP');
    c.close();
  });

  test('drop: the refusal is sent, then the connection is closed', async () => {
    const { c } = await connectEhlo(d.port);
    c.write('MAIL FROM:<x@drop.test>\r\n');
    const replies = await readUntilClosed(c);
    assert.equal(replies.length, 1, `exactly one reply before the close: ${replies.map((r) => r.text).join(' | ')}`);
    expectReply(replies[0] ?? null, 550, '5.7.1', 'dropped sender');
    assert.match(replies[0]?.text ?? '', /dropped/);
  });

  test('warn add_header: the header is stored with the message', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await sendMail(c, 'warned@example.test', ['kept@localhost'], message('warn')), 250, '2.0.0', 'message');
    c.close();
    const q = await queuedFrom(d, 'warned@example.test');
    assert.equal(q.length, 1);
    const show = await queueShow(d, q[0]?.id as string);
    const h = show.headers.find((x) => x.name.toLowerCase() === 'x-test');
    assert.ok(h, `X-Test header in ${JSON.stringify(show.headers.map((x) => x.name))}`);
    assert.equal(h.value, 'yes');
  });

  test('discard at RCPT: 250, but nothing is queued for that recipient', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<disc@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<gone@localhost>'), 250, '2.1.5', 'discarded RCPT');
    expectReply(await c.cmd('RCPT TO:<kept@localhost>'), 250, '2.1.5', 'kept RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${message('discard')}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    c.close();
    const q = await queuedFrom(d, 'disc@example.test');
    assert.equal(q.length, 1);
    assert.deepEqual(q[0]?.recipients.map((r) => r.address), ['kept@localhost']);
  });

  test('discard of the only recipient: 250 after the dot, nothing queued', async () => {
    const { c } = await connectEhlo(d.port);
    expectReply(await c.cmd('MAIL FROM:<disc-all@example.test>'), 250, '2.1.0', 'MAIL');
    expectReply(await c.cmd('RCPT TO:<gone@localhost>'), 250, '2.1.5', 'discarded RCPT');
    expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
    c.write(`${message('discard all')}.\r\n`);
    expectReply(await c.read(), 250, '2.0.0', 'end of data');
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP');
    c.close();
    assert.equal((await queuedFrom(d, 'disc-all@example.test')).length, 0);
  });

  test('a bad ACL line: `petrel config check` exits 78 naming the key and the line', async () => {
    const file = join(d.dir, 'bad.config.json');
    writeFileSync(file, JSON.stringify({
      listen: ['127.0.0.1:0'],
      spool_directory: join(d.dir, 'bad-spool'),
      acl_smtp_mail: 'accept hosts = 127.0.0.1\ndeny frobnicate = yes\naccept',
    }));
    const r = await d.cli(['config', 'check', file]);
    assert.equal(r.code, 78, `exit 78 (EX_CONFIG), got ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /acl_smtp_mail/);
    assert.match(r.stderr, /line 2/);
    assert.match(r.stderr, /frobnicate/);
    const good = await d.cli(['config', 'check', d.configFile]);
    assert.equal(good.code, 0, good.stderr);
  });

  test('the daemon refuses to start on a config with a bad ACL line: exit 78, key and line on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-badacl-'));
    try {
      await assert.rejects(
        startDaemon({ dir, config: { acl_smtp_rcpt: 'accept\n  hosts = 127.0.0.1\nrequire verify = nonsense' } }),
        (e: Error) => /exited with 78/.test(e.message) && /acl_smtp_rcpt/.test(e.message) && /line 3/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
