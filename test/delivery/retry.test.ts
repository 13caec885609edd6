// Check of issue 3: a 451 at RCPT produces a retry at the time the retry rules give (the deferred
// line, `queue list` attempts and next attempt), delivery on the retry once the peer accepts; and
// giving up after the last cutoff bounces with "retry timeout exceeded".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { field, logsOf, maildirMessages, parseReport, queued, startDeliveryDaemon, submit, waitEvent, waitMaildir } from '../helpers/delivery.js';
import { sleep } from '../helpers/integration.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

const time = (iso: unknown): number => new Date(String(iso)).getTime();

describe('retries after a 451 at RCPT', { timeout: 60_000 }, () => {
  let peer: SmtpPeer;
  let d: DeliveryDaemon;
  let acceptLater = false;

  before(async () => {
    peer = await startPeer({
      extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
      rcpt: (address) => {
        if (address === 'later@retry.test' && !acceptLater) return '451 4.3.0 <later@retry.test>: Temporary lookup failure';
        if (address === 'never@giveup.test') return '451 4.2.0 <never@giveup.test>: mailbox busy, try again';
        return undefined;
      },
    });
    d = await startDeliveryDaemon({
      route_list: [{ domains: 'retry.test : giveup.test', hosts: peer.hostPort }],
      retry_rules: [
        { domains: 'retry.test', rules: 'F,20s,2s' },
        { domains: 'giveup.test', rules: 'F,4s,1s' },
        { domains: '*', rules: 'F,20s,1s' },
      ],
    });
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    await peer?.close();
  });

  it('defers with the next attempt at the rule\'s interval, shows it in queue list, and delivers on that retry', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['later@retry.test'] });
    const deferred = await waitEvent(d, m.id, 'deferred', 'later@retry.test');
    assert.match(deferred.msg, /== later@retry\.test R=manualroute T=smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]:\d+ defer: .*451 4\.3\.0 <later@retry\.test>: Temporary lookup failure/);
    const at = time(deferred.time);
    const next = time(deferred.next);
    // F,20s,2s: the next attempt 2 s after the first failure.
    assert.ok(next - at >= 1500 && next - at <= 2500, `next attempt ${next - at} ms after the deferral, expected about 2000`);

    const q = await queued(d, m.id);
    assert.ok(q, 'the message stays in the queue');
    const r = q.recipients[0];
    assert.equal(r?.state, 'deferred');
    assert.equal(r?.attempts, 1);
    assert.equal(time(r?.nextAttempt), next, 'queue list shows the same next attempt');
    assert.match(r?.lastError ?? '', /451 4\.3\.0/);
    assert.equal(peer.transactions.filter((t) => t.messageId === m.messageId).length, 0);

    acceptLater = true;
    const delivered = await waitEvent(d, m.id, 'delivered', 'later@retry.test', 10_000);
    const when = time(delivered.time);
    assert.ok(when >= next - 50, `delivered ${next - when} ms before the retry time`);
    assert.ok(when <= next + 2500, `delivered ${when - next} ms after the retry time`);
    assert.equal(logsOf(d, m.id, 'deferred').length, 1, 'one deferral, then the retry delivered');
    assert.equal(peer.transactions.filter((t) => t.messageId === m.messageId).length, 1);
    await waitEvent(d, m.id, 'completed');
    assert.equal(await queued(d, m.id), undefined, 'gone from the queue');
  });

  it('gives up after the last cutoff and bounces with "retry timeout exceeded"', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['never@giveup.test'] });
    const first = await waitEvent(d, m.id, 'deferred', 'never@giveup.test');
    const failed = await waitEvent(d, m.id, 'failed', 'never@giveup.test', 15_000);
    assert.match(failed.msg, /\*\* never@giveup\.test .*retry timeout exceeded/);
    assert.match(failed.msg, /451 4\.2\.0/, 'the last error is named');
    const span = time(failed.time) - time(first.time);
    // F,4s,1s: retried every second until 4 s after the first failure, then given up.
    assert.ok(span >= 3500 && span <= 8000, `given up ${span} ms after the first failure`);
    const deferrals = logsOf(d, m.id, 'deferred').length;
    assert.ok(deferrals >= 3, `retried: ${deferrals} deferrals before giving up`);

    const report = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text);
    const g = report.perRecipient[0];
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;never@giveup.test');
    assert.equal(field(g, 'Action'), 'failed');
    assert.match(field(g, 'Status') ?? '', /^[45]\.4\.7$/);
    assert.match(report.parts[0]?.body ?? '', /retry timeout exceeded/);
    await waitEvent(d, m.id, 'completed');
    assert.equal(await queued(d, m.id), undefined);
  });
});

describe('delay warnings (RFC 3461 NOTIFY=DELAY)', { timeout: 30_000 }, () => {
  let peer: SmtpPeer;
  let d: DeliveryDaemon;

  before(async () => {
    peer = await startPeer({ rcpt: (address) => `451 4.2.0 <${address}>: not yet` });
    d = await startDeliveryDaemon({
      route_list: [{ domains: 'slow.test', hosts: peer.hostPort }],
      retry_rules: [{ domains: '*', rules: 'F,60s,1s' }],
      delay_warning: ['2s'],
    });
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    await peer?.close();
  });

  it('warns the sender once after delay_warning for NOTIFY=DELAY, not for NOTIFY=FAILURE', async () => {
    const warned = await submit(d, { from: 's@localhost', to: ['w@slow.test'], rcptParams: { 'w@slow.test': 'NOTIFY=DELAY,FAILURE' } });
    const quiet = await submit(d, { from: 's@localhost', to: ['q@slow.test'], rcptParams: { 'q@slow.test': 'NOTIFY=FAILURE' } });
    const file = await waitMaildir(d.maildir, 's', (f) => f.text.includes(warned.messageId), 10_000);
    const r = parseReport(file.text);
    assert.match(r.headers.get('subject') ?? '', /delayed/i);
    const g = r.perRecipient[0];
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;w@slow.test');
    assert.equal(field(g, 'Action'), 'delayed');
    assert.match(field(g, 'Status') ?? '', /^4\.\d+\.\d+$/);
    assert.ok(field(g, 'Will-Retry-Until'), 'Will-Retry-Until');
    // Still being retried, and warned only once.
    await sleep(2500);
    assert.ok((await queued(d, warned.id))?.recipients[0]?.state === 'deferred');
    assert.equal(maildirMessages(d.maildir, 's').filter((f) => f.text.includes(warned.messageId)).length, 1, 'one warning');
    assert.equal(maildirMessages(d.maildir, 's').filter((f) => f.text.includes(quiet.messageId)).length, 0, 'no warning without DELAY');
  });
});

