// The self-contained HTML report of a bench run: the tables, the machine and its limits, and per
// scenario inline SVG charts (throughput over time, latency percentiles, CPU and RSS over time,
// Petrel's metrics). No script, no stylesheet or font from elsewhere: it opens offline.

import type { MachineLimits } from './limits.js';
import type { LatencySummary } from './loadgen/stats.js';
import { deriveMetrics, metricsSummary, type MetricsSeries } from './metrics.js';
import { formatRate, machineLine, markdownTable, notes, scenarioLabel, type MachineInfo } from './report.js';
import type { ResourceSeries } from './resources.js';
import type { ScenarioReport, TargetRun } from './scenarios/index.js';
import { barChart, escapeXml, lineChart, type Series } from './svg.js';

/** A section's anchor: the scenario's name, with its round when there are several. */
const anchorOf = (s: ScenarioReport): string => (s.round === undefined ? s.name : `${s.name}-${s.round}`);

/** What the HTML report needs of a bench report (BenchReport has all of it). */
export interface HtmlReportInput {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  readonly limits?: MachineLimits;
  readonly options: object;
  readonly scenarios: readonly ScenarioReport[];
  readonly incomplete: boolean;
  readonly file?: string;
  readonly htmlFile?: string;
}

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1340px;color:#1b1b1b;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}p.sub{color:#555;margin:2px 0 10px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #d5d5d5;padding:3px 7px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:10px}.charts svg{border:1px solid #e2e2e2;max-width:100%;height:auto}
ul.notes{font-size:12px;color:#333}code{font-size:12px}.warn{color:#a30}
.flame{display:block;overflow-x:auto;border:1px solid #e2e2e2}.flame svg{display:block}
`;

/** A markdown table (as printed at the end of a run) as an HTML table. */
export function markdownToHtml(md: string): string {
  const out: string[] = [];
  let rows: string[][] = [];
  const flush = (): void => {
    if (rows.length === 0) return;
    const [head, ...body] = rows;
    out.push(
      '<table>' +
        `<tr>${(head ?? []).map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr>` +
        body.map((r) => `<tr>${r.map((c) => `<td${/^-?[\d,.]+%?$|^n\/a$/.test(c) ? ' class="n"' : ''}>${escapeXml(c)}</td>`).join('')}</tr>`).join('') +
        '</table>',
    );
    rows = [];
  };
  for (const line of md.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('|')) {
      flush();
      continue;
    }
    if (/^\|[\s|:-]+\|$/.test(t)) continue;
    // Cells split on pipes that are not escaped (the table escapes them as \|).
    const cells = t.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
    rows.push(cells);
  }
  flush();
  return out.join('\n');
}

function figures(charts: readonly string[]): string {
  return charts.length > 0 ? `<div class="charts">${charts.join('')}</div>` : '';
}

/** Messages per second from per-second buckets (the last, partial second is left out). */
function perSecondSeries(name: string, perSecond: readonly number[] | undefined): Series {
  const b = perSecond ?? [];
  const pts: Array<[number, number]> = b.slice(0, Math.max(1, b.length - 1)).map((n, i) => [i + 1, n]);
  return { name, points: b.length > 0 ? pts : [] };
}

function resourceSeries(runs: readonly { name: string; r?: ResourceSeries }[]): { cpu: Series[]; rss: Series[] } {
  const cpu: Series[] = [];
  const rss: Series[] = [];
  for (const { name, r } of runs) {
    if (!r) continue;
    cpu.push({ name, points: r.samples.slice(1).map((s) => [s.t / 1000, s.cpu] as [number, number]) });
    rss.push({ name, points: r.samples.map((s) => [s.t / 1000, s.rssKb / 1024] as [number, number]) });
  }
  return { cpu, rss };
}

function latencyBars(title: string, runs: ReadonlyArray<{ name: string; l?: LatencySummary }>): string {
  const have = runs.filter((r) => r.l);
  return barChart({
    title,
    yLabel: 'ms',
    categories: have.map((r) => r.name),
    groups: (['p50', 'p90', 'p99'] as const).map((p) => ({ name: p, values: have.map((r) => r.l?.[p]) })),
  });
}

function cpuRssCharts(title: string, runs: readonly { name: string; r?: ResourceSeries }[]): string[] {
  const { cpu, rss } = resourceSeries(runs);
  if (cpu.length === 0) return [];
  return [
    lineChart({ title: `${title}: CPU of the system's processes`, xLabel: 's since start', yLabel: '% of one core', series: cpu }),
    lineChart({ title: `${title}: RSS of the system's processes`, xLabel: 's since start', yLabel: 'MB', series: rss }),
  ];
}

function metricsCharts(title: string, m: MetricsSeries | undefined): string {
  if (!m || m.samples.length < 2) return '';
  const derived = deriveMetrics(m);
  const charts = derived.map((d) =>
    lineChart({ title: `${title}: ${d.name}`, xLabel: 's since start', yLabel: d.unit || 'value', series: [{ name: `petrel ${d.name}`, points: d.points }], width: 430, height: 210 }),
  );
  const sum = metricsSummary(m);
  const rows = Object.entries(sum)
    .map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td class="n">${escapeXml(String(v))}</td></tr>`)
    .join('');
  return (
    `<h3>Petrel metrics (/metrics every ${m.intervalMs / 1000} s, ${m.samples.length} samples${m.failures ? `, ${m.failures} failed` : ''})</h3>` +
    `<table><tr><th>over the run</th><th>value</th></tr>${rows}</table>` +
    figures(charts)
  );
}

function petrelMetrics(runs: readonly TargetRun[]): MetricsSeries | undefined {
  return runs.find((r) => r.metrics)?.metrics;
}

function inboundSection(s: ScenarioReport): string {
  const charts = [
    lineChart({
      title: `${scenarioLabel(s)}: accepted per second`,
      xLabel: 's since the measured load began',
      yLabel: 'messages/s',
      series: s.runs.map((r) => perSecondSeries(r.system, r.result?.perSecond)),
    }),
    latencyBars(`${scenarioLabel(s)}: end of data to reply`, s.runs.map((r) => ({ name: r.system, l: r.result?.latencyMs }))),
    ...cpuRssCharts(scenarioLabel(s), s.runs.map((r) => ({ name: r.system, r: r.resources }))),
    ...machineCharts(scenarioLabel(s), s.runs),
  ];
  return figures(charts) + metricsCharts(scenarioLabel(s), petrelMetrics(s.runs));
}

/**
 * Beside each system's own CPU: the whole machine's and the load generator's, on the same scale
 * (percent of one core), so that a run bounded by the machine rather than by the system shows.
 */
function machineCharts(title: string, runs: readonly TargetRun[]): string[] {
  const machine: Series[] = [];
  const load: Series[] = [];
  for (const r of runs) {
    const m = (r.resources?.samples ?? []).flatMap((x) => (x.machine === undefined ? [] : [[x.t / 1000, x.machine] as [number, number]]));
    if (m.length > 0) machine.push({ name: r.system, points: m });
    const l = r.loadResources?.samples.slice(1).map((x) => [x.t / 1000, x.cpu] as [number, number]) ?? [];
    if (l.length > 0) load.push({ name: r.system, points: l });
  }
  const chart = (what: string, series: Series[]): string[] =>
    series.length === 0 ? [] : [lineChart({ title: `${title}: CPU of ${what}`, xLabel: 's since start', yLabel: '% of one core', series })];
  return [...chart('the whole machine', machine), ...chart('the load generator', load)];
}

function deliverySection(s: ScenarioReport): string {
  const charts = [
    lineChart({
      title: `${scenarioLabel(s)}: delivered per second at the sink`,
      xLabel: 's since the start',
      yLabel: 'messages/s',
      series: s.runs.map((r) => perSecondSeries(r.system, r.delivery?.perSecond)),
    }),
    latencyBars(`${scenarioLabel(s)}: accepting, end of data to reply`, s.runs.map((r) => ({ name: r.system, l: r.delivery?.accept.latencyMs }))),
    ...cpuRssCharts(scenarioLabel(s), s.runs.map((r) => ({ name: r.system, r: r.resources }))),
    ...machineCharts(scenarioLabel(s), s.runs),
  ];
  return figures(charts) + metricsCharts(scenarioLabel(s), petrelMetrics(s.runs));
}

function idleSection(s: ScenarioReport): string {
  const runs = s.runs.filter((r) => r.idle);
  const names = runs.map((r) => r.system);
  const charts = [
    barChart({
      title: `${scenarioLabel(s)}: memory per idle session`,
      yLabel: 'KB per session',
      categories: names,
      groups: [
        { name: 'RSS', values: runs.map((r) => r.idle?.rssPerSessionKb) },
        { name: 'PSS', values: runs.map((r) => r.idle?.pssPerSessionKb) },
      ],
      reference: { value: 25, label: 'target 25 KB (Petrel)' },
    }),
    barChart({
      title: `${scenarioLabel(s)}: a new one-message session, connect to QUIT reply`,
      yLabel: 'ms',
      categories: names,
      groups: [
        { name: 'p50 before', values: runs.map((r) => r.idle?.probeBefore?.sessionMs?.p50) },
        { name: 'p99 before', values: runs.map((r) => r.idle?.probeBefore?.sessionMs?.p99) },
        { name: 'p50 while open', values: runs.map((r) => r.idle?.probeDuring?.sessionMs?.p50) },
        { name: 'p99 while open', values: runs.map((r) => r.idle?.probeDuring?.sessionMs?.p99) },
      ],
    }),
    ...cpuRssCharts(scenarioLabel(s), s.runs.map((r) => ({ name: r.system, r: r.resources }))),
  ];
  return figures(charts) + metricsCharts(scenarioLabel(s), petrelMetrics(s.runs));
}

function queueScaleSection(s: ScenarioReport): string {
  const out: string[] = [];
  for (const run of s.runs) {
    const steps = run.queueScale ?? [];
    if (steps.length === 0) continue;
    const cats = steps.map((q) => `${formatRate(q.queued)} queued`);
    const charts = [
      barChart({
        title: `${scenarioLabel(s)} ${run.system}: accepted per second by queue size`,
        yLabel: 'messages/s',
        categories: cats,
        groups: [{ name: 'msgs/s', values: steps.map((q) => q.result?.rate) }],
        ...(steps[0]?.result ? { reference: { value: steps[0].result.rate * 0.8, label: '80% of the empty-queue rate' } } : {}),
      }),
      barChart({
        title: `${scenarioLabel(s)} ${run.system}: restart to serving (banner)`,
        yLabel: 's',
        categories: cats,
        groups: [{ name: 'restart s', values: steps.map((q) => (q.readyMs !== undefined ? Math.round(q.readyMs) / 1000 : undefined)) }],
      }),
      lineChart({
        title: `${scenarioLabel(s)} ${run.system}: accepted per second`,
        xLabel: 's since the measured load began',
        yLabel: 'messages/s',
        series: steps.map((q) => perSecondSeries(`${formatRate(q.queued)} queued`, q.result?.perSecond)),
      }),
      latencyBars(`${scenarioLabel(s)} ${run.system}: end of data to reply`, steps.map((q) => ({ name: `${formatRate(q.queued)} queued`, l: q.result?.latencyMs }))),
      ...cpuRssCharts(`${scenarioLabel(s)} ${run.system}`, steps.map((q) => ({ name: `${formatRate(q.queued)} queued`, r: q.resources }))),
    ];
    out.push(figures(charts));
    const biggest = [...steps].reverse().find((q) => q.metrics);
    if (biggest) out.push(metricsCharts(`${scenarioLabel(s)} (${formatRate(biggest.queued)} queued)`, biggest.metrics));
  }
  return out.join('');
}

function limitsTable(l: MachineLimits | undefined): string {
  if (!l) return '<p class="sub">Machine limits were not measured in this run.</p>';
  const rows: Array<[string, string]> = [];
  const o = l.openssl;
  if (o) {
    rows.push([`RSA-2048 sign/s (openssl speed -multi ${o.processes})`, o.rsa2048SignPerS !== undefined ? formatRate(o.rsa2048SignPerS) : 'n/a']);
    rows.push([`ed25519 sign/s (openssl speed -multi ${o.processes})`, o.ed25519SignPerS !== undefined ? formatRate(o.ed25519SignPerS) : 'n/a']);
    if (o.version) rows.push(['openssl', o.version]);
  }
  if (l.fdatasync) {
    rows.push([`${l.fdatasync.appendBytes} B append + fdatasync/s, 1 writer`, formatRate(l.fdatasync.oneWriterPerS)]);
    rows.push([`${l.fdatasync.appendBytes} B append + fdatasync/s, 4 writers`, formatRate(l.fdatasync.fourWritersPerS)]);
  }
  if (l.sinkCeiling) {
    rows.push(['smtp-sink ceiling msgs/s, 1 per connection (smtp-source, 20 sessions, 2 KB)', formatRate(l.sinkCeiling.oneConnPerS)]);
    rows.push(['smtp-sink ceiling msgs/s, reused connections', formatRate(l.sinkCeiling.reusePerS)]);
  }
  for (const e of l.errors) rows.push(['not measured', e]);
  return `<table><tr><th>machine limit</th><th>value</th></tr>${rows.map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td class="n">${escapeXml(v)}</td></tr>`).join('')}</table>`;
}

function machineTable(m: MachineInfo): string {
  const rows: Array<[string, string]> = [
    ['CPU', `${m.cpuModel} x ${m.cores}`],
    ['memory', m.memoryMb !== undefined ? `${m.memoryMb} MB` : 'n/a'],
    ['platform', m.platform],
    ['Node', m.node],
    ['Postfix', m.postfix ?? 'absent'],
    ['Haraka', m.haraka ?? 'not installed'],
    ['OpenSSL', m.openssl ?? 'n/a'],
    ['git revision', m.gitRevision ? `${m.gitRevision}${m.gitDirty ? ' (uncommitted changes)' : ''}` : 'unknown'],
    ['load average at start', m.loadAverage.map((x) => x.toFixed(2)).join(' ')],
  ];
  return `<table>${rows.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')}</table>`;
}

/** The warm-up before each measured run: its messages, and the time floor of inbound runs and queue-scale steps. */
function warmupShape(load: ScenarioReport['load']): string {
  const floor = load.warmupMs;
  if (floor <= 0) return `warm-up ${load.warmupMessages} messages`;
  return `warm-up ${load.warmupMessages} messages and at least ${floor / 1000} s`;
}

function scenarioSection(s: ScenarioReport): string {
  const load = s.load;
  const shape = [
    s.kind === 'idle' ? `${load.sessions ?? '?'} idle sessions, probes of ${load.messages} one-message sessions`
      : load.durationMs > 0 ? `for ${load.durationMs / 1000} s` : `${load.messages} messages`,
    `concurrency ${load.concurrency}`,
    `size ${load.sizeSpec ?? `${load.size} B`}`,
    ...(load.recipients > 1 ? [`${load.recipients} recipients per message`] : []),
    load.messagesPerConnection === 1 ? 'one message per connection' : `up to ${load.messagesPerConnection} per connection`,
    ...(load.queueCounts ? [`queue sizes ${load.queueCounts.join(', ')}`] : []),
    ...(load.rate ? [`target rate ${load.rate}/s`] : []),
    ...(load.warmupMessages > 0 || load.warmupMs > 0 ? [warmupShape(load)] : []),
  ].join(', ');
  let body: string;
  if (s.kind === 'inbound') body = inboundSection(s);
  else if (s.kind === 'idle') body = idleSection(s);
  else if (s.kind === 'queue-scale') body = queueScaleSection(s);
  else body = deliverySection(s);
  const systems = s.runs
    .map((r) => `<li><b>${escapeXml(r.system)}</b>${r.version ? ` ${escapeXml(r.version)}` : ''}: ${escapeXml(r.description)}; durable before 250: ${escapeXml(r.durability)}${r.error ? ` <span class="warn">(${escapeXml(r.error)})</span>` : ''}</li>`)
    .join('');
  return (
    `<section id="${escapeXml(anchorOf(s))}"><h2>${escapeXml(scenarioLabel(s))}</h2>` +
    `<p class="sub">${escapeXml(s.description)}. ${escapeXml(shape)}.</p><ul class="notes">${systems}</ul>` +
    markdownToHtml(markdownTable([s])) +
    body +
    profileSection(s.runs) +
    '</section>'
  );
}

const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** bench --profile: each profiled thread's layers, functions and flame graph. */
function profileSection(runs: readonly TargetRun[]): string {
  const parts: string[] = [];
  for (const run of runs) {
    for (const t of run.profile ?? []) {
      const s = t.summary;
      const groups = s.groups.slice(0, 12).map((g) => `<tr><td>${escapeXml(g.name)}</td><td class="n">${g.ms.toFixed(0)}</td><td class="n">${pct(g.share)}</td></tr>`).join('');
      const fns = s.top.slice(0, 12).map((f) => `<tr><td>${escapeXml(f.name)}</td><td>${escapeXml(f.where)}</td><td class="n">${f.ms.toFixed(0)}</td><td class="n">${pct(f.share)}</td></tr>`).join('');
      parts.push(
        `<h3>Profile: ${escapeXml(run.system)}, ${escapeXml(t.thread)}${t.daemon > 1 ? ` (daemon start ${t.daemon})` : ''}, ${s.busyMs.toFixed(0)} ms busy of ${s.totalMs.toFixed(0)} ms</h3>` +
          '<div class="charts"><div><table><tr><th>layer (own time)</th><th>ms</th><th>share</th></tr>' + groups + '</table></div>' +
          '<div><table><tr><th>function (own time)</th><th>where</th><th>ms</th><th>share</th></tr>' + fns + '</table></div></div>' +
          (t.flame ? `<div class="flame">${t.flame}</div>` : '') +
          `<p class="sub">Profile: <code>${escapeXml(t.file)}</code> (opens in Chrome's DevTools or speedscope).</p>`,
      );
    }
  }
  return parts.join('');
}

/** The whole report as one HTML document. */
export function renderHtml(r: HtmlReportInput): string {
  const n = notes(r.scenarios);
  const toc = r.scenarios.map((s) => `<a href="#${escapeXml(anchorOf(s))}">${escapeXml(scenarioLabel(s))}</a>`).join(' · ');
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>Petrel bench ${escapeXml(r.startedAt)}</title><style>${STYLE}</style></head><body>` +
    `<h1>Petrel bench</h1><p class="sub">${escapeXml(r.startedAt)} to ${escapeXml(r.finishedAt)}${r.incomplete ? ' <span class="warn">(incomplete: cut short)</span>' : ''}. ` +
    `${escapeXml(machineLine(r.machine))}</p>` +
    `<p class="sub">Ratios are from this one run on one machine; absolute figures from different runs are not comparable. ${toc}</p>` +
    '<h2>Summary</h2>' +
    markdownToHtml(markdownTable(r.scenarios)) +
    (n.length > 0 ? `<h3>Notes</h3><ul class="notes">${n.map((l) => `<li>${escapeXml(l)}</li>`).join('')}</ul>` : '') +
    '<h2>Machine</h2><div class="charts"><div>' +
    machineTable(r.machine) +
    '</div><div>' +
    limitsTable(r.limits) +
    '</div></div>' +
    r.scenarios.map(scenarioSection).join('\n') +
    `<h2>Options</h2><pre>${escapeXml(JSON.stringify(r.options, null, 2))}</pre>` +
    (r.file ? `<p class="sub">JSON: <code>${escapeXml(r.file)}</code></p>` : '') +
    '<p class="sub">Latencies are in ms, nearest-rank percentiles, measured by the load generator in its own process.</p>' +
    '</body></html>\n'
  );
}
