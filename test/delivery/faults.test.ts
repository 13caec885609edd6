// Issue 3, "Bad input and faults": the remote side answers 4xx, 5xx, garbage, or drops the
// connection at each stage (banner, EHLO, MAIL, RCPT, DATA, end of data). Each case has its own
// peer, faulty on its first connection only, routed as the first of two hosts (a healthy backup
// second), so that every outcome shows: the next host (delivered at the backup in the same attempt),
// HELO instead of EHLO, a deferral with a retry (delivered at the same peer on the retry), or a
// bounce (a failure report to the sender). All cases run at once against one daemon, once with
// deliveries in the delivery thread (the default) and once on the main thread.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon, Submitted } from '../helpers/delivery.js';
import { field, logsOf, parseReport, startDeliveryDaemon, submit, waitEvent, waitMaildir } from '../helpers/delivery.js';
import type { PeerAction, PeerOptions, SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

type Stage = 'banner' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'dot';
type Fault = '4xx' | '5xx' | '421' | 'garbage' | 'drop' | 'silent';
type Outcome = 'next-host' | 'helo' | 'defer' | 'bounce';

interface Case {
  readonly stage: Stage;
  readonly fault: Fault;
  readonly expect: Outcome;
  /** Route to the faulty peer alone (no backup host). */
  readonly alone?: boolean;
  /** Faulty on every connection, not only the first. */
  readonly always?: boolean;
}

const REPLIES: Record<Stage, { '4xx': string; '5xx': string }> = {
  banner: { '4xx': '450 4.3.2 busy, come back later', '5xx': '554 5.7.1 no SMTP service here' },
  ehlo: { '4xx': '451 4.3.0 EHLO temporarily unavailable', '5xx': '502 5.5.2 EHLO not implemented' },
  mail: { '4xx': '451 4.3.0 sender check failed, try again', '5xx': '553 5.7.1 sender refused' },
  rcpt: { '4xx': '450 4.2.1 mailbox temporarily unavailable', '5xx': '550 5.1.1 no such user' },
  data: { '4xx': '451 4.3.0 DATA not now', '5xx': '554 5.6.0 no data for you' },
  dot: { '4xx': '451 4.3.0 queue full, try again', '5xx': '554 5.7.1 message content rejected' },
};

function faultAction(c: Case): PeerAction {
  switch (c.fault) {
    case '4xx':
    case '5xx':
      return REPLIES[c.stage][c.fault];
    case '421':
      return '421 4.3.2 shutting down';
    case 'garbage':
      return { garbage: 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' };
    case 'drop':
      return { drop: true };
    case 'silent':
      return { silent: true };
  }
}

const CASES: Case[] = [
  // Before any transaction: trouble with the host, try the next one.
  { stage: 'banner', fault: '4xx', expect: 'next-host' },
  { stage: 'banner', fault: '5xx', expect: 'next-host' },
  { stage: 'banner', fault: 'garbage', expect: 'next-host' },
  { stage: 'banner', fault: 'drop', expect: 'next-host' },
  { stage: 'banner', fault: '421', expect: 'next-host' },
  { stage: 'banner', fault: 'silent', expect: 'next-host' },
  { stage: 'ehlo', fault: '4xx', expect: 'next-host' },
  { stage: 'ehlo', fault: '5xx', expect: 'helo' },
  { stage: 'ehlo', fault: 'garbage', expect: 'next-host' },
  { stage: 'ehlo', fault: 'drop', expect: 'next-host' },
  // The only host: defer, or bounce when it refuses service outright every time.
  { stage: 'banner', fault: '4xx', expect: 'defer', alone: true },
  { stage: 'banner', fault: 'drop', expect: 'defer', alone: true },
  { stage: 'ehlo', fault: '4xx', expect: 'defer', alone: true },
  { stage: 'banner', fault: '5xx', expect: 'bounce', alone: true, always: true },
  // Within the transaction: about this message; never the next host.
  { stage: 'mail', fault: '4xx', expect: 'defer' },
  { stage: 'mail', fault: '5xx', expect: 'bounce' },
  { stage: 'mail', fault: 'garbage', expect: 'defer' },
  { stage: 'mail', fault: 'drop', expect: 'defer' },
  { stage: 'mail', fault: '421', expect: 'defer' },
  { stage: 'rcpt', fault: '4xx', expect: 'defer' },
  { stage: 'rcpt', fault: '5xx', expect: 'bounce' },
  { stage: 'rcpt', fault: 'garbage', expect: 'defer' },
  { stage: 'rcpt', fault: 'drop', expect: 'defer' },
  { stage: 'data', fault: '4xx', expect: 'defer' },
  { stage: 'data', fault: '5xx', expect: 'bounce' },
  { stage: 'data', fault: 'garbage', expect: 'defer' },
  { stage: 'data', fault: 'drop', expect: 'defer' },
  { stage: 'dot', fault: '4xx', expect: 'defer' },
  { stage: 'dot', fault: '5xx', expect: 'bounce' },
  { stage: 'dot', fault: 'garbage', expect: 'defer' },
  { stage: 'dot', fault: 'drop', expect: 'defer' },
  { stage: 'dot', fault: 'silent', expect: 'defer' },
];

const nameOf = (c: Case): string => `${c.stage}-${c.fault}${c.alone ? '-alone' : ''}`;
const domainOf = (c: Case): string => `${nameOf(c)}.faults.test`;

/** The peer's script: the fault at its stage, on the first connection (or every one). */
function script(c: Case): PeerOptions {
  const action = faultAction(c);
  const when = <A extends unknown[]>() => (...args: A): PeerAction | undefined => {
    const ctx = args[args.length - 1] as { connection: number };
    return c.always || ctx.connection === 1 ? action : undefined;
  };
  return { name: `fault-${nameOf(c)}.test`, [c.stage]: when() };
}

for (const thread of [true, false]) {
  describe(`remote faults at each SMTP stage, deliveries ${thread ? 'in the delivery thread' : 'on the main thread'}`, { timeout: 90_000 }, () => {
    let backup: SmtpPeer;
    const peers = new Map<Case, SmtpPeer>();
    const sent = new Map<Case, Submitted>();
    let d: DeliveryDaemon;

    before(async () => {
      backup = await startPeer({ name: 'backup.test' });
      for (const c of CASES) peers.set(c, await startPeer(script(c)));
      d = await startDeliveryDaemon({
        delivery_thread: thread,
        route_list: CASES.map((c) => ({ domains: domainOf(c), hosts: c.alone ? [peers.get(c)?.hostPort as string] : [peers.get(c)?.hostPort as string, backup.hostPort] })),
        // A retry must find the peer on a new connection (each is faulty on its first only): none is kept idle.
        smtp_transport: { connect_timeout: '2s', command_timeout: '2s', data_timeout: '2s', final_timeout: '2s', connection_idle_time: '0s' },
        retry_rules: [{ domains: '*', rules: 'F,60s,1s' }],
      });
      // Every case at once; each test below looks at its own.
      await Promise.all(CASES.map(async (c) => sent.set(c, await submit(d, { from: 's@localhost', to: [`user@${domainOf(c)}`] }))));
    });

    after(async () => {
      await d?.stop();
      d?.cleanup();
      await backup?.close();
      for (const p of peers.values()) await p.close();
    });

    for (const c of CASES) {
      const where = c.alone ? ' (the only host)' : '';
      it(`${c.fault} at ${c.stage}${where}: ${c.expect}`, async () => {
        const m = sent.get(c) as Submitted;
        const peer = peers.get(c) as SmtpPeer;
        const rcpt = `user@${domainOf(c)}`;
        const at = (p: SmtpPeer): number => p.transactions.filter((t) => t.messageId === m.messageId).length;
        const lines = (): string => logsOf(d, m.id).map((l) => l.msg).join('\n');
        switch (c.expect) {
          case 'next-host': {
            const line = await waitEvent(d, m.id, 'delivered', rcpt);
            assert.ok(line.msg.includes(`[127.0.0.1]:${backup.port}`), `delivered at the backup host: ${line.msg}`);
            assert.equal(at(backup), 1);
            assert.equal(at(peer), 0);
            assert.equal(logsOf(d, m.id, 'deferred').length, 0, `no deferral:\n${lines()}`);
            assert.ok(d.logs.some((l) => l.event === 'delivery' && l.msg.includes(`:${peer.port})`) && /next host/.test(l.msg)), 'the log says why the next host was tried');
            break;
          }
          case 'helo': {
            const line = await waitEvent(d, m.id, 'delivered', rcpt);
            assert.ok(line.msg.includes(`:${peer.port}`), `delivered at the same host: ${line.msg}`);
            const tx = peer.transactions.find((t) => t.messageId === m.messageId);
            assert.equal(tx?.greeting, 'HELO', 'after the 5xx to EHLO, HELO on the same connection');
            assert.equal(tx?.connection, 1);
            assert.equal(at(backup), 0);
            break;
          }
          case 'defer': {
            const deferred = await waitEvent(d, m.id, 'deferred', rcpt);
            assert.ok(deferred.msg.includes(`:${peer.port}`), `deferred at the faulty host: ${deferred.msg}`);
            if (c.fault === '4xx') assert.ok(deferred.msg.includes(REPLIES[c.stage]['4xx']), `the reply is in the log: ${deferred.msg}`);
            if (c.stage === 'dot' && c.fault !== '4xx') assert.match(deferred.msg, /may have been delivered/);
            assert.equal(logsOf(d, m.id, 'failed').length, 0, 'not bounced');
            // The retry (the peer is healthy now) delivers it, at the same host, never at the backup.
            const line = await waitEvent(d, m.id, 'delivered', rcpt, 15_000);
            assert.ok(line.msg.includes(`:${peer.port}`), `delivered on the retry at the same host: ${line.msg}`);
            assert.equal(at(peer), 1, 'delivered once');
            assert.ok((peer.transactions.find((t) => t.messageId === m.messageId)?.connection ?? 0) >= 2, 'on a later connection');
            assert.equal(at(backup), 0, 'never at the backup host');
            break;
          }
          case 'bounce': {
            const failed = await waitEvent(d, m.id, 'failed', rcpt);
            if (c.fault === '5xx') assert.ok(failed.msg.includes(REPLIES[c.stage]['5xx']), `the reply is in the log: ${failed.msg}`);
            assert.equal(logsOf(d, m.id, 'deferred').length, 0, `bounced at once:\n${lines()}`);
            assert.equal(at(peer) + at(backup), 0, 'delivered nowhere');
            const report = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text);
            const g = report.perRecipient[0];
            assert.equal(field(g, 'Final-Recipient'), `rfc822;${rcpt}`);
            assert.equal(field(g, 'Action'), 'failed');
            assert.match(field(g, 'Status') ?? '', /^5\.\d+\.\d+$/);
            if (c.fault === '5xx') assert.equal(field(g, 'Status'), /(\d\.\d+\.\d+)/.exec(REPLIES[c.stage]['5xx'])?.[1]);
            break;
          }
        }
      });
    }
  });
}
