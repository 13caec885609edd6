// tuneHeap() (actors/supervisor/heap.ts): with pretenuring off, short-lived actors die in the young generation
// instead of filling the old one. Each probe runs in a process of its own: V8 flags are process-wide.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const probe = fileURLToPath(new URL('../../helpers/pretenure-probe.js', import.meta.url));

async function majors(tune: boolean): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [probe], {
    env: { ...process.env, PROBE_TUNE: tune ? '1' : '0' },
    timeout: 60_000,
  });
  return (JSON.parse(stdout) as { majors: number }).majors;
}

test('with tuneHeap(), 20,000 short-lived actors need no old-generation collection, even after actors outlived young ones', async () => {
  const [untuned, tuned] = await Promise.all([majors(false), majors(true)]);
  // Untuned, V8 has pretenured xstate's allocation sites by then (7 major collections here).
  assert.ok(untuned >= 3, `the probe should show the problem untuned: ${untuned} major collections`);
  assert.ok(tuned <= 1, `tuned: ${tuned} major collections, untuned: ${untuned}`);
});
