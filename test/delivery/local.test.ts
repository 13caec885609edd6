// Check of issue 3: local delivery writes Maildir files readable by a standard Maildir reader
// (Python's mailbox.Maildir); aliases expand to several Maildirs; an alias loop bounces; an
// unknown local user bounces.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { field, logsOf, makeMessage, maildirMessages, parseReport, startDeliveryDaemon, submit, waitEvent, waitMaildir } from '../helpers/delivery.js';

interface PyMessage {
  key: string;
  subdir: string;
  return_path: string | null;
  delivered_to: string[] | null;
  subject: string | null;
  message_id: string | null;
  content_type: string;
  body: string;
}

/** Every message of a Maildir as Python's standard mailbox module reads it. */
function readWithPython(path: string): PyMessage[] {
  const script = [
    'import json, mailbox, sys',
    'md = mailbox.Maildir(sys.argv[1], factory=None, create=False)',
    'out = []',
    'for key, m in md.items():',
    '    payload = m.get_payload(decode=True)',
    "    out.append({'key': key, 'subdir': m.get_subdir(), 'return_path': m['Return-Path'], 'delivered_to': m.get_all('Delivered-To'),",
    "                'subject': m['Subject'], 'message_id': m['Message-ID'], 'content_type': m.get_content_type(),",
    "                'body': payload.decode('utf-8') if payload is not None else ''})",
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as PyMessage[];
}

describe('local delivery to Maildir, aliases', { timeout: 60_000 }, () => {
  let d: DeliveryDaemon;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-local-'));
    const aliases = join(dir, 'aliases');
    writeFileSync(aliases, [
      '# test aliases',
      'postmaster: alice, bob',
      'a: b',
      'b: a',
      'team: carol, bob@mx.petrel.test',
      '',
    ].join('\n'));
    d = await startDeliveryDaemon({ aliases_file: aliases, local_users: ['alice', 'bob', 'carol', 's'] }, dir);
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
  });

  it('writes messages that Python\'s mailbox.Maildir reads back with Return-Path, Delivered-To and the body intact', async () => {
    const body = [
      'First line of the body.',
      '.a line that starts with a dot',
      '..two dots',
      'Grüße aus Köln: UTF-8 in the body',
      '',
      'last line',
    ].join('\r\n');
    const msg = makeMessage({ subject: 'maildir check', body, headers: ['MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'] });
    const m = await submit(d, { from: 'sender@example.org', to: ['alice@localhost', 'bob@mx.petrel.test'], content: msg.content, mailParams: 'BODY=8BITMIME' });
    const la = await waitEvent(d, m.id, 'delivered', 'alice@localhost');
    const lb = await waitEvent(d, m.id, 'delivered', 'bob@mx.petrel.test');
    assert.match(la.msg, /=> alice@localhost R=accept T=maildir/);
    assert.match(lb.msg, /=> bob@mx\.petrel\.test R=accept T=maildir/);

    for (const [box, rcpt] of [['alice', 'alice@localhost'], ['bob', 'bob@mx.petrel.test']] as const) {
      const msgs = readWithPython(join(d.maildir, box)).filter((x) => x.message_id === m.messageId);
      assert.equal(msgs.length, 1, `one message in ${box}'s Maildir`);
      const x = msgs[0] as PyMessage;
      assert.equal(x.subdir, 'new');
      assert.equal(x.return_path, '<sender@example.org>');
      assert.deepEqual(x.delivered_to, [rcpt]);
      assert.equal(x.subject, 'maildir check');
      assert.equal(x.content_type, 'text/plain');
      // The reader sees the local text form (LF), dot-stuffing undone, UTF-8 intact.
      assert.equal(x.body, body.replace(/\r\n/g, '\n') + '\n');
      assert.deepEqual(readdirSync(join(d.maildir, box, 'tmp')), [], 'nothing left in tmp/');
    }
    // The file itself: Return-Path first, LF line ends.
    const file = maildirMessages(d.maildir, 'alice').find((f) => f.text.includes(m.messageId));
    assert.ok(file);
    assert.match(file.text, /^Return-Path: <sender@example\.org>\nDelivered-To: alice@localhost\n/);
    assert.ok(!file.text.includes('\r\n'), 'LF line ends');
  });

  it('gives each delivery its own file name, and writes Return-Path: <> for the null sender', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submit(d, { from: i === 2 ? '' : 's@localhost', to: ['carol@localhost'] })).messageId);
    for (const id of ids) await waitMaildir(d.maildir, 'carol', (f) => f.text.includes(id));
    const msgs = readWithPython(join(d.maildir, 'carol'));
    assert.equal(new Set(msgs.map((x) => x.key)).size, msgs.length);
    for (const id of ids) assert.equal(msgs.filter((x) => x.message_id === id).length, 1);
    assert.equal(msgs.find((x) => x.message_id === ids[2])?.return_path, '<>');
  });

  it('expands "postmaster: alice, bob" into both Maildirs', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['postmaster@localhost'] });
    await waitEvent(d, m.id, 'expanded');
    await waitEvent(d, m.id, 'delivered', 'alice@localhost');
    await waitEvent(d, m.id, 'delivered', 'bob@localhost');
    await waitEvent(d, m.id, 'completed');
    for (const [box, rcpt] of [['alice', 'alice@localhost'], ['bob', 'bob@localhost']] as const) {
      const x = readWithPython(join(d.maildir, box)).filter((y) => y.message_id === m.messageId);
      assert.equal(x.length, 1, `one copy for ${box}`);
      assert.deepEqual(x[0]?.delivered_to, [rcpt]);
    }
    assert.equal(maildirMessages(d.maildir, 'postmaster').length, 0, 'no Maildir for the alias itself');
    assert.equal(logsOf(d, m.id, 'failed').length, 0);
  });

  it('expands an alias with a target in another local domain', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['team@localhost'] });
    await waitEvent(d, m.id, 'delivered', 'carol@localhost');
    await waitEvent(d, m.id, 'delivered', 'bob@mx.petrel.test');
    assert.equal(readWithPython(join(d.maildir, 'bob')).filter((y) => y.message_id === m.messageId).length, 1);
  });

  it('bounces an alias loop (a: b, b: a) with an alias loop reason', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['a@localhost'] });
    const failed = await waitEvent(d, m.id, 'failed', 'a@localhost');
    assert.match(failed.msg, /\*\* a@localhost R=redirect.*alias loop/i);
    const r = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text);
    const g = r.perRecipient[0];
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;a@localhost');
    assert.equal(field(g, 'Action'), 'failed');
    assert.match(field(g, 'Status') ?? '', /^5\./);
    assert.match(r.parts[0]?.body ?? '', /alias loop/i);
    assert.equal(maildirMessages(d.maildir, 'a').length + maildirMessages(d.maildir, 'b').length, 0, 'nothing delivered to a or b');
  });

  it('bounces a local part that is not in local_users with 5.1.1', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['nobody@localhost'] });
    const failed = await waitEvent(d, m.id, 'failed', 'nobody@localhost');
    assert.match(failed.msg, /Unknown user/);
    const g = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text).perRecipient[0];
    assert.equal(field(g, 'Status'), '5.1.1');
    assert.equal(maildirMessages(d.maildir, 'nobody').length, 0);
  });
});
