// A flame graph of one CPU profile as plain SVG (no script, nothing fetched), for the offline HTML report.
import { escapeXml } from '../svg.js';
import { groupOf, IDLE, selfTimes, type CpuProfile } from './cpuprofile.js';

/** One frame of the merged call tree: time in microseconds. */
export interface Frame {
  readonly name: string;
  readonly where: string;
  readonly group: string;
  self: number;
  total: number;
  readonly children: Map<string, Frame>;
}

const newFrame = (name: string, where: string, group: string): Frame => ({ name, where, group, self: 0, total: 0, children: new Map() });

/**
 * The call tree with the same function merged among siblings, totals filled in, and the idle time
 * left out (a flame graph shows where the busy time went).
 */
export function callTree(p: CpuProfile): Frame {
  const self = selfTimes(p);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const childIds = new Set(p.nodes.flatMap((n) => n.children ?? []));
  const root = newFrame('all', '', 'all');
  const add = (id: number, into: Frame, depth: number): void => {
    const node = byId.get(id);
    if (!node || depth > 400) return;
    const { functionName, url, lineNumber } = node.callFrame;
    let at = into;
    if (functionName !== '(root)' || url !== '') {
      if (functionName === IDLE && url === '') return;
      const name = functionName || '(anonymous)';
      const where = url === '' ? '' : `${url.split('/').pop() ?? url}:${lineNumber + 1}`;
      const key = `${name}\u0000${url}\u0000${lineNumber}`;
      at = into.children.get(key) ?? newFrame(name, where, groupOf(url, functionName));
      into.children.set(key, at);
    }
    at.self += self.get(id) ?? 0;
    for (const c of node.children ?? []) add(c, at, depth + 1);
  };
  for (const n of p.nodes) if (!childIds.has(n.id)) add(n.id, root, 0);
  const total = (f: Frame): number => {
    f.total = f.self;
    for (const c of f.children.values()) f.total += total(c);
    return f.total;
  };
  total(root);
  return root;
}

/** A stable colour per layer: GC red, native grey, Petrel blues, the rest warm hues by name. */
export function frameColour(group: string): string {
  if (group === '(garbage collector)') return '#e0705c';
  if (group === 'native' || group.startsWith('(')) return '#b9b9b9';
  let h = 0;
  for (let i = 0; i < group.length; i++) h = (h * 31 + group.charCodeAt(i)) >>> 0;
  if (group.startsWith('petrel:')) return `hsl(${200 + (h % 40)}, 60%, ${62 + (h % 12)}%)`;
  if (group.startsWith('node:')) return `hsl(${90 + (h % 50)}, 45%, 60%)`;
  return `hsl(${15 + (h % 45)}, 75%, ${58 + (h % 12)}%)`;
}

export interface FlameOptions {
  readonly title: string;
  readonly width?: number;
  /** Frames narrower than this share of the busy time are left out (default 0.002). */
  readonly minShare?: number;
  /** Deepest row drawn (default 60). */
  readonly maxDepth?: number;
}

const ROW = 16;
const TOP = 24;
const CHAR_PX = 6.2;

/** The flame graph: callers below their callees, each frame as wide as its share of the busy time; hover for figures. */
export function flameGraph(p: CpuProfile, o: FlameOptions): string {
  const width = o.width ?? 1200;
  const minShare = o.minShare ?? 0.002;
  const maxDepth = o.maxDepth ?? 60;
  const root = callTree(p);
  const busy = root.total;
  const rects: { x: number; depth: number; w: number; f: Frame }[] = [];
  let depthSeen = 0;
  const place = (f: Frame, x: number, depth: number): void => {
    const w = busy > 0 ? (f.total / busy) * width : 0;
    if (depth > maxDepth || f.total < busy * minShare) return;
    rects.push({ x, depth, w, f });
    depthSeen = Math.max(depthSeen, depth);
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      place(c, cx, depth + 1);
      cx += busy > 0 ? (c.total / busy) * width : 0;
    }
  };
  place(root, 0, 0);
  const height = TOP + (depthSeen + 1) * ROW + 4;
  const body = rects
    .map(({ x, depth, w, f }) => {
      const y = height - 4 - (depth + 1) * ROW;
      const pct = busy > 0 ? ((f.total / busy) * 100).toFixed(1) : '0';
      const tip = `${f.name}${f.where ? ` (${f.where})` : ''} [${f.group}]: ${(f.total / 1000).toFixed(1)} ms, ${pct}%; own ${(f.self / 1000).toFixed(1)} ms`;
      const fits = Math.floor((w - 4) / CHAR_PX);
      const label = fits >= 3 ? (f.name.length <= fits ? f.name : `${f.name.slice(0, fits - 1)}…`) : '';
      return (
        `<g><title>${escapeXml(tip)}</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${Math.max(0.5, w - 0.5).toFixed(2)}" height="${ROW - 1}" fill="${f === root ? '#d8d8d8' : frameColour(f.group)}"/>` +
        (label ? `<text x="${(x + 2).toFixed(2)}" y="${y + ROW - 4}">${escapeXml(label)}</text>` : '') +
        `</g>`
      );
    })
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="flame" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="10">` +
    `<title>${escapeXml(o.title)}</title>` +
    `<text x="0" y="14" font-size="12" font-weight="600">${escapeXml(o.title)}</text>` +
    body +
    `</svg>`
  );
}
