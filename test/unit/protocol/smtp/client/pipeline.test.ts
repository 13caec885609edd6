// Unit tests for protocol/smtp/client/pipeline.ts: command groups (RFC 2920) and the SMTPUTF8 check (RFC 6531).
import test from 'node:test';
import assert from 'node:assert/strict';
import { SmtpClientError } from '../../../../../protocol/smtp/client/commands.js';
import { heloCapabilities, parseEhlo } from '../../../../../protocol/smtp/client/ehlo.js';
import { needsSmtpUtf8, planTransaction, smtpUtf8Problem } from '../../../../../protocol/smtp/client/pipeline.js';
import type { Transaction } from '../../../../../protocol/smtp/client/pipeline.js';

const PIPELINING = parseEhlo({ lines: ['mx', 'PIPELINING', 'SIZE 1000000', '8BITMIME', 'DSN', 'SMTPUTF8'] });
const PLAIN = parseEhlo({ lines: ['mx', 'SIZE 1000000', '8BITMIME', 'DSN'] });

const TX: Transaction = {
  sender: 'alice@example.org',
  mail: { size: 4321, body: '8BITMIME' },
  recipients: [
    { address: 'bob@example.net', params: { notify: ['FAILURE'] } },
    { address: 'carol@example.net' },
    { address: 'dave@example.net', params: { orcpt: { type: 'rfc822', address: 'dave@old.example' } } },
  ],
};

test('with PIPELINING: MAIL, every RCPT and DATA in one group, DATA last', () => {
  const plan = planTransaction(PIPELINING, TX);
  assert.equal(plan.length, 1);
  assert.deepEqual(plan[0], [
    { stage: 'mail', line: 'MAIL FROM:<alice@example.org> SIZE=4321 BODY=8BITMIME\r\n' },
    { stage: 'rcpt', line: 'RCPT TO:<bob@example.net> NOTIFY=FAILURE\r\n', rcptIndex: 0 },
    { stage: 'rcpt', line: 'RCPT TO:<carol@example.net>\r\n', rcptIndex: 1 },
    { stage: 'rcpt', line: 'RCPT TO:<dave@example.net> ORCPT=rfc822;dave@old.example\r\n', rcptIndex: 2 },
    { stage: 'data', line: 'DATA\r\n' },
  ]);
});

test('without PIPELINING: one command per group, in the same order', () => {
  const plan = planTransaction(PLAIN, TX);
  assert.equal(plan.length, 5);
  for (const group of plan) assert.equal(group.length, 1);
  assert.deepEqual(plan.flat(), planTransaction(PIPELINING, TX).flat());
});

test('DATA ends every group it is in, and no group follows it', () => {
  for (const caps of [PIPELINING, PLAIN]) {
    for (let n = 1; n <= 5; n++) {
      const recipients = Array.from({ length: n }, (_, i) => ({ address: `r${i}@example.net` }));
      const plan = planTransaction(caps, { sender: '', recipients });
      const flat = plan.flat();
      assert.equal(flat.filter((c) => c.stage === 'data').length, 1);
      assert.equal(plan.at(-1)?.at(-1)?.stage, 'data');
      assert.deepEqual(flat.filter((c) => c.stage === 'rcpt').map((c) => (c.stage === 'rcpt' ? c.rcptIndex : -1)),
        recipients.map((_, i) => i));
      assert.equal(flat[0]?.line, 'MAIL FROM:<>\r\n');
    }
  }
});

test('after HELO nothing is pipelined and no parameter is sent', () => {
  const plan = planTransaction(heloCapabilities(), TX);
  assert.equal(plan.length, 5);
  assert.deepEqual(plan.flat().map((c) => c.line), [
    'MAIL FROM:<alice@example.org>\r\n', 'RCPT TO:<bob@example.net>\r\n', 'RCPT TO:<carol@example.net>\r\n',
    'RCPT TO:<dave@example.net>\r\n', 'DATA\r\n',
  ]);
});

test('a transaction without recipients, or with a bad address, is refused', () => {
  assert.throws(() => planTransaction(PIPELINING, { sender: 'a@example.org', recipients: [] }), SmtpClientError);
  assert.throws(() => planTransaction(PIPELINING, { sender: 'a@example.org', recipients: [{ address: 'x@y\r\nQUIT' }] }), SmtpClientError);
  // A UTF-8 recipient to a server without SMTPUTF8: the caller had to check first.
  assert.throws(() => planTransaction(PLAIN, { sender: 'a@example.org', recipients: [{ address: 'josé@example.net' }] }), SmtpClientError);
});

test('needsSmtpUtf8 reports which parts are internationalized', () => {
  assert.deepEqual(needsSmtpUtf8('a@example.org', ['b@example.net', 'c@example.net'], false),
    { needed: false, sender: false, headers: false, recipients: [] });
  assert.deepEqual(needsSmtpUtf8('', ['b@example.net'], true), { needed: true, sender: false, headers: true, recipients: [] });
  assert.deepEqual(needsSmtpUtf8('jürgen@example.de', ['b@example.net'], false), { needed: true, sender: true, headers: false, recipients: [] });
  assert.deepEqual(needsSmtpUtf8('a@example.org', ['b@example.net', '用户@例子.广告', 'c@bücher.example'], false),
    { needed: true, sender: false, headers: false, recipients: [1, 2] });
});

test('smtpUtf8Problem: what a server without SMTPUTF8 means', () => {
  const none = { smtpUtf8: false };
  const has = { smtpUtf8: true };
  const ascii = needsSmtpUtf8('a@example.org', ['b@example.net'], false);
  assert.deepEqual(smtpUtf8Problem(ascii, none), { kind: 'none' });
  const rcpts = needsSmtpUtf8('a@example.org', ['b@example.net', 'ü@example.net'], false);
  assert.deepEqual(smtpUtf8Problem(rcpts, has), { kind: 'none' });
  assert.deepEqual(smtpUtf8Problem(rcpts, none), { kind: 'recipients', indices: [1] });
  assert.deepEqual(smtpUtf8Problem(needsSmtpUtf8('a@example.org', ['ü@example.net'], true), none), { kind: 'message', part: 'headers' });
  assert.deepEqual(smtpUtf8Problem(needsSmtpUtf8('ä@example.org', ['ü@example.net'], true), none), { kind: 'message', part: 'sender' });
});

test('the SMTPUTF8 flag flows into MAIL FROM only when offered', () => {
  const need = needsSmtpUtf8('a@example.org', ['b@example.net'], true);
  const tx = { sender: 'a@example.org', mail: { smtputf8: need.needed }, recipients: [{ address: 'b@example.net' }] };
  assert.equal(planTransaction(PIPELINING, tx)[0]?.[0]?.line, 'MAIL FROM:<a@example.org> SMTPUTF8\r\n');
});
