// Guards the layering of bench/scenarios/: no import cycle among its modules (type-only imports and re-exports included).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCENARIOS_DIR = join(REPO, 'bench', 'scenarios');

// `import ... from './x.js'`, `import type ...`, `export ... from`, `import './x.js'`, `import('./x.js')`.
const IMPORT_RE =
  /(?:^|[\n;])\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The modules of bench/scenarios/ each one imports, by file name (comments ignored). */
function scenarioGraph(): Map<string, string[]> {
  const files = readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const src = readFileSync(join(SCENARIOS_DIR, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const deps = new Set<string>();
    for (const m of src.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      const local = /^\.\/([^/]+)\.js$/.exec(spec);
      if (local && files.includes(`${local[1]}.ts`)) deps.add(`${local[1]}.ts`);
    }
    graph.set(f, [...deps].sort());
  }
  return graph;
}

/** One cycle of the graph as a path (first file repeated at the end), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (v: string): string[] | undefined => {
    state.set(v, 'open');
    path.push(v);
    for (const w of graph.get(v) ?? []) {
      if (state.get(w) === 'open') return [...path.slice(path.indexOf(w)), w];
      if (!state.has(w)) {
        const found = visit(w);
        if (found) return found;
      }
    }
    path.pop();
    state.set(v, 'done');
    return undefined;
  };
  for (const v of [...graph.keys()].sort()) {
    if (state.has(v)) continue;
    const found = visit(v);
    if (found) return found;
  }
  return undefined;
}

describe('bench/scenarios imports', () => {
  it('sees type-only imports and the registry importing the scenario modules', () => {
    const graph = scenarioGraph();
    assert.ok(graph.get('index.ts')?.includes('delivery.ts'));
    assert.ok(graph.get('delivery.ts')?.includes('types.ts'));
    assert.deepEqual(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', ['a.ts']]])), ['a.ts', 'b.ts', 'a.ts']);
  });

  it('has no import cycle', () => {
    const cycle = findCycle(scenarioGraph());
    assert.equal(cycle, undefined, `import cycle: ${cycle?.join(' -> ')}`);
  });
});
