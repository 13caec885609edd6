// The spool while another process reads it (`petrel queue list` beside a running daemon) or writes
// it (`petrel queue freeze`): every change either applied is still there, and LMDB's free list stays sound. With lmdb-js's
// overlappingSync, a second process opening the environment lost removals and corrupted the free
// list (MDB_BAD_TXN) within a few thousand changes; see store/spool.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Spool } from '../../store/spool.js';
import type { Envelope } from '../../store/envelope.js';
import { testDraft } from '../helpers/envelope.js';

const MESSAGES = 10000;
const ROUNDS = 3;

/** A message to insert (apply computes its size and chunks). */
function envelope(id: string, due: number): Envelope {
  return { ...testDraft({ receivedAt: due }), format: 1, id, size: 0, chunks: 0, due };
}

/**
 * Another process, as the CLI is: `read` opens the spool read-only, counts and closes it, over and
 * over; `write` keeps rewriting the envelopes of the messages whose ids start with W. Prints how
 * many times it did so.
 */
function reader(dir: string, script: string, ms: number, mode: 'read' | 'write'): Promise<{ code: number | null; opens: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, dir, String(ms), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => resolve({ code, opens: Number(out.trim()), stderr }));
  });
}

async function alongside(t: { after: (fn: () => void) => void }, mode: 'read' | 'write'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-spool-readers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'reader.mjs');
  const spoolModule = pathToFileURL(join(import.meta.dirname, '..', '..', 'store', 'spool.js')).href;
  writeFileSync(
    script,
    [
      `import { Spool } from ${JSON.stringify(spoolModule)};`,
      'const [dir, ms, mode] = process.argv.slice(2);',
      'const end = Date.now() + Number(ms);',
      'let opens = 0;',
      "if (mode === 'write') {",
      '  // As petrel queue freeze/retry do beside the daemon: its own messages, rewritten over and over.',
      '  const s = Spool.open(dir);',
      "  const ids = [...s.list()].map((e) => e.id).filter((id) => id.startsWith('W'));",
      '  while (Date.now() < end) {',
      '    opens++;',
      '    await s.apply(ids.map((id) => { const e = s.envelope(id); return { kind: "update", envelope: { ...e, recipients: [{ ...e.recipients[0], attempts: opens }] } }; }));',
      '  }',
      '  await s.close();',
      '} else {',
      '  while (Date.now() < end) {',
      "    const s = Spool.open(dir, { readOnly: true });",
      '    s.count();',
      '    await s.close();',
      '    opens++;',
      '  }',
      '}',
      'console.log(opens);',
    ].join('\n'),
  );
  const spool = Spool.open(join(dir, 'spool'), { lock: true });
  const theirs = Array.from({ length: 50 }, (_, i) => `W${String(i).padStart(6, '0')}`);
  if (mode === 'write') await spool.apply(theirs.map((id, i) => ({ kind: 'insert' as const, envelope: { ...envelope(id, 0), due: undefined }, data: Buffer.from(`message ${id} ${i}\r\n`) })));
  const mine = (): number => spool.count() - (mode === 'write' ? theirs.length : 0);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const ids = Array.from({ length: MESSAGES }, (_, i) => `R${round}M${String(i).padStart(6, '0')}`);
      const base = Date.now();
      for (let i = 0; i < ids.length; i += 200) {
        await spool.apply(ids.slice(i, i + 200).map((id, k) => ({ kind: 'insert' as const, envelope: envelope(id, base + i + k), data: Buffer.alloc(2048, `message ${id}\r\n`) })));
      }
      assert.equal(mine(), MESSAGES);
      const watching = reader(join(dir, 'spool'), script, 2500, mode);
      // As the queue records results: many removals in flight at once, each awaited on its own.
      const pending: Promise<boolean>[] = [];
      for (let i = 0; i < ids.length; i++) {
        pending.push(spool.apply([{ kind: 'remove', id: ids[i] as string, due: base + i }]));
        if (i % 20 === 19) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(pending);
      const r = await watching;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.opens > 50, `the other process went ${r.opens} times`);
      assert.equal(mine(), 0, `round ${round}: every removal kept`);
      if (mode === 'write') {
        for (const id of theirs) assert.equal(spool.envelope(id)?.recipients[0]?.attempts, r.opens, `${id}: the other process's last change kept`);
      }
      assert.equal(spool.dueCount(), 0, `round ${round}: the index too`);
    }
  } finally {
    await spool.close();
  }
  const again = Spool.open(join(dir, 'spool'), { readOnly: true });
  try {
    assert.equal(again.count(), mode === 'write' ? theirs.length : 0, 'and on disk');
  } finally {
    await again.close();
  }
}

test('changes applied while another process opens the spool read-only are all kept', { timeout: 120_000 }, (t) => alongside(t, 'read'));

test('changes applied while another process writes the spool too are all kept, and so are its own', { timeout: 120_000 }, (t) => alongside(t, 'write'));
