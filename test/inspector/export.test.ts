// Check of issue 7: `petrel statechart export` gives, for every machine, valid SVG (parsed as XML,
// every state and transition of the definition drawn) and valid mermaid (stateDiagram-v2, every
// state and transition present); JSON carries the layout; bad names and formats are refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PETREL } from '../helpers/daemon.js';
import { MACHINE_IDS, chartOf } from '../../inspector/machines.js';
import { mermaidId } from '../../inspector/mermaid.js';
import type { LaidOutChart } from '../../inspector/wire.js';
import { checkMermaid, checkXml } from './syntax.js';

function petrel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [PETREL, ...args]);
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'petrel-statechart-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('petrel statechart export', { timeout: 120_000 }, () => {
  it('writes one SVG per machine with --out, each well-formed XML with every state and edge of the definition', async () => {
    const r = await petrel(['statechart', 'export', '--format', 'svg', '--out', join(dir, 'svg')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'svg')).sort(), MACHINE_IDS.map((id) => `${id}.svg`).sort());
    for (const id of MACHINE_IDS) {
      const text = readFileSync(join(dir, 'svg', `${id}.svg`), 'utf8');
      const xml = checkXml(text);
      assert.equal(xml.root, 'svg', id);
      assert.equal(xml.attrs.xmlns, 'http://www.w3.org/2000/svg', id);
      assert.match(xml.attrs.viewBox ?? '', /^0 0 \d+ \d+$/, id);
      const model = chartOf(id).model;
      for (const n of model.nodes) assert.ok(text.includes(`data-state="${n.id}"`), `${id}: state ${n.id} drawn`);
      for (const e of model.edges) assert.ok(text.includes(`data-edge="${e.id}" data-source="${e.source}" data-target="${e.target}"`), `${id}: edge ${e.id} drawn`);
      assert.ok(!/\b(NaN|undefined)\b/.test(text), `${id}: no NaN or undefined coordinates`);
    }
  });

  it('prints one machine to stdout, by id or alias, as SVG, mermaid and JSON', async () => {
    const svg = await petrel(['statechart', 'export', 'session', '--format', 'svg']);
    assert.equal(svg.code, 0, svg.stderr);
    assert.equal(checkXml(svg.stdout).attrs['data-machine'], 'smtp-session');
    const mmd = await petrel(['statechart', 'export', 'smtp-session', '--format', 'mermaid']);
    assert.equal(mmd.code, 0, mmd.stderr);
    assert.match(mmd.stdout, /^stateDiagram-v2\n/);
    const json = await petrel(['statechart', 'export', 'delivery', '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const laid = JSON.parse(json.stdout) as LaidOutChart;
    assert.equal(laid.machine, 'delivery');
    for (const n of laid.nodes) assert.ok(laid.boxes[n.id], `box of ${n.id}`);
    for (const e of laid.edges) assert.ok((laid.paths[e.id]?.length ?? 0) >= 2, `path of ${e.id}`);
  });

  it('writes mermaid for every machine: stateDiagram-v2 statements only, every state and transition present', async () => {
    const r = await petrel(['statechart', 'export', '--format', 'mermaid', '--out', join(dir, 'mmd')]);
    assert.equal(r.code, 0, r.stderr);
    for (const id of MACHINE_IDS) {
      const text = readFileSync(join(dir, 'mmd', `${id}.mmd`), 'utf8');
      const s = checkMermaid(text);
      const model = chartOf(id).model;
      for (const n of model.nodes) {
        if (n.type === 'initial') continue;
        assert.ok(s.states.has(mermaidId(n.id)), `${id}: state ${n.id} declared`);
      }
      const initial = new Set(model.nodes.filter((n) => n.type === 'initial').map((n) => n.id));
      for (const e of model.edges) {
        const from = initial.has(e.source) ? '[*]' : e.source === model.root ? '__any_state' : mermaidId(e.source);
        assert.ok(s.transitions.some((t) => t.from === from && t.to === mermaidId(e.target)), `${id}: transition ${e.source} -> ${e.target} written`);
      }
      for (const n of model.nodes.filter((x) => x.type === 'final')) {
        assert.ok(s.transitions.some((t) => t.from === mermaidId(n.id) && t.to === '[*]'), `${id}: final ${n.id} marked`);
      }
    }
  });

  it('refuses an unknown machine and an unknown format (exit 64), and several machines to stdout', async () => {
    const bad = await petrel(['statechart', 'export', 'nosuch']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /unknown machine "nosuch"/);
    const fmt = await petrel(['statechart', 'export', 'queue', '--format', 'png']);
    assert.equal(fmt.code, 64);
    const many = await petrel(['statechart', 'export', '--format', 'svg']);
    assert.equal(many.code, 64);
  });

  it('the charts shipped in docs/statecharts parse (SVG as XML, mermaid as stateDiagram-v2)', () => {
    const docs = join(PETREL, '..', '..', '..', 'docs', 'statecharts');
    for (const id of MACHINE_IDS) {
      assert.equal(checkXml(readFileSync(join(docs, `${id}.svg`), 'utf8')).root, 'svg', `docs/statecharts/${id}.svg`);
      checkMermaid(readFileSync(join(docs, `${id}.mmd`), 'utf8'));
    }
  });
});
