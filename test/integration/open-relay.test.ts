// No open relay (DESIGN invariant 7): with the embedded default policy, a client that is not in
// relay_from_hosts cannot relay; 127.0.0.2 is "another host" (all of 127.0.0.0/8 is loopback).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Daemon } from '../helpers/daemon.js';
import { startDaemon } from '../helpers/daemon.js';
import { RawClient } from '../helpers/smtp-client.js';
import { queueList } from '../helpers/integration.js';

let d: Daemon;
before(async () => {
  // Only what the daemon must have to run in a test; relay settings are the embedded default's.
  d = await startDaemon();
});
after(async () => {
  await d.stop();
  d.cleanup();
});

async function session(localAddress: string): Promise<RawClient> {
  const c = await RawClient.connect(d.port, { localAddress });
  assert.equal((await c.read())?.code, 220);
  assert.equal((await c.cmd('EHLO outside.test'))?.code, 250);
  return c;
}

test('from a host outside relay_from_hosts, RCPT to another domain is refused 550 5.7.1 and nothing is queued', async () => {
  const c = await session('127.0.0.2');
  assert.equal((await c.cmd('MAIL FROM:<spammer@outside.test>'))?.code, 250);
  const r = await c.cmd('RCPT TO:<x@elsewhere.test>');
  assert.equal(r?.code, 550);
  assert.match(r?.text ?? '', /^550 5\.7\.1 Relay not permitted/);
  // The percent hack and source routes are no way around it either.
  assert.equal((await c.cmd('RCPT TO:<x%elsewhere.test@mx.petrel.test>'))?.code, 550);
  assert.equal((await c.cmd('RCPT TO:<@mx.petrel.test:x@elsewhere.test>'))?.code, 550);
  assert.equal((await c.cmd('DATA'))?.code, 554, 'no valid recipients');
  c.close();
  const log = await d.waitForLog((l) => l.event === 'reject' && String(l.msg).includes('RCPT <x@elsewhere.test>'));
  assert.match(log.msg, /\[127\.0\.0\.2\] F=<spammer@outside\.test> rejected RCPT <x@elsewhere\.test>: Relay not permitted/);
  assert.equal((await queueList(d)).filter((m) => m.sender === 'spammer@outside.test').length, 0);
});

test('the same host may send to a local domain, and 127.0.0.1 (relay_from_hosts) may relay', async () => {
  const c = await session('127.0.0.2');
  assert.equal((await c.cmd('MAIL FROM:<friend@outside.test>'))?.code, 250);
  assert.equal((await c.cmd('RCPT TO:<someone@localhost>'))?.code, 250);
  c.close();
  const inside = await session('127.0.0.1');
  assert.equal((await inside.cmd('MAIL FROM:<local@mx.petrel.test>'))?.code, 250);
  assert.equal((await inside.cmd('RCPT TO:<x@elsewhere.test>'))?.code, 250);
  inside.close();
});
