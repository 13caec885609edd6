// The SPF verifier actor (RFC 7208): one check_host() for the MAIL FROM or HELO identity, bounded by a timeout.
import { assign, fromPromise, setup } from 'xstate';
import { checkHost, splitSender } from '../../protocol/spf/index.js';
import type { SpfPorts, SpfResult } from '../../protocol/spf/index.js';

export interface SpfVerifierInput {
  readonly identity: 'mailfrom' | 'helo';
  readonly ip: string;
  readonly helo: string;
  /** The MAIL FROM address; "" for the null reverse-path (then the HELO identity is what gets checked). */
  readonly sender: string;
  readonly ports: SpfPorts;
  readonly timeoutMs: number;
}

interface Ctx {
  readonly input: SpfVerifierInput;
  readonly result?: SpfResult;
}

/**
 * The check_host() arguments for an identity (sections 2.3 and 2.4): HELO checks postmaster@<helo> at the HELO
 * name; MAIL FROM checks the sender at its domain, or the HELO identity for a null reverse-path.
 */
export function spfArguments(i: Pick<SpfVerifierInput, 'identity' | 'helo' | 'sender'>): { domain: string; sender: string; identity: 'mailfrom' | 'helo' } {
  if (i.identity === 'helo' || i.sender === '') {
    return { domain: i.helo, sender: `postmaster@${i.helo}`, identity: i.identity };
  }
  return { domain: splitSender(i.sender, i.helo).domain, sender: i.sender, identity: 'mailfrom' };
}

/** The result given when the check did not finish: a temporary error, as DNS trouble is (section 2.6.6). */
function unfinished(i: SpfVerifierInput, reason: string): SpfResult {
  const a = spfArguments(i);
  return {
    kind: 'temperror',
    domain: a.domain,
    reason,
    checked: { ip: i.ip, sender: a.sender, helo: i.helo, receiver: i.ports.receiver, identity: i.identity },
  };
}

export const spfVerifierMachine = setup({
  types: {
    input: {} as SpfVerifierInput,
    context: {} as Ctx,
    output: {} as SpfResult,
  },
  actors: {
    checkHost: fromPromise<SpfResult, SpfVerifierInput>(({ input }) => {
      const a = spfArguments(input);
      return checkHost({ ip: input.ip, domain: a.domain, sender: a.sender, helo: input.helo, identity: a.identity }, input.ports);
    }),
  },
  delays: {
    spfTimeout: ({ context }) => context.input.timeoutMs,
  },
}).createMachine({
  id: 'spf-verifier',
  context: ({ input }) => ({ input }),
  initial: 'checking',
  states: {
    checking: {
      invoke: {
        src: 'checkHost',
        input: ({ context }) => context.input,
        onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output }) },
        onError: {
          target: 'done',
          actions: assign({ result: ({ context, event }) => unfinished(context.input, `SPF check failed: ${String((event.error as Error)?.message ?? event.error)}`) }),
        },
      },
      after: {
        spfTimeout: { target: 'done', actions: assign({ result: ({ context }) => unfinished(context.input, 'SPF check timed out') }) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.result ?? unfinished(context.input, 'SPF check did not run'),
});
