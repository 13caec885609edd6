// End-to-end: SMTP smuggling (RFC 5321 section 4.1.1.4: only <CRLF>.<CRLF> ends DATA), driven by the
// shared conformance file of malformed end-of-data sequences, under both bare-newline policies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO, startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import type { RawClient } from '../helpers/smtp-client.js';
import { anyInput, closeClients, connectEhlo, expectReply, queueList, queueShowText } from '../helpers/integration.js';

interface EodFile {
  hannob_smtpsmug: { sequences: Record<string, string> };
  sec_consult_the_login: { inbound_eod_sequences: string[]; outbound_eod_sequences: string[] };
}

const FILE = join(REPO, '../shared/conformance/smtp-smuggling/eod-sequences.json');
const eod = JSON.parse(readFileSync(FILE, 'utf8')) as EodFile;

/**
 * Every inbound sequence of both lists, deduplicated, with a printable name; the outbound list's extra
 * sequences (CR CR LF forms) are malformed ends of data too, and are added.
 */
const SEQUENCES: { name: string; seq: string }[] = (() => {
  const all = [
    ...Object.entries(eod.hannob_smtpsmug.sequences).map(([k, v]) => ({ name: `hannob ${k}`, seq: v })),
    ...eod.sec_consult_the_login.inbound_eod_sequences.map((v) => ({ name: `sec-consult ${JSON.stringify(v)}`, seq: v })),
    ...eod.sec_consult_the_login.outbound_eod_sequences.map((v) => ({ name: `sec-consult outbound ${JSON.stringify(v)}`, seq: v })),
  ];
  const seen = new Set<string>();
  return all.filter((s) => (seen.has(s.seq) ? false : (seen.add(s.seq), true)));
})();

const SMUGGLED = 'MAIL FROM:<smuggled@evil.test>\r\nRCPT TO:<victim@localhost>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n';
const SENDER = 'outer@sender.test';

/** True when the bytes hold a CR not followed by LF, or an LF not preceded by CR. */
function hasBareNewline(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\r' && s[i + 1] !== '\n') return true;
    if (s[i] === '\n' && s[i - 1] !== '\r') return true;
  }
  return false;
}

/** The DATA content of one smuggling attempt (without the final <CRLF>.<CRLF>). */
const attempt = (seq: string): string => `From: <${SENDER}>\r\nSubject: outer\r\n\r\ntext before${seq}${SMUGGLED}`;

async function openTransaction(port: number): Promise<RawClient> {
  const { c } = await connectEhlo(port);
  expectReply(await c.cmd(`MAIL FROM:<${SENDER}>`), 250, '2.1.0', 'MAIL');
  expectReply(await c.cmd('RCPT TO:<rcpt@localhost>'), 250, '2.1.5', 'RCPT');
  expectReply(await c.cmd('DATA'), 354, undefined, 'DATA');
  return c;
}

/** Sends one attempt; returns the single reply that followed the final dot (and proves it was the only one). */
async function smuggle(port: number, seq: string): Promise<{ code: number; enhanced: string | undefined; text: string }> {
  const c = await openTransaction(port);
  c.write(`${attempt(seq)}\r\n.\r\n`);
  const r = await c.read();
  assert.ok(r, 'a reply after the final dot');
  // Exactly one reply: the next one must be QUIT's. A server that ended DATA early would answer
  // the smuggled MAIL, RCPT and DATA here first.
  const bye = await c.cmd('QUIT');
  assert.ok(bye, 'QUIT answered');
  assert.equal(bye.code, 221, `the reply after the end-of-data reply must be QUIT's 221, got: ${bye.text}`);
  await c.waitClosed();
  const enh = /^([245]\.\d+\.\d+) /.exec(r.lines.at(-1) ?? '')?.[1];
  return { code: r.code, enhanced: enh, text: r.text };
}

/** The fake end followed by QUIT in one write: the server is still in DATA and must not answer. */
async function pipelineAfterFakeEnd(port: number, seq: string): Promise<{ code: number; text: string }> {
  const c = await openTransaction(port);
  c.write(`From: <${SENDER}>\r\nSubject: pipelined\r\n\r\ntext before${seq}QUIT\r\n`);
  assert.equal(await anyInput(c, 150), false, 'no reply (no 221) while still in DATA');
  c.write('\r\n.\r\n');
  const r = await c.read();
  assert.ok(r, 'a reply after the real end of data');
  assert.notEqual(r.code, 221, 'QUIT inside DATA is content, not a command');
  const bye = await c.cmd('QUIT');
  assert.equal(bye?.code, 221, `QUIT after the end of data gets 221, got ${bye?.text}`);
  await c.waitClosed();
  return { code: r.code, text: r.text };
}

async function assertNoSmuggled(d: Daemon, expected: number): Promise<void> {
  const q = await queueList(d);
  assert.equal(q.filter((m) => m.sender === 'smuggled@evil.test').length, 0, 'no smuggled message is ever queued');
  assert.equal(q.filter((m) => m.recipients.some((r) => r.address === 'victim@localhost')).length, 0, 'nothing queued for the victim');
  assert.equal(q.length, expected, `exactly ${expected} messages queued`);
  for (const m of q) {
    assert.equal(m.sender, SENDER);
    assert.deepEqual(m.recipients.map((r) => r.address), ['rcpt@localhost']);
  }
}

test('the conformance file has sequences of both kinds', () => {
  assert.ok(SEQUENCES.length >= 10, `sequences read from ${FILE}`);
  assert.ok(SEQUENCES.some((s) => !hasBareNewline(attempt(s.seq))), 'some without bare CR/LF (NUL)');
  assert.ok(SEQUENCES.some((s) => hasBareNewline(attempt(s.seq))), 'some with bare CR/LF');
});

describe('smuggling, default policy (bare CR/LF rejected)', () => {
  let d: Daemon;
  let expected = 0;
  before(async () => {
    d = await startDaemon({ config: {} });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  for (const { name, seq } of SEQUENCES) {
    const bare = hasBareNewline(attempt(seq));
    test(`${name}: ${bare ? 'rejected 554 5.6.0, nothing queued' : 'accepted as one message'}`, async () => {
      const r = await smuggle(d.port, seq);
      if (bare) {
        assert.equal(r.code, 554, `bare CR/LF content is rejected: ${r.text}`);
        assert.equal(r.enhanced, '5.6.0', r.text);
      } else {
        assert.equal(r.code, 250, `content without bare CR/LF is one message: ${r.text}`);
        assert.equal(r.enhanced, '2.0.0', r.text);
        expected++;
        const id = /id=(\S+)/.exec(r.text)?.[1];
        assert.ok(id, `the 250 names the id: ${r.text}`);
        const stored = await queueShowText(d, id);
        assert.ok(stored.includes('MAIL FROM:<smuggled@evil.test>'), 'the would-be smuggled commands are content of the one message');
      }
      await assertNoSmuggled(d, expected);
    });
  }

  for (const { name, seq } of SEQUENCES) {
    const bare = hasBareNewline(`x${seq}QUIT\r\n`);
    test(`${name}: QUIT pipelined after the fake end is not answered`, async () => {
      const r = await pipelineAfterFakeEnd(d.port, seq);
      if (bare) {
        assert.equal(r.code, 554, r.text);
      } else {
        assert.equal(r.code, 250, r.text);
        expected++;
      }
      await assertNoSmuggled(d, expected);
    });
  }
});

describe("smuggling, smtp_bare_newline: 'normalize'", () => {
  let d: Daemon;
  let expected = 0;
  before(async () => {
    d = await startDaemon({ config: { smtp_bare_newline: 'normalize' } });
  });
  after(async () => {
    closeClients();
    await d.stop();
    d.cleanup();
  });

  for (const { name, seq } of SEQUENCES) {
    test(`${name}: accepted as exactly one message`, async () => {
      const r = await smuggle(d.port, seq);
      assert.equal(r.code, 250, r.text);
      assert.equal(r.enhanced, '2.0.0', r.text);
      expected++;
      const id = /id=(\S+)/.exec(r.text)?.[1];
      assert.ok(id, `the 250 names the id: ${r.text}`);
      const stored = await queueShowText(d, id);
      assert.ok(stored.includes('MAIL FROM:<smuggled@evil.test>'), 'the would-be smuggled commands are content');
      assert.ok(stored.includes('RCPT TO:<victim@localhost>'), 'the would-be smuggled commands are content');
      await assertNoSmuggled(d, expected);
    });
  }

  for (const { name, seq } of SEQUENCES) {
    test(`${name}: QUIT pipelined after the fake end is not answered`, async () => {
      const r = await pipelineAfterFakeEnd(d.port, seq);
      assert.equal(r.code, 250, r.text);
      expected++;
      await assertNoSmuggled(d, expected);
    });
  }
});
