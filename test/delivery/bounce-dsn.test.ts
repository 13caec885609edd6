// Check of issue 3: a 550 at RCPT produces an RFC 3464 bounce to the sender with the extra
// diagnostics (read back from the sender's Maildir); ORCPT, ENVID and RET are honoured; a
// null-sender message that fails is not bounced; a bounce that cannot be delivered goes to postmaster.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import {
  field, logsOf, makeMessage, maildirMessages, parseReport, queueCount, splitMessage, startDeliveryDaemon, submit, waitEvent, waitMaildir,
  waitQueueEmpty,
} from '../helpers/delivery.js';
import { sleep } from '../helpers/integration.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

const REJECT = '550 5.1.1 <bad@remote.test>: Recipient address rejected: User unknown in virtual mailbox table';

describe('bounces (RFC 3464) for a 550 at RCPT', { timeout: 60_000 }, () => {
  let peer: SmtpPeer;
  let d: DeliveryDaemon;

  before(async () => {
    peer = await startPeer({
      name: 'mx.remote.test',
      banner: '220 mx.remote.test ESMTP Postfix (fake)',
      extensions: ['PIPELINING', 'SIZE 10240000', 'ENHANCEDSTATUSCODES', '8BITMIME', 'DSN'],
      rcptByAddress: {
        'bad@remote.test': REJECT,
        'bouncer@remote.test': '550 5.1.1 <bouncer@remote.test>: no such sender mailbox either',
      },
    });
    d = await startDeliveryDaemon({ route_list: [{ domains: 'remote.test', hosts: peer.hostPort }] });
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    await peer?.close();
  });

  it('sends a multipart/report with the diagnostics, Original-Recipient, Original-Envelope-Id and the whole message for RET=FULL', async () => {
    const marker = `body-marker-${Date.now()}`;
    const msg = makeMessage({ subject: 'will bounce (full)', body: `${marker}\r\nsecond line` });
    const m = await submit(d, {
      from: 's@localhost', to: ['bad@remote.test'], content: msg.content,
      mailParams: 'RET=FULL ENVID=env-full-1', rcptParams: { 'bad@remote.test': 'NOTIFY=FAILURE ORCPT=rfc822;orig-bad@remote.test' },
    });
    const failed = await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    assert.match(failed.msg, /\*\* bad@remote\.test R=manualroute T=smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]:\d+: .*550 5\.1\.1/);
    await waitEvent(d, m.id, 'completed');

    const file = await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId));
    const { head } = splitMessage(file.text);
    assert.match(head, /^Return-Path: <>$/m, 'a report comes from the null sender');
    assert.match(head, /^Delivered-To: s@localhost$/m);
    assert.match(head, /^X-Failed-Recipients: bad@remote\.test$/m);
    assert.match(head, /^Auto-Submitted: auto-replied$/m);

    const r = parseReport(file.text);
    assert.match(r.contentType, /^multipart\/report;/i);
    assert.match(r.contentType, /report-type=delivery-status/i);
    assert.equal(r.parts.length, 3, 'text, delivery-status, original');
    assert.match(r.parts[0]?.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(r.parts[1]?.headers.get('content-type') ?? '', /^message\/delivery-status/);

    assert.equal(field(r.perMessage, 'Original-Envelope-Id'), 'env-full-1');
    assert.equal(field(r.perMessage, 'Reporting-MTA'), 'dns; mx.petrel.test');
    assert.ok(field(r.perMessage, 'Arrival-Date'), 'Arrival-Date');
    assert.equal(r.perRecipient.length, 1);
    const g = r.perRecipient[0];
    assert.equal(field(g, 'Original-Recipient'), 'rfc822;orig-bad@remote.test');
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;bad@remote.test');
    assert.equal(field(g, 'Action'), 'failed');
    assert.equal(field(g, 'Status'), '5.1.1');
    const remote = g?.get('remote-mta') ?? [];
    assert.ok(remote.includes('dns; 127.0.0.1'), `Remote-MTA dns: ${remote.join(' | ')}`);
    assert.ok(remote.includes(`X-ip; [127.0.0.1]:${peer.port}`), `Remote-MTA X-ip: ${remote.join(' | ')}`);
    assert.ok(field(g, 'Diagnostic-Code')?.includes(REJECT), `Diagnostic-Code carries the 550 text: ${field(g, 'Diagnostic-Code')}`);
    assert.equal(field(g, 'X-Remote-MTA-smtp-greeting'), 'X-str; 220 mx.remote.test ESMTP Postfix (fake)');
    assert.match(field(g, 'X-Petrel-Diagnostic') ?? '', /^X-str; .*550 5\.1\.1 <bad@remote\.test>: Recipient address rejected/);

    const original = r.parts[2];
    assert.match(original?.headers.get('content-type') ?? '', /^message\/rfc822/, 'RET=FULL returns the whole message');
    assert.ok(original?.body.includes(marker), 'the body is returned');
    assert.ok(original?.body.includes(`Message-ID: ${m.messageId}`));
    assert.match(r.parts[0]?.body ?? '', /bad@remote\.test/);
    // (Missing before 42e5910: the EHLO reply was not kept in the connection state.)
    assert.equal(field(g, 'X-Remote-MTA-helo-response'), 'X-str; 250 mx.remote.test');
  });

  it('gives the remote reply as Diagnostic-Code of type smtp', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['bad@remote.test'] });
    await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    const g = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text).perRecipient[0];
    // RFC 3464 section 2.3.6: an SMTP reply is given as diagnostic-type smtp, the reply as the server sent it.
    assert.equal(field(g, 'Diagnostic-Code'), `smtp; ${REJECT}`);
  });

  it('gives the Last-Attempt-Date of the recipient', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['bad@remote.test'] });
    const failed = await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    const g = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text).perRecipient[0];
    const date = field(g, 'Last-Attempt-Date');
    assert.ok(date, 'Last-Attempt-Date');
    assert.ok(Math.abs(new Date(date).getTime() - new Date(String(failed.time)).getTime()) < 2000, `Last-Attempt-Date ${date}`);
  });

  it('returns the header section only by default (no RET), and no Original-Recipient or Original-Envelope-Id without ORCPT/ENVID', async () => {
    const marker = `hdrs-marker-${Date.now()}`;
    const msg = makeMessage({ subject: 'will bounce (headers)', body: marker });
    const m = await submit(d, { from: 's@localhost', to: ['bad@remote.test'], content: msg.content });
    await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    const file = await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId));
    const r = parseReport(file.text);
    const original = r.parts[2];
    assert.match(original?.headers.get('content-type') ?? '', /^text\/rfc822-headers/);
    assert.ok(original?.body.includes('Subject: will bounce (headers)'), 'the headers are returned');
    assert.ok(!file.text.includes(marker), 'the body is not returned');
    assert.equal(field(r.perMessage, 'Original-Envelope-Id'), undefined);
    assert.equal(field(r.perRecipient[0], 'Original-Recipient'), undefined);
    assert.equal(field(r.perRecipient[0], 'Status'), '5.1.1');
  });

  it('reports only the refused recipient when another one of the same message is delivered', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['good@remote.test', 'bad@remote.test'] });
    await waitEvent(d, m.id, 'delivered', 'good@remote.test');
    await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    assert.ok(peer.transactions.some((t) => t.messageId === m.messageId && t.rcpts.map((x) => x.address).join() === 'good@remote.test'));
    const r = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text);
    assert.deepEqual(r.perRecipient.map((g) => field(g, 'Final-Recipient')), ['rfc822;bad@remote.test']);
  });

  it('never bounces a message from the null sender: no report is queued, and the queue is empty after', async () => {
    // Reports of the tests before have been delivered and logged: what appears from now on is new.
    await waitQueueEmpty(d, 10_000);
    await sleep(300);
    const before = maildirMessages(d.maildir, 'postmaster').length;
    const known = new Set(d.logs.map((l) => l.id));
    const m = await submit(d, { from: '', to: ['bad@remote.test'] });
    const failed = await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    assert.match(failed.msg, /550 5\.1\.1/);
    await waitEvent(d, m.id, 'completed');
    await sleep(1500);
    const others = d.logs.filter((l) => l.id !== undefined && !known.has(l.id) && l.id !== m.id);
    assert.deepEqual(others.map((l) => l.msg), [], 'no other message (a report) appeared');
    assert.equal(maildirMessages(d.maildir, 'postmaster').length, before, 'nothing for postmaster');
    assert.equal(await queueCount(d), 0);
  });

  it('sends a report that cannot be delivered to postmaster, once', async () => {
    const m = await submit(d, { from: 'bouncer@remote.test', to: ['bad@remote.test'] });
    await waitEvent(d, m.id, 'failed', 'bad@remote.test');
    const pm = await waitMaildir(d.maildir, 'postmaster', (f) => f.text.includes('bouncer@remote.test'), 8000);
    const r = parseReport(pm.text);
    assert.equal(field(r.perRecipient[0], 'Final-Recipient'), 'rfc822;bouncer@remote.test');
    assert.equal(field(r.perRecipient[0], 'Action'), 'failed');
    await waitQueueEmpty(d, 10_000);
    assert.equal(maildirMessages(d.maildir, 'postmaster').filter((f) => f.text.includes('bouncer@remote.test')).length, 1);
    assert.equal(logsOf(d, m.id, 'failed').length, 1);
  });
});
