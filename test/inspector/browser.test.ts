// Check of issue 7 in a real browser: headless Chromium (Debian's, driven by playwright-core) opens
// the inspector of a running daemon, sees a session actor appear while a client holds a connection,
// sees its state change after EHLO and MAIL (ACLs that wait make the stages visible), opens a
// finished deferred delivery's history and steps through it, saves screenshots under
// test-artifacts/inspector/, and the page asks nothing of any host but the daemon.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { REPO } from '../helpers/daemon.js';
import type { DeliveryDaemon } from '../helpers/delivery.js';
import { makeMessage, startDeliveryDaemon } from '../helpers/delivery.js';
import { RawClient } from '../helpers/smtp-client.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';
import { startPeer } from '../helpers/smtp-peer.js';

/** The flags issue 7 names (the machine has no outside network), and a fresh profile. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO, 'test-artifacts', 'inspector');

describe('the inspector in headless Chromium', { timeout: 180_000 }, () => {
  let peer: SmtpPeer;
  let d: DeliveryDaemon;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let profile: string;
  const requests: string[] = [];
  const problems: string[] = [];
  let client: RawClient | undefined;

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    peer = await startPeer({
      extensions: ['PIPELINING', 'ENHANCEDSTATUSCODES'],
      rcpt: (address) => (address.startsWith('later@') ? '451 4.3.0 <later@remote.test>: greylisted, try again later' : undefined),
    });
    d = await startDeliveryDaemon({
      route_list: [{ domains: 'remote.test', hosts: peer.hostPort }],
      // No retry during the test: the deferred delivery stays the last one.
      retry_rules: [{ domains: '*', rules: 'F,1h,30m' }],
      queue_run_interval: 0,
      // ACLs that wait (a delay) keep the session in its helo and mail states long enough to be seen.
      acl_smtp_helo: 'accept delay = 2s',
      acl_smtp_mail: 'accept delay = 2s',
    });
    const ready = d.logs.find((l) => l.event === 'ready');
    const admin = ready?.admin as { host: string; port: number } | undefined;
    assert.ok(admin, 'the ready line names the admin listener');
    origin = `http://${admin.host}:${admin.port}`;
    profile = mkdtempSync(join(tmpdir(), 'petrel-chromium-'));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      // Exactly these flags: no Playwright defaults; the pipe is how Playwright talks to the browser.
      ignoreDefaultArgs: true,
      args: [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'],
      timeout: 60_000,
    });
    context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    context.on('request', (r) => requests.push(r.url()));
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await d?.stop();
    d?.cleanup();
    await peer?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('opens at / and follows the live stream', async () => {
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-ready="1"][data-live="1"]', { timeout: 20_000 });
    assert.equal(await page.title(), 'Petrel inspector');
    await page.waitForSelector('#tree [data-tree="supervisor"] .badge.state:text("running")');
    await page.waitForSelector('#chart svg[data-machine="smtp-session"]');
  });

  it('every chart parses in the browser as SVG', async () => {
    const bad = await page.evaluate(async () => {
      // Runs in the page (the DOM's XML parser); typed here without the DOM library.
      type Doc = { querySelector(s: string): unknown; documentElement: { nodeName: string } };
      const Parser = (globalThis as unknown as { DOMParser: new () => { parseFromString(t: string, type: string): Doc } }).DOMParser;
      const list = (await (await fetch('/inspector/api/machines')).json()) as { id: string }[];
      const out: string[] = [];
      for (const m of list) {
        const text = await (await fetch(`/inspector/api/machines/${m.id}.svg`)).text();
        const doc = new Parser().parseFromString(text, 'image/svg+xml');
        if (doc.querySelector('parsererror') || doc.documentElement.nodeName !== 'svg') out.push(m.id);
      }
      return { count: list.length, out };
    });
    assert.ok(bad.count >= 5);
    assert.deepEqual(bad.out, []);
  });

  it('shows a session appear while a client holds its connection, and its state change after EHLO and MAIL', async () => {
    client = await RawClient.connect(d.port);
    assert.equal((await client.read())?.code, 220);
    const item = await page.waitForSelector('#live li.actor[data-kind="session"][data-status="active"]', { timeout: 10_000 });
    const id = await item.getAttribute('data-actor-id');
    assert.ok(id);
    await item.click();
    await page.waitForSelector(`#actor-head b:text("${id}")`);
    await page.waitForSelector('#actor-state:text-is("idle")');
    await page.waitForSelector('#chart g.state.lit[data-state="smtp-session.idle"]');
    await shot('01-session-appeared.png');

    // EHLO: the helo ACL waits 2 s, so the session sits in its helo state, lit on the chart.
    client.write('EHLO client.petrel.test\r\n');
    await page.waitForSelector('#actor-state:text-is("helo")', { timeout: 5_000 });
    await page.waitForSelector('#chart g.state.lit[data-state="smtp-session.helo"]');
    await page.waitForSelector('#chart g.edge.taken[data-source="smtp-session.idle"][data-target="smtp-session.helo"]');
    await shot('02-session-after-ehlo.png');
    assert.equal((await client.read(8_000))?.code, 250);
    await page.waitForSelector('#actor-state:text-is("idle")', { timeout: 5_000 });
    await page.waitForSelector('#actor-head .facts:has-text("client.petrel.test")');
    assert.match((await page.textContent(`#live li.actor[data-actor-id="${id}"]`)) ?? '', /client\.petrel\.test/);

    client.write('MAIL FROM:<sender@client.petrel.test>\r\n');
    await page.waitForSelector('#actor-state:text-is("mail")', { timeout: 5_000 });
    await page.waitForSelector('#chart g.state.lit[data-state="smtp-session.mail"]');
    await page.waitForSelector('#chart g.state.before[data-state="smtp-session.idle"]');
    await shot('03-session-after-mail.png');
    assert.equal((await client.read(8_000))?.code, 250);
    await page.waitForSelector('#actor-head .facts:has-text("sender@client.petrel.test")', { timeout: 5_000 });
    // The timeline holds each step with the state before and after.
    const rows = await page.$$eval('#timeline tr.entry', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.ok(rows.some((r) => /EHLO client\.petrel\.test/.test(r) && /idle → helo/.test(r)), rows.join('\n'));
    assert.ok(rows.some((r) => /MAIL FROM:<sender@client\.petrel\.test>/.test(r) && /idle → mail/.test(r)), rows.join('\n'));
    // Selecting an event shows the state before and after it.
    await page.click('#timeline tr.entry:has-text("MAIL FROM")');
    assert.equal(await page.textContent('#step-before'), 'idle');
    assert.equal(await page.textContent('#step-after'), 'mail');
    // The filters: by client IP it stays, by another IP it goes.
    await page.fill('#filter-ip', '127.0.0.1');
    await page.waitForSelector(`#live li.actor[data-actor-id="${id}"]`);
    await page.fill('#filter-ip', '192.0.2.99');
    await page.waitForSelector(`#live li.actor[data-actor-id="${id}"]`, { state: 'detached' });
    await page.click('#filter-clear');

    // The rest of the message: one recipient is taken, one the peer greylists (the delivery defers).
    assert.equal((await client.cmd('RCPT TO:<now@remote.test>'))?.code, 250);
    assert.equal((await client.cmd('RCPT TO:<later@remote.test>'))?.code, 250);
    assert.equal((await client.cmd('DATA'))?.code, 354);
    client.write(`${makeMessage({ to: 'now@remote.test' }).content}.\r\n`);
    const done = await client.read();
    assert.equal(done?.code, 250, done?.text);
    assert.equal((await client.cmd('QUIT'))?.code, 221);
    await page.waitForSelector(`#history li.actor[data-actor-id="${id}"][data-status="done"]`, { timeout: 10_000 });
  });

  it("opens a finished deferred delivery's history and steps through it", async () => {
    const item = await page.waitForSelector('#failed li.actor[data-kind="delivery"][data-outcome="deferred"]', { timeout: 20_000 });
    await item.click();
    await page.waitForSelector('#step-label[data-step="0"]');
    const label = (await page.textContent('#step-label')) ?? '';
    const total = Number(/step 1 \/ (\d+)/.exec(label)?.[1]);
    assert.ok(total >= 6, `a whole conversation is recorded: ${label}`);
    assert.equal(await page.textContent('#step-after'), 'connecting');
    await page.waitForSelector('#chart svg[data-machine="delivery"]');
    const visited: string[] = [];
    for (let i = 0; i < total; i++) {
      if (i > 0) {
        await page.click('#replay-next');
        await page.waitForSelector(`#step-label[data-step="${i}"]`);
      }
      const after = (await page.textContent('#step-after')) ?? '';
      visited.push(after);
      await page.waitForSelector(`#chart g.state.lit[data-state="delivery.${after}"]`);
      if (after === 'transaction' && !visited.slice(0, -1).includes('transaction')) await shot('04-delivery-replay.png');
    }
    assert.deepEqual(visited.slice(0, 3), ['connecting', 'greeting', 'ehlo'], visited.join(' '));
    assert.ok(visited.includes('transaction') && visited.includes('dot'), visited.join(' '));
    assert.equal(visited[visited.length - 1], 'done');
    assert.ok(await page.isDisabled('#replay-next'), 'the last step is the end');
    // The step that reported the results says which recipient was deferred and why.
    assert.equal(await page.$$eval('#timeline tr.entry', (trs) => trs.length), total);
    await page.click('#replay-first');
    await page.waitForSelector('#step-label[data-step="0"]');
    const outs: string[] = [];
    for (let i = 0; i < total; i++) {
      await page.click(`#timeline tr.entry[data-index="${i}"]`);
      outs.push((await page.textContent('#step')) ?? '');
    }
    assert.ok(outs.some((o) => /results .*later@remote\.test deferred: .*greylisted/.test(o)), 'the deferral is in the replay');
    await page.click('#replay-first');
    await page.click('#replay-last');
    await page.waitForSelector(`#step-label[data-step="${total - 1}"]`);
    await shot('05-delivery-finished.png');
  });

  it('asked nothing of any host but the daemon, and logged no errors', () => {
    assert.ok(requests.length > 5, `requests seen: ${requests.length}`);
    const elsewhere = requests.filter((u) => !u.startsWith(`${origin}/`) && u !== 'about:blank');
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(problems, []);
  });
});
