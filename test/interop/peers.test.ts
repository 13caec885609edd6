// Real peers deliver to the daemon: nodemailer (npm), swaks and Postfix's smtp-source (Debian).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import type { Daemon } from '../helpers/daemon.js';
import { startDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);

interface Listed {
  id: string;
  sender: string;
  recipients: { address: string; state: string }[];
  size: number;
  received: string;
  messageId: string | null;
}

async function listQueue(d: Daemon): Promise<Listed[]> {
  const r = await d.cli(['queue', 'list', '--json', '--config', d.configFile]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Listed[];
}

let d: Daemon;
before(async () => {
  // Postfix's smtp-source and swaks come from Debian; .ci/run installs them. No skip: a missing
  // peer must fail here, not hide.
  d = await startDaemon({ config: { log_level: 'warn', smtp_accept_max_per_host: 50 } });
});
after(async () => {
  await d.stop();
  d.cleanup();
});

test('nodemailer delivers with pipelining, and the envelope and Message-ID are recorded', async () => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: d.port, secure: false, ignoreTLS: true });
  const info = await transport.sendMail({
    envelope: { from: 'nm@sender.test', to: ['alice@localhost', 'bob@localhost'] },
    from: 'Node Mailer <nm@sender.test>',
    to: 'alice@localhost, bob@localhost',
    subject: 'hello from nodemailer',
    text: 'line one\n.line with a dot\nlast',
    messageId: '<nodemailer-1@sender.test>',
  });
  assert.equal(info.accepted.length, 2);
  assert.match(info.response, /^250 2\.0\.0 OK id=[0-9A-Z]{16}$/);
  const q = (await listQueue(d)).find((m) => m.messageId === '<nodemailer-1@sender.test>');
  assert.ok(q, 'message queued');
  assert.equal(q.sender, 'nm@sender.test');
  assert.deepEqual(q.recipients.map((r) => r.address), ['alice@localhost', 'bob@localhost']);
  const show = await d.cli(['queue', 'show', q.id, '--body', '--config', d.configFile]);
  assert.match(show.stdout, /\r?\n\.line with a dot\r?\n/);
});

test('swaks delivers a message', async () => {
  const { stdout } = await run('swaks', [
    '--server', '127.0.0.1', '--port', String(d.port), '--from', 'sw@sender.test', '--to', 'carol@localhost',
    '--helo', 'swaks.client.test', '--header', 'Message-Id: <swaks-1@sender.test>', '--body', 'from swaks',
  ]);
  assert.match(stdout, /<- {2}250 2\.0\.0 OK id=/);
  const q = (await listQueue(d)).find((m) => m.messageId === '<swaks-1@sender.test>');
  assert.ok(q, 'swaks message queued');
  assert.equal(q.sender, 'sw@sender.test');
  assert.deepEqual(q.recipients.map((r) => r.address), ['carol@localhost']);
});

test('smtp-source: 5,000 messages over 20 sessions are all queued with correct envelopes', { timeout: 180_000 }, async () => {
  const before = (await listQueue(d)).length;
  await run('/usr/sbin/smtp-source', ['-s', '20', '-m', '5000', '-l', '2048', '-f', 'src@source.test', '-t', 'sink@localhost', `127.0.0.1:${d.port}`], { timeout: 170_000 });
  const all = await listQueue(d);
  const mine = all.filter((m) => m.sender === 'src@source.test');
  assert.equal(all.length - before, 5000);
  assert.equal(mine.length, 5000);
  for (const m of mine) {
    assert.deepEqual(m.recipients, [{ address: 'sink@localhost', state: 'pending', attempts: 0, nextAttempt: null }]);
    assert.ok(m.size >= 2048, `size ${m.size}`);
  }
  assert.equal(new Set(mine.map((m) => m.id)).size, 5000, 'ids are unique');
  const count = await d.cli(['queue', 'count', '--config', d.configFile]);
  assert.equal(count.stdout.trim(), String(all.length));
});
