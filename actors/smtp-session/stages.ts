// The shape every ACL stage of the session shares: decide now when the ACL needs no waiting,
// otherwise wait in the stage's own state for the driver's answer (with a timeout).
import type { AclStage } from './types.js';

type Kind = 'helo' | 'mail' | 'rcpt' | 'data';

/** Where an accepted command leads: DATA into receiving, the others stay in idle. */
const acceptTarget = (stage: AclStage): 'receiving' | 'idle' => (stage === 'predata' ? 'receiving' : 'idle');

const conclude = (stage: AclStage) => ({ type: 'conclude' as const, params: stage });

/** The idle state's transitions for one command with an ACL stage (targetless when staying in idle). */
export function stageTransitions(kind: Kind, stage: AclStage) {
  const now = (result: 'accept' | 'drop' | 'refuse') => ({ type: 'now' as const, params: { kind, stage, result } });
  const target = acceptTarget(stage);
  return [
    { guard: now('accept'), ...(target === 'receiving' ? { target } : {}), actions: conclude(stage) },
    { guard: now('drop'), target: 'closing' as const, actions: conclude(stage) },
    { guard: now('refuse'), actions: conclude(stage) },
    { guard: { type: 'cmd' as const, params: kind }, target: stage, actions: 'decide' as const },
  ];
}

/** The state that waits for the driver to evaluate a stage's ACL. */
export function aclWait(stage: AclStage) {
  return {
    entry: { type: 'requestAcl' as const, params: stage },
    on: {
      'ACL.RESULT': [
        { guard: { type: 'answered' as const, params: 'accept' as const }, target: acceptTarget(stage), actions: conclude(stage) },
        { guard: { type: 'answered' as const, params: 'discard' as const }, target: acceptTarget(stage), actions: conclude(stage) },
        { guard: { type: 'answered' as const, params: 'drop' as const }, target: 'closing' as const, actions: conclude(stage) },
        { guard: 'current' as const, target: 'idle' as const, actions: conclude(stage) },
      ],
      'ACL.FAILED': { guard: 'current' as const, target: 'idle' as const, actions: [...(stage === 'rcpt' ? ['countRcpt' as const] : []), 'aclFailed' as const] },
    },
    after: { aclTimeout: { target: 'idle' as const, actions: 'aclFailed' as const } },
  };
}
