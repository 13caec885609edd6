// The shape every ACL stage of the session shares: decide now when the ACL needs no waiting,
// otherwise wait in the stage's own state for the driver's answer (with a timeout).
import type { AclStage } from './types.js';

type Kind = 'helo' | 'mail' | 'rcpt' | 'data';
type OnAccept = 'acceptHelo' | 'acceptMail' | 'acceptRcpt' | 'beginData';

/** Where an accepted command leads: DATA into receiving, the others back to idle. */
const acceptTarget = (onAccept: OnAccept): 'receiving' | 'idle' => (onAccept === 'beginData' ? 'receiving' : 'idle');

/** Refusing a RCPT still counts it (for DATA's "no valid recipients" reply, RFC 2920 section 3.1). */
const refuseActions = (stage: AclStage) => [
  'applyAcl' as const,
  ...(stage === 'rcpt' ? ['countRcpt' as const] : []),
  { type: 'logAcl' as const, params: stage },
  { type: 'refuse' as const, params: stage },
];

/** The idle state's transitions for one command with an ACL stage. */
export function stageTransitions(kind: Kind, stage: AclStage, onAccept: OnAccept) {
  const now = (result: 'accept' | 'drop' | 'refuse') => ({ type: 'now' as const, params: { kind, stage, result } });
  const target = acceptTarget(onAccept);
  return [
    { guard: now('accept'), target, reenter: true, actions: ['decide' as const, 'applyAcl' as const, { type: 'logAcl' as const, params: stage }, onAccept] },
    { guard: now('drop'), target: 'closing' as const, actions: ['decide' as const, { type: 'logAcl' as const, params: stage }, { type: 'refuse' as const, params: stage }] },
    { guard: now('refuse'), target: 'idle' as const, reenter: true, actions: ['decide' as const, ...refuseActions(stage)] },
    { guard: { type: 'cmd' as const, params: kind }, target: stage, actions: 'decide' as const },
  ];
}

/** The state that waits for the driver to evaluate a stage's ACL. */
export function aclWait(stage: AclStage, onAccept: OnAccept) {
  return {
    entry: { type: 'requestAcl' as const, params: stage },
    on: {
      'ACL.RESULT': [
        { guard: { type: 'answered' as const, params: 'accept' as const }, target: acceptTarget(onAccept), actions: ['applyAcl' as const, { type: 'logAcl' as const, params: stage }, onAccept] },
        { guard: { type: 'answered' as const, params: 'discard' as const }, target: acceptTarget(onAccept), actions: ['applyAcl' as const, { type: 'logAcl' as const, params: stage }, onAccept] },
        { guard: { type: 'answered' as const, params: 'drop' as const }, target: 'closing' as const, actions: [{ type: 'logAcl' as const, params: stage }, { type: 'refuse' as const, params: stage }] },
        { guard: 'current' as const, target: 'idle' as const, actions: refuseActions(stage) },
      ],
      'ACL.FAILED': { guard: 'current' as const, target: 'idle' as const, actions: [...(stage === 'rcpt' ? ['countRcpt' as const] : []), 'aclFailed' as const] },
    },
    after: { aclTimeout: { target: 'idle' as const, actions: 'aclFailed' as const } },
  };
}
