// A laid-out chart as a standalone SVG document: states as boxes (nested, final, choice, initial
// dot), edges as arrows with their labels; data-state / data-edge attributes let the page light them.
import { METRICS } from './layout.js';
import type { Box, ChartEdge, ChartNode, LaidOutChart, Point } from './wire.js';

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const n2 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Styles inside the document, so that an exported chart looks the same anywhere. */
const STYLE = `
.chart { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.state > rect.box { fill: #ffffff; stroke: #4f5d75; stroke-width: 1.2; }
.state.compound > rect.box, .state.parallel > rect.box { fill: #f4f6f9; stroke: #8592a6; }
.state.region > rect.box { stroke-dasharray: 5 4; }
.state.final > rect.inner { fill: none; stroke: #4f5d75; stroke-width: 1.2; }
.state .title { font-size: ${METRICS.titleSize}px; font-weight: 700; fill: #1d2533; }
.state .line { font-size: ${METRICS.lineSize}px; fill: #4a5568; }
.state .rule { stroke: #d0d6e0; }
.state.initial > circle { fill: #1d2533; }
.state.choice > polygon { fill: #fff8e6; stroke: #b7791f; stroke-width: 1.2; }
.edge > path { fill: none; stroke: #718096; stroke-width: 1.2; }
.edge.after > path { stroke-dasharray: 6 3; }
.edge.always > path { stroke: #805ad5; }
.edge .label rect { fill: #ffffff; fill-opacity: 0.85; }
.edge .label text { font-size: ${METRICS.labelSize}px; fill: #2d3748; }
.state.lit > rect.box, .state.lit > polygon { fill: #c6f6d5; stroke: #2f855a; stroke-width: 2.5; }
.state.before > rect.box { stroke: #dd6b20; stroke-width: 2.5; stroke-dasharray: 4 2; }
.state.visited > rect.box { fill: #f0fff4; }
.edge.taken > path { stroke: #2f855a; stroke-width: 2.6; }
.edge.taken .label text { fill: #22543d; font-weight: 700; }
`;

function textLines(x: number, y: number, lines: readonly string[], cls: string, lineHeight: number, anchor = 'start'): string {
  return lines
    .map((l, i) => `<text class="${cls}" x="${n2(x)}" y="${n2(y + i * lineHeight)}" text-anchor="${anchor}" xml:space="preserve">${esc(l)}</text>`)
    .join('');
}

function title(lines: readonly string[]): string {
  return lines.length ? `<title>${esc(lines.join('\n'))}</title>` : '';
}

function drawNode(n: ChartNode, b: Box, parentType: string | undefined): string {
  const M = METRICS;
  const attrs = `data-state="${esc(n.id)}"`;
  if (n.type === 'initial') {
    return `<g class="state initial" ${attrs}><circle cx="${n2(b.x + b.width / 2)}" cy="${n2(b.y + b.height / 2)}" r="${n2(b.width / 2)}"/></g>`;
  }
  if (n.type === 'choice') {
    const cx = b.x + b.width / 2;
    const cy = b.y + 19;
    const pts = [[cx, cy - 18], [b.x + b.width, cy], [cx, cy + 18], [b.x, cy]].map(([x, y]) => `${n2(x as number)},${n2(y as number)}`).join(' ');
    return `<g class="state choice" ${attrs}>${title([`${n.label}?`, ...n.detail])}<polygon points="${pts}"/>` +
      textLines(cx, cy + 4, [n.label], 'title', M.lineHeight, 'middle') + textLines(cx, b.y + 38 + M.lineHeight - 3, n.lines, 'line', M.lineHeight, 'middle') + '</g>';
  }
  const compound = n.type === 'compound' || n.type === 'parallel';
  const region = parentType === 'parallel' ? ' region' : '';
  let s = `<g class="state ${n.type}${region}" ${attrs}>${title([n.id, ...n.detail])}`;
  s += `<rect class="box" x="${n2(b.x)}" y="${n2(b.y)}" width="${n2(b.width)}" height="${n2(b.height)}" rx="8" ry="8"/>`;
  if (n.type === 'final') s += `<rect class="inner" x="${n2(b.x + 3)}" y="${n2(b.y + 3)}" width="${n2(b.width - 6)}" height="${n2(b.height - 6)}" rx="6" ry="6"/>`;
  const label = n.type === 'parallel' ? `${n.label} (parallel)` : n.label;
  s += compound
    ? textLines(b.x + M.pad, b.y + 18, [label], 'title', M.lineHeight)
    : textLines(b.x + b.width / 2, b.y + 18, [label], 'title', M.lineHeight, 'middle');
  if (n.lines.length) {
    s += `<line class="rule" x1="${n2(b.x)}" y1="${n2(b.y + M.header)}" x2="${n2(b.x + b.width)}" y2="${n2(b.y + M.header)}"/>`;
    s += textLines(b.x + M.pad, b.y + M.header + M.lineHeight - 1, n.lines, 'line', M.lineHeight);
  }
  return `${s}</g>`;
}

/** A polyline with slightly rounded corners. */
function pathData(points: readonly Point[]): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points as [Point, ...Point[]];
  let d = `M${n2(first.x)},${n2(first.y)}`;
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i] as Point;
    const prev = (i === 0 ? first : rest[i - 1]) as Point;
    const next = rest[i + 1];
    if (!next) {
      d += ` L${n2(p.x)},${n2(p.y)}`;
      continue;
    }
    const r = Math.min(6, Math.hypot(p.x - prev.x, p.y - prev.y) / 2, Math.hypot(next.x - p.x, next.y - p.y) / 2);
    const ax = p.x - Math.sign(p.x - prev.x) * r;
    const ay = p.y - Math.sign(p.y - prev.y) * r;
    const bx = p.x + Math.sign(next.x - p.x) * r;
    const by = p.y + Math.sign(next.y - p.y) * r;
    d += ` L${n2(ax)},${n2(ay)} Q${n2(p.x)},${n2(p.y)} ${n2(bx)},${n2(by)}`;
  }
  return d;
}

function drawEdge(e: ChartEdge, points: readonly Point[], label: Box | undefined): string {
  const M = METRICS;
  let s = `<g class="edge ${e.kind}" data-edge="${esc(e.id)}" data-source="${esc(e.source)}" data-target="${esc(e.target)}">${title(e.detail)}`;
  s += `<path d="${pathData(points)}" marker-end="url(#arrow)"/>`;
  if (label && e.label.length) {
    s += `<g class="label"><rect x="${n2(label.x)}" y="${n2(label.y)}" width="${n2(label.width)}" height="${n2(label.height)}" rx="3" ry="3"/>`;
    s += textLines(label.x + 4, label.y + M.labelHeight - 2, e.label, '', M.labelHeight) + '</g>';
  }
  return `${s}</g>`;
}

/** The SVG document of a laid-out chart. */
export function renderSvg(c: LaidOutChart): string {
  const typeOf = new Map(c.nodes.map((n) => [n.id, n.type]));
  const depth = (n: ChartNode): number => {
    let d = 0;
    let p = n.parent;
    while (p) {
      d++;
      p = c.nodes.find((x) => x.id === p)?.parent;
    }
    return d;
  };
  // Outer states first, so that inner ones are drawn on top of them; edges over every state.
  const ordered = [...c.nodes].sort((a, b) => depth(a) - depth(b));
  const nodes = ordered
    .map((n) => {
      const b = c.boxes[n.id];
      return b ? drawNode(n, b, n.parent ? typeOf.get(n.parent) : undefined) : '';
    })
    .join('\n');
  const edges = c.edges.map((e) => drawEdge(e, c.paths[e.id] ?? [], c.labels[e.id])).join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-machine="${esc(c.machine)}" data-kind="${c.kind}" width="${c.width}" height="${c.height}" viewBox="0 0 ${c.width} ${c.height}">`,
    `<title>${esc(`${c.machine} state chart`)}</title>`,
    `<style>${STYLE}</style>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#718096"/></marker></defs>',
    `<rect x="0" y="0" width="${c.width}" height="${c.height}" fill="#ffffff"/>`,
    `<g class="states">\n${nodes}\n</g>`,
    `<g class="edges">\n${edges}\n</g>`,
    '</svg>',
    '',
  ].join('\n');
}
