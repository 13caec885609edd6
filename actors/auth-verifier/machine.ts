// The message verifier actor: at the end of DATA, DKIM (RFC 6376) and ARC (RFC 8617) side by side, the SPF check
// DMARC needs if no ACL made one, then DMARC (RFC 7489). Each wait is bounded by the auth_timeout delay.
import { and, assign, fromPromise, setup } from 'xstate';
import { parseSignature, verifyMessage } from '../../protocol/dkim/index.js';
import type { BodyHashResult, DkimPorts, DkimResult, RawField, VerifyOptions } from '../../protocol/dkim/index.js';
import { eximStatus } from '../../protocol/dkim/index.js';
import { validateChain } from '../../protocol/arc/index.js';
import type { ArcValidation } from '../../protocol/arc/index.js';
import { evaluateDmarc, fromDomain } from '../../protocol/dmarc/index.js';
import type { DmarcInput, DmarcPorts, DmarcResult } from '../../protocol/dmarc/index.js';
import type { SpfPorts, SpfResult } from '../../protocol/spf/index.js';
import type { ArcFacts, AuthFacts, DkimFacts, DmarcFacts } from '../../policy/auth-facts.js';
import { spfVerifierMachine } from '../spf-verifier/machine.js';

export interface AuthVerifierInput {
  /** The header fields as the client sent them (our Received: not included), in order. */
  readonly headers: readonly RawField[];
  /** The body hashes computed while the message streamed in (for DKIM and ARC together). */
  readonly bodyHashes: readonly BodyHashResult[];
  readonly clientIp: string;
  readonly helo: string;
  /** MAIL FROM; "" for the null reverse-path. */
  readonly sender: string;
  /** The MAIL FROM identity's SPF result if an ACL already checked it. */
  readonly spf?: SpfResult;
  /** false: control = dkim_disable_verify. */
  readonly dkim: false | (VerifyOptions & { readonly minimal: boolean });
  readonly arc: boolean;
  /** false: DMARC off (not configured, disabled by control, or an authenticated client). */
  readonly dmarc: false | Pick<DmarcPorts, 'psl' | 'checkNonexistent' | 'random'>;
  readonly ports: DkimPorts & { readonly dns: DmarcPorts['dns'] & DkimPorts['dns']; readonly spf: SpfPorts };
  readonly timeoutMs: number;
}

/** What the verifier found: the facts the session keeps, and the DMARC detail its driver records and reports. */
export interface AuthVerdict {
  readonly facts: AuthFacts;
  readonly dmarc?: { readonly input: DmarcInput; readonly result: DmarcResult };
}

interface Ctx {
  readonly input: AuthVerifierInput;
  readonly dkim?: DkimFacts;
  readonly arc?: ArcFacts;
  readonly spf?: SpfResult;
  readonly dmarc?: { readonly input: DmarcInput; readonly result: DmarcResult };
  readonly dmarcOff: boolean;
}

/** The DKIM result of every signature when verification did not finish: a temporary error each. */
export function unfinishedDkim(headers: readonly RawField[], reason: string, max = 50): DkimFacts {
  const signatures: DkimResult[] = [];
  let all = 0;
  headers.forEach((h, fieldIndex) => {
    if (h.name.trim().toLowerCase() !== 'dkim-signature') return;
    all++;
    if (signatures.length >= max) return;
    const p = parseSignature(typeof h.raw === 'string' ? h.raw : h.raw.toString('latin1'));
    const sig = p.kind === 'ok' ? { domain: p.sig.domain, selector: p.sig.selector, algorithm: p.sig.algorithm } : {};
    signatures.push({ status: 'temperror', code: 'key_temperror', reason, fieldIndex, ...sig, exim: eximStatus('temperror', 'key_temperror') });
  });
  return { signatures, skipped: all - signatures.length };
}

/** dkim_verify_minimal: what follows the first pass is not evaluated (counted as skipped). */
export function minimalDkim(facts: DkimFacts): DkimFacts {
  const first = facts.signatures.findIndex((s) => s.status === 'pass');
  if (first < 0 || first === facts.signatures.length - 1) return facts;
  return { signatures: facts.signatures.slice(0, first + 1), skipped: facts.skipped + facts.signatures.length - first - 1 };
}

export function arcFacts(v: ArcValidation): ArcFacts {
  return {
    state: v.state, code: v.code, reason: v.reason, instances: v.instances, domains: v.domains, sets: v.sets,
    ...(v.state === 'pass' ? { oldestPass: v.oldestPass } : {}),
    ...(v.state === 'fail' && v.failedInstance !== undefined ? { failedInstance: v.failedInstance } : {}),
  };
}

export function dmarcFacts(r: DmarcResult): DmarcFacts {
  return {
    status: r.status, statusText: r.statusText, authResult: r.authResult, fromDomain: r.fromDomain, usedDomain: r.usedDomain,
    domainPolicy: r.domainPolicy, disposition: r.disposition, spfAligned: r.spfAligned, dkimAligned: r.dkimAligned,
  };
}

/** DMARC's inputs (RFC 7489 section 4.2): the From domain, SPF's result for its domain, each signature's d=. */
export function dmarcInput(headers: readonly RawField[], spf: SpfResult | undefined, dkim: DkimFacts | undefined): DmarcInput {
  const fields = headers.map((h) => {
    const text = typeof h.raw === 'string' ? h.raw : h.raw.toString('utf8');
    return { name: h.name, value: text.slice(text.indexOf(':') + 1) };
  });
  return {
    from: fromDomain(fields),
    ...(spf ? { spf: { domain: spf.domain, result: spf.kind, scope: spf.checked.identity === 'helo' ? 'helo' as const : 'mfrom' as const } } : {}),
    dkim: (dkim?.signatures ?? []).filter((s) => s.domain !== undefined)
      .map((s) => ({ domain: s.domain as string, result: s.status, ...(s.selector ? { selector: s.selector } : {}) })),
  };
}

const failedDmarc = (c: Ctx, reason: string): Ctx['dmarc'] => {
  const input = dmarcInput(c.input.headers, c.spf, c.dkim);
  const fromDomainText = typeof input.from === 'string' ? input.from : input.from.kind === 'ok' ? input.from.domain : '';
  return {
    input,
    result: {
      status: 'temperror', statusText: `DMARC evaluation did not finish: ${reason}`, authResult: 'temperror', fromDomain: fromDomainText,
      orgDomain: null, usedDomain: '', domainPolicy: '', spfAligned: false, dkimAligned: false, alignedDkim: [], disposition: 'none',
      pct: 100, sampledOut: false, rua: [], ruf: [], reason,
    },
  };
};

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// What DKIM and ARC find in a message without their fields, known without a child actor or a timer
// (what verifyMessage and validateChain answer for such a message).
const NO_SIGNATURE: DkimFacts = { signatures: [], skipped: 0 };
const NO_CHAIN: ArcFacts = { state: 'none', code: 'no_chain', reason: 'no ARC header fields', instances: 0, domains: [], sets: [] };
const hasField = (headers: readonly RawField[], test: (lowerName: string) => boolean): boolean =>
  headers.some((h) => test(h.name.trim().toLowerCase()));
const isDkimField = (n: string): boolean => n === 'dkim-signature';
const isArcField = (n: string): boolean => n.startsWith('arc-');

export const authVerifierMachine = setup({
  types: {
    input: {} as AuthVerifierInput,
    context: {} as Ctx,
    output: {} as AuthVerdict,
  },
  actors: {
    verifyDkim: fromPromise<DkimFacts, AuthVerifierInput>(async ({ input }) => {
      const opts = input.dkim === false ? {} : input.dkim;
      const v = await verifyMessage(input.headers, input.bodyHashes, input.ports, opts);
      const facts = { signatures: v.signatures, skipped: v.skipped };
      return input.dkim !== false && input.dkim.minimal ? minimalDkim(facts) : facts;
    }),
    validateArc: fromPromise<ArcFacts, AuthVerifierInput>(async ({ input }) => arcFacts(await validateChain(input.headers, input.bodyHashes, input.ports))),
    evaluateDmarc: fromPromise<NonNullable<Ctx['dmarc']>, { input: DmarcInput; ports: DmarcPorts }>(async ({ input }) => ({
      input: input.input,
      result: await evaluateDmarc(input.input, input.ports),
    })),
    spfVerifier: spfVerifierMachine,
  },
  guards: {
    dkimOn: ({ context }) => context.input.dkim !== false,
    unsigned: ({ context }) => !hasField(context.input.headers, isDkimField),
    arcOn: ({ context }) => context.input.arc,
    noChain: ({ context }) => !hasField(context.input.headers, isArcField),
    spfNeeded: ({ context }) => context.input.dmarc !== false && context.spf === undefined,
    dmarcOn: ({ context }) => context.input.dmarc !== false,
  },
  delays: {
    authTimeout: ({ context }) => context.input.timeoutMs,
  },
}).createMachine({
  id: 'auth-verifier',
  context: ({ input }) => ({ input, dmarcOff: input.dmarc === false, ...(input.spf ? { spf: input.spf } : {}) }),
  initial: 'checking',
  states: {
    checking: {
      type: 'parallel',
      onDone: 'dmarc',
      states: {
        dkim: {
          initial: 'start',
          states: {
            start: {
              always: [
                { guard: and(['dkimOn', 'unsigned']), target: 'finished', actions: assign({ dkim: NO_SIGNATURE }) },
                { guard: 'dkimOn', target: 'verifying' },
                { target: 'finished' },
              ],
            },
            verifying: {
              invoke: {
                src: 'verifyDkim',
                input: ({ context }) => context.input,
                onDone: { target: 'finished', actions: assign({ dkim: ({ event }) => event.output }) },
                onError: { target: 'finished', actions: assign({ dkim: ({ context, event }) => unfinishedDkim(context.input.headers, `DKIM verification failed: ${errorText(event.error)}`) }) },
              },
              after: { authTimeout: { target: 'finished', actions: assign({ dkim: ({ context }) => unfinishedDkim(context.input.headers, 'DKIM verification timed out') }) } },
            },
            finished: { type: 'final' },
          },
        },
        arc: {
          initial: 'start',
          states: {
            start: {
              always: [
                { guard: and(['arcOn', 'noChain']), target: 'finished', actions: assign({ arc: NO_CHAIN }) },
                { guard: 'arcOn', target: 'validating' },
                { target: 'finished' },
              ],
            },
            validating: {
              invoke: {
                src: 'validateArc',
                input: ({ context }) => context.input,
                onDone: { target: 'finished', actions: assign({ arc: ({ event }) => event.output }) },
                onError: { target: 'finished', actions: assign({ arc: ({ event }) => ({ state: 'fail' as const, code: 'key' as const, reason: `ARC validation failed: ${errorText(event.error)}`, instances: 0, domains: [], sets: [] }) }) },
              },
              after: { authTimeout: { target: 'finished', actions: assign({ arc: () => ({ state: 'fail' as const, code: 'key' as const, reason: 'ARC validation timed out', instances: 0, domains: [], sets: [] }) }) } },
            },
            finished: { type: 'final' },
          },
        },
        spf: {
          initial: 'start',
          states: {
            start: { always: [{ guard: 'spfNeeded', target: 'checking' }, { target: 'finished' }] },
            // The SPF verifier is a child actor with its own timeout: it always finishes with a result.
            checking: {
              invoke: {
                src: 'spfVerifier',
                input: ({ context }) => ({
                  identity: 'mailfrom' as const, ip: context.input.clientIp, helo: context.input.helo, sender: context.input.sender,
                  ports: context.input.ports.spf, timeoutMs: context.input.timeoutMs,
                }),
                onDone: { target: 'finished', actions: assign({ spf: ({ event }) => event.output }) },
              },
            },
            finished: { type: 'final' },
          },
        },
      },
    },
    dmarc: {
      initial: 'start',
      states: {
        start: { always: [{ guard: 'dmarcOn', target: 'evaluating' }, { target: '#auth-verifier.done' }] },
        evaluating: {
          invoke: {
            src: 'evaluateDmarc',
            input: ({ context }) => ({
              input: dmarcInput(context.input.headers, context.spf, context.dkim),
              ports: { dns: context.input.ports.dns, ...(context.input.dmarc === false ? { random: Math.random } : context.input.dmarc) },
            }),
            onDone: { target: '#auth-verifier.done', actions: assign({ dmarc: ({ event }) => event.output }) },
            onError: { target: '#auth-verifier.done', actions: assign({ dmarc: ({ context, event }) => failedDmarc(context, errorText(event.error)) }) },
          },
          after: { authTimeout: { target: '#auth-verifier.done', actions: assign({ dmarc: ({ context }) => failedDmarc(context, 'timed out') }) } },
        },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => {
    const facts: AuthFacts = {
      ...(context.spf ? { spf: context.spf } : {}),
      ...(context.dkim ? { dkim: context.dkim } : {}),
      ...(context.arc ? { arc: context.arc } : {}),
      ...(context.dmarc ? { dmarc: dmarcFacts(context.dmarc.result) } : {}),
    };
    return { facts, ...(context.dmarc ? { dmarc: context.dmarc } : {}) };
  },
});
