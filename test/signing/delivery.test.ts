// DKIM signing and ARC sealing on delivery, end to end: a daemon relays through its smarthost to the smtp-server
// package; what arrives is verified with Petrel's own protocol/dkim and protocol/arc and with mailauth 4, with
// the keys published in a DNS fixture. Also: oversigning, dkim_strict, ARC without our Authentication-Results,
// and the keys read again on SIGHUP.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DeliveryDaemon, SinkMessage, SmtpServerSink } from '../helpers/delivery.js';
import { makeMessage, startDeliveryDaemon, startSmtpServerSink, submit, waitEvent } from '../helpers/delivery.js';
import { until } from '../helpers/integration.js';
import { fieldValues, fixtureOf, mailauthArc, mailauthDkim, petrelArc, petrelDkim, tag, writeKey } from './common.js';
import type { FileKey } from './common.js';
import { adminBase } from '../helpers/daemon.js';

const T = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), 'petrel-signing-keys-'));
const rsa = writeKey(dir, 'example.org', 'rsa2048', 'rsa');
const ed = writeKey(dir, 'example.org', 'ed', 'ed25519');
const other = writeKey(dir, 'mail.example.net', 'sel', 'rsa');
const arcKey = writeKey(dir, 'relay.example.com', 'arc', 'rsa');
const fixture = fixtureOf([rsa, ed, other, arcKey]);

let sink: SmtpServerSink;
const daemons: DeliveryDaemon[] = [];

before(async () => {
  sink = await startSmtpServerSink();
});

after(async () => {
  for (const d of daemons) {
    await d.stop();
    d.cleanup();
  }
  await sink?.close();
});

async function daemon(transport: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<DeliveryDaemon> {
  const d = await startDeliveryDaemon({ smarthost: sink.hostPort, smtp_transport: transport, log_level: 'debug', ...config });
  daemons.push(d);
  return d;
}

/** Sends one message through the daemon and returns it as the sink got it. */
async function relay(d: DeliveryDaemon, o: { headers?: string[]; body?: string; to?: string; at?: SmtpServerSink } = {}): Promise<{ id: string; got: SinkMessage }> {
  const to = o.to ?? 'rcpt@remote.example';
  const at = o.at ?? sink;
  const msg = makeMessage({ to, from: 'alice@example.org', headers: ['Date: Mon, 1 Jan 2024 12:00:00 +0000', ...(o.headers ?? [])], body: o.body });
  const { id, messageId } = await submit(d, { from: 'alice@example.org', to: [to], content: msg.content });
  await waitEvent(d, id, 'delivered');
  await until(() => at.messages.some((m) => m.messageId === messageId), 5000, 'the message at the sink');
  return { id, got: at.messages.find((m) => m.messageId === messageId) as SinkMessage };
}

async function assertDkimPass(message: Buffer, expected: readonly FileKey[]): Promise<void> {
  const mine = await petrelDkim(message, fixture);
  assert.deepEqual(mine.signatures.map((s) => `${s.status} d=${s.domain} s=${s.selector}`), expected.map((k) => `pass d=${k.domain} s=${k.selector}`), `protocol/dkim:\n${message.toString()}`);
  const theirs = await mailauthDkim(message, fixture);
  assert.deepEqual(theirs.map((r) => `${r.status} ${r.domain}`), expected.map((k) => `pass ${k.domain}`), `mailauth: ${JSON.stringify(theirs)}`);
}

test('rsa-2048 and ed25519: two DKIM-Signature fields on top that pass in protocol/dkim and in mailauth; the rest unchanged', T, async () => {
  const d = await daemon({ dkim_domain: 'example.org', dkim_selector: 'rsa2048 : ed', dkim_private_key: [rsa.file, ed.file] });
  const body = 'Line one\r\n.leading dot\r\n..two dots\r\n\r\ntrailing space   \r\n\r\n\r\n';
  const { got } = await relay(d, { body });
  const text = got.data.toString('latin1');
  assert.match(text, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;\s+s=rsa2048;/);
  const sigs = fieldValues(got.data, 'DKIM-Signature');
  assert.equal(sigs.length, 2);
  assert.equal(tag(sigs[1] as string, 'a'), 'ed25519-sha256');
  assert.equal(tag(sigs[0] as string, 't'), undefined, 'no t= without dkim_timestamps');
  await assertDkimPass(got.data, [rsa, ed]);
  // Below the signatures, the message is what was stored (dot-stuffing undone by the sink).
  const rest = text.slice(text.indexOf('\r\nReceived:') + 2);
  assert.ok(rest.endsWith(`\r\n\r\n${body}\r\n`), 'the body arrives unchanged');
});

test('the default h= is Exim\'s list, each name once: absent fields are signed as absent; "+" oversigns present ones', T, async () => {
  const d = await daemon({ dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: rsa.file });
  const { got } = await relay(d);
  const h = (tag(fieldValues(got.data, 'DKIM-Signature')[0] as string, 'h') ?? '').toLowerCase().split(':');
  assert.deepEqual(h, ['from', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'to', 'cc', 'mime-version', 'content-type',
    'content-transfer-encoding', 'content-id', 'content-description', 'resent-date', 'resent-from', 'resent-sender', 'resent-to',
    'resent-cc', 'resent-message-id', 'in-reply-to', 'references', 'list-id', 'list-help', 'list-unsubscribe', 'list-subscribe',
    'list-post', 'list-owner', 'list-archive']);
  // Adding a field the signature lists as absent breaks it, in both implementations.
  const withReplyTo = Buffer.concat([Buffer.from('Reply-To: mallory@evil.example\r\n'), got.data]);
  assert.equal((await petrelDkim(withReplyTo, fixture)).signatures[0]?.status, 'fail');
  assert.notEqual((await mailauthDkim(withReplyTo, fixture))[0]?.status, 'pass');

  const over = await daemon({ dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: rsa.file, dkim_sign_headers: '+From : +Subject : =X-List : To', dkim_timestamps: 3600 });
  const o = await relay(over, { headers: ['X-List: one', 'X-List: two'] });
  const sig = fieldValues(o.got.data, 'DKIM-Signature')[0] as string;
  assert.deepEqual((tag(sig, 'h') ?? '').toLowerCase().split(':'), ['from', 'from', 'subject', 'subject', 'x-list', 'x-list', 'to']);
  const t = Number(tag(sig, 't'));
  assert.ok(Math.abs(t - Date.now() / 1000) < 60, 't= is now');
  assert.equal(Number(tag(sig, 'x')), t + 3600, 'x= = t= + dkim_timestamps');
  await assertDkimPass(o.got.data, [rsa]);
  const secondFrom = Buffer.concat([Buffer.from('From: Mallory <mallory@evil.example>\r\n'), o.got.data]);
  assert.equal((await petrelDkim(secondFrom, fixture)).signatures[0]?.status, 'fail', 'a From added on top breaks the oversigned signature');
  assert.notEqual((await mailauthDkim(secondFrom, fixture))[0]?.status, 'pass');
});

test('two domains, identity, simple canonicalization, added headers and a big body: every signature passes', T, async () => {
  const d2 = await daemon(
    { dkim_domain: 'example.org : mail.example.net', dkim_selector: 'rsa2048 : sel', dkim_private_key: [rsa.file, other.file], dkim_canon: 'simple' },
    { acl_smtp_data: 'accept\n add_header = X-Scanned: by the data ACL' },
  );
  const line = 'The quick brown fox jumps over the lazy dog, again and again. \t \r\n';
  const body = line.repeat(Math.ceil((600 * 1024) / line.length));
  const { got } = await relay(d2, { body, headers: ['X-Spacing:   odd    spacing  '] });
  assert.match(got.data.toString('latin1'), /\r\nX-Scanned: by the data ACL\r\n/);
  assert.equal(got.data.length > 600 * 1024, true);
  await assertDkimPass(got.data, [rsa, other]);
  const sigs = fieldValues(got.data, 'DKIM-Signature');
  assert.deepEqual(sigs.map((s) => tag(s, 'c')), ['simple/simple', 'simple/simple']);

  const { got: one } = await relay(await daemon({ dkim_domain: 'example.org', dkim_selector: 'ed', dkim_private_key: ed.file, dkim_identity: 'alice@mail.example.org' }));
  assert.equal(tag(fieldValues(one.data, 'DKIM-Signature')[0] as string, 'i'), 'alice@mail.example.org');
  await assertDkimPass(one.data, [ed]);
});

test('dkim_strict: a message that cannot be signed is deferred (Exim\'s log line); without it, it goes unsigned and the failure is logged', T, async () => {
  // "=From" signs From only when present: a message without From cannot be signed (h= must name From).
  const transport = { dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: rsa.file, dkim_sign_headers: '=From : Subject' };
  const noFrom = (): string => makeMessage({ to: 'rcpt@remote.example' }).content.replace(/^From:[^\r]*\r\n/m, '');

  const strict = await daemon({ ...transport, dkim_strict: true });
  const s = await submit(strict, { from: 'alice@example.org', to: ['rcpt@remote.example'], content: noFrom() });
  const deferred = await waitEvent(strict, s.id, 'deferred');
  assert.match(deferred.msg, /DKIM signing failed/);
  assert.ok(strict.logs.some((l) => l.event === 'dkim-sign' && /could not be signed, and dkim_strict is set\. Deferring message delivery/.test(l.msg)));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!sink.messages.some((m) => m.messageId === s.messageId), 'nothing was sent');

  const lax = await daemon(transport);
  const l = await submit(lax, { from: 'alice@example.org', to: ['rcpt@remote.example'], content: noFrom() });
  await waitEvent(lax, l.id, 'delivered');
  await until(() => sink.messages.some((m) => m.messageId === l.messageId), 5000, 'the unsigned message at the sink');
  const got = sink.messages.find((m) => m.messageId === l.messageId) as SinkMessage;
  assert.deepEqual(fieldValues(got.data, 'DKIM-Signature'), []);
  assert.ok(lax.logs.some((x) => x.event === 'dkim-sign' && x.level === 40 && /could not be signed .*sending it without/.test(x.msg)));

  // A message that can be signed goes signed from the strict daemon.
  const { got: fine } = await relay(strict);
  await assertDkimPass(fine.data, [rsa]);
});

test('arc_sign: with our Authentication-Results an ARC set (AS, AMS, AAR) on top that validates in protocol/arc and mailauth', T, async () => {
  const d = await daemon(
    { dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: rsa.file, arc_sign: `relay.example.com : arc : ${arcKey.file} : timestamps,expire=+86400` },
    { acl_smtp_data: 'accept\n add_header = Authentication-Results: relay.example.com; spf=pass smtp.mailfrom=example.org' },
  );
  const { got } = await relay(d);
  const text = got.data.toString('latin1');
  assert.match(text, /^ARC-Seal: i=1; a=rsa-sha256;.* cv=none; d=relay\.example\.com; s=arc;/s);
  const names = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n').filter((l) => /^\S/.test(l)).map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(names.slice(0, 4), ['ARC-Seal', 'ARC-Message-Signature', 'ARC-Authentication-Results', 'DKIM-Signature']);
  assert.match(fieldValues(got.data, 'ARC-Authentication-Results')[0] as string, /^i=1; relay\.example\.com; spf=pass smtp\.mailfrom=example\.org/);
  const ams = fieldValues(got.data, 'ARC-Message-Signature')[0] as string;
  assert.equal(Number(tag(ams, 'x')), Number(tag(ams, 't')) + 86400);
  assert.ok((tag(ams, 'h') ?? '').toLowerCase().split(':').includes('dkim-signature'), 'the AMS covers the DKIM signature');
  const mine = await petrelArc(got.data, fixture);
  assert.equal(mine.state, 'pass', mine.reason);
  assert.deepEqual(mine.domains, ['relay.example.com']);
  const theirs = await mailauthArc(got.data, fixture);
  assert.equal(theirs.result, 'pass', theirs.comment);
  await assertDkimPass(got.data, [rsa]);
  // Tampered: both say fail.
  const tampered = Buffer.from(text.replace('hello from the delivery tests', 'hello from elsewhere'), 'latin1');
  assert.equal((await petrelArc(tampered, fixture)).state, 'fail');
  assert.equal((await mailauthArc(tampered, fixture)).result, 'fail');
});

test('with delivery_thread the thread signs and seals with a pool of its own: DKIM (rsa, ed25519) and ARC pass; the daemon counts them', T, async () => {
  const d = await daemon(
    { dkim_domain: 'example.org', dkim_selector: 'rsa2048 : ed', dkim_private_key: [rsa.file, ed.file], arc_sign: `relay.example.com : arc : ${arcKey.file}` },
    { delivery_thread: true, acl_smtp_data: 'accept\n add_header = Authentication-Results: relay.example.com; spf=pass smtp.mailfrom=example.org' },
  );
  await d.waitForLog((l) => l.event === 'delivery-thread');
  // Two messages: the second goes on the connection the first left idle, so it is a connection's next job.
  for (const { got } of [await relay(d), await relay(d)]) {
    await assertDkimPass(got.data, [rsa, ed]);
    const arc = await petrelArc(got.data, fixture);
    assert.equal(arc.state, 'pass', arc.reason);
    assert.equal((await mailauthArc(got.data, fixture)).result, 'pass');
  }
  const metrics = await (await fetch(`${adminBase(d)}/metrics`)).text();
  assert.match(metrics, /^petrel_signing_total\{kind="dkim",result="signed"\} 2$/m);
  assert.match(metrics, /^petrel_signing_total\{kind="arc",result="signed"\} 2$/m);
  // The thread's deliveries did the work: its loop was busy, and its pool's figures reach the daemon's
  // (the daemon's own pool is only a fallback and starts no thread).
  assert.ok(Number(/^petrel_delivery_thread_busy_seconds_total (\S+)$/m.exec(metrics)?.[1]) > 0);
  const figure = (name: string): number => Number(new RegExp(`^petrel_sign_pool\\{figure="${name}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.ok(figure('tasks') >= 2, `tasks: ${figure('tasks')}`);
  assert.ok(figure('threads') >= 1, `threads: ${figure('threads')}`);
  assert.equal(figure('failures'), 0);
});

test('arc_sign without an Authentication-Results of our admd-id: no ARC set, and the reason is logged (DKIM still signs)', T, async () => {
  const d = await daemon(
    { dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: rsa.file, arc_sign: `relay.example.com : arc : ${arcKey.file}` },
    { acl_smtp_data: 'accept\n add_header = Authentication-Results: someone.else.example; spf=pass smtp.mailfrom=example.org' },
  );
  const { id, got } = await relay(d);
  assert.deepEqual(fieldValues(got.data, 'ARC-Seal'), []);
  assert.deepEqual(fieldValues(got.data, 'ARC-Message-Signature'), []);
  const line = d.logs.find((l) => l.event === 'arc-sign' && l.id === id);
  assert.ok(line, 'a log line says why');
  assert.equal(line.code, 'ARC_SEAL_NO_AUTHRES');
  assert.match(line.msg, /ARC: not sealed: no Authentication-Results field for relay\.example\.com/);
  await assertDkimPass(got.data, [rsa]);
});

test('a message for two destinations is signed once; SIGHUP reads the keys again', T, async () => {
  const keyFile = join(dir, 'rotating.pem');
  writeFileSync(keyFile, readFileSync(rsa.file));
  const sink2 = await startSmtpServerSink('127.0.0.2').catch(() => undefined);
  const d = await daemon(
    { dkim_domain: 'example.org', dkim_selector: 'rsa2048', dkim_private_key: keyFile, dkim_timestamps: 0 },
    sink2 ? { smarthost: undefined, route_list: [{ domains: 'one.example', hosts: sink.hostPort }, { domains: 'two.example', hosts: sink2.hostPort }] } : {},
  );
  try {
    if (sink2) {
      const msg = makeMessage({ to: 'a@one.example' });
      const s = await submit(d, { from: 'alice@example.org', to: ['a@one.example', 'b@two.example'], content: msg.content });
      await waitEvent(d, s.id, 'delivered', 'a@one.example');
      await waitEvent(d, s.id, 'delivered', 'b@two.example');
      const a = sink.messages.find((m) => m.messageId === s.messageId) as SinkMessage;
      await until(() => sink2.messages.some((m) => m.messageId === s.messageId), 5000, 'the copy at the second sink');
      const b = sink2.messages.find((m) => m.messageId === s.messageId) as SinkMessage;
      // The same signature (one signing, t= included) on both copies.
      assert.deepEqual(fieldValues(a.data, 'DKIM-Signature'), fieldValues(b.data, 'DKIM-Signature'));
      assert.equal(d.logs.filter((l) => l.event === 'dkim-sign' && l.id === s.id).length, 1, 'signed once');
      await assertDkimPass(a.data, [rsa]);
    }
    // Rotate: the new key is read on SIGHUP (its selector's record published), and used from then on.
    const next = writeKey(dir, 'example.org', 'next', 'ed25519');
    Object.assign(fixture, fixtureOf([next]));
    const cfg = JSON.parse(readFileSync(d.configFile, 'utf8')) as { smtp_transport: Record<string, unknown> };
    cfg.smtp_transport = { ...cfg.smtp_transport, dkim_selector: 'next', dkim_private_key: next.file };
    writeFileSync(d.configFile, JSON.stringify(cfg));
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload');
    const via = sink2 ? { to: 'c@one.example' } : {};
    const { got } = await relay(d, via);
    await assertDkimPass(got.data, [next]);
    // A broken key in the file at the next SIGHUP: the reload fails naming the key, the running keys stay.
    cfg.smtp_transport = { ...cfg.smtp_transport, dkim_private_key: join(dir, 'missing.pem') };
    writeFileSync(d.configFile, JSON.stringify(cfg));
    d.child.kill('SIGHUP');
    const failed = await d.waitForLog((l) => /reload failed/.test(l.msg));
    assert.match(failed.msg, /smtp_transport\.dkim_private_key: cannot read .*missing\.pem/);
    const again = await relay(d, via);
    await assertDkimPass(again.got.data, [next]);
  } finally {
    await sink2?.close();
  }
});
