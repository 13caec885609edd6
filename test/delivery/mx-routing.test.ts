// Check of issue 3: with `dns_servers` pointing at the test DNS server, MX routing picks the lowest
// preference that answers and falls back on connection failure; implicit MX; null MX and NXDOMAIN
// bounce; SERVFAIL and timeouts defer, and the retry delivers once DNS answers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestDnsServer } from '../helpers/dns-server.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { field, logsOf, parseReport, queued, startDeliveryDaemon, submit, waitEvent, waitMaildir, waitQueueEmpty } from '../helpers/delivery.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeersOnOnePort } from '../helpers/smtp-peer.js';
import type { DnsFixture } from '../../net/dns/fixture.js';

const SENDER = 's@localhost';

function fixture(flaky: 'SERVFAIL' | 'TIMEOUT' | 'fixed'): DnsFixture {
  // Two exchangers (at the same address): two destinations, so that the two messages never share a connection.
  const mx = (n: number): { MX: { exchange: string; priority: number }[] } => ({ MX: [{ exchange: `mx10.flaky${n}.test`, priority: 10 }] });
  return {
    'pref.test': { MX: [{ exchange: 'mx20.pref.test', priority: 20 }, { exchange: 'mx10.pref.test', priority: 10 }] },
    'mx10.pref.test': { A: ['127.0.0.2'] },
    'mx20.pref.test': { A: ['127.0.0.3'] },
    // The preferred exchanger's address has nothing listening: connection refused.
    'fallback.test': { MX: [{ exchange: 'mx10.fallback.test', priority: 10 }, { exchange: 'mx20.fallback.test', priority: 20 }] },
    'mx10.fallback.test': { A: ['127.0.0.4'] },
    'mx20.fallback.test': { A: ['127.0.0.3'] },
    'implicit.test': { A: ['127.0.0.2'] },
    'nullmx.test': { MX: [{ exchange: '', priority: 0 }] },
    'nx.test': 'NXDOMAIN',
    'servfail.test': flaky === 'SERVFAIL' ? 'SERVFAIL' : mx(1),
    'timeout.test': flaky === 'TIMEOUT' ? 'TIMEOUT' : mx(2),
    'mx10.flaky1.test': { A: ['127.0.0.2'] },
    'mx10.flaky2.test': { A: ['127.0.0.2'] },
  };
}

describe('MX routing through the test DNS server', { timeout: 90_000 }, () => {
  let dns: TestDnsServer;
  let d: DeliveryDaemon;
  let mx2: SmtpPeer; // 127.0.0.2:P
  let mx3: SmtpPeer; // 127.0.0.3:P

  before(async () => {
    dns = await startDnsServer(fixture('SERVFAIL'));
    [mx2, mx3] = (await startPeersOnOnePort(['127.0.0.2', '127.0.0.3'], (h) => ({ name: `peer-${h}` }))) as [SmtpPeer, SmtpPeer];
    d = await startDeliveryDaemon({
      dns_servers: [dns.server],
      dns_timeout: '1s',
      dns_retries: 0,
      ignore_target_hosts: [],
      smtp_transport: { port: mx2.port, connect_timeout: '2s', command_timeout: '2s' },
      retry_rules: [{ domains: '*', rules: 'F,30s,1s' }],
    });
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    await mx2?.close();
    await mx3?.close();
    await dns?.close();
  });

  const arrivedAt = (peer: SmtpPeer, messageId: string): boolean => peer.transactions.some((t) => t.messageId === messageId);

  it('picks the lowest preference: MX 10 gets the mail, MX 20 nothing', async () => {
    const m = await submit(d, { from: SENDER, to: ['user@pref.test'] });
    const line = await waitEvent(d, m.id, 'delivered', 'user@pref.test');
    assert.match(line.msg, /R=dnslookup T=smtp H=mx10\.pref\.test \[127\.0\.0\.2\]:\d+/);
    assert.ok(arrivedAt(mx2, m.messageId), 'the MX 10 host (127.0.0.2) received it');
    assert.ok(!arrivedAt(mx3, m.messageId), 'the MX 20 host (127.0.0.3) did not');
    const tx = mx2.transactions.find((t) => t.messageId === m.messageId);
    assert.deepEqual(tx?.rcpts.map((r) => r.address), ['user@pref.test']);
    assert.equal(tx?.from, SENDER);
    assert.ok(dns.queries.some((q) => q.name === 'pref.test' && q.type === 'MX'), 'the MX was looked up in our DNS server');
  });

  it('falls back to MX 20 when MX 10 refuses the connection', async () => {
    const m = await submit(d, { from: SENDER, to: ['user@fallback.test'] });
    const line = await waitEvent(d, m.id, 'delivered', 'user@fallback.test');
    assert.match(line.msg, /H=mx20\.fallback\.test \[127\.0\.0\.3\]/);
    assert.ok(arrivedAt(mx3, m.messageId), 'the MX 20 host received it');
    assert.ok(d.logs.some((l) => /connection refused \(mx10\.fallback\.test \[127\.0\.0\.4\]:\d+\).*next host/.test(l.msg)), 'MX 10 was tried first');
    assert.equal(logsOf(d, m.id, 'deferred').length, 0, 'no deferral: the fallback is in the same attempt');
  });

  it('delivers to the A record of a domain without MX (implicit MX)', async () => {
    const m = await submit(d, { from: SENDER, to: ['user@implicit.test'] });
    const line = await waitEvent(d, m.id, 'delivered', 'user@implicit.test');
    assert.match(line.msg, /H=implicit\.test \[127\.0\.0\.2\]/);
    assert.ok(arrivedAt(mx2, m.messageId));
  });

  it('bounces a null MX domain with 5.1.10', async () => {
    const m = await submit(d, { from: SENDER, to: ['user@nullmx.test'] });
    const line = await waitEvent(d, m.id, 'failed', 'user@nullmx.test');
    assert.match(line.msg, /null MX/i);
    const bounce = await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId));
    const r = parseReport(bounce.text);
    const rcpt = r.perRecipient.find((g) => /user@nullmx\.test/.test(field(g, 'Final-Recipient') ?? ''));
    assert.ok(rcpt, 'a group for the recipient');
    assert.equal(field(rcpt, 'Action'), 'failed');
    assert.equal(field(rcpt, 'Status'), '5.1.10');
    assert.ok(!arrivedAt(mx2, m.messageId) && !arrivedAt(mx3, m.messageId));
  });

  it('bounces a domain that does not exist (NXDOMAIN)', async () => {
    const m = await submit(d, { from: SENDER, to: ['user@nx.test'] });
    const line = await waitEvent(d, m.id, 'failed', 'user@nx.test');
    assert.match(line.msg, /does not exist|Unrouteable/i);
    const bounce = await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId));
    const rcpt = parseReport(bounce.text).perRecipient[0];
    assert.equal(field(rcpt, 'Action'), 'failed');
    assert.match(field(rcpt, 'Status') ?? '', /^5\.1\.2$/);
    assert.equal(logsOf(d, m.id, 'deferred').length, 0, 'NXDOMAIN is final: never deferred');
  });

  it('defers on SERVFAIL and on a DNS timeout, then delivers on a retry once DNS answers', async () => {
    dns.setFixture({ ...fixture('SERVFAIL'), 'timeout.test': 'TIMEOUT' });
    const a = await submit(d, { from: SENDER, to: ['user@servfail.test'] });
    const b = await submit(d, { from: SENDER, to: ['user@timeout.test'] });
    const da = await waitEvent(d, a.id, 'deferred', 'user@servfail.test');
    const db = await waitEvent(d, b.id, 'deferred', 'user@timeout.test');
    assert.match(da.msg, /R=dnslookup.* defer: .*servfail\.test/);
    assert.match(db.msg, /R=dnslookup.* defer: .*timeout\.test/);
    for (const id of [a.id, b.id]) {
      const q = await queued(d, id);
      assert.ok(q, `${id} stays in the queue`);
      assert.equal(q.recipients[0]?.state, 'deferred');
      assert.ok(q.recipients[0]?.nextAttempt, 'with a next attempt');
    }
    // Still failing at the next retries: more deferrals, nothing bounced.
    await d.waitForLog((l) => l.id === a.id && l.event === 'deferred' && l !== da, 10_000);
    assert.equal(logsOf(d, a.id, 'failed').length, 0);

    dns.setFixture(fixture('fixed'));
    const la = await waitEvent(d, a.id, 'delivered', 'user@servfail.test', 20_000);
    const lb = await waitEvent(d, b.id, 'delivered', 'user@timeout.test', 20_000);
    assert.match(la.msg, /H=mx10\.flaky1\.test \[127\.0\.0\.2\]/);
    assert.match(lb.msg, /H=mx10\.flaky2\.test \[127\.0\.0\.2\]/);
    assert.ok(arrivedAt(mx2, a.messageId) && arrivedAt(mx2, b.messageId));
    await waitQueueEmpty(d, 10_000);
  });
});
