// Issue 3, the SMTP client: multiline replies, replies split across packets, a slow banner within
// and beyond the timeout, 452 too many recipients, SIZE, SMTPUTF8, the DSN parameters (passed on
// only to a server that offers DSN; a "relayed" success report otherwise), NOTIFY=NEVER,
// opportunistic STARTTLS, and several recipients in one transaction. Each case has its own peer.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { field, logsOf, makeMessage, maildirMessages, parseReport, startDeliveryDaemon, submit, waitEvent, waitMaildir, waitQueueEmpty } from '../helpers/delivery.js';
import { sleep } from '../helpers/integration.js';
import type { PeerOptions, SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';
import { makeCertificate } from '../helpers/tls.js';

const SCRIPTS = {
  multiline: {
    banner: '220-mx.multi.test ESMTP\n220-a second line of greeting\n220 and a third',
    mail: '250-2.1.0 Sender\n250 2.1.0 Ok',
    dot: '250-2.0.0 first line\n250-2.0.0 second line\n250 2.0.0 Ok: queued as MULTI42',
  },
  split: { split: true, extensions: ['PIPELINING', 'SIZE 10240000', '8BITMIME', 'ENHANCEDSTATUSCODES', 'DSN'] },
  slowbanner: { banner: { reply: '220 slow.test ESMTP', delayMs: 1200 } },
  slowerbanner: { banner: (ctx: { connection: number }) => (ctx.connection === 1 ? { reply: '220 slower.test ESMTP', delayMs: 3500 } : undefined) },
  toomany: {
    rcpt: (_a: string, _p: string, ctx: { rcpts: readonly unknown[] }) => (ctx.rcpts.length >= 2 ? '452 4.5.3 Error: too many recipients' : undefined),
  },
  size: { extensions: ['PIPELINING', 'SIZE 1000', 'ENHANCEDSTATUSCODES'] },
  utf8no: { extensions: ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES'] },
  utf8yes: { extensions: ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8'] },
  /** Where mail for bücher.test goes (the report to dörte). */
  utf8home: { extensions: ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8'] },
  dsnyes: { extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES', 'DSN'] },
  dsnno: { extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'] },
  never: { extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'], rcptByAddress: { 'never@never.test': '550 5.1.1 no such user' } },
  tls: { extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES', 'STARTTLS'] },
  several: {},
} satisfies Record<string, PeerOptions>;

type Name = keyof typeof SCRIPTS;
const domain = (n: Name): string => (n === 'utf8home' ? 'bücher.test' : `${n}.test`);

describe('SMTP client features against scripted peers', { timeout: 90_000 }, () => {
  const peers = {} as Record<Name, SmtpPeer>;
  let d: DeliveryDaemon;
  const at = (n: Name, messageId: string): number => peers[n].transactions.filter((t) => t.messageId === messageId).length;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-features-'));
    const tls = makeCertificate(dir, 'tls.test');
    for (const n of Object.keys(SCRIPTS) as Name[]) {
      peers[n] = await startPeer({ name: `${n}.test`, ...(SCRIPTS[n] as PeerOptions), ...(n === 'tls' ? { tls } : {}) });
    }
    d = await startDeliveryDaemon({
      route_list: (Object.keys(SCRIPTS) as Name[]).map((n) => ({ domains: domain(n), hosts: peers[n].hostPort })),
      smtp_transport: { connect_timeout: '2s', command_timeout: '2s', data_timeout: '2s', final_timeout: '2s' },
      retry_rules: [{ domains: '*', rules: 'F,60s,1s' }],
    }, dir);
  });

  after(async () => {
    await d?.stop();
    d?.cleanup();
    for (const p of Object.values(peers)) await p.close();
  });

  it('reads multiline replies (banner, MAIL, end of data)', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['user@multiline.test'] });
    const line = await waitEvent(d, m.id, 'delivered', 'user@multiline.test');
    assert.match(line.msg, /C="250 2\.0\.0 first line.*queued as MULTI42"/);
    assert.equal(at('multiline', m.messageId), 1);
  });

  it('reads replies split across packets', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['a@split.test', 'b@split.test'] });
    await waitEvent(d, m.id, 'delivered', 'a@split.test');
    await waitEvent(d, m.id, 'delivered', 'b@split.test');
    assert.equal(at('split', m.messageId), 1);
    // It understood the split EHLO reply: SIZE was offered, so MAIL carries SIZE=.
    const mail = peers.split.commands.find((c) => c.line.startsWith('MAIL FROM:<s@localhost>'));
    assert.match(mail?.line ?? '', / SIZE=\d+/);
  });

  it('waits for a slow banner that comes within the timeout', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['user@slowbanner.test'] });
    await waitEvent(d, m.id, 'delivered', 'user@slowbanner.test');
    assert.equal(logsOf(d, m.id, 'deferred').length, 0);
    assert.equal(peers.slowbanner.connections, 1);
  });

  it('gives up on a banner slower than the timeout: deferred, then delivered on the retry', async () => {
    const start = Date.now();
    const m = await submit(d, { from: 's@localhost', to: ['user@slowerbanner.test'] });
    const deferred = await waitEvent(d, m.id, 'deferred', 'user@slowerbanner.test');
    assert.match(deferred.msg, /timeout/i);
    const after = new Date(String(deferred.time)).getTime() - start;
    assert.ok(after >= 1800 && after < 3400, `deferred after the 2 s command timeout, not after the banner (${after} ms)`);
    await waitEvent(d, m.id, 'delivered', 'user@slowerbanner.test', 10_000);
    assert.equal(at('slowerbanner', m.messageId), 1);
  });

  it('sends the rest of the recipients in a new transaction after 452 too many recipients', async () => {
    const rcpts = ['r1', 'r2', 'r3', 'r4', 'r5'].map((r) => `${r}@toomany.test`);
    const m = await submit(d, { from: 's@localhost', to: rcpts });
    for (const r of rcpts) await waitEvent(d, m.id, 'delivered', r);
    await waitEvent(d, m.id, 'completed');
    await sleep(1500);
    const txs = peers.toomany.transactions.filter((t) => t.messageId === m.messageId);
    assert.ok(txs.length >= 3, `${txs.length} transactions`);
    for (const t of txs) assert.ok(t.rcpts.length <= 2);
    assert.equal(txs[0]?.connection, 1);
    assert.equal(logsOf(d, m.id, 'failed').length, 0);
    assert.equal(logsOf(d, m.id, 'deferred').length, 0, 'not deferred: the rest follow at once');
    // Each recipient exactly once.
    assert.deepEqual(txs.flatMap((t) => t.rcpts.map((r) => r.address)).sort(), rcpts,
      `transactions: ${txs.map((t) => `#${t.connection} ${t.rcpts.map((r) => r.address).join(',')}`).join(' | ')}`);
  });

  it('bounces a message larger than the server\'s SIZE with 5.3.4, without trying', async () => {
    const msg = makeMessage({ subject: 'too big', body: 'x'.repeat(70).concat('\r\n').repeat(40) });
    const m = await submit(d, { from: 's@localhost', to: ['user@size.test'], content: msg.content });
    const failed = await waitEvent(d, m.id, 'failed', 'user@size.test');
    assert.match(failed.msg, /larger than the server's limit of 1000/);
    const g = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text).perRecipient[0];
    assert.equal(field(g, 'Status'), '5.3.4');
    assert.equal(field(g, 'Action'), 'failed');
    assert.equal(peers.size.commands.filter((c) => c.line.startsWith('MAIL')).length, 0, 'no MAIL was sent');
  });

  it('fails a UTF-8 envelope permanently (5.6.7) at a server without SMTPUTF8, and delivers it to one with', async () => {
    const from = 'dörte@bücher.test';
    const no = await submit(d, { from, to: ['user@utf8no.test'], mailParams: 'SMTPUTF8' });
    const failed = await waitEvent(d, no.id, 'failed', 'user@utf8no.test');
    assert.match(failed.msg, /SMTPUTF8/);
    assert.equal(peers.utf8no.commands.filter((c) => c.line.startsWith('MAIL')).length, 0, 'nothing sent to the server without SMTPUTF8');
    // The report goes to dörte, at the peer for bücher.test, which offers SMTPUTF8.
    await peers.utf8home.waitForTransactions(1, 10_000);
    const report = peers.utf8home.transactions[0];
    assert.equal(report?.from, '');
    assert.deepEqual(report?.rcpts.map((r) => r.address), [from]);
    assert.match(report?.mailParams ?? '', /SMTPUTF8/);
    const r = parseReport(report?.data.toString('utf8') ?? '');
    assert.equal(field(r.perRecipient[0], 'Action'), 'failed');
    assert.equal(field(r.perRecipient[0], 'Status'), '5.6.7');

    const yes = await submit(d, { from, to: ['user@utf8yes.test'], mailParams: 'SMTPUTF8' });
    await waitEvent(d, yes.id, 'delivered', 'user@utf8yes.test');
    const tx = peers.utf8yes.transactions.find((t) => t.messageId === yes.messageId);
    assert.equal(tx?.from, from);
    assert.match(tx?.mailParams ?? '', /SMTPUTF8/);
  });

  it('passes NOTIFY, ORCPT, RET and ENVID on to a server that offers DSN, and sends no success report itself', async () => {
    const m = await submit(d, {
      from: 's@localhost', to: ['user@dsnyes.test'], mailParams: 'RET=HDRS ENVID=env-dsn-42',
      rcptParams: { 'user@dsnyes.test': 'NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Buser@dsnyes.test' },
    });
    await waitEvent(d, m.id, 'delivered', 'user@dsnyes.test');
    const tx = peers.dsnyes.transactions.find((t) => t.messageId === m.messageId);
    assert.ok(tx);
    assert.match(tx.mailParams, /(^| )RET=HDRS( |$)/);
    assert.match(tx.mailParams, /(^| )ENVID=env-dsn-42( |$)/);
    assert.match(tx.rcpts[0]?.params ?? '', /(^| )NOTIFY=SUCCESS,FAILURE( |$)/);
    // "+" is xtext-encoded as "+2B" (RFC 3461 section 4).
    assert.match(tx.rcpts[0]?.params ?? '', /(^| )ORCPT=rfc822;orig\+2Buser@dsnyes\.test( |$)/);
    await sleep(1500);
    // RFC 3461 section 5.2.2: the next hop took NOTIFY=SUCCESS, so it reports. (Before 42e5910 we sent a "relayed"
    // report too: the EHLO capabilities were not kept, so DSN never counted as passed on.)
    assert.equal(maildirMessages(d.maildir, 's').filter((f) => f.text.includes(m.messageId)).length, 0, 'no success report from us');
  });

  it('leaves the DSN parameters out for a server without DSN, and sends a "relayed" success report for NOTIFY=SUCCESS', async () => {
    const m = await submit(d, {
      from: 's@localhost', to: ['user@dsnno.test'], mailParams: 'RET=HDRS ENVID=env-dsn-43',
      rcptParams: { 'user@dsnno.test': 'NOTIFY=SUCCESS ORCPT=rfc822;orig@dsnno.test' },
    });
    await waitEvent(d, m.id, 'delivered', 'user@dsnno.test');
    const tx = peers.dsnno.transactions.find((t) => t.messageId === m.messageId);
    assert.ok(tx);
    assert.doesNotMatch(tx.mailParams, /RET=|ENVID=/);
    assert.doesNotMatch(tx.rcpts[0]?.params ?? '', /NOTIFY=|ORCPT=/);
    const r = parseReport((await waitMaildir(d.maildir, 's', (f) => f.text.includes(m.messageId))).text);
    const g = r.perRecipient[0];
    assert.equal(field(g, 'Final-Recipient'), 'rfc822;user@dsnno.test');
    assert.equal(field(g, 'Original-Recipient'), 'rfc822;orig@dsnno.test');
    assert.equal(field(g, 'Action'), 'relayed');
    assert.match(field(g, 'Status') ?? '', /^2\.\d+\.\d+$/);
    assert.equal(field(r.perMessage, 'Original-Envelope-Id'), 'env-dsn-43');
  });

  it('sends no report for NOTIFY=NEVER when delivery fails', async () => {
    // Reports of the tests before have been delivered and logged: what appears from now on is new.
    await waitQueueEmpty(d, 10_000);
    await sleep(300);
    const known = new Set(d.logs.map((l) => l.id));
    const m = await submit(d, { from: 's@localhost', to: ['never@never.test'], rcptParams: { 'never@never.test': 'NOTIFY=NEVER' } });
    await waitEvent(d, m.id, 'failed', 'never@never.test');
    await waitEvent(d, m.id, 'completed');
    await sleep(1500);
    assert.equal(maildirMessages(d.maildir, 's').filter((f) => f.text.includes(m.messageId)).length, 0, 'no report');
    const others = d.logs.filter((l) => l.id !== undefined && !known.has(l.id) && l.id !== m.id);
    assert.deepEqual(others.map((l) => l.msg), [], 'no report was queued');
  });

  it('uses STARTTLS when the peer offers it, and logs X=TLS...', async () => {
    const m = await submit(d, { from: 's@localhost', to: ['user@tls.test'] });
    const line = await waitEvent(d, m.id, 'delivered', 'user@tls.test');
    assert.match(line.msg, / X=TLSv1\.[23]:\S+ /);
    const tx = peers.tls.transactions.find((t) => t.messageId === m.messageId);
    assert.equal(tx?.tls, true, 'the transaction ran inside TLS');
    const cmds = peers.tls.commands.filter((c) => c.connection === tx?.connection).map((c) => `${c.tls ? 'tls ' : ''}${c.line.split(' ')[0]}`);
    assert.deepEqual(cmds.slice(0, 4), ['EHLO', 'STARTTLS', 'tls EHLO', 'tls MAIL'], 'EHLO again after the handshake');
  });

  it('sends several recipients at one host in one transaction', async () => {
    const rcpts = ['one@several.test', 'two@several.test', 'three@several.test'];
    const m = await submit(d, { from: 's@localhost', to: rcpts });
    for (const r of rcpts) await waitEvent(d, m.id, 'delivered', r);
    const txs = peers.several.transactions.filter((t) => t.messageId === m.messageId);
    assert.equal(txs.length, 1, 'one transaction');
    assert.deepEqual(txs[0]?.rcpts.map((r) => r.address), rcpts);
    assert.equal(peers.several.connections, 1, 'one connection');
  });
});
