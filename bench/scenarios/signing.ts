// dkim-sign-relay (issues 5 and 6, Performance): relay-through (accept and relay at once to smtp-sink, timed at
// the sink) by Petrel three times in the same run: unsigned, DKIM-signed with an RSA-2048 key (the worker pool),
// and DKIM-signed plus ARC-sealed (RSA-2048, an Authentication-Results of our ADMD added by the data ACL).
// Target: signed relay keeps >= 60% of the unsigned rate. The isolated pool figures are bench/micro/sign-pool.ts.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { petrelTarget } from '../peers/petrel.js';
import type { PeerTarget } from '../peers/types.js';
import { runDeliveryTarget } from './delivery.js';
import type { ScenarioHooks, ScenarioLoad, ScenarioReport, ScenarioSpec, TargetRun } from './types.js';

/** The ADMD of the bench daemon: authserv-id of the A-R the data ACL adds, and d= of its signatures. */
const ADMD = 'bench.petrel.test';

interface Variant {
  /** Appended to the system's name in the table. */
  readonly suffix: string;
  readonly description: string;
  /** Config keys merged into the relay config (smtp_transport replaced whole: it has no other keys here). */
  config(keys: { rsa: string; arc: string }): Record<string, unknown>;
}

const VARIANTS: readonly Variant[] = [
  { suffix: '', description: 'unsigned', config: () => ({}) },
  {
    suffix: '+dkim-rsa2048',
    description: 'DKIM-signed, RSA-2048 in the worker pool',
    config: (k) => ({ smtp_transport: { dkim_domain: ADMD, dkim_selector: 'bench', dkim_private_key: k.rsa } }),
  },
  {
    suffix: '+dkim+arc',
    description: 'DKIM-signed and ARC-sealed (RSA-2048 each; A-R added by the data ACL)',
    config: (k) => ({
      smtp_transport: { dkim_domain: ADMD, dkim_selector: 'bench', dkim_private_key: k.rsa, arc_sign: `${ADMD} : arc : ${k.arc} : timestamps` },
      acl_smtp_data: `accept\n  add_header = Authentication-Results: ${ADMD}; spf=pass smtp.mailfrom=loadgen.bench.test`,
    }),
  },
];

/** Runs the variants against the Petrel target (other systems have no signing to compare). */
async function runSigningScenario(spec: ScenarioSpec, load: ScenarioLoad, targets: readonly PeerTarget[], hooks: ScenarioHooks): Promise<ScenarioReport> {
  const runs: TargetRun[] = [];
  const petrel = targets.find((t) => t.name === 'petrel' && typeof t.startRelay === 'function');
  if (petrel) {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-bench-keys-'));
    try {
      const keys = { rsa: join(dir, 'dkim-rsa2048.pem'), arc: join(dir, 'arc-rsa2048.pem') };
      for (const file of Object.values(keys)) {
        await writeFile(file, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      }
      const measured: TargetRun[] = [];
      for (let i = 0; i < VARIANTS.length; i++) {
        const v = VARIANTS[i] as Variant;
        const target: PeerTarget = v.suffix === ''
          ? petrel
          : { ...petrel, name: `${petrel.name}${v.suffix}`, description: `${petrel.description}; ${v.description}`, startRelay: (opts) => petrelTarget({ relayConfig: v.config(keys) }).startRelay?.(opts) ?? Promise.reject(new Error('no relay')) };
        // The scenario counts as one run in the bench's time budget: the variants still to come share it.
        const left = VARIANTS.length - i - 1;
        const run = await runDeliveryTarget(spec, load, target, { ...hooks, runsLeft: () => hooks.runsLeft() + left });
        measured.push({ ...run, system: target.name });
        hooks.onEvent?.({ kind: 'done', scenario: spec.name, run });
      }
      // Signed first, unsigned last: the table's ratio column then reads signed/unsigned.
      runs.push(...measured.slice(1), measured[0] as TargetRun);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { name: spec.name, kind: spec.kind, description: spec.description, load, runs };
}

export const SIGNING_SCENARIOS: Readonly<Record<string, ScenarioSpec>> = {
  'dkim-sign-relay': {
    name: 'dkim-sign-relay',
    kind: 'relay',
    description:
      'relay-through (loadgen as in inbound-reuse, relayed at once to smtp-sink) by Petrel unsigned, DKIM-signed (RSA-2048, worker pool), ' +
      'and DKIM-signed plus ARC-sealed; target: signed >= 60% of unsigned',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
    run: runSigningScenario,
  },
};
