// Issue 3, the queue: "reuses an open connection for further messages to the same host". With one
// connection allowed per host and a peer that takes its time after each message, four messages go
// over one connection, one transaction each, every one with the extensions the server offered.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { logsOf, startDeliveryDaemon, submit, waitEvent, waitQueueEmpty } from '../helpers/delivery.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

let peer: SmtpPeer;
let d: DeliveryDaemon;

before(async () => {
  peer = await startPeer({
    extensions: ['PIPELINING', 'SIZE 10240000', 'ENHANCEDSTATUSCODES', 'DSN'],
    dot: { reply: '250 2.0.0 Ok: queued', delayMs: 300 },
  });
  d = await startDeliveryDaemon({ route_list: [{ domains: 'reuse.test', hosts: peer.hostPort }], remote_max_parallel_per_host: 1 });
});

after(async () => {
  await d?.stop();
  d?.cleanup();
  await peer?.close();
});

test('several messages to one host go over one open connection, each with the server\'s extensions', { timeout: 60_000 }, async () => {
  const sent = await Promise.all([1, 2, 3, 4].map((i) => submit(d, {
    from: 's@localhost', to: [`user${i}@reuse.test`], rcptParams: { [`user${i}@reuse.test`]: 'NOTIFY=FAILURE' },
  })));
  for (const [i, m] of sent.entries()) {
    // (Before e5ad2f6 the daemon died here: onJob() did not keep the job it was handed in the context.)
    await waitEvent(d, m.id, 'delivered', `user${i + 1}@reuse.test`, 10_000);
  }
  await waitQueueEmpty(d, 10_000);
  assert.equal(d.child.exitCode, null, 'the daemon is still running');
  for (const m of sent) {
    assert.equal(peer.transactions.filter((t) => t.messageId === m.messageId).length, 1, 'delivered once');
    assert.equal(logsOf(d, m.id, 'deferred').length, 0);
  }
  assert.equal(peer.connections, 1, 'one connection for all four');
  const mails = peer.commands.filter((c) => c.line.startsWith('MAIL FROM:'));
  assert.equal(mails.length, 4);
  // (Before 42e5910 only the first MAIL carried SIZE= and only the first RCPT NOTIFY=: the EHLO capabilities were
  // not kept in the connection state.)
  for (const c of mails) assert.match(c.line, / SIZE=\d+/, `the server offered SIZE: ${c.line}`);
  for (const c of peer.commands.filter((x) => x.line.startsWith('RCPT TO:'))) assert.match(c.line, / NOTIFY=FAILURE/, `the server offered DSN: ${c.line}`);
});
