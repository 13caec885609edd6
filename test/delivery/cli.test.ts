// Check of issue 3 (CLI): `petrel queue freeze ID` stops delivery attempts, `thaw ID` and `retry ID`
// deliver it, `delete ID` removes a message for good, `bounce ID` sends a failure report and removes
// it; `queue list` shows per-recipient state, attempts and the next retry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { field, logsOf, parseReport, queued, startDeliveryDaemon, submit, waitEvent, waitMaildir } from '../helpers/delivery.js';
import { sleep } from '../helpers/integration.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

describe('petrel queue freeze, thaw, retry, delete, bounce, list', { timeout: 60_000 }, () => {
  /** One peer per scenario: two messages never share a connection (connection reuse is tested elsewhere). */
  const SCENARIOS = ['list', 'frozena', 'frozenb', 'early', 'deleted', 'bounced'] as const;
  const peers = {} as Record<(typeof SCENARIOS)[number], SmtpPeer>;
  let d: DeliveryDaemon;
  /** Recipients the peer accepts; every other one gets a 451. */
  const accept = new Set<string>();

  const q = async (...args: string[]): Promise<string> => {
    const r = await d.cli(['queue', '--config', d.configFile, ...args]);
    assert.equal(r.code, 0, `petrel queue ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    for (const n of SCENARIOS) peers[n] = await startPeer({ rcpt: (a) => (accept.has(a) ? undefined : `451 4.2.1 <${a}>: try again later`) });
    d = await startDeliveryDaemon({
      route_list: SCENARIOS.map((n) => ({ domains: `${n}.cli.test`, hosts: peers[n].hostPort })),
      retry_rules: [{ domains: '*', rules: 'F,60s,1s' }],
    });
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    for (const p of Object.values(peers)) await p.close();
  });

  const deliveredTo = (messageId: string): number => Object.values(peers).reduce((n, p) => n + p.transactions.filter((t) => t.messageId === messageId).length, 0);

  it('queue list shows the deferred recipient with its attempts and next retry', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['list@list.cli.test'] });
    const deferred = await waitEvent(d, m.id, 'deferred', 'list@list.cli.test');
    const e = await queued(d, m.id);
    assert.ok(e);
    const r = e.recipients[0];
    assert.equal(r?.state, 'deferred');
    assert.ok((r?.attempts ?? 0) >= 1);
    assert.ok(r?.nextAttempt && new Date(r.nextAttempt).getTime() > new Date(String(deferred.time)).getTime(), 'the next retry is after the deferral');
    assert.match(r?.lastError ?? '', /451 4\.2\.1/);
    const text = await q('list');
    assert.match(text, new RegExp(`${m.id} <s@localhost>`));
    assert.match(text, /list@list\.cli\.test \(deferred, \d+ attempts?, next \d{4}-\d\d-\d\dT[\d:.]+Z\)/);
    await q('delete', m.id);
  });

  it('freeze stops delivery of deferred messages; thaw delivers one, retry (which thaws too) the other', async () => {
    const a = await submit(d, { from: 's@localhost', to: ['a@frozena.cli.test'] });
    const b = await submit(d, { from: 's@localhost', to: ['b@frozenb.cli.test'] });
    await waitEvent(d, a.id, 'deferred', 'a@frozena.cli.test');
    await waitEvent(d, b.id, 'deferred', 'b@frozenb.cli.test');
    assert.match(await q('freeze', a.id, b.id), /frozen/);
    // An attempt already under way when the freeze came ends (with a 451) within this second.
    await sleep(1000);
    const frozenAt = Date.now();
    accept.add('a@frozena.cli.test');
    accept.add('b@frozenb.cli.test');
    // Retries come every second: three of them would have delivered them by now.
    await sleep(3500);
    for (const m of [a, b]) {
      const lines = logsOf(d, m.id).map((l) => `${String(l.time)} ${l.msg}`).join('\n');
      assert.equal(deliveredTo(m.messageId), 0, `not delivered while frozen (frozen at ${new Date(frozenAt).toISOString()}):\n${lines}`);
      const e = await queued(d, m.id);
      assert.equal(e?.frozen, true);
      assert.equal(e?.recipients[0]?.state, 'deferred');
      assert.match(await q('list'), new RegExp(`${m.id} <s@localhost> \\*\\*\\* frozen \\*\\*\\*`));
      const tried = d.logs.filter((l) => l.id === m.id && l.event === 'deferred' && new Date(String(l.time)).getTime() > frozenAt);
      assert.deepEqual(tried.map((l) => l.msg), [], 'no attempt while frozen');
    }

    assert.match(await q('thaw', a.id), /thawed/);
    await waitEvent(d, a.id, 'delivered', 'a@frozena.cli.test', 10_000);
    await sleep(1500);
    assert.equal(deliveredTo(b.messageId), 0, 'the other one stays frozen');
    assert.match(await q('retry', b.id), /due now/);
    await waitEvent(d, b.id, 'delivered', 'b@frozenb.cli.test', 10_000);
    for (const m of [a, b]) {
      assert.equal(deliveredTo(m.messageId), 1);
      await waitEvent(d, m.id, 'completed');
      assert.equal(await queued(d, m.id), undefined);
    }
  });

  it('retry makes a deferred recipient due now, before its retry time', async () => {
    const slow = await startDeliveryDaemonLike();
    try {
      const m = await submit(slow, { from: 's@localhost', to: ['early@early.cli.test'] });
      const deferred = await waitEvent(slow, m.id, 'deferred', 'early@early.cli.test');
      const next = new Date(String(deferred.next)).getTime();
      assert.ok(next - Date.now() > 20_000, 'the next retry is far off');
      accept.add('early@early.cli.test');
      const r = await slow.cli(['queue', '--config', slow.configFile, 'retry', m.id]);
      assert.equal(r.code, 0, r.stderr);
      const delivered = await waitEvent(slow, m.id, 'delivered', 'early@early.cli.test', 10_000);
      assert.ok(new Date(String(delivered.time)).getTime() < next - 20_000, 'delivered long before the retry time');
    } finally {
      await slow.stop();
      slow.cleanup();
    }
  });

  /** A second daemon on the same peer with a 30 s retry interval. */
  function startDeliveryDaemonLike(): Promise<DeliveryDaemon> {
    return startDeliveryDaemon({ route_list: [{ domains: 'early.cli.test', hosts: peers.early.hostPort }], retry_rules: [{ domains: '*', rules: 'F,10m,30s' }] });
  }

  it('delete removes a message: no further attempt, no report', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['deleted@deleted.cli.test'] });
    await waitEvent(d, m.id, 'deferred', 'deleted@deleted.cli.test');
    assert.match(await q('delete', m.id), /deleted/);
    const at = Date.now();
    assert.equal(await queued(d, m.id), undefined);
    const show = await d.cli(['queue', '--config', d.configFile, 'show', m.id]);
    assert.notEqual(show.code, 0, 'queue show no longer finds it');
    accept.add('deleted@deleted.cli.test');
    await sleep(3000);
    assert.equal(deliveredTo(m.messageId), 0, 'never delivered after the delete');
    const later = d.logs.filter((l) => l.id === m.id && new Date(String(l.time)).getTime() > at + 1000);
    assert.deepEqual(later.map((l) => l.msg), [], 'no attempt after the delete');
    assert.ok(!(await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId), 1).catch(() => undefined)), 'no report');
  });

  it('bounce fails the open recipients, sends the sender a failure report and removes the message', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['bounced@bounced.cli.test'] });
    await waitEvent(d, m.id, 'deferred', 'bounced@bounced.cli.test');
    assert.match(await q('bounce', m.id), /bounced/);
    assert.equal(await queued(d, m.id), undefined, 'removed from the queue');
    const report = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId), 10_000)).text);
    const g = report.perRecipient[0];
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;bounced@bounced.cli.test');
    assert.equal(field(g, 'Action'), 'failed');
    assert.match(field(g, 'Status') ?? '', /^5\./);
    assert.match(report.parts[0]?.body ?? '', /bounced by the administrator/);
    accept.add('bounced@bounced.cli.test');
    await sleep(1500);
    assert.equal(deliveredTo(m.messageId), 0, 'never delivered after the bounce');
  });
});
