// Automatic layout of a chart with ELK (elkjs, layered algorithm, orthogonal edges), run on the
// server: the page and the exported SVG get coordinates, so no layout code goes to the browser.
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { Box, ChartModel, ChartNode, LaidOutChart, Point } from './wire.js';

export class LayoutError extends Error {
  readonly code = 'INSPECTOR_LAYOUT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LayoutError';
  }
}

/** Text metrics of the drawing (svg.ts uses the same): monospace, so widths are known without a browser. */
export const METRICS = {
  titleSize: 13,
  titleChar: 7.9,
  lineSize: 11,
  lineChar: 6.7,
  lineHeight: 14,
  labelSize: 11,
  labelChar: 6.7,
  labelHeight: 14,
  header: 26,
  pad: 10,
} as const;

const textWidth = (lines: readonly string[], char: number): number => Math.max(0, ...lines.map((l) => l.length * char));

function nodeSize(n: ChartNode): { width: number; height: number } {
  const M = METRICS;
  switch (n.type) {
    case 'initial':
      return { width: 14, height: 14 };
    case 'choice':
      return { width: Math.max(64, n.label.length * M.titleChar + 36), height: 38 + n.lines.length * M.lineHeight };
    default: {
      const width = Math.max(90, n.label.length * M.titleChar + 2 * M.pad, textWidth(n.lines, M.lineChar) + 2 * M.pad);
      return { width: Math.ceil(width), height: M.header + n.lines.length * M.lineHeight + (n.lines.length ? M.pad : 4) };
    }
  }
}

type ElkInstance = { layout(graph: ElkNode): Promise<ElkNode> };
let elk: Promise<ElkInstance> | undefined;

/** elkjs is loaded on first use (about 1.5 MB of code): a daemon nobody inspects never loads it. */
async function engine(): Promise<ElkInstance> {
  elk ??= import('elkjs/lib/elk.bundled.js').then((m) => {
    const ELK = (m as unknown as { default: new () => ElkInstance }).default;
    return new ELK();
  });
  return elk;
}

const ROOT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '46',
  'elk.spacing.nodeNode': '34',
  'elk.spacing.edgeNode': '18',
  'elk.spacing.edgeEdge': '12',
  'elk.spacing.edgeLabel': '4',
  'elk.layered.spacing.edgeNodeBetweenLayers': '18',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.padding': '[top=12,left=12,bottom=12,right=12]',
};

function toElk(model: ChartModel): ElkNode {
  const M = METRICS;
  const byParent = new Map<string, ChartNode[]>();
  for (const n of model.nodes) {
    const p = n.parent ?? '';
    byParent.set(p, [...(byParent.get(p) ?? []), n]);
  }
  const build = (n: ChartNode): ElkNode => {
    const kids = byParent.get(n.id) ?? [];
    if (kids.length === 0) return { id: n.id, ...nodeSize(n) };
    const top = M.header + n.lines.length * M.lineHeight + 8;
    return {
      id: n.id,
      layoutOptions: {
        'elk.padding': `[top=${top},left=16,bottom=16,right=16]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${nodeSize(n).width + 20}, ${top + 20})`,
      },
      children: kids.map(build),
    };
  };
  const edges: ElkExtendedEdge[] = model.edges.map((e) => ({
    id: e.id,
    sources: [e.source],
    targets: [e.target],
    labels: e.label.length
      ? [{ id: `${e.id}:label`, text: e.label.join('\n'), width: Math.ceil(textWidth(e.label, M.labelChar) + 8), height: e.label.length * M.labelHeight + 4 }]
      : [],
  }));
  return { id: '(root)', layoutOptions: ROOT_OPTIONS, children: (byParent.get('') ?? []).map(build), edges };
}

/** Lay a chart out; coordinates are absolute, from the top left of the drawing. */
export async function layoutChart(model: ChartModel): Promise<LaidOutChart> {
  let out: ElkNode;
  try {
    out = await (await engine()).layout(toElk(model));
  } catch (e) {
    throw new LayoutError(`layout of ${model.machine} failed: ${(e as Error).message}`, { cause: e });
  }
  const boxes: Record<string, Box> = {};
  const walk = (n: ElkNode): void => {
    for (const c of n.children ?? []) {
      boxes[c.id] = { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 };
      walk(c);
    }
  };
  walk(out);
  const paths: Record<string, Point[]> = {};
  const labels: Record<string, Box> = {};
  const collect = (n: ElkNode): void => {
    for (const e of n.edges ?? []) {
      const points: Point[] = [];
      for (const s of e.sections ?? []) {
        if (points.length === 0) points.push(s.startPoint);
        points.push(...(s.bendPoints ?? []), s.endPoint);
      }
      paths[e.id] = points;
      const l = e.labels?.[0];
      if (l) labels[e.id] = { x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 };
    }
    for (const c of n.children ?? []) collect(c);
  };
  collect(out);
  return { ...model, width: Math.ceil(out.width ?? 0), height: Math.ceil(out.height ?? 0), boxes, paths, labels };
}
