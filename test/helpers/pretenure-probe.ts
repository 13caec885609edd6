// Test helper, run as its own process: does V8 still pretenure? xstate actors are first kept alive
// across young collections (so V8 may mark their allocation sites for pretenuring), then made and
// dropped one after another; prints how many old-generation collections the short-lived ones
// caused. PROBE_TUNE=1 calls tuneHeap() first.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { assign, createActor, setup } from 'xstate';
import { tuneHeap } from '../../actors/supervisor/heap.js';

if (process.env.PROBE_TUNE === '1') tuneHeap();
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;

const fields = (): { i: number; s: string }[] => Array.from({ length: 50 }, (_, i) => ({ i, s: `f${i}` }));
const machine = setup({}).createMachine({
  context: () => ({ n: 0, fields: fields() }),
  initial: 'a',
  states: {
    a: { on: { GO: { target: 'b', actions: assign(({ context }) => ({ n: context.n + 1, fields: fields() })) } } },
    b: { on: { GO: { target: 'c', actions: assign(() => ({ fields: fields() })) } } },
    c: { on: { GO: 'd' } },
    d: { type: 'final' },
  },
});
const run = (): void => {
  const actor = createActor(machine).start();
  for (let i = 0; i < 3; i++) actor.send({ type: 'GO' });
};

// Phase 1: actors that outlive young collections.
for (let round = 0; round < 10; round++) {
  const live = Array.from({ length: 300 }, () => createActor(machine).start());
  gc({ type: 'minor' });
  for (const a of live) a.send({ type: 'GO' });
  gc({ type: 'minor' });
}

let majors = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
  }
});
obs.observe({ entryTypes: ['gc'] });
// Phase 2: each actor is done before the next starts.
for (let i = 0; i < Number(process.env.PROBE_ACTORS ?? 20_000); i++) run();
await new Promise((r) => setTimeout(r, 50));
obs.disconnect();
process.stdout.write(JSON.stringify({ majors }) + '\n');
