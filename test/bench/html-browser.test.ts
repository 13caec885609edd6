// The bench's HTML report in a real browser: runBench runs three scenarios (two inbound, one
// idle-connections) against three small stand-in SMTP servers, each a process of its own (so the
// CPU and RSS series are real samples of a real process tree) and one of them serving Prometheus
// metrics named like Petrel's. The machine's limits are measured cheaply (fdatasync, and the
// smtp-sink ceiling when Postfix's tools are here) and the report is written with renderHtml. Then
// headless Chromium (Debian's, driven by playwright-core) opens the file offline: nothing may be
// fetched but the file itself, no console or page errors, every chart the data calls for is there
// with a rendered size, its lines have the points of the input series, its bars are drawn, and the
// series' colours are on screen inside the plot area. Full-page and per-section screenshots are
// saved under test-artifacts/bench-html/ (ignored by git); the test prints that directory.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { renderHtml } from '../../bench/html.js';
import { measureLimits, SMTP_SOURCE_BIN, type MachineLimits } from '../../bench/limits.js';
import { deriveMetrics } from '../../bench/metrics.js';
import type { PeerTarget, RunningPeer } from '../../bench/peers/types.js';
import { runBench, type BenchReport } from '../../bench/run.js';
import type { ScenarioReport } from '../../bench/scenarios/index.js';
import { REPO } from '../helpers/daemon.js';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO, 'test-artifacts', 'bench-html');
const SCENARIOS = ['inbound-reuse', 'inbound-1conn', 'idle-connections'];

// A stand-in SMTP server (test scaffolding, not an MTA): plain Node, no dependencies, one process.
// Each session holds `sessionKb` of resident memory (so idle sessions cost something), the reply
// to the end of data waits `delayMs`, and with `metrics` it serves counters named like Petrel's.
const STAND_IN = `
import net from 'node:net';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
const cfg = JSON.parse(process.env.STAND_IN_CONFIG);
let accepted = 0, admitted = 0, open = 0, commitSum = 0, commits = 0;
const held = new Set();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const ext = [cfg.name + '.stand-in.test', 'SIZE 52428800', '8BITMIME', ...(cfg.pipelining ? ['PIPELINING'] : [])];
const ehlo = ext.map((t, i) => '250' + (i === ext.length - 1 ? ' ' : '-') + t + '\\r\\n').join('');
const server = net.createServer((socket) => {
  admitted++;
  open++;
  const state = Buffer.allocUnsafe(cfg.sessionKb * 1024).fill(admitted & 255);
  held.add(state);
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('close', () => { open--; held.delete(state); });
  let buf = '';
  let data = false;
  let busy = false;
  const pump = () => {
    while (!busy) {
      if (data) {
        const end = buf.indexOf('\\r\\n.\\r\\n');
        if (end < 0) { if (buf.length > 8) buf = buf.slice(-8); return; }
        buf = buf.slice(end + 5);
        data = false;
        busy = true;
        const t0 = process.hrtime.bigint();
        const done = () => {
          commitSum += Number(process.hrtime.bigint() - t0) / 1e9;
          commits++;
          accepted++;
          busy = false;
          if (!socket.destroyed) socket.write('250 2.0.0 queued as ' + accepted + '\\r\\n');
          pump();
        };
        if (cfg.delayMs > 0) setTimeout(done, cfg.delayMs); else setImmediate(done);
        return;
      }
      const nl = buf.indexOf('\\r\\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write(ehlo);
      else if (['HELO', 'MAIL', 'RCPT', 'RSET', 'NOOP'].includes(verb)) socket.write('250 2.0.0 ok\\r\\n');
      else if (verb === 'DATA') { socket.write('354 go ahead\\r\\n'); data = true; buf = '\\r\\n' + buf; }
      else if (verb === 'QUIT') { socket.end('221 2.0.0 bye\\r\\n'); return; }
      else socket.write('500 5.5.2 unknown command\\r\\n');
    }
  };
  socket.on('data', (chunk) => { buf += chunk.toString('latin1'); pump(); });
  socket.write('220 ' + cfg.name + '.stand-in.test ESMTP\\r\\n');
});
const metrics = http.createServer((req, res) => {
  const lines = [
    'petrel_messages_total{outcome="accepted"} ' + accepted,
    'petrel_connections_total{result="admitted"} ' + admitted,
    'petrel_connections_open ' + open,
    'petrel_queue_messages ' + accepted,
    'petrel_spool_commit_seconds_sum ' + commitSum,
    'petrel_spool_commit_seconds_count ' + commits,
    'petrel_spool_commit_seconds_bucket{le="+Inf"} ' + commits,
    'petrel_spool_commit_batch_size_sum ' + commits,
    'petrel_spool_commit_batch_size_count ' + commits,
    'petrel_event_loop_delay_seconds{quantile="0.99"} ' + loop.percentile(99) / 1e9,
    'petrel_event_loop_delay_seconds{quantile="max"} ' + loop.max / 1e9,
  ];
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end('# stand-in metrics\\n' + lines.join('\\n') + '\\n');
});
server.listen(0, '127.0.0.1', () => {
  const ready = () => process.stdout.write(JSON.stringify({ port: server.address().port, metricsPort: cfg.metrics ? metrics.address().port : undefined }) + '\\n');
  if (cfg.metrics) metrics.listen(0, '127.0.0.1', ready); else ready();
});
process.on('SIGTERM', () => { server.close(); metrics.close(); process.exit(0); });
`;

interface StandInConfig {
  readonly name: string;
  readonly delayMs: number;
  readonly sessionKb: number;
  readonly pipelining: boolean;
  readonly metrics: boolean;
}

/** A target that runs the stand-in in a child process: its pid is what the harness samples. */
function standInTarget(script: string, cfg: StandInConfig): PeerTarget {
  const info = {
    name: cfg.name,
    description: `stand-in SMTP server ${cfg.name} (${cfg.delayMs} ms before the 250, ${cfg.sessionKb} KB a session)`,
    durable: false,
    durability: 'no (stand-in: stores nothing)',
  };
  return {
    ...info,
    async start(): Promise<RunningPeer> {
      const child: ChildProcess = spawn(process.execPath, [script], {
        env: { ...process.env, STAND_IN_CONFIG: JSON.stringify(cfg) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit').then(() => undefined);
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.setEncoding('utf8');
        child.stdout?.on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`stand-in ${cfg.name} exited ${code} before it listened`)));
      });
      const { port, metricsPort } = JSON.parse(line) as { port: number; metricsPort?: number };
      return {
        info,
        host: '127.0.0.1',
        port,
        version: 'stand-in 1',
        pids: () => (child.pid !== undefined && child.exitCode === null ? [child.pid] : []),
        ...(metricsPort !== undefined ? { metricsUrl: () => `http://127.0.0.1:${metricsPort}/metrics` } : {}),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    },
  };
}

// ---- What the charts must show, from the results alone ----

interface ExpectedChart {
  /** Line charts: per series name, the number of points; bar charts: undefined. */
  readonly lines?: ReadonlyMap<string, number>;
  /** Bar charts: the number of bars drawn (finite values). */
  readonly bars?: number;
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** The charts the report should draw for these scenarios, by title: the spec this test holds it to. */
function expectedCharts(scenarios: readonly ScenarioReport[]): Map<string, ExpectedChart> {
  const out = new Map<string, ExpectedChart>();
  const lines = (entries: Array<[string, number]>): ExpectedChart => ({ lines: new Map(entries.filter(([, n]) => n > 0)) });
  for (const s of scenarios) {
    if (s.kind === 'inbound') {
      // Messages per second, one point per whole second (the last, partial one left out).
      out.set(
        `${s.name}: accepted per second`,
        lines(
          s.runs.map((r) => {
            const n = r.result?.perSecond.length ?? 0;
            return [r.system, n > 0 ? Math.max(1, n - 1) : 0];
          }),
        ),
      );
      const lat = s.runs.flatMap((r) => (r.result ? [r.result.latencyMs.p50, r.result.latencyMs.p90, r.result.latencyMs.p99] : []));
      out.set(`${s.name}: end of data to reply`, { bars: lat.filter(finite).length });
      // The whole machine from the second sample on (a share needs two), and the load generator's processes likewise.
      out.set(`${s.name}: CPU of the whole machine`, lines(s.runs.map((r) => [r.system, (r.resources?.samples ?? []).filter((x) => x.machine !== undefined).length])));
      out.set(`${s.name}: CPU of the load generator`, lines(s.runs.map((r) => [r.system, Math.max(0, (r.loadResources?.samples.length ?? 0) - 1)])));
    } else if (s.kind === 'idle') {
      const mem = s.runs.flatMap((r) => [r.idle?.rssPerSessionKb, r.idle?.pssPerSessionKb]);
      out.set(`${s.name}: memory per idle session`, { bars: mem.filter(finite).length });
      const probes = s.runs.flatMap((r) => [r.idle?.probeBefore?.sessionMs?.p50, r.idle?.probeBefore?.sessionMs?.p99, r.idle?.probeDuring?.sessionMs?.p50, r.idle?.probeDuring?.sessionMs?.p99]);
      out.set(`${s.name}: a new one-message session, connect to QUIT reply`, { bars: probes.filter(finite).length });
    } else {
      assert.fail(`this test does not run ${s.kind} scenarios`);
    }
    // CPU from the second sample on (a rate needs two), RSS at every sample.
    out.set(`${s.name}: CPU of the system's processes`, lines(s.runs.map((r) => [r.system, Math.max(0, (r.resources?.samples.length ?? 0) - 1)])));
    out.set(`${s.name}: RSS of the system's processes`, lines(s.runs.map((r) => [r.system, r.resources?.samples.length ?? 0])));
    const m = s.runs.find((r) => r.metrics)?.metrics;
    if (m && m.samples.length >= 2) {
      for (const d of deriveMetrics(m)) out.set(`${s.name}: ${d.name}`, lines([[`petrel ${d.name}`, d.points.length]]));
    }
  }
  return out;
}

// ---- What the browser drew ----

interface DrawnChart {
  readonly index: number;
  readonly title: string;
  readonly viewBox: [number, number];
  readonly rendered: { readonly width: number; readonly height: number };
  readonly noData: boolean;
  readonly lines: ReadonlyArray<{ name: string; stroke: string; points: number; length: number; width: number; height: number }>;
  readonly circles: number;
  readonly bars: ReadonlyArray<{ label: string; fill: string; width: number; height: number }>;
  /** Pairs of its texts whose rendered boxes overlap (illegible). */
  readonly overlaps: readonly string[];
}

/** The DOM as far as the page function below uses it (this project compiles without the DOM library). */
interface El {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
  querySelector(s: string): El | null;
  querySelectorAll(s: string): ArrayLike<El>;
  getBoundingClientRect(): { left: number; top: number; right: number; bottom: number; width: number; height: number };
  getTotalLength?(): number;
}

/** Runs in the page: every chart, with the geometry the browser computed for its marks. */
function readCharts(): DrawnChart[] {
  const doc = (globalThis as unknown as { document: El }).document;
  return Array.from(doc.querySelectorAll('svg.chart')).map((svg, index) => {
    const box = svg.getBoundingClientRect();
    const vb = (svg.getAttribute('viewBox') ?? '').split(/\s+/).map(Number);
    return {
      index,
      title: svg.querySelector(':scope > title')?.textContent ?? '',
      viewBox: [vb[2] ?? 0, vb[3] ?? 0] as [number, number],
      rendered: { width: box.width, height: box.height },
      noData: Array.from(svg.querySelectorAll('text')).some((t) => t.textContent === 'no data'),
      lines: Array.from(svg.querySelectorAll('polyline')).map((p) => {
        const b = p.getBoundingClientRect();
        const pts = (p.getAttribute('points') ?? '').trim();
        return {
          name: p.querySelector('title')?.textContent ?? '',
          stroke: p.getAttribute('stroke') ?? '',
          points: pts === '' ? 0 : pts.split(/\s+/).length,
          length: p.getTotalLength?.() ?? 0,
          width: b.width,
          height: b.height,
        };
      }),
      circles: svg.querySelectorAll('circle').length,
      bars: Array.from(svg.querySelectorAll('rect'))
        .filter((r) => r.querySelector('title') !== null)
        .map((r) => {
          const b = r.getBoundingClientRect();
          return { label: r.querySelector('title')?.textContent ?? '', fill: r.getAttribute('fill') ?? '', width: b.width, height: b.height };
        }),
      overlaps: (() => {
        const texts = Array.from(svg.querySelectorAll('text')).map((t) => ({ text: t.textContent ?? '', box: t.getBoundingClientRect() }));
        const out: string[] = [];
        texts.forEach((a, i) => {
          for (const b of texts.slice(i + 1)) {
            const w = Math.min(a.box.right, b.box.right) - Math.max(a.box.left, b.box.left);
            const h = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
            if (w > 1 && h > 1) out.push(`"${a.text}" and "${b.text}" (${w.toFixed(1)} x ${h.toFixed(1)} px)`);
          }
        });
        return out;
      })(),
    };
  });
}

/** Runs in the page: the cells of every table row. */
function readRows(): string[][] {
  const doc = (globalThis as unknown as { document: El }).document;
  return Array.from(doc.querySelectorAll('tr')).map((tr) => Array.from(tr.querySelectorAll('td,th')).map((c) => (c.textContent ?? '').trim()));
}

// ---- PNG (Chromium's screenshots: 8-bit RGB or RGBA, not interlaced) ----

interface Image {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

function decodePng(png: Buffer): Image {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  let colourType = -1;
  const idat: Buffer[] = [];
  while (pos + 8 <= png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      colourType = data[9] ?? -1;
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  assert.ok(colourType === 2 || colourType === 6, `colour type ${colourType}`);
  const ch = colourType === 6 ? 4 : 3;
  const stride = width * ch;
  const raw = inflateSync(Buffer.concat(idat));
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    const src = y * (stride + 1) + 1;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x] ?? 0;
      const a = x >= ch ? (px[y * stride + x - ch] ?? 0) : 0;
      const b = y > 0 ? (px[(y - 1) * stride + x] ?? 0) : 0;
      const c = x >= ch && y > 0 ? (px[(y - 1) * stride + x - ch] ?? 0) : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (v + pred) & 0xff;
    }
  }
  if (ch === 4) return { width, height, rgba: px };
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = px[i * 3] ?? 0;
    rgba[i * 4 + 1] = px[i * 3 + 1] ?? 0;
    rgba[i * 4 + 2] = px[i * 3 + 2] ?? 0;
    rgba[i * 4 + 3] = 255;
  }
  return { width, height, rgba };
}

/** Pixels within a small distance of a colour, in rows [top, bottom) of the image. */
function pixelsOf(img: Image, hex: string, top: number, bottom: number): number {
  const r = Number.parseInt(hex.slice(1, 3), 16);
  const g = Number.parseInt(hex.slice(3, 5), 16);
  const b = Number.parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let y = Math.max(0, Math.floor(top)); y < Math.min(img.height, Math.ceil(bottom)); y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 4;
      const d = Math.abs((img.rgba[i] ?? 0) - r) + Math.abs((img.rgba[i + 1] ?? 0) - g) + Math.abs((img.rgba[i + 2] ?? 0) - b);
      if (d <= 36) n++;
    }
  }
  return n;
}

describe('the bench HTML report in headless Chromium', { timeout: 150_000 }, () => {
  let work = '';
  let profile = '';
  let browser: Browser | undefined;
  let page: Page;
  let report: BenchReport;
  let limits: MachineLimits;
  let htmlPath = '';
  let fileUrl = '';
  let runBenchUrl = '';
  const requests: string[] = [];
  const blocked: string[] = [];
  /** The report files the page may load; anything else is refused. */
  const allowed = new Set<string>();
  const problems: string[] = [];
  let benchMs = 0;

  before(async () => {
    const benchStarted = Date.now();
    work = await mkdtemp(join(tmpdir(), 'petrel-bench-html-'));
    const script = join(work, 'stand-in.mjs');
    await writeFile(script, STAND_IN);
    const targets = {
      alpha: standInTarget(script, { name: 'alpha', delayMs: 0, sessionKb: 24, pipelining: true, metrics: true }),
      beta: standInTarget(script, { name: 'beta', delayMs: 2, sessionKb: 64, pipelining: false, metrics: false }),
      gamma: standInTarget(script, { name: 'gamma', delayMs: 5, sessionKb: 8, pipelining: true, metrics: false }),
    };
    const resultsDir = join(work, 'results');
    report = await runBench(
      {
        scenarios: SCENARIOS,
        peers: Object.keys(targets),
        duration: 2,
        messages: 40,
        concurrency: 8,
        warmup: 0,
        sessions: 60,
        limits: false,
        install: false,
        report: resultsDir,
      },
      { targets, out: () => undefined, progress: { write: () => true }, handleSignals: false, root: REPO },
    );
    benchMs = Date.now() - benchStarted;
    assert.ok(report.file && report.htmlFile, `report written: ${report.fileError ?? ''}`);
    // The machine's limits, measured for real but cheaply; openssl speed (several seconds) is left out.
    const haveSource = existsSync(SMTP_SOURCE_BIN) && existsSync('/usr/sbin/smtp-sink');
    limits = await measureLimits({ skipOpenssl: true, skipSink: !haveSource, syncMs: 250, sinkMessages: { oneConn: 300, reuse: 1000 } });
    // The report as the JSON file holds it (what a later rendering would read), with the limits.
    const stored = JSON.parse(await readFile(report.file, 'utf8')) as BenchReport;
    await rm(ARTIFACTS, { recursive: true, force: true });
    await mkdir(ARTIFACTS, { recursive: true });
    htmlPath = join(ARTIFACTS, 'report.html');
    await writeFile(htmlPath, renderHtml({ ...stored, limits, htmlFile: htmlPath }));
    await writeFile(join(ARTIFACTS, 'report.json'), `${JSON.stringify({ ...stored, limits }, null, 2)}\n`);
    fileUrl = pathToFileURL(htmlPath).href;
    runBenchUrl = pathToFileURL(report.htmlFile).href;
    allowed.add(fileUrl).add(runBenchUrl);

    profile = await mkdtemp(join(tmpdir(), 'petrel-chromium-'));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      ignoreDefaultArgs: true,
      args: [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'],
      timeout: 60_000,
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    context.on('request', (r) => requests.push(r.url()));
    // Anything but the reports themselves is refused (and recorded): the report must work offline.
    await context.route(
      (url) => !allowed.has(url.href),
      (route) => {
        blocked.push(route.request().url());
        return route.abort();
      },
    );
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  });

  after(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('has realistic results to draw', (t) => {
    t.diagnostic(`runBench took ${(benchMs / 1000).toFixed(1)} s`);
    assert.deepEqual(
      report.scenarios.map((s) => [s.name, s.runs.map((r) => r.system)]),
      SCENARIOS.map((n) => [n, ['alpha', 'beta', 'gamma']]),
    );
    for (const s of report.scenarios) {
      for (const r of s.runs) {
        assert.equal(r.error, undefined, `${s.name} ${r.system}: ${r.error}`);
        assert.ok((r.resources?.samples.length ?? 0) >= 4, `${s.name} ${r.system}: CPU/RSS sampled`);
        if (s.kind === 'inbound') {
          assert.ok((r.loadResources?.samples.length ?? 0) >= 4, `${s.name} ${r.system}: the load generator sampled`);
          assert.ok(r.resources?.samples.some((x) => (x.machine ?? 0) > 0), `${s.name} ${r.system}: the machine's CPU sampled`);
          assert.ok((r.result?.sent ?? 0) > 0 && r.result?.failed === 0, `${s.name} ${r.system}: messages accepted`);
          assert.ok((r.result?.perSecond.length ?? 0) >= 2, `${s.name} ${r.system}: throughput over ${r.result?.perSecond.length} seconds`);
        } else {
          assert.equal(r.idle?.opened, 60, `${s.name} ${r.system}: idle sessions opened`);
          assert.ok(r.idle?.probeDuring?.sessionMs, `${s.name} ${r.system}: probed`);
        }
      }
      const m = s.runs.find((r) => r.system === 'alpha')?.metrics;
      assert.ok(m && m.samples.length >= 2, `${s.name}: alpha's metrics sampled`);
    }
    assert.ok(limits.fdatasync && limits.fdatasync.oneWriterPerS > 0, 'fdatasync measured');
  });

  it('opens offline, fetches nothing else, and logs no errors', async (t) => {
    t.diagnostic(`report and screenshots: ${ARTIFACTS}`);
    const html = await readFile(htmlPath, 'utf8');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i, 'nothing to load in the markup');
    const res = await page.goto(fileUrl, { waitUntil: 'load' });
    assert.ok(res === null || res.ok(), 'the file loads');
    assert.match(await page.title(), /^Petrel bench /);
    await page.screenshot({ path: join(ARTIFACTS, 'report-full.png'), fullPage: true });
    // Also the HTML runBench wrote itself (no limits measured in the run).
    await page.goto(runBenchUrl, { waitUntil: 'load' });
    assert.match(await page.textContent('body') ?? '', /Machine limits were not measured in this run\./);
    await page.screenshot({ path: join(ARTIFACTS, 'report-as-written-by-runBench.png'), fullPage: true });
    await page.goto(fileUrl, { waitUntil: 'load' });
    const others = requests.filter((u) => u !== fileUrl && u !== runBenchUrl);
    assert.deepEqual(others, [], 'no request for anything but the report files');
    assert.deepEqual(blocked, []);
    assert.ok(requests.includes(fileUrl), `the request listener sees the page itself: ${requests.join(', ')}`);
    assert.deepEqual(problems, []);
  });

  it('draws every chart the results call for, with a rendered size and the points of each series', async () => {
    const expected = expectedCharts(report.scenarios);
    const drawn = await page.evaluate(readCharts);
    assert.deepEqual(drawn.map((c) => c.title).sort(), [...expected.keys()].sort(), 'one chart per expected title');
    // Three scenarios: throughput or memory, latency, CPU, RSS each; 8 metrics charts each (alpha).
    assert.ok(drawn.length >= 3 * 4 + 3 * 6, `${drawn.length} charts`);
    const charts = page.locator('svg.chart');
    assert.equal(await charts.count(), drawn.length);
    for (const c of drawn) {
      const want = expected.get(c.title);
      assert.ok(want);
      const box = await charts.nth(c.index).boundingBox();
      assert.ok(box && box.width >= 200 && box.height >= 100, `${c.title}: rendered ${JSON.stringify(box)}`);
      assert.ok(Math.abs(box.width / box.height - c.viewBox[0] / c.viewBox[1]) < 0.05, `${c.title}: aspect kept`);
      assert.equal(c.noData, false, `${c.title}: has data`);
      assert.deepEqual(c.overlaps, [], `${c.title}: no text drawn over another`);
      if (want.lines) {
        assert.deepEqual(
          new Map(c.lines.map((l) => [l.name, l.points])),
          want.lines,
          `${c.title}: a polyline per series with its points`,
        );
        for (const l of c.lines) {
          if (l.points >= 2) {
            assert.ok(l.length > 0 && l.width > 0, `${c.title} ${l.name}: the line has extent (length ${l.length}, ${l.width}x${l.height})`);
          }
        }
        assert.equal(c.circles, c.lines.filter((l) => l.points === 1).length, `${c.title}: a dot for each one-point series`);
        assert.deepEqual(c.bars, []);
      } else {
        assert.equal(c.bars.length, want.bars, `${c.title}: bars`);
        assert.ok((want.bars ?? 0) > 0, `${c.title}: something to draw`);
        for (const b of c.bars) assert.ok(b.width > 0 && b.height >= 0, `${c.title} ${b.label}: bar ${b.width}x${b.height}`);
        assert.deepEqual(c.lines, []);
      }
    }
  });

  it("shows each series' colour inside the plot area of its chart", async () => {
    const drawn = await page.evaluate(readCharts);
    const charts = page.locator('svg.chart');
    for (const c of drawn) {
      const img = decodePng(await charts.nth(c.index).screenshot());
      // The plot area of svg.ts and the axis labels below it (30 units from the top to 46 from the
      // bottom): the legend, in the same colours, lies below that and does not count.
      const scale = img.height / c.viewBox[1];
      const top = 30 * scale;
      const bottom = (c.viewBox[1] - 46) * scale;
      const colours = new Set([...c.lines.map((l) => l.stroke), ...c.bars.map((b) => b.fill)]);
      for (const colour of colours) {
        const n = pixelsOf(img, colour, top, bottom);
        assert.ok(n >= 8, `${c.title}: ${n} pixels of ${colour} in the plot area`);
      }
    }
  });

  it('lists the systems in the tables, the machine and its limits', async () => {
    const rows = await page.evaluate(readRows);
    for (const s of report.scenarios) {
      for (const r of s.runs) {
        const mine = rows.filter((cells) => cells[0] === s.name && cells[1] === r.system);
        // Once in the summary, once in the scenario's section.
        assert.equal(mine.length, 2, `${s.name} ${r.system}: rows ${JSON.stringify(mine)}`);
        if (s.kind === 'inbound') assert.match(mine[0]?.[2] ?? '', /^[\d,.]+$/, `${s.name} ${r.system}: a rate`);
        else assert.equal(mine[0]?.[2], '60/60', `${s.name} ${r.system}: sessions open`);
      }
    }
    const limitRow = (label: RegExp): string[] | undefined => rows.find((cells) => label.test(cells[0] ?? ''));
    assert.match(limitRow(/append \+ fdatasync\/s, 1 writer/)?.[1] ?? '', /^[\d,.]+$/);
    assert.match(limitRow(/append \+ fdatasync\/s, 4 writers/)?.[1] ?? '', /^[\d,.]+$/);
    if (limits.sinkCeiling) assert.match(limitRow(/smtp-sink ceiling msgs\/s, reused/)?.[1] ?? '', /^[\d,.]+$/);
    assert.equal(limitRow(/^CPU$/)?.[1], `${report.machine.cpuModel} x ${report.machine.cores}`);
    for (const s of report.scenarios) {
      await page.locator(`section[id="${s.name}"]`).screenshot({ path: join(ARTIFACTS, `section-${s.name}.png`) });
    }
    assert.deepEqual(problems, []);
  });

  it('draws a memory per session that went down (as in real runs with few sessions) below a zero line', async () => {
    // RSS per idle session is a difference of two readings of a process tree: with few sessions
    // and a garbage collection in between it can come out below zero (a run of this test saw
    // -4.53 KB). The same results with one value made negative, so that the case is always drawn.
    const stored = JSON.parse(await readFile(join(ARTIFACTS, 'report.json'), 'utf8')) as BenchReport;
    const idle = stored.scenarios.find((s) => s.kind === 'idle');
    const run = idle?.runs.find((r) => r.system === 'gamma');
    assert.ok(idle && run?.idle);
    const negative = -Math.max(0.5, Math.abs(run.idle.rssPerSessionKb ?? 4.53));
    (run.idle as { rssPerSessionKb?: number }).rssPerSessionKb = negative;
    const path = join(ARTIFACTS, 'report-negative-memory.html');
    await writeFile(path, renderHtml({ ...stored, htmlFile: path }));
    const url = pathToFileURL(path).href;
    allowed.add(url);
    await page.goto(url, { waitUntil: 'load' });
    const chart = (await page.evaluate(readCharts)).find((c) => c.title === 'idle-connections: memory per idle session');
    assert.ok(chart);
    const bar = chart.bars.find((b) => b.label === `gamma RSS: ${negative}`);
    assert.ok(bar && bar.height >= 1 && bar.width > 0, `the negative bar is drawn: ${JSON.stringify(bar)}`);
    assert.deepEqual(chart.overlaps, []);
    const svg = page.locator('svg.chart').nth(chart.index);
    // Below the zero line: the bar's top is the line, and its value is written under it.
    const valueText = String(Number(negative.toPrecision(3)));
    const geometry = await svg.evaluate(
      (el: unknown, want: { label: string; valueText: string }) => {
        const root = el as El;
        const texts = Array.from(root.querySelectorAll('text'));
        const rect = Array.from(root.querySelectorAll('rect')).find((r) => r.querySelector('title')?.textContent === want.label);
        return {
          rect: rect?.getBoundingClientRect(),
          zero: texts.find((t) => t.textContent === '0')?.getBoundingClientRect(),
          value: texts.find((t) => t.textContent === want.valueText)?.getBoundingClientRect(),
        };
      },
      { label: `gamma RSS: ${negative}`, valueText },
    );
    assert.ok(geometry.rect && geometry.zero && geometry.value, JSON.stringify(geometry));
    const zeroY = (geometry.zero.top + geometry.zero.bottom) / 2;
    assert.ok(Math.abs(geometry.rect.top - zeroY) <= 3, `the bar hangs from the zero line: ${JSON.stringify(geometry)}`);
    assert.ok(geometry.value.top >= geometry.rect.bottom - 1, `its value is written under it: ${JSON.stringify(geometry)}`);
    await svg.screenshot({ path: join(ARTIFACTS, 'chart-negative-memory.png') });
    assert.deepEqual(requests.filter((u) => !allowed.has(u)), []);
    assert.deepEqual(blocked, []);
    assert.deepEqual(problems, []);
  });
});
