// Inline SVG charts for the HTML report: line charts over time and grouped bar charts, drawn as
// plain SVG text (no library, no script, nothing fetched), so the report opens offline anywhere.

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const PALETTE = ['#1f6fb4', '#d9482b', '#2e9d4c', '#7a7a7a', '#8c5ab8', '#c7881d', '#17a2b8', '#e377c2'];
const SYSTEM_COLOURS: Record<string, string> = { petrel: '#1f6fb4', postfix: '#d9482b', haraka: '#2e9d4c', sink: '#7a7a7a' };

/** A stable colour per series name: the known systems keep theirs in every chart. */
export function colourOf(name: string, index: number): string {
  const base = name.split(' ')[0] ?? name;
  return SYSTEM_COLOURS[base] ?? PALETTE[index % PALETTE.length] ?? '#333';
}

/** A round step for about `count` ticks over [0, max]: 1, 2 or 5 times a power of ten. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

/** Tick label: 12,000 -> "12k", 1,500,000 -> "1.5M", 0.25 -> "0.25". */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  const trim = (n: number): string => String(Number(n.toPrecision(3)));
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 100) return String(Math.round(v));
  return trim(v);
}

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Vertical lines at these x values (phases of a run). */
  readonly marks?: ReadonlyArray<{ readonly x: number; readonly label: string }>;
  readonly width?: number;
  readonly height?: number;
}

const M = { left: 62, right: 16, top: 30, bottom: 46 };
// Line charts have an x-axis label as well as a legend: the legend gets a row of its own below the
// label (else a long legend runs into the label).
const LINE_BOTTOM = M.bottom + 12;

function frame(w: number, h: number, title: string, body: string, legend: string): string {
  return (
    `<svg class="chart" role="img" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-family="system-ui, sans-serif" font-size="11">` +
    `<title>${escapeXml(title)}</title>` +
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#fff"/>` +
    `<text x="${w / 2}" y="17" text-anchor="middle" font-size="13" font-weight="600">${escapeXml(title)}</text>` +
    body +
    legend +
    '</svg>'
  );
}

function legendOf(names: readonly string[], w: number, h: number): string {
  let x = M.left;
  const y = h - 10;
  let out = '';
  names.forEach((name, i) => {
    out +=
      `<rect x="${x}" y="${y - 8}" width="10" height="10" fill="${colourOf(name, i)}"/>` +
      `<text x="${x + 14}" y="${y + 1}">${escapeXml(name)}</text>`;
    x += 24 + name.length * 6.2;
    if (x > w - 80) x = M.left;
  });
  return out;
}

function axes(w: number, h: number, xMax: number, yMax: number, xLabel: string, yLabel: string, bottom: number): { sx: (x: number) => number; sy: (y: number) => number; svg: string } {
  const pw = w - M.left - M.right;
  const ph = h - M.top - bottom;
  const sx = (x: number): number => M.left + (xMax > 0 ? (x / xMax) * pw : 0);
  const sy = (y: number): number => M.top + ph - (yMax > 0 ? (y / yMax) * ph : 0);
  let svg = '';
  const ys = niceStep(yMax);
  for (let v = 0; v <= yMax + ys / 1e6; v += ys) {
    const y = sy(v).toFixed(1);
    svg += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`;
    svg += `<text x="${M.left - 6}" y="${Number(y) + 4}" text-anchor="end" fill="#444">${tickLabel(v)}</text>`;
  }
  const xs = niceStep(xMax, 8);
  for (let v = 0; v <= xMax + xs / 1e6; v += xs) {
    const x = sx(v).toFixed(1);
    svg += `<line x1="${x}" x2="${x}" y1="${M.top + ph}" y2="${M.top + ph + 4}" stroke="#888"/>`;
    svg += `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle" fill="#444">${tickLabel(v)}</text>`;
  }
  svg += `<line x1="${M.left}" x2="${M.left + pw}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#888"/>`;
  svg += `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#888"/>`;
  svg += `<text x="${M.left + pw / 2}" y="${M.top + ph + 30}" text-anchor="middle" fill="#222">${escapeXml(xLabel)}</text>`;
  svg += `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${escapeXml(yLabel)}</text>`;
  return { sx, sy, svg };
}

/** A line chart; series with no points are left out; an empty chart says so. */
export function lineChart(o: LineChartOptions): string {
  const w = o.width ?? 640;
  const h = o.height ?? 260;
  const series = o.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return frame(w, h, o.title, `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" fill="#888">no data</text>`, '');
  let xMax = 0;
  let yMax = 0;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (Number.isFinite(x)) xMax = Math.max(xMax, x);
      if (Number.isFinite(y)) yMax = Math.max(yMax, y);
    }
  }
  xMax = xMax > 0 ? xMax : 1;
  yMax = yMax > 0 ? niceStep(yMax * 1.05) * Math.ceil((yMax * 1.05) / niceStep(yMax * 1.05)) : 1;
  const a = axes(w, h, xMax, yMax, o.xLabel, o.yLabel, LINE_BOTTOM);
  let body = a.svg;
  for (const m of o.marks ?? []) {
    if (!(m.x >= 0 && m.x <= xMax)) continue;
    const x = a.sx(m.x).toFixed(1);
    body += `<line x1="${x}" x2="${x}" y1="${M.top}" y2="${h - LINE_BOTTOM}" stroke="#999" stroke-dasharray="3 3"/>`;
    body += `<text x="${Number(x) + 3}" y="${M.top + 10}" fill="#666" font-size="10">${escapeXml(m.label)}</text>`;
  }
  series.forEach((s, i) => {
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${a.sx(x).toFixed(1)},${a.sy(y).toFixed(1)}`)
      .join(' ');
    body += `<polyline fill="none" stroke="${colourOf(s.name, i)}" stroke-width="1.8" points="${pts}"><title>${escapeXml(s.name)}</title></polyline>`;
    if (s.points.length === 1) {
      const [x, y] = s.points[0] as readonly [number, number];
      body += `<circle cx="${a.sx(x).toFixed(1)}" cy="${a.sy(y).toFixed(1)}" r="3" fill="${colourOf(s.name, i)}"/>`;
    }
  });
  return frame(w, h, o.title, body, legendOf(series.map((s) => s.name), w, h));
}

export interface BarChartOptions {
  readonly title: string;
  readonly yLabel: string;
  /** The groups along the x axis (e.g. systems). */
  readonly categories: readonly string[];
  /** One bar per group in each category (e.g. p50, p90, p99); undefined draws nothing. */
  readonly groups: ReadonlyArray<{ readonly name: string; readonly values: ReadonlyArray<number | undefined> }>;
  /** Colour the bars by category (systems) instead of by group. */
  readonly colourByCategory?: boolean;
  readonly width?: number;
  readonly height?: number;
  /** A horizontal reference line (a target). */
  readonly reference?: { readonly value: number; readonly label: string };
}

interface Box {
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

/** The box a line of text takes, roughly (0.6 em per character), for text drawn at (x, y) on its baseline. */
function textBox(x: number, y: number, text: string, size: number, anchor: 'start' | 'middle' | 'end'): Box {
  const width = text.length * size * 0.6;
  const x0 = anchor === 'start' ? x : anchor === 'end' ? x - width : x - width / 2;
  return { x0, x1: x0 + width, y0: y - size, y1: y + size * 0.25 };
}

const overlaps = (a: Box, b: Box): boolean => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/**
 * A grouped bar chart with the value written above each bar. A negative value (a difference, such
 * as memory per session that went down) is drawn downwards from a zero line.
 */
export function barChart(o: BarChartOptions): string {
  const w = o.width ?? 640;
  const h = o.height ?? 260;
  let yMax = Math.max(0, o.reference?.value ?? 0);
  let yMin = Math.min(0, o.reference?.value ?? 0);
  for (const g of o.groups) {
    for (const v of g.values) {
      if (v === undefined || !Number.isFinite(v)) continue;
      yMax = Math.max(yMax, v);
      yMin = Math.min(yMin, v);
    }
  }
  if (!(yMax > 0 || yMin < 0) || o.categories.length === 0) {
    return frame(w, h, o.title, `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" fill="#888">no data</text>`, '');
  }
  // Room above the highest bar (and below the lowest) for its value, rounded out to whole steps.
  const step = niceStep((yMax - yMin) * 1.12);
  yMax = step * Math.ceil((yMax * 1.12) / step);
  yMin = -step * Math.ceil((-yMin * 1.12) / step);
  const pw = w - M.left - M.right;
  const ph = h - M.top - M.bottom;
  const sy = (y: number): number => M.top + ph - ((y - yMin) / (yMax - yMin)) * ph;
  let body = '';
  const ys = niceStep(yMax - yMin);
  for (let v = Math.ceil(yMin / ys - 1e-9) * ys; v <= yMax + ys / 1e6; v += ys) {
    const y = sy(v).toFixed(1);
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`;
    body += `<text x="${M.left - 6}" y="${Number(y) + 4}" text-anchor="end" fill="#444">${tickLabel(v)}</text>`;
  }
  body += `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${escapeXml(o.yLabel)}</text>`;
  const slot = pw / o.categories.length;
  const barW = Math.max(4, Math.min(40, (slot * 0.8) / Math.max(1, o.groups.length)));
  /** Where the values are written (approximate boxes), so that the reference's label can keep clear of them. */
  const written: Box[] = [];
  o.categories.forEach((cat, ci) => {
    const x0 = M.left + ci * slot + (slot - barW * o.groups.length) / 2;
    o.groups.forEach((g, gi) => {
      const v = g.values[ci];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = x0 + gi * barW;
      const y = sy(v);
      const top = Math.min(y, sy(0));
      const colour = o.colourByCategory ? colourOf(cat, ci) : colourOf(g.name, gi);
      body += `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.abs(sy(0) - y).toFixed(1)}" fill="${colour}"><title>${escapeXml(`${cat} ${g.name}: ${v}`)}</title></rect>`;
      // The value above the bar, or below it when it goes down.
      const tx = x + barW / 2 - 1;
      const ty = v < 0 ? y + 10 : y - 3;
      const label = tickLabel(v);
      body += `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${label}</text>`;
      written.push(textBox(tx, ty, label, 9, 'middle'));
    });
    body += `<text x="${(M.left + ci * slot + slot / 2).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle" fill="#222">${escapeXml(cat)}</text>`;
  });
  body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#888"/>`;
  if (yMin < 0) body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(0).toFixed(1)}" y2="${sy(0).toFixed(1)}" stroke="#888"/>`;
  if (o.reference) {
    const y = sy(o.reference.value).toFixed(1);
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#b00" stroke-dasharray="5 3"/>`;
    // Above the line at the right unless a value is written there; then below it, or at the left.
    const places: [number, number, 'start' | 'end'][] = [
      [M.left + pw - 4, Number(y) - 4, 'end'], [M.left + pw - 4, Number(y) + 13, 'end'], [M.left + 4, Number(y) - 4, 'start'], [M.left + 4, Number(y) + 13, 'start'],
    ];
    const clear = places.find(([px, py, anchor]) => !written.some((b) => overlaps(b, textBox(px, py, o.reference?.label ?? '', 11, anchor)))) ?? places[0];
    const [lx, ly, anchor] = clear as [number, number, 'start' | 'end'];
    body += `<text x="${lx}" y="${ly}" text-anchor="${anchor}" fill="#b00">${escapeXml(o.reference.label)}</text>`;
  }
  const legend = o.colourByCategory || o.groups.length <= 1 ? '' : legendOf(o.groups.map((g) => g.name), w, h);
  return frame(w, h, o.title, body, legend);
}
