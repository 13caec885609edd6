// The machines the inspector draws, named by their ids, the kind of actor that runs each, and
// their charts (built on first use: the definitions do not change while the daemon runs).
import { supervisorMachine } from '../actors/supervisor/machine.js';
import { listenerMachine } from '../actors/listener/machine.js';
import { sessionMachine } from '../actors/smtp-session/machine.js';
import { queueMachine } from '../actors/queue/machine.js';
import { deliveryMachine } from '../actors/delivery/machine.js';
import { spfVerifierMachine } from '../actors/spf-verifier/machine.js';
import { authVerifierMachine } from '../actors/auth-verifier/machine.js';
import { buildChart } from './chart.js';
import type { BuiltChart, MachineLike } from './chart.js';
import type { Kind, MachineInfo } from './wire.js';
import { chartCounts } from './chart.js';

export class UnknownMachineError extends Error {
  readonly code = 'INSPECTOR_UNKNOWN_MACHINE';
  constructor(name: string) {
    super(`unknown machine "${name}" (known: ${MACHINES.map((m) => m.alias ? `${m.id} (${m.alias})` : m.id).join(', ')})`);
    this.name = 'UnknownMachineError';
  }
}

interface Entry {
  readonly id: string;
  readonly kind: Kind;
  readonly alias?: string;
  readonly machine: MachineLike;
}

const MACHINES: readonly Entry[] = [
  { id: 'supervisor', kind: 'supervisor', machine: supervisorMachine as unknown as MachineLike },
  { id: 'listener', kind: 'listener', machine: listenerMachine as unknown as MachineLike },
  { id: 'smtp-session', kind: 'session', alias: 'session', machine: sessionMachine as unknown as MachineLike },
  { id: 'spf-verifier', kind: 'verifier', alias: 'spf', machine: spfVerifierMachine as unknown as MachineLike },
  { id: 'auth-verifier', kind: 'verifier', alias: 'auth', machine: authVerifierMachine as unknown as MachineLike },
  { id: 'queue', kind: 'queue', machine: queueMachine as unknown as MachineLike },
  { id: 'delivery', kind: 'delivery', machine: deliveryMachine as unknown as MachineLike },
];

/** Every machine id, in the order the page and the docs list them. */
export const MACHINE_IDS: readonly string[] = MACHINES.map((m) => m.id);

/** A machine id from its id or alias ("smtp-session" or "session"). */
export function machineId(name: string): string {
  const m = MACHINES.find((x) => x.id === name || x.alias === name);
  if (!m) throw new UnknownMachineError(name);
  return m.id;
}

/** Which machine an actor of this kind runs (verifiers say which one in their description). */
export function machineFor(kind: Kind, info: Readonly<Record<string, unknown>>): string {
  if (kind === 'verifier') return info.verifier === 'spf' ? 'spf-verifier' : 'auth-verifier';
  return MACHINES.find((m) => m.kind === kind)?.id ?? kind;
}

const built = new Map<string, BuiltChart>();

/** The chart of a machine by id. */
export function chartOf(id: string): BuiltChart {
  let c = built.get(id);
  if (!c) {
    const m = MACHINES.find((x) => x.id === id);
    if (!m) throw new UnknownMachineError(id);
    c = buildChart(m.machine, m.kind);
    built.set(id, c);
  }
  return c;
}

export function machineInfos(): MachineInfo[] {
  return MACHINES.map((m) => ({ id: m.id, kind: m.kind, ...(m.alias ? { alias: m.alias } : {}), ...chartCounts(chartOf(m.id).model) }));
}
