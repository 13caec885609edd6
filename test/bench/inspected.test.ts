// Tests of inbound-inspected: the stream counter, the viewer's check, and the scenario end to end against the real daemon.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningPeer } from '../../bench/peers/types.js';
import { runBench } from '../../bench/run.js';
import { attachViewer, SseCounter } from '../../bench/scenarios/inspected.js';

/** A peer whose admin listener is the given port (only metricsUrl matters to the viewer). */
function peerOn(port: number): RunningPeer {
  return {
    info: { name: 'petrel', description: '', durable: true, durability: '' },
    host: '127.0.0.1',
    port: 1,
    version: undefined,
    stop: async () => undefined,
    metricsUrl: () => `http://127.0.0.1:${port}/metrics`,
  };
}

/** An admin listener stand-in: a stream that says hello, then what `more` writes. */
async function sseServer(more: (res: http.ServerResponse) => void): Promise<{ port: number; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 1000\nevent: hello\ndata: {"v":1}\n\n');
    more(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('inbound-inspected parts', { timeout: 30_000 }, () => {
  it('counts events of a stream split anywhere, keep-alive comments aside', () => {
    const c = new SseCounter();
    const text = 'retry: 1000\nevent: hello\ndata: {"a":1}\n\n: keep-alive\n\nevent: actors\ndata: [1,2]\n\nevent: actors\ndata: [3]\n\nevent: resync\ndata: {}\n\n';
    for (let i = 0; i < text.length; i += 7) c.push(text.slice(i, i + 7));
    assert.equal(c.bytes, text.length);
    assert.deepEqual(Object.fromEntries(c.events), { hello: 1, actors: 2, resync: 1 });
    assert.equal(c.dataBytes, ' [1,2]'.length + ' [3]'.length + ' {}'.length);
    assert.equal(c.describe(), 'hello 1, actors 2, resync 1');
  });

  it('a viewer that saw actor updates reports its bytes; one that saw none fails the run', async () => {
    const flowing = await sseServer((res) => res.write('event: actors\ndata: [{"id":"session-1"}]\n\n'));
    const silent = await sseServer(() => undefined);
    try {
      const ok = await attachViewer(peerOn(flowing.port));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const lines = await ok.finish();
      assert.deepEqual(flowing.paths, ['/inspector/api/stream']);
      assert.match(lines[0] ?? '', /^viewer on \/inspector\/api\/stream received \d+ bytes over [\d.]+ s \(events: hello 1, actors 1; \d+ bytes of actor data\)$/);
      const none = await attachViewer(peerOn(silent.port));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await assert.rejects(none.finish(), (err: unknown) => {
        const e = err as { code?: string; message?: string };
        return e.code === 'ERR_BENCH_CHECK' && /carried no actor updates: .* \(events: hello 1; 0 bytes of actor data\)/.test(e.message ?? '');
      });
    } finally {
      await flowing.close();
      await silent.close();
    }
  });

  it('fails at once for a system without an admin listener', async () => {
    await assert.rejects(attachViewer({ ...peerOn(1), metricsUrl: undefined }), { code: 'ERR_BENCH_CHECK', message: /no admin listener/ });
  });
});

describe('inbound-inspected end to end (Petrel daemon)', { timeout: 60_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-bench-inspected-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures Petrel watched, unwatched and without inspector; the viewer received actor updates', async () => {
    let printed = '';
    const report = await runBench(
      { scenarios: ['inbound-inspected'], peers: ['petrel'], messages: 200, warmup: 40, install: false, limits: false, report: dir },
      { out: (t) => (printed += t), progress: { write: () => true }, handleSignals: false },
    );
    const runs = report.scenarios[0]?.runs ?? [];
    assert.deepEqual(
      runs.map((r) => [r.system, r.error, r.result?.sent, r.result?.failed]),
      [
        ['petrel+inspector+viewer', undefined, 200, 0],
        ['petrel+inspector', undefined, 200, 0],
        ['petrel+no-inspector', undefined, 200, 0],
      ],
    );
    const [watched, unwatched] = runs;
    const viewer = /received (\d+) bytes over [\d.]+ s \(events: hello 1, actors (\d+)/.exec(watched?.checks?.[0] ?? '');
    assert.ok(viewer, `viewer line: ${watched?.checks?.[0]}`);
    assert.ok(Number(viewer[1]) > 1000 && Number(viewer[2]) > 0, 'actor updates flowed');
    assert.match(watched?.checks?.[1] ?? '', /^a viewer costs -?[\d.]+% of the unwatched rate \(target < 10%: (met|MISSED)\)$/);
    assert.match(unwatched?.checks?.[0] ?? '', /^the unwatched inspector costs -?[\d.]+% of the rate with it disabled$/);
    assert.match(
      printed,
      /\| inbound-inspected \| petrel\+inspector\+viewer \| .* \| petrel\+inspector\+viewer\/petrel\+inspector = [\d.]+x, petrel\+inspector\+viewer\/petrel\+no-inspector = [\d.]+x \|/,
    );
    assert.match(printed, /\| inbound-inspected \| petrel\+inspector \| .* \| petrel\+inspector\/petrel\+no-inspector = [\d.]+x \|/);
    assert.match(printed, /- inbound-inspected petrel\+inspector\+viewer: viewer on \/inspector\/api\/stream received \d+ bytes/);
  });
});
