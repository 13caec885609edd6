// Tests of inbound-verify: the DNS fixture server, the pre-signed message, the queue check, and the scenario end to end against the real daemon.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { startDnsServer } from '../../bench/dns-fixture-server.js';
import { resolveLoadOptions } from '../../bench/loadgen/options.js';
import type { PeerTarget, RunningPeer } from '../../bench/peers/types.js';
import { waitPortClosed } from '../../bench/peers/process.js';
import { runBench } from '../../bench/run.js';
import { runInboundTarget, scenarioSpec, type ScenarioLoad } from '../../bench/scenarios/index.js';
import { authProblem, authResultsOf, checkQueuedAuth, signedBenchMessage, SIGNING_DOMAIN, verifyFixture } from '../../bench/scenarios/verify.js';
import { markdownTable } from '../../bench/report.js';
import { createResolver } from '../../net/dns/resolver.js';
import { verifyWholeMessage } from '../../protocol/dkim/index.js';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const PUBLIC = keys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

describe('inbound-verify parts', { timeout: 30_000 }, () => {
  it('signs one load generator message of exactly the size asked, which verifies against the DNS fixture server', async () => {
    const message = signedBenchMessage(2048, PEM);
    assert.equal(Buffer.byteLength(message, 'latin1'), 2048);
    assert.match(message.replace(/\r\n[ \t]+/g, ' '), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=loadgen\.bench\.test; s=bench2048;/);
    assert.match(message, new RegExp(`^From: Petrel Bench <sender@${SIGNING_DOMAIN.replace(/\./g, '\\.')}>\\r$`, 'm'));
    assert.doesNotThrow(() => resolveLoadOptions({ host: '127.0.0.1', port: 25, message }), 'a valid fixed message');
    const dns = await startDnsServer(verifyFixture(PUBLIC));
    try {
      const resolver = createResolver({ servers: [dns.server] });
      const v = await verifyWholeMessage(Buffer.from(message, 'latin1'), { dns: resolver, now: Date.now });
      assert.deepEqual(v.signatures.map((s) => s.status), ['pass']);
      const spf = await resolver.lookup(SIGNING_DOMAIN, 'TXT');
      assert.equal(spf.kind, 'ok');
      assert.equal((await resolver.lookup('nowhere.bench.test', 'TXT')).kind, 'nxdomain');
      assert.ok(dns.queries.length >= 3, `queries answered: ${dns.queries.length}`);
    } finally {
      await dns.close();
      await dns.close();
    }
    assert.equal(await waitPortClosed('127.0.0.1', dns.port, 100), true, 'DNS port closed');
  });

  it('rejects a fixed message the load generator could not send as it is', () => {
    for (const bad of ['From: a@b\r\n\r\nno final line end', 'From: a@b\n\nbare LF\n', 'From: a@b\r\n\r\n.dot first\r\n', 'no header or body\r\n']) {
      assert.throws(() => resolveLoadOptions({ host: '127.0.0.1', port: 25, message: bad }), { code: 'ERR_LOADGEN_OPTIONS' }, JSON.stringify(bad));
    }
  });

  it('reads Authentication-Results from `petrel queue show` and names what is missing', () => {
    const shown = 'id: X\n\nReceived: from x\nAuthentication-Results: bench.petrel.test; spf=pass smtp.mailfrom=a.test;\n\tdkim=pass header.d=a.test;\n dmarc=pass header.from=a.test; arc=none\nFrom: a@a.test\n';
    const fields = authResultsOf(shown);
    assert.deepEqual(fields, ['Authentication-Results: bench.petrel.test; spf=pass smtp.mailfrom=a.test; dkim=pass header.d=a.test; dmarc=pass header.from=a.test; arc=none']);
    assert.equal(authProblem(fields), undefined);
    assert.match(authProblem(['Authentication-Results: bench.petrel.test; spf=pass; dkim=fail; dmarc=fail']) ?? '', /no dkim=pass, dmarc=pass/);
    assert.match(authProblem(['Authentication-Results: other.test; spf=pass; dkim=pass; dmarc=pass']) ?? '', /no Authentication-Results of bench\.petrel\.test/);
    assert.equal(authProblem([]), 'no Authentication-Results field');
  });

  it('fails with ERR_BENCH_CHECK when a sampled queued message has no dkim=pass', async () => {
    const shows: string[] = [];
    const peer: RunningPeer = {
      info: { name: 'petrel', description: '', durable: true, durability: '' },
      host: '127.0.0.1',
      port: 1,
      version: undefined,
      stop: async () => undefined,
      async command(args, onData) {
        if (args[1] === 'list') {
          onData?.('[\n{"id":"A1","sender":"s"},\n{"id":"B2"');
          onData?.(',"sender":"s"},\n{"id":"C3","sender":"s"}\n]\n');
          return { code: 0, stdout: '', stderr: '' };
        }
        shows.push(args[2] ?? '');
        const dkim = args[2] === 'C3' ? 'dkim=none' : 'dkim=pass header.d=x';
        return { code: 0, stdout: `Authentication-Results: bench.petrel.test; spf=pass; ${dkim}; dmarc=pass\n`, stderr: '' };
      },
    };
    await assert.rejects(checkQueuedAuth(peer, 'petrel+verify'), (err: unknown) => {
      const e = err as { code?: string; message?: string };
      return e.code === 'ERR_BENCH_CHECK' && /message C3 of 3 queued: no dkim=pass/.test(e.message ?? '');
    });
    assert.deepEqual(shows, ['A1', 'B2', 'C3'], 'first, middle and last sampled');
  });

  it('a failed check keeps the figures but fails the row and its ratio', async () => {
    const server = new SMTPServer({
      logger: false,
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      onData(stream, _s, cb) {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.server.address() as AddressInfo).port;
    const target: PeerTarget = {
      name: 'stand-in',
      description: 'smtp-server',
      durable: false,
      durability: 'no',
      start: async () => ({ info: target, host: '127.0.0.1', port, version: 'test', stop: async () => undefined }),
    };
    try {
      const spec = scenarioSpec('inbound-verify');
      const load: ScenarioLoad = { messages: 30, durationMs: 0, concurrency: 2, messagesPerConnection: 10, size: 2048, recipients: 1, processes: 1, warmupMessages: 0, warmupMs: 0 };
      const hooks = { deadline: Date.now() + 30_000, runsLeft: () => 1 };
      const message = signedBenchMessage(2048, PEM);
      const run = await runInboundTarget(spec, load, target, hooks, {
        message,
        probe: async () => ({ finish: () => checkQueuedAuth({ info: target, host: '', port: 0, version: undefined, stop: async () => undefined }, 'stand-in') }),
      });
      assert.equal(run.result?.sent, 30, 'the load ran');
      assert.match(run.error ?? '', /^ERR_BENCH_CHECK: stand-in did not verify the bench messages: it cannot show its queue$/);
      const table = markdownTable([{ name: spec.name, kind: spec.kind, description: '', load, runs: [run, { ...run, system: 'other', error: undefined }] }]);
      assert.match(table, /\| inbound-verify \| stand-in \| failed: ERR_BENCH_CHECK: .* \| stand-in\/other = n\/a \|/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('inbound-verify end to end (Petrel daemon, DNS server on loopback)', { timeout: 60_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-bench-verify-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures Petrel with and without verification; the queued messages pass SPF, DKIM and DMARC', async () => {
    let printed = '';
    const report = await runBench(
      { scenarios: ['inbound-verify'], peers: ['petrel'], messages: 200, warmup: 40, install: false, limits: false, report: dir },
      { out: (t) => (printed += t), progress: { write: () => true }, handleSignals: false },
    );
    const runs = report.scenarios[0]?.runs ?? [];
    assert.deepEqual(
      runs.map((r) => [r.system, r.error, r.result?.sent, r.result?.failed, r.warmup?.sent]),
      [
        ['petrel+verify', undefined, 200, 0, 40],
        ['petrel', undefined, 200, 0, 40],
      ],
    );
    const checks = runs[0]?.checks ?? [];
    assert.match(checks[0] ?? '', /^3 of 240 queued messages sampled, each with spf, dkim and dmarc=pass: Authentication-Results: bench\.petrel\.test; spf=pass smtp\.mailfrom=loadgen\.bench\.test; dkim=pass .*header\.d=loadgen\.bench\.test.*; dmarc=pass /);
    assert.match(checks[1] ?? '', /^DNS server on 127\.0\.0\.1:\d+ answered \d+ queries \(.*bench2048\._domainkey\.loadgen\.bench\.test TXT/);
    assert.match(checks[2] ?? '', /^signed message of 2048 octets; verifying costs -?[\d.]+% of the rate without it$/);
    assert.match(printed, /\| inbound-verify \| petrel\+verify \| [\d,.]+ \| [\d.]+ \| [\d.]+ \| 200\/0 \| ([\d.]+|-) \| (\d+%|-) \| yes \| petrel\+verify\/petrel = [\d.]+x \|/);
    assert.match(printed, /\| inbound-verify \| petrel \| [\d,.]+ \| [\d.]+ \| [\d.]+ \| 200\/0 \| ([\d.]+|-) \| (\d+%|-) \| yes \| {2}\|/);
    assert.equal(report.incomplete, false);
  });
});
