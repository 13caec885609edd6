// bench --profile: reading CPU profiles (pure, on hand-made profiles), and a real profiled run of the daemon.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../../bench/main.js';
import { threadIdOf, threadLabel } from '../../bench/profile/collect.js';
import { groupOf, summarize, type CpuProfile } from '../../bench/profile/cpuprofile.js';
import { callTree, flameGraph } from '../../bench/profile/flame.js';
import { runBench } from '../../bench/run.js';

const XS = 'file:///app/node_modules/xstate/dist/raise.cjs.js';
const PETREL = 'file:///app/dist/actors/smtp-session/connection.js';

/**
 * root -> onData (node:net) -> send (xstate) -> #perform (Petrel), and root -> (garbage collector), (idle),
 * and a tiny <weird> frame. Each sample's time is the next delta: 100 us units.
 */
function profile(): CpuProfile {
  const f = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 9 }, children });
  const nodes = [
    f(1, '(root)', '', [2, 5, 6, 7]),
    f(2, 'onData', 'node:net', [3]),
    f(3, 'send', XS, [4]),
    f(4, '#perform', PETREL),
    f(5, '(garbage collector)', ''),
    f(6, '(idle)', ''),
    f(7, '<weird>', 'node:net'),
  ];
  // Own time: #perform 4, send 3, onData 1, GC 2, idle 10, <weird> 0.01 (in units of 100 us).
  const seq: Array<[number, number]> = [[4, 4], [3, 3], [2, 1], [5, 2], [6, 10]];
  const samples: number[] = [];
  const deltas: number[] = [0];
  for (const [id, n] of seq) for (let i = 0; i < n; i++) {
    samples.push(id);
    deltas.push(100);
  }
  samples.push(7);
  deltas.push(1);
  samples.push(6);
  return { nodes, startTime: 0, endTime: 2001, samples, timeDeltas: deltas };
}

describe('CPU profiles', () => {
  it('tell layers apart: packages, Petrel folders, Node modules, V8 markers', () => {
    assert.equal(groupOf(XS, 'send'), 'xstate');
    assert.equal(groupOf('file:///a/node_modules/@scope/pkg/x.js', 'f'), '@scope/pkg');
    assert.equal(groupOf(PETREL, 'f'), 'petrel:actors');
    assert.equal(groupOf('node:internal/streams/readable', 'f'), 'node:internal');
    assert.equal(groupOf('', '(garbage collector)'), '(garbage collector)');
    assert.equal(groupOf('', 'writeUtf8String'), 'native');
  });

  it('sum own time by layer and by function, idle left out of the busy time', () => {
    const s = summarize(profile());
    assert.equal(s.busyMs, 1.001);
    assert.deepEqual(s.groups.map((g) => g.name), ['petrel:actors', 'xstate', '(garbage collector)', 'node:net']);
    assert.equal(s.groups[0]?.ms, 0.4);
    assert.ok(Math.abs((s.groups[0]?.share ?? 0) - 0.4 / 1.001) < 1e-9);
    const { share, ...first } = s.top[0] ?? { share: 0 };
    assert.deepEqual(first, { name: '#perform', where: 'connection.js:10', group: 'petrel:actors', ms: 0.4 });
    assert.ok(Math.abs(share - 400 / 1001) < 1e-9);
    assert.equal(s.top.find((f) => f.name === '(garbage collector)')?.where, '');
    assert.ok(!s.groups.some((g) => g.name === '(idle)'));
  });

  it('draw a flame graph: widths follow the busy time, tiny frames go, names are escaped', () => {
    const tree = callTree(profile());
    assert.equal(tree.total, 1001);
    const svg = flameGraph(profile(), { title: 'a <test>', width: 1001, minShare: 0.002 });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<title>a &lt;test&gt;<\/title>/);
    // onData holds send and #perform: 800 of 1001 us, so 800 px of 1001 (less the half-pixel gap).
    assert.match(svg, /<title>onData \(node:net:10\) \[node:net\]: 0\.8 ms, 79\.9%; own 0\.1 ms<\/title><rect x="[\d.]+" y="\d+" width="799\.50"/);
    assert.match(svg, /#perform \(connection\.js:10\) \[petrel:actors\]: 0\.4 ms/);
    assert.doesNotMatch(svg, /weird/, '1 us of 1001 is under the 0.2% shown');
    assert.doesNotMatch(svg, /\(idle\)/);
  });

  it('name threads by Node\'s file names and by what they ran', () => {
    const file = '/x/CPU.20261123.062849.16659.1.002.cpuprofile';
    assert.equal(threadIdOf(file), 1);
    assert.equal(threadIdOf('/x/CPU.20261123.062849.16659.0.001.cpuprofile'), 0);
    assert.equal(threadLabel('/x/CPU.20261123.062849.16659.0.001.cpuprofile', profile()), 'main thread');
    const delivery: CpuProfile = { ...profile(), nodes: [...profile().nodes, { id: 9, callFrame: { functionName: 'serve', url: 'file:///app/dist/actors/delivery/thread/host.js', lineNumber: 1 } }] };
    assert.equal(threadLabel(file, delivery), 'delivery thread');
    assert.equal(threadLabel(file, profile()), 'worker thread 1');
  });

  it('--profile on the command line', () => {
    assert.equal(parseBenchArgs(['inbound-1conn', '--profile'])?.profile, true);
    assert.equal(parseBenchArgs(['inbound-1conn'])?.profile, undefined);
  });
});

describe('bench --profile with the daemon', { timeout: 120_000 }, () => {
  it('profiles every thread of the daemon and says where the main thread spent its time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-profile-'));
    try {
      const lines: string[] = [];
      const report = await runBench(
        { scenarios: ['inbound-1conn'], peers: ['petrel'], messages: 300, warmup: 50, limits: false, install: false, profile: true, report: dir },
        { out: (t) => lines.push(t), progress: { write: () => true }, handleSignals: false },
      );
      const run = report.scenarios[0]?.runs[0];
      assert.equal(run?.error, undefined);
      const main = run?.profile?.find((t) => t.thread === 'main thread');
      assert.ok(main, `a main-thread profile (got ${JSON.stringify(run?.profile?.map((t) => t.thread))})`);
      assert.ok(main.summary.busyMs > 50);
      // The session actors run on xstate: a profile of sessions that did not show it would be of something else.
      assert.ok(main.summary.groups.some((g) => g.name === 'xstate' && g.share > 0.02), JSON.stringify(main.summary.groups.slice(0, 8)));
      assert.ok(main.summary.groups.some((g) => g.name.startsWith('petrel:')));
      assert.ok(existsSync(main.file) && main.file.startsWith(`${report.file?.replace(/\.json$/, '')}-profiles/`), main.file);
      assert.ok(main.flameFile && (await readFile(main.flameFile, 'utf8')).includes('<rect'));
      assert.match(lines.join('\n'), /inbound-1conn petrel: profile of the main thread: [\d,]+ ms busy; .*xstate \d+%.*flame graph /);
      const json = await readFile(report.file ?? '', 'utf8');
      assert.ok(json.includes('"flameFile"') && !json.includes('"flame"'), 'the JSON names the flame graph files, without their text');
      const html = await readFile(report.htmlFile ?? '', 'utf8');
      assert.match(html, /<h3>Profile: petrel, main thread, \d+ ms busy/);
      assert.match(html, /<div class="flame"><svg xmlns=/);
      assert.ok((await readdir(dir)).some((n) => n.endsWith('-profiles')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
