// Every scenario of `petrel bench`, small, against the real daemon, Postfix and smtp-sink: each runs to completion
// within the bench's deadline, and the bench leaves no process and no listening port behind.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { treeUsage } from '../../bench/resources.js';
import { runBench, type BenchReport } from '../../bench/run.js';
import { DEFAULT_SCENARIOS } from '../../bench/scenarios/index.js';

/** TCP ports in LISTEN state on this machine (IPv4 and IPv6), from /proc/net. */
function listeningPorts(): Set<number> {
  const out = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is "HEXIP:HEXPORT"; state 0A is LISTEN.
      if (f[3] !== '0A') continue;
      const port = Number.parseInt((f[1] ?? '').split(':')[1] ?? '', 16);
      if (Number.isInteger(port)) out.add(port);
    }
  }
  return out;
}

/**
 * Processes by command name (/proc/PID/comm) among those a bench starts outside its own tree:
 * Postfix's master daemonizes, and its children are the master's.
 */
function daemonsRunning(): string[] {
  const names = new Set(['master', 'qmgr', 'pickup', 'smtpd', 'cleanup', 'smtp-sink']);
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
      if (names.has(comm)) out.push(comm);
    } catch {
      // Gone meanwhile.
    }
  }
  return out.sort();
}

const DEADLINE_S = 420;

describe('every bench scenario against Petrel, Postfix and smtp-sink', { timeout: (DEADLINE_S + 60) * 1000 }, () => {
  let dir = '';
  let report: BenchReport;
  let portsBefore = new Set<number>();
  let daemonsBefore: string[] = [];
  let printed = '';
  let tookMs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-every-scenario-'));
    portsBefore = listeningPorts();
    daemonsBefore = daemonsRunning();
    const started = Date.now();
    report = await runBench(
      {
        scenarios: [...DEFAULT_SCENARIOS],
        peers: ['petrel', 'postfix', 'sink'],
        messages: 300,
        concurrency: 4,
        warmup: 30,
        warmupSeconds: 0,
        sessions: 200,
        queueCounts: [0, 3000],
        limits: false,
        install: false,
        // 300 messages a run leave too few deleted queue files for Postfix to wait a minute for.
        settle: false,
        timeout: DEADLINE_S,
        report: dir,
      },
      { out: (t) => (printed += t), progress: { write: () => true }, handleSignals: false },
    );
    tookMs = Date.now() - started;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs each scenario to completion, within the deadline', (t) => {
    t.diagnostic(`all ${DEFAULT_SCENARIOS.length} scenarios took ${(tookMs / 1000).toFixed(1)} s`);
    for (const line of report.table.split("\n")) t.diagnostic(line);
    assert.equal(report.incomplete, false, printed);
    assert.deepEqual(report.scenarios.map((s) => s.name), [...DEFAULT_SCENARIOS]);
    assert.ok(tookMs < DEADLINE_S * 1000, `${tookMs} ms`);
    for (const s of report.scenarios) {
      assert.ok(s.runs.length > 0, `${s.name}: something ran`);
      for (const r of s.runs) {
        assert.equal(r.error, undefined, `${s.name} ${r.system}: ${r.error}\n${printed}`);
        assert.equal(r.stopError, undefined, `${s.name} ${r.system}: ${r.stopError}`);
        const measured =
          (r.result?.sent ?? 0) > 0 ||
          (r.delivery?.delivered ?? 0) > 0 ||
          (r.idle?.opened ?? 0) > 0 ||
          (r.queueScale ?? []).some((q) => (q.result?.sent ?? 0) > 0);
        assert.ok(measured, `${s.name} ${r.system}: something was measured`);
      }
    }
  });

  it('leaves no process and no listening port behind', async () => {
    // Stops are awaited by the bench; a process that is being reaped still gets a moment.
    const settled = (): boolean =>
      treeUsage([process.pid]).processes === 1 &&
      daemonsRunning().join() === daemonsBefore.join() &&
      [...listeningPorts()].every((p) => portsBefore.has(p));
    for (let i = 0; i < 20 && !settled(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(treeUsage([process.pid]).processes - 1, 0, 'processes started by the bench are gone');
    assert.deepEqual(daemonsRunning(), daemonsBefore, 'no Postfix or smtp-sink process outlived the bench');
    const extra = [...listeningPorts()].filter((p) => !portsBefore.has(p));
    assert.deepEqual(extra, [], 'ports the bench listened on are closed');
  });
});
