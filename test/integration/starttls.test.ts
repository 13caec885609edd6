// End-to-end: STARTTLS (RFC 3207) and implicit TLS on a tls_on_connect port (RFC 8314).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon, startDaemonOnPorts } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { sendMail } from '../helpers/smtp-client.js';
import { makeCertificate } from '../helpers/tls.js';
import {
  anyInput, connectEhlo, ehloKeywords, expectReply, freePort, message, queueShow, queuedFrom, readUntilClosed,
  closeClients, connect,
} from '../helpers/integration.js';

describe('STARTTLS with a certificate', () => {
  let d: Daemon;
  let tlsPort = 0;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-tls-'));
    const { cert, key } = makeCertificate(dir);
    const started = await startDaemonOnPorts(1, freePort, ([port]) => ({
      dir,
      config: {
        listen: ['127.0.0.1:0', `127.0.0.1:${port}`],
        tls_on_connect_ports: [port],
        tls_certificate: cert,
        tls_privatekey: key,
        tls_handshake_timeout: '1s',
      },
    }));
    d = started.daemon;
    tlsPort = started.ports[0] as number;
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('STARTTLS is offered, 220, handshake; EHLO is required again and STARTTLS is no longer offered', async () => {
    const plainPort = d.ports.find((p) => p !== tlsPort) as number;
    const { c, ehlo } = await connectEhlo(plainPort);
    assert.ok(ehloKeywords(ehlo).includes('STARTTLS'), `STARTTLS offered: ${ehlo.text}`);
    expectReply(await c.cmd('MAIL FROM:<before-tls@example.test>'), 250, '2.1.0', 'MAIL before STARTTLS');
    expectReply(await c.cmd('STARTTLS'), 220, '2.0.0', 'STARTTLS');
    await c.upgradeTls();
    // RFC 3207 section 4.2: the session starts over; the MAIL given before is forgotten and EHLO comes first.
    const mail = await c.cmd('MAIL FROM:<tls@example.test>');
    assert.ok(mail, 'MAIL answered');
    assert.equal(mail.code, 503, `MAIL right after the handshake: 503, got ${mail.text}`);
    const again = await c.cmd('EHLO client.petrel.test');
    expectReply(again, 250, undefined, 'EHLO over TLS');
    assert.ok(!ehloKeywords(again).includes('STARTTLS'), `STARTTLS not offered over TLS: ${again.text}`);
    expectReply(await c.cmd('STARTTLS'), 503, '5.5.1', 'STARTTLS over TLS');
    expectReply(await sendMail(c, 'tls@example.test', ['rcpt@localhost'], message('over tls')), 250, '2.0.0', 'message over TLS');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    const q = await queuedFrom(d, 'tls@example.test');
    assert.equal(q.length, 1);
    const show = await queueShow(d, q[0]?.id as string);
    assert.match(show.envelope.tls?.version ?? '', /^TLSv1\.[23]$/, 'envelope.tls.version');
    assert.ok((show.envelope.tls?.cipher ?? '') !== '', 'envelope.tls.cipher');
    assert.equal(show.envelope.protocol, 'esmtps');
    assert.equal((await queuedFrom(d, 'before-tls@example.test')).length, 0);
    const received = show.headers[0];
    assert.equal(received?.name.toLowerCase(), 'received');
    assert.match(received?.value ?? '', /with ESMTPS/);
  });

  test('command injection: STARTTLS\\r\\nRSET\\r\\n in one write; the RSET is never answered', async () => {
    const plainPort = d.ports.find((p) => p !== tlsPort) as number;
    const { c } = await connectEhlo(plainPort);
    c.write('STARTTLS\r\nRSET\r\n');
    const first = await c.read();
    assert.ok(first, 'STARTTLS answered');
    if (first.code === 554) {
      // Refused as a synchronization error: nothing else may follow before the close.
      assert.deepEqual((await readUntilClosed(c)).map((r) => r.text), [], 'no reply to the RSET');
      return;
    }
    expectReply(first, 220, '2.0.0', 'STARTTLS');
    // Any plaintext reply to RSET would arrive here (or break the handshake).
    await c.upgradeTls();
    assert.equal(await anyInput(c, 300), false, 'no reply to the injected RSET inside TLS');
    const ehlo = await c.cmd('EHLO client.petrel.test');
    expectReply(ehlo, 250, undefined, 'EHLO over TLS');
    assert.match(ehlo.lines[0] ?? '', /Hello client\.petrel\.test/, `the next reply is EHLO's, not RSET's: ${ehlo.text}`);
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });

  test('a client that never starts the handshake is cut after tls_handshake_timeout; garbage fails the handshake', async () => {
    const plainPort = d.ports.find((p) => p !== tlsPort) as number;
    const { c } = await connectEhlo(plainPort);
    expectReply(await c.cmd('STARTTLS'), 220, '2.0.0', 'STARTTLS');
    const t0 = Date.now();
    await c.waitClosed(4000);
    assert.ok(Date.now() - t0 >= 800, 'closed at the handshake timeout, not before');
    const { c: g } = await connectEhlo(plainPort);
    expectReply(await g.cmd('STARTTLS'), 220, '2.0.0', 'STARTTLS');
    g.write('MAIL FROM:<plain@example.test>\r\n');
    await g.waitClosed(2000);
    // The daemon is unharmed.
    const { c: ok } = await connectEhlo(plainPort);
    expectReply(await ok.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });

  test('implicit TLS on a tls_on_connect port: banner over TLS, no STARTTLS, message queued with TLS details', async () => {
    assert.ok(d.ports.includes(tlsPort), `listening on ${tlsPort}: ${d.ports.join(', ')}`);
    const { c, ehlo } = await connectEhlo(tlsPort, 'implicit.petrel.test', { tls: true });
    assert.ok(!ehloKeywords(ehlo).includes('STARTTLS'), `no STARTTLS on implicit TLS: ${ehlo.text}`);
    expectReply(await sendMail(c, 'implicit@example.test', ['rcpt@localhost'], message('implicit')), 250, '2.0.0', 'message');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
    const q = await queuedFrom(d, 'implicit@example.test');
    assert.equal(q.length, 1);
    const show = await queueShow(d, q[0]?.id as string);
    assert.match(show.envelope.tls?.version ?? '', /^TLSv1\.[23]$/);
    assert.equal(show.envelope.protocol, 'esmtps');
  });

  test('a plaintext client on the implicit TLS port gets no SMTP banner', async () => {
    const c = await connect(tlsPort);
    c.write('EHLO plain.petrel.test\r\n');
    const replies = await readUntilClosed(c, 4000).catch(() => [] as { code: number }[]);
    assert.ok(!replies.some((r) => r.code === 220 || r.code === 250), 'no SMTP dialogue in plaintext');
    c.close();
  });
});

describe('STARTTLS without a certificate', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  test('not offered, and refused with 502/503; the session continues in plaintext', async () => {
    const { c, ehlo } = await connectEhlo(d.port);
    assert.ok(!ehloKeywords(ehlo).includes('STARTTLS'), `STARTTLS not offered: ${ehlo.text}`);
    const r = await c.cmd('STARTTLS');
    assert.ok(r, 'STARTTLS answered');
    assert.ok(r.code === 502 || r.code === 503, `502 or 503, got ${r.text}`);
    assert.match(r.lines.at(-1) ?? '', /^5\.5\.1 /, r.text);
    expectReply(await c.cmd('NOOP'), 250, '2.0.0', 'NOOP in plaintext');
    expectReply(await c.cmd('QUIT'), 221, '2.0.0', 'QUIT');
  });
});
