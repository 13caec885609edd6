// The smtp-session actor: one per connection, driving RFC 5321's states, ACL stages and the spool commit.
import { assign, emit, enqueueActions, setup } from 'xstate';
import { formatReply } from '../../protocol/smtp/reply.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import { NOTHING_OFFERED } from '../../protocol/smtp/sequencer.js';
import type { Decision } from '../../protocol/smtp/sequencer.js';
import { bannerReply, ehloReply, heloReply } from '../../protocol/smtp/greeting.js';
import type { SessionEmitted, SessionEvent } from '../events.js';
import {
  R, acceptReply, aclRequest, arrivalLog, bannerText, decisionOf, emptyTransaction, envelopeDraft,
  initialContext, inlineOutcome, outcomeOf, receivedFor, refusalLog, refusalReply, reply, verdictClass, withAclSets,
} from './context.js';
import type { VerdictClass } from './context.js';
import type { AclStage, SessionContext, SessionInput } from './types.js';
import { aclWait, stageTransitions } from './stages.js';

type Ctx = SessionContext;
type Level = 'debug' | 'info' | 'warn' | 'error';

/** Wire text of a reply, with enhanced codes for EHLO clients (RFC 2034). */
const wire = (c: Ctx, r: Reply): SessionEmitted => ({ type: 'reply', text: formatReply(r, c.session.greeting === 'ehlo') });

const PIPELINABLE = new Set(['MAIL', 'RCPT', 'RSET', 'QUIT']);

const nothingToStore = (c: Ctx): boolean => c.tx.recipients.length === 0 || c.tx.discardAll === true;

export const sessionMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  delays: {
    aclTimeout: ({ context }) => context.settings.timeouts.acl,
    commitTimeout: ({ context }) => context.settings.timeouts.commit,
    tlsTimeout: ({ context }) => context.settings.timeouts.tlsHandshake,
  },
  guards: {
    early: ({ event }) => event.type === 'SMTP.COMMAND' && event.early,
    shuttingDown: ({ context }) => context.session.shuttingDown,
    idleShutdown: ({ context }) => context.tx.sender === undefined,
    syncViolation: ({ context, event }) => {
      if (event.type !== 'SMTP.COMMAND' || !event.pipelined) return false;
      const cmd = event.command;
      if (!context.session.offer.pipelining) return true;
      // RFC 2920 section 3.1: only these may be followed by more commands in the same group;
      // unknown and malformed lines are counted as errors instead.
      return cmd.kind === 'command' && !PIPELINABLE.has(cmd.verb);
    },
    tooManyErrors: ({ context, event }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'reply') return false;
      if (d.error === 'syntax') return context.session.synprotErrors + 1 > context.settings.maxSynprotErrors;
      if (d.error === 'unknown') return context.session.unknownCommands + 1 > context.settings.maxUnknownCommands;
      return false;
    },
    cmd: ({ context, event }, kind: Decision['kind']) => decisionOf(context, event)?.kind === kind,
    /** The command's stage can be decided now (no ACL, or one that needs no waiting) with this result. */
    now: ({ context, event }, p: { kind: Decision['kind']; stage: AclStage; result: VerdictClass }) => {
      if (decisionOf(context, event)?.kind !== p.kind) return false;
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
      if (event.type !== 'DATA.END') return false;
      const o = inlineOutcome(context, event, 'data');
      if (o === null) return false;
      if (result === 'empty') return verdictClass(o) === 'accept' && nothingToStore(context);
      return verdictClass(o) === result;
    },
    /** An answer to the ACL request in flight (a late answer to an abandoned one is ignored). */
    current: ({ context, event }) => (event.type === 'ACL.RESULT' || event.type === 'ACL.FAILED') && event.seq === context.aclSeq,
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
    answerTooManyErrors: enqueueActions(({ context, event, enqueue }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'reply') return;
      enqueue.emit(wire(context, d.reply));
      enqueue.emit(wire(context, d.error === 'unknown' ? R.tooManyUnknown : R.tooManyErrors));
      enqueue.emit({ type: 'log', level: 'warn', msg: `too many ${d.error === 'unknown' ? 'unrecognized commands' : 'syntax or protocol errors'}; connection dropped`, fields: { event: 'drop' } });
    }),
    markShutdown: assign(({ context }) => ({ session: { ...context.session, shuttingDown: true } })),
    resetTransaction: assign(() => ({ tx: emptyTransaction() })),
    requestAcl: enqueueActions(({ context, enqueue }, stage: AclStage) => {
      const seq = context.aclSeq + 1;
      enqueue.assign({ aclSeq: seq });
      enqueue.emit({ type: 'acl', seq, request: aclRequest(context, stage) });
    }),
    applyAcl: assign(({ context, event }) => withAclSets(context, outcomeOf(event))),
    logAcl: enqueueActions(({ context, event, enqueue }, stage: AclStage) => {
      const out = outcomeOf(event);
      for (const line of out.logwrites) enqueue.emit({ type: 'log', level: 'info', msg: line, fields: { event: 'acl', stage } });
      if (out.verdict !== 'accept' && out.verdict !== 'discard') enqueue.emit(refusalLog(context, stage, out));
    }),
    refuse: emit(({ context, event }, stage: AclStage) => wire(context, refusalReply(stage, outcomeOf(event)))),
    aclFailed: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit(wire(context, R.localError));
      const why = event.type === 'ACL.FAILED' ? event.error : 'timed out';
      enqueue.emit({ type: 'log', level: 'error', msg: `ACL evaluation failed: ${why}`, fields: { event: 'acl-error' } });
    }),
    banner: emit(({ context }) => wire(context, bannerReply(bannerText(context)))),
    acceptHelo: enqueueActions(({ context, event, enqueue }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'helo') return;
      const offer = d.ehlo ? context.ports.offer(context.session.tls !== undefined) : NOTHING_OFFERED;
      const session = { ...context.session, greeting: d.ehlo ? ('ehlo' as const) : ('helo' as const), heloName: d.name, offer };
      enqueue.assign({ session, tx: emptyTransaction() });
      const r = d.ehlo
        ? ehloReply(context.settings.hostname, d.name, context.conn.clientIp, offer, context.settings.messageSizeLimit)
        : heloReply(context.settings.hostname, d.name, context.conn.clientIp);
      enqueue.emit(wire({ ...context, session }, acceptReply(r, outcomeOf(event))));
    }),
    acceptMail: enqueueActions(({ context, event, enqueue }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'mail') return;
      const out = outcomeOf(event);
      enqueue.assign({ tx: { ...context.tx, sender: d.sender, mailParams: d.params, ...(out.verdict === 'discard' ? { discardAll: true } : {}) } });
      enqueue.emit(wire(context, acceptReply(R.senderOk, out)));
    }),
    acceptRcpt: enqueueActions(({ context, event, enqueue }) => {
      const d = decisionOf(context, event);
      if (d?.kind !== 'rcpt') return;
      const out = outcomeOf(event);
      const tx = context.tx;
      if (out.verdict === 'discard') enqueue.assign({ tx: { ...tx, discarded: tx.discarded + 1, rcptCommands: tx.rcptCommands + 1 } });
      else {
        // Appended in place: a transaction may have thousands of recipients.
        tx.recipients.push({ mailbox: d.recipient, params: d.params });
        enqueue.assign({ tx: { ...tx, rcptCommands: tx.rcptCommands + 1 } });
      }
      enqueue.emit(wire(context, acceptReply(R.rcptOk, out)));
    }),
    countRcpt: assign(({ context }) => ({ tx: { ...context.tx, rcptCommands: context.tx.rcptCommands + 1 } })),
    beginData: enqueueActions(({ context, event, enqueue }) => {
      const { id, time } = context.ports.newMessage();
      const discardAll = context.tx.discardAll === true || outcomeOf(event).verdict === 'discard';
      enqueue.assign({ tx: { ...context.tx, messageId: id, receivedAt: time, ...(discardAll ? { discardAll } : {}) } });
      enqueue.emit({ type: 'beginData', id, header: receivedFor(context, id, time) });
      enqueue.emit(wire(context, R.startData));
    }),
    keepData: assign(({ context, event }) => (event.type === 'DATA.END' ? { tx: { ...context.tx, data: event.summary } } : {})),
    requestCommit: emit(({ context }) => ({ type: 'commit' as const, draft: envelopeDraft(context) })),
    committed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SPOOL.COMMITTED') return;
      enqueue.emit(wire(context, reply(250, '2.0.0', `OK id=${event.envelope.id}`)));
      enqueue.emit(arrivalLog(context, event.envelope));
      enqueue.assign({ tx: emptyTransaction(), session: { ...context.session, messages: context.session.messages + 1 } });
    }),
    commitFailed: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit({ type: 'discardData' });
      enqueue.emit(wire(context, R.localError));
      const why = event.type === 'SPOOL.FAILED' ? event.error : 'timed out';
      enqueue.emit({ type: 'log', level: 'error', msg: `spool commit failed: ${why}`, fields: { event: 'spool-error', id: context.tx.messageId } });
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
        { guard: { type: 'connectNow', params: 'accept' }, target: 'idle', actions: ['applyAcl', { type: 'logAcl', params: 'connect' }, 'banner'] },
        { guard: { type: 'connectNow', params: 'drop' }, target: 'closing', actions: [{ type: 'logAcl', params: 'connect' }, { type: 'refuse', params: 'connect' }] },
        { guard: { type: 'connectNow', params: 'refuse' }, target: 'closing', actions: [{ type: 'logAcl', params: 'connect' }, { type: 'refuse', params: 'connect' }] },
        { target: 'connect' },
      ],
    },
    connect: {
      entry: { type: 'requestAcl', params: 'connect' },
      on: {
        'ACL.RESULT': [
          { guard: { type: 'answered', params: 'accept' }, target: 'idle', actions: ['applyAcl', { type: 'logAcl', params: 'connect' }, 'banner'] },
          { guard: { type: 'answered', params: 'discard' }, target: 'idle', actions: ['applyAcl', { type: 'logAcl', params: 'connect' }, 'banner'] },
          { guard: 'current', target: 'closing', actions: [{ type: 'logAcl', params: 'connect' }, { type: 'refuse', params: 'connect' }] },
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
          { guard: 'early', target: 'closing', actions: [{ type: 'say', params: R.syncError }, { type: 'log', params: { level: 'warn', msg: 'SMTP protocol synchronization error (input sent without waiting for greeting)' } }] },
          { guard: 'shuttingDown', target: 'closing', actions: { type: 'say', params: ({ context }) => R.shuttingDown(context.settings.hostname) } },
          { guard: 'syncViolation', target: 'closing', actions: [{ type: 'say', params: R.syncError }, { type: 'log', params: { level: 'warn', msg: 'SMTP protocol synchronization error (next input sent too soon: pipelining was not offered or not allowed here)' } }] },
          { guard: 'tooManyErrors', target: 'closing', actions: 'answerTooManyErrors' },
          { guard: { type: 'cmd', params: 'reply' }, target: 'idle', reenter: true, actions: ['decide', 'answerDecision'] },
          { guard: { type: 'cmd', params: 'quit' }, target: 'closing', actions: { type: 'say', params: ({ context }) => R.bye(context.settings.hostname) } },
          { guard: { type: 'cmd', params: 'rset' }, target: 'idle', reenter: true, actions: ['resetTransaction', { type: 'say', params: R.ok }] },
          ...stageTransitions('helo', 'helo', 'acceptHelo'),
          ...stageTransitions('mail', 'mail', 'acceptMail'),
          ...stageTransitions('rcpt', 'rcpt', 'acceptRcpt'),
          ...stageTransitions('data', 'predata', 'beginData'),
          { guard: { type: 'cmd', params: 'starttls' }, target: 'starttls', actions: 'decide' },
          { target: 'idle', reenter: true, actions: ['decide', { type: 'say', params: reply(502, '5.5.1', 'Command not implemented') }] },
        ],
        'SESSION.SHUTDOWN': [
          { guard: 'idleShutdown', target: 'closing', actions: ['markShutdown', { type: 'say', params: ({ context }) => R.shuttingDown(context.settings.hostname) }] },
          { actions: 'markShutdown' },
        ],
      },
    },
    helo: aclWait('helo', 'acceptHelo'),
    mail: aclWait('mail', 'acceptMail'),
    rcpt: aclWait('rcpt', 'acceptRcpt'),
    predata: aclWait('predata', 'beginData'),
    receiving: {
      tags: ['data'],
      on: {
        'SOCKET.TIMEOUT': { target: 'closing', actions: ['discardData', { type: 'say', params: ({ context }) => R.timeout(context.settings.hostname) }, { type: 'log', params: { level: 'info', msg: 'SMTP data timeout' } }] },
        'DATA.END': [
          { guard: 'dataTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: R.tooBig }, 'resetTransaction'] },
          { guard: 'headersTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: reply(552, '5.3.4', 'Header section too large') }, 'resetTransaction'] },
          { guard: 'bareNewline', target: 'idle', actions: ['discardData', { type: 'say', params: reply(554, '5.6.0', 'Message contains a bare CR or LF; lines must end with CRLF') }, { type: 'log', params: { level: 'info', msg: 'message rejected: bare CR or LF in content' } }, 'resetTransaction'] },
          { guard: 'longLine', target: 'idle', actions: ['discardData', { type: 'say', params: ({ context }) => reply(554, '5.6.0', `Message has a line longer than ${context.settings.lineLengthLimit} characters (RFC 5322 section 2.1.1)`) }, 'resetTransaction'] },
          { guard: { type: 'dataNow', params: 'empty' }, target: 'idle', actions: ['keepData', 'applyAcl', { type: 'logAcl', params: 'data' }, 'discardAll'] },
          { guard: { type: 'dataNow', params: 'accept' }, target: 'committing', actions: ['keepData', 'applyAcl', { type: 'logAcl', params: 'data' }] },
          { guard: { type: 'dataNow', params: 'discard' }, target: 'idle', actions: ['keepData', { type: 'logAcl', params: 'data' }, 'discardAll'] },
          { guard: { type: 'dataNow', params: 'drop' }, target: 'closing', actions: ['keepData', 'discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }] },
          { guard: { type: 'dataNow', params: 'refuse' }, target: 'idle', actions: ['keepData', 'discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }, 'resetTransaction'] },
          { target: 'dataAcl', actions: 'keepData' },
        ],
      },
    },
    dataAcl: {
      entry: { type: 'requestAcl', params: 'data' },
      on: {
        'ACL.RESULT': [
          { guard: { type: 'answered', params: 'empty' }, target: 'idle', actions: ['applyAcl', { type: 'logAcl', params: 'data' }, 'discardAll'] },
          { guard: { type: 'answered', params: 'accept' }, target: 'committing', actions: ['applyAcl', { type: 'logAcl', params: 'data' }] },
          { guard: { type: 'answered', params: 'discard' }, target: 'idle', actions: [{ type: 'logAcl', params: 'data' }, 'discardAll'] },
          { guard: { type: 'answered', params: 'drop' }, target: 'closing', actions: ['discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }] },
          { guard: 'current', target: 'idle', actions: ['discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }, 'resetTransaction'] },
        ],
        'ACL.FAILED': { guard: 'current', target: 'idle', actions: ['discardData', 'aclFailed', 'resetTransaction'] },
      },
      after: { aclTimeout: { target: 'idle', actions: ['discardData', 'aclFailed', 'resetTransaction'] } },
    },
    committing: {
      entry: 'requestCommit',
      on: {
        'SPOOL.COMMITTED': { target: 'idle', actions: 'committed' },
        'SPOOL.FAILED': { target: 'idle', actions: 'commitFailed' },
      },
      after: { commitTimeout: { target: 'idle', actions: 'commitFailed' } },
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
    closing: {
      entry: 'close',
      always: 'done',
    },
    done: { type: 'final' },
  },
});
