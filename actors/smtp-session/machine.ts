// The smtp-session actor: one per connection, driving RFC 5321's states, ACL stages and the spool commit.
import { assign, emit, enqueueActions, setup } from 'xstate';
import { formatReply } from '../../protocol/smtp/reply.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import { NOTHING_OFFERED } from '../../protocol/smtp/sequencer.js';
import type { Decision } from '../../protocol/smtp/sequencer.js';
import type { SessionEmitted, SessionEvent } from '../events.js';
import {
  R, aclRequest, arrivalLog, decisionOf, emptyTransaction, envelopeDraft, hasControl, initialContext, inlineOutcome, mustVerify, reply,
  unverifiedFacts, verdictClass,
} from './context.js';
import type { VerdictClass } from './context.js';
import type { AclStage, SessionContext, SessionInput } from './types.js';
import { aclWait, stageTransitions } from './stages.js';
import { conclude } from './conclude.js';

type Ctx = SessionContext;
type Level = 'debug' | 'info' | 'warn' | 'error';

/** Wire text of a reply, with enhanced codes for EHLO clients (RFC 2034). */
const wire = (c: Ctx, r: Reply): SessionEmitted => ({ type: 'reply', text: formatReply(r, c.session.greeting === 'ehlo') });

const PIPELINABLE = new Set(['MAIL', 'RCPT', 'RSET', 'QUIT']);

const nothingToStore = (c: Ctx): boolean => c.tx.recipients.length === 0 || c.tx.discardAll === true;

/**
 * Why a command ends the session instead of being answered: input before the banner, input
 * pipelined where RFC 2920 does not allow it, a shutdown, or one error too many; null if none.
 */
function closeCause(c: Ctx, e: SessionEvent): 'early' | 'sync' | 'shutdown' | 'errors' | null {
  if (e.type !== 'SMTP.COMMAND') return null;
  if (e.early) return 'early';
  if (c.session.shuttingDown) return 'shutdown';
  if (e.pipelined) {
    if (!c.session.offer.pipelining) return 'sync';
    // RFC 2920 section 3.1: only these may be followed by more commands in the same group;
    // unknown and malformed lines are counted as errors instead.
    if (e.command.kind === 'command' && !PIPELINABLE.has(e.command.verb)) return 'sync';
  }
  const d = decisionOf(c, e);
  if (d?.kind === 'reply') {
    if (d.error === 'syntax' && c.session.synprotErrors + 1 > c.settings.maxSynprotErrors) return 'errors';
    if (d.error === 'unknown' && c.session.unknownCommands + 1 > c.settings.maxUnknownCommands) return 'errors';
  }
  return null;
}

/**
 * How the content is answered once its facts are known (at DATA.END, or at VERIFY.DONE after verification):
 * at once when the data ACL needs no waiting, else in dataAcl.
 */
const DATA_DECIDED = [
  { guard: { type: 'dataNow', params: 'empty' }, target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardAll'] },
  { guard: { type: 'dataNow', params: 'accept' }, target: 'committing', actions: { type: 'conclude', params: 'data' } },
  { guard: { type: 'dataNow', params: 'discard' }, target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardAll'] },
  { guard: { type: 'dataNow', params: 'drop' }, target: 'closing', actions: [{ type: 'conclude', params: 'data' }, 'discardData'] },
  { guard: { type: 'dataNow', params: 'refuse' }, target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardData', 'resetTransaction'] },
  { guard: 'factsFresh', target: 'dataAcl', actions: 'keepData' },
] as const;

export const sessionMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  delays: {
    aclTimeout: ({ context }) => context.settings.timeouts.acl,
    tlsTimeout: ({ context }) => context.settings.timeouts.tlsHandshake,
    verifyTimeout: ({ context }) => context.settings.timeouts.verify,
  },
  guards: {
    idleShutdown: ({ context }) => context.tx.sender === undefined,
    /** The command ends the session instead of being answered (see closeCause). */
    mustClose: ({ context, event }) => closeCause(context, event) !== null,
    cmd: ({ context, event }, kind: Decision['kind']) => closeCause(context, event) === null && decisionOf(context, event)?.kind === kind,
    /** The command's stage can be decided now (no ACL, or one that needs no waiting) with this result. */
    now: ({ context, event }, p: { kind: Decision['kind']; stage: AclStage; result: VerdictClass }) => {
      if (decisionOf(context, event)?.kind !== p.kind || closeCause(context, event) !== null) return false;
      const o = inlineOutcome(context, event, p.stage);
      if (o === null) return false;
      const c = verdictClass(o);
      return c === p.result || (p.result === 'accept' && c === 'discard' && p.stage !== 'data');
    },
    connectNow: ({ context, event }, result: VerdictClass) => {
      const o = inlineOutcome(context, event, 'connect');
      if (o === null) return false;
      const c = verdictClass(o);
      return c === result || (result === 'accept' && c === 'discard');
    },
    dataNow: ({ context, event }, result: VerdictClass | 'empty') => {
      if (event.type !== 'DATA.END' && !(event.type === 'VERIFY.DONE' && event.seq === context.aclSeq)) return false;
      const o = inlineOutcome(context, event, 'data');
      if (o === null) return false;
      if (result === 'empty') return verdictClass(o) === 'accept' && nothingToStore(context);
      return verdictClass(o) === result;
    },
    /** An answer to the ACL request in flight (a late answer to an abandoned one is ignored). */
    current: ({ context, event }) => (event.type === 'ACL.RESULT' || event.type === 'ACL.FAILED' || event.type === 'VERIFY.DONE' || event.type === 'VERIFY.FAILED') && event.seq === context.aclSeq,
    /** The event brings the message's facts: its end, or the verifier's answer to the request in flight. */
    factsFresh: ({ context, event }) => event.type === 'DATA.END' || (event.type === 'VERIFY.DONE' && event.seq === context.aclSeq),
    /** The message needs the verifier (DKIM or ARC fields, or DMARC to evaluate) before its data ACL. */
    mustVerify: ({ context, event }) => event.type === 'DATA.END' && mustVerify(context, event.summary),
    answered: ({ context, event }, result: VerdictClass | 'empty') => {
      if (event.type !== 'ACL.RESULT' || event.seq !== context.aclSeq) return false;
      const c = verdictClass(event.outcome);
      if (result === 'empty') return c === 'accept' && nothingToStore(context);
      return c === result;
    },
    dataTooBig: ({ event }) => event.type === 'DATA.END' && event.summary.tooBig,
    headersTooBig: ({ event }) => event.type === 'DATA.END' && event.summary.headers === 'tooBig',
    bareNewline: ({ context, event }) => event.type === 'DATA.END' && event.summary.bareNewline && context.settings.bareNewline === 'reject',
    longLine: ({ event }) => event.type === 'DATA.END' && event.summary.longLine,
  },
  actions: {
    say: emit(({ context }, r: Reply) => wire(context, r)),
    close: emit({ type: 'close' } as const),
    discardData: emit({ type: 'discardData' } as const),
    log: emit((_, p: { level: Level; msg: string }) => ({ type: 'log' as const, level: p.level, msg: p.msg, fields: {} })),
    decide: assign(({ context, event }) => ({ decision: decisionOf(context, event) })),
    answerDecision: enqueueActions(({ context, event, enqueue }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'reply') return;
      const s = context.session;
      if (d.error === 'syntax') enqueue.assign({ session: { ...s, synprotErrors: s.synprotErrors + 1 } });
      if (d.error === 'unknown') enqueue.assign({ session: { ...s, unknownCommands: s.unknownCommands + 1 } });
      enqueue.emit(wire(context, d.reply));
      if (d.error) {
        const line = event.type === 'SMTP.COMMAND' ? event.command.line : '';
        enqueue.emit({ type: 'log', level: 'info', msg: `SMTP ${d.error} error: "${line}" -> ${d.reply.code} ${d.reply.lines[0] ?? ''}`, fields: { event: 'protocol-error' } });
      }
    }),
    closeForCause: enqueueActions(({ context, event, enqueue }) => {
      const cause = closeCause(context, event);
      const d = decisionOf(context, event);
      switch (cause) {
        case 'early':
          enqueue.emit(wire(context, R.syncError));
          enqueue.emit({ type: 'log', level: 'warn', msg: 'SMTP protocol synchronization error (input sent without waiting for greeting)', fields: { event: 'sync-error' } });
          return;
        case 'sync':
          enqueue.emit(wire(context, R.syncError));
          enqueue.emit({ type: 'log', level: 'warn', msg: 'SMTP protocol synchronization error (next input sent too soon: pipelining was not offered or not allowed here)', fields: { event: 'sync-error' } });
          return;
        case 'shutdown':
          enqueue.emit(wire(context, R.shuttingDown(context.settings.hostname)));
          return;
        case 'errors':
          if (d?.kind !== 'reply') return;
          enqueue.emit(wire(context, d.reply));
          enqueue.emit(wire(context, d.error === 'unknown' ? R.tooManyUnknown : R.tooManyErrors));
          enqueue.emit({ type: 'log', level: 'warn', msg: `too many ${d.error === 'unknown' ? 'unrecognized commands' : 'syntax or protocol errors'}; connection dropped`, fields: { event: 'drop' } });
          return;
      }
    }),
    markShutdown: assign(({ context }) => ({ session: { ...context.session, shuttingDown: true } })),
    resetTransaction: assign(() => ({ tx: emptyTransaction() })),
    conclude: enqueueActions(({ context, event, enqueue }, stage: AclStage) => {
      const r = conclude(context, event, stage);
      enqueue.assign(r.update);
      for (const e of r.emits) enqueue.emit(e);
    }),
    requestAcl: enqueueActions(({ context, enqueue }, stage: AclStage) => {
      const seq = context.aclSeq + 1;
      enqueue.assign({ aclSeq: seq });
      enqueue.emit({ type: 'acl', seq, request: aclRequest(context, stage) });
    }),
    aclFailed: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit(wire(context, R.localError));
      const why = event.type === 'ACL.FAILED' ? event.error : 'timed out';
      enqueue.emit({ type: 'log', level: 'error', msg: `ACL evaluation failed: ${why}`, fields: { event: 'acl-error' } });
    }),
    countRcpt: assign(({ context }) => ({ tx: { ...context.tx, rcptCommands: context.tx.rcptCommands + 1 } })),
    keepData: assign(({ context, event }) => {
      if (event.type === 'VERIFY.DONE') return { tx: { ...context.tx, auth: Object.assign({}, context.tx.auth, event.facts) } };
      if (event.type !== 'DATA.END') return {};
      // Going on to the verifier: its findings come later. Otherwise the facts are already known.
      const verify = mustVerify(context, event.summary);
      return { tx: { ...context.tx, data: event.summary, ...(verify ? {} : { auth: Object.assign({}, context.tx.auth, unverifiedFacts(context)) }) } };
    }),
    requestVerify: enqueueActions(({ context, enqueue }) => {
      const seq = context.aclSeq + 1;
      const { tx, session } = context;
      enqueue.assign({ aclSeq: seq });
      enqueue.emit({
        type: 'verify',
        seq,
        ask: {
          messageId: tx.messageId ?? '',
          receivedAt: tx.receivedAt,
          recipients: tx.recipients.map((r) => `${r.mailbox.local}@${r.mailbox.domain}`),
          helo: session.heloName,
          sender: tx.sender ? `${tx.sender.local}@${tx.sender.domain}` : '',
          ...(tx.auth?.spf ? { spf: tx.auth.spf } : {}),
          dkimDisabled: hasControl(context, 'dkim_disable_verify'),
          dmarcDisabled: hasControl(context, 'dmarc_disable_verify'),
          authenticated: session.authenticatedId !== undefined,
          forensic: hasControl(context, 'dmarc_enable_forensic'),
        },
      });
    }),
    verifyFailed: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit({ type: 'discardData' });
      enqueue.emit(wire(context, R.localError));
      const why = event.type === 'VERIFY.FAILED' ? event.error : 'timed out';
      enqueue.emit({ type: 'log', level: 'error', msg: `message verification failed: ${why}`, fields: { event: 'verify-error', id: context.tx.messageId } });
      enqueue.assign({ tx: emptyTransaction() });
    }),
    requestCommit: emit(({ context }) => ({
      type: 'commit' as const, draft: envelopeDraft(context), hold: hasControl(context, 'queue_only') || hasControl(context, 'freeze'),
    })),
    committed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SPOOL.COMMITTED') return;
      enqueue.emit(wire(context, reply(250, '2.0.0', `OK id=${event.envelope.id}`)));
      if (context.settings.logArrivals) enqueue.emit(arrivalLog(context, event.envelope));
      enqueue.assign({ tx: emptyTransaction(), session: { ...context.session, messages: context.session.messages + 1 } });
    }),
    commitFailed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SPOOL.FAILED') return;
      enqueue.emit({ type: 'discardData' });
      enqueue.emit(wire(context, R.localError));
      enqueue.emit({ type: 'log', level: 'error', msg: `spool commit failed: ${event.error}`, fields: { event: 'spool-error', id: context.tx.messageId } });
      enqueue.assign({ tx: emptyTransaction() });
    }),
    discardAll: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'discardData' });
      enqueue.emit(wire(context, reply(250, '2.0.0', 'OK (discarded)')));
      enqueue.emit({ type: 'log', level: 'info', msg: `message ${context.tx.messageId ?? ''} discarded by ACL`, fields: { event: 'discard' } });
      enqueue.assign({ tx: emptyTransaction() });
    }),
  },
}).createMachine({
  id: 'smtp-session',
  context: ({ input }) => initialContext(input),
  initial: 'greeting',
  on: {
    'SOCKET.CLOSED': { target: '.done' },
    'SESSION.SHUTDOWN': { actions: 'markShutdown' },
  },
  states: {
    greeting: {
      always: [
        { guard: { type: 'connectNow', params: 'accept' }, target: 'idle', actions: { type: 'conclude', params: 'connect' } },
        { guard: { type: 'connectNow', params: 'drop' }, target: 'closing', actions: { type: 'conclude', params: 'connect' } },
        { guard: { type: 'connectNow', params: 'refuse' }, target: 'closing', actions: { type: 'conclude', params: 'connect' } },
        { target: 'connect' },
      ],
    },
    connect: {
      entry: { type: 'requestAcl', params: 'connect' },
      on: {
        'ACL.RESULT': [
          { guard: { type: 'answered', params: 'accept' }, target: 'idle', actions: { type: 'conclude', params: 'connect' } },
          { guard: { type: 'answered', params: 'discard' }, target: 'idle', actions: { type: 'conclude', params: 'connect' } },
          { guard: 'current', target: 'closing', actions: { type: 'conclude', params: 'connect' } },
        ],
        'ACL.FAILED': { guard: 'current', target: 'closing', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'closing', actions: 'aclFailed' } },
    },
    idle: {
      tags: ['awaitCommand'],
      on: {
        'SOCKET.TIMEOUT': { target: 'closing', actions: [{ type: 'say', params: ({ context }) => R.timeout(context.settings.hostname) }, { type: 'log', params: { level: 'info', msg: 'SMTP command timeout' } }] },
        'SMTP.COMMAND': [
          // Ordered by how often they are taken: the mail transaction first.
          ...stageTransitions('rcpt', 'rcpt'),
          ...stageTransitions('mail', 'mail'),
          ...stageTransitions('data', 'predata'),
          { guard: 'mustClose', target: 'closing', actions: 'closeForCause' },
          { guard: { type: 'cmd', params: 'reply' }, actions: ['decide', 'answerDecision'] },
          ...stageTransitions('helo', 'helo'),
          { guard: { type: 'cmd', params: 'rset' }, actions: ['resetTransaction', { type: 'say', params: R.ok }] },
          { guard: { type: 'cmd', params: 'quit' }, target: 'closing', actions: { type: 'say', params: ({ context }) => R.bye(context.settings.hostname) } },
          { guard: { type: 'cmd', params: 'starttls' }, target: 'starttls', actions: 'decide' },
          { actions: ['decide', { type: 'say', params: reply(502, '5.5.1', 'Command not implemented') }] },
        ],
        'SESSION.SHUTDOWN': [
          { guard: 'idleShutdown', target: 'closing', actions: ['markShutdown', { type: 'say', params: ({ context }) => R.shuttingDown(context.settings.hostname) }] },
          { actions: 'markShutdown' },
        ],
      },
    },
    helo: aclWait('helo'),
    mail: aclWait('mail'),
    rcpt: aclWait('rcpt'),
    predata: aclWait('predata'),
    receiving: {
      tags: ['data'],
      on: {
        'SOCKET.TIMEOUT': { target: 'closing', actions: ['discardData', { type: 'say', params: ({ context }) => R.timeout(context.settings.hostname) }, { type: 'log', params: { level: 'info', msg: 'SMTP data timeout' } }] },
        'DATA.END': [
          { guard: 'dataTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: R.tooBig }, 'resetTransaction'] },
          { guard: 'headersTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: reply(552, '5.3.4', 'Header section too large') }, 'resetTransaction'] },
          { guard: 'bareNewline', target: 'idle', actions: ['discardData', { type: 'say', params: reply(554, '5.6.0', 'Message contains a bare CR or LF; lines must end with CRLF') }, { type: 'log', params: { level: 'info', msg: 'message rejected: bare CR or LF in content' } }, 'resetTransaction'] },
          { guard: 'longLine', target: 'idle', actions: ['discardData', { type: 'say', params: ({ context }) => reply(554, '5.6.0', `Message has a line longer than ${context.settings.lineLengthLimit} characters (RFC 5322 section 2.1.1)`) }, 'resetTransaction'] },
          { guard: 'mustVerify', target: 'verifying', actions: 'keepData' },
          ...DATA_DECIDED,
        ],
      },
    },
    // DKIM, ARC and DMARC results are wanted before the DKIM and DATA ACLs run.
    verifying: {
      entry: 'requestVerify',
      on: {
        'VERIFY.DONE': DATA_DECIDED,
        'VERIFY.FAILED': { guard: 'current', target: 'idle', actions: 'verifyFailed' },
      },
      after: { verifyTimeout: { target: 'idle', actions: 'verifyFailed' } },
    },
    dataAcl: {
      entry: { type: 'requestAcl', params: 'data' },
      on: {
        'ACL.RESULT': [
          { guard: { type: 'answered', params: 'empty' }, target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardAll'] },
          { guard: { type: 'answered', params: 'accept' }, target: 'committing', actions: { type: 'conclude', params: 'data' } },
          { guard: { type: 'answered', params: 'discard' }, target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardAll'] },
          { guard: { type: 'answered', params: 'drop' }, target: 'closing', actions: [{ type: 'conclude', params: 'data' }, 'discardData'] },
          { guard: 'current', target: 'idle', actions: [{ type: 'conclude', params: 'data' }, 'discardData', 'resetTransaction'] },
        ],
        'ACL.FAILED': { guard: 'current', target: 'idle', actions: ['discardData', 'aclFailed', 'resetTransaction'] },
      },
      after: { aclTimeout: { target: 'idle', actions: ['discardData', 'aclFailed', 'resetTransaction'] } },
    },
    // No delay of its own: the spool fails a commit not on disk within spool_commit_timeout
    // (SPOOL.FAILED), with one timer for all commits in flight (docs/decisions/0002).
    committing: {
      entry: 'requestCommit',
      on: {
        'SPOOL.COMMITTED': { target: 'idle', actions: 'committed' },
        'SPOOL.FAILED': { target: 'idle', actions: 'commitFailed' },
      },
    },
    starttls: {
      entry: [{ type: 'say', params: R.tlsReady }, emit({ type: 'startTls' } as const)],
      on: {
        // RFC 3207 section 4.2: after the handshake the session starts over, EHLO first.
        'TLS.READY': {
          target: 'idle',
          actions: [assign(({ context, event }) => ({ tx: emptyTransaction(), session: { ...context.session, tls: event.tls, greeting: 'none' as const, heloName: '', offer: NOTHING_OFFERED } })), { type: 'log', params: { level: 'debug', msg: 'TLS started' } }],
        },
        'TLS.FAILED': { target: 'done', actions: emit(({ event }) => ({ type: 'log' as const, level: 'info' as const, msg: `TLS handshake failed: ${event.reason}`, fields: { event: 'tls-error' } })) },
      },
      after: { tlsTimeout: { target: 'closing', actions: { type: 'log', params: { level: 'info', msg: 'TLS handshake timeout' } } } },
    },
    // Final itself: the session ends as it closes, without one more (eventless) step to `done`.
    closing: {
      type: 'final',
      entry: 'close',
    },
    done: { type: 'final' },
  },
});
