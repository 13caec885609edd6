// The smtp-session actor: one per connection, driving RFC 5321's states, ACL stages and the spool commit.
import { assign, emit, enqueueActions, fromPromise, setup } from 'xstate';
import { formatReply } from '../../protocol/smtp/reply.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import { NOTHING_OFFERED, decide } from '../../protocol/smtp/sequencer.js';
import { bannerReply, ehloReply, heloReply } from '../../protocol/smtp/greeting.js';
import type { Envelope } from '../../store/envelope.js';
import type { SessionEmitted, SessionEvent } from '../events.js';
import {
  R, acceptReply, aclRequest, addressText, bannerText, clearedTransaction, envelopeDraft, initialContext,
  receivedFor, refusalReply, reply, sessionFacts, withAclSets,
} from './context.js';
import type { AclOutcome, AclRequest, AclStage, EnvelopeDraft, SessionContext, SessionInput, SessionPorts } from './types.js';

type Ctx = SessionContext;

/** Wire text of a reply, with enhanced codes for EHLO clients (RFC 2034). */
const wire = (c: Ctx, r: Reply): SessionEmitted => ({ type: 'reply', text: formatReply(r, c.greeting === 'ehlo') });

const PIPELINABLE = new Set(['MAIL', 'RCPT', 'RSET', 'QUIT']);

/** The ACL stage results, as output by the invoked `acl` actor. */
const aclOut = (e: unknown): AclOutcome => (e as { output: AclOutcome }).output;

export const sessionMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  actors: {
    acl: fromPromise<AclOutcome, { ports: SessionPorts; request: AclRequest }>(({ input }) => input.ports.runAcl(input.request)),
    predata: fromPromise<{ acl: AclOutcome; id: string; time: number }, { ports: SessionPorts; request: AclRequest }>(
      async ({ input }) => ({ acl: await input.ports.runAcl(input.request), ...input.ports.newMessage() }),
    ),
    commit: fromPromise<Envelope, { ports: SessionPorts; draft: EnvelopeDraft }>(({ input }) => input.ports.commit(input.draft)),
  },
  delays: {
    commandTimeout: ({ context }) => context.settings.timeouts.command,
    dataTimeout: ({ context }) => context.settings.timeouts.data,
    aclTimeout: ({ context }) => context.settings.timeouts.acl,
    commitTimeout: ({ context }) => context.settings.timeouts.commit,
    tlsTimeout: ({ context }) => context.settings.timeouts.tlsHandshake,
  },
  guards: {
    early: ({ event }) => event.type === 'SMTP.COMMAND' && event.early,
    shuttingDown: ({ context }) => context.shuttingDown,
    idleShutdown: ({ context }) => context.sender === undefined,
    syncViolation: ({ context, event }) => {
      if (event.type !== 'SMTP.COMMAND' || !event.pipelined) return false;
      const cmd = event.command;
      if (!context.offer.pipelining) return true;
      // RFC 2920 section 3.1: only these may be followed by more commands in the same group;
      // unknown and malformed lines are counted as errors instead.
      return cmd.kind === 'command' && !PIPELINABLE.has(cmd.verb);
    },
    tooManyErrors: ({ context }) => {
      const d = context.decision;
      if (d?.kind !== 'reply') return false;
      if (d.error === 'syntax') return context.synprotErrors + 1 > context.settings.maxSynprotErrors;
      if (d.error === 'unknown') return context.unknownCommands + 1 > context.settings.maxUnknownCommands;
      return false;
    },
    is: ({ context }, kind: string) => context.decision?.kind === kind,
    accepted: ({ event }) => aclOut(event).verdict === 'accept' || aclOut(event).verdict === 'discard',
    verdictIs: ({ event }, v: AclOutcome['verdict']) => aclOut(event).verdict === v,
    predataAccepted: ({ event }) => {
      const v = (event as unknown as { output: { acl: AclOutcome } }).output.acl.verdict;
      return v === 'accept' || v === 'discard';
    },
    predataDropped: ({ event }) => (event as unknown as { output: { acl: AclOutcome } }).output.acl.verdict === 'drop',
    dataTooBig: ({ context }) => context.data?.tooBig === true,
    headersTooBig: ({ context }) => context.data?.headers === 'tooBig',
    bareNewline: ({ context }) => context.data?.bareNewline === true && context.settings.bareNewline === 'reject',
    longLine: ({ context }) => context.data?.longLine === true,
    nothingToStore: ({ context }) => context.recipients.length === 0,
  },
  actions: {
    say: emit(({ context }, r: Reply) => wire(context, r)),
    close: emit({ type: 'close' } as const),
    discardData: emit({ type: 'discardData' } as const),
    log: emit((_, p: { level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> }) => ({
      type: 'log' as const, level: p.level, msg: p.msg, fields: p.fields ?? {},
    })),
    decide: assign(({ context, event }) => {
      if (event.type !== 'SMTP.COMMAND') return {};
      const cmd = event.command;
      return { decision: decide(cmd, sessionFacts(context), event.octets), command: cmd.kind === 'invalid' ? cmd.line : cmd.line };
    }),
    answerDecision: enqueueActions(({ context, enqueue }) => {
      const d = context.decision;
      if (d?.kind !== 'reply') return;
      if (d.error === 'syntax') enqueue.assign({ synprotErrors: context.synprotErrors + 1 });
      if (d.error === 'unknown') enqueue.assign({ unknownCommands: context.unknownCommands + 1 });
      enqueue.emit(wire(context, d.reply));
      if (d.error) {
        enqueue.emit({ type: 'log', level: 'info', msg: `SMTP ${d.error} error: "${context.command ?? ''}" -> ${d.reply.code} ${d.reply.lines[0] ?? ''}`, fields: { event: 'protocol-error' } });
      }
    }),
    answerTooManyErrors: enqueueActions(({ context, enqueue }) => {
      const d = context.decision;
      if (d?.kind !== 'reply') return;
      enqueue.emit(wire(context, d.reply));
      enqueue.emit(wire(context, d.error === 'unknown' ? R.tooManyUnknown : R.tooManyErrors));
      enqueue.emit({ type: 'log', level: 'warn', msg: `too many ${d.error === 'unknown' ? 'unrecognized commands' : 'syntax or protocol errors'}; connection dropped`, fields: { event: 'drop' } });
    }),
    resetTransaction: assign(() => clearedTransaction()),
    applyAcl: assign(({ context, event }) => withAclSets(context, aclOut(event))),
    logAcl: enqueueActions(({ context, event, enqueue }, stage: AclStage) => {
      const out = aclOut(event);
      for (const line of out.logwrites) enqueue.emit({ type: 'log', level: 'info', msg: line, fields: { event: 'acl', stage } });
      if (out.verdict === 'accept' || out.verdict === 'discard') return;
      const d = context.decision;
      const what = stage === 'rcpt' && d?.kind === 'rcpt' ? `RCPT <${addressText(d.recipient)}>`
        : stage === 'mail' && d?.kind === 'mail' ? `MAIL FROM:<${addressText(d.sender)}>` : stage.toUpperCase();
      const r = refusalReply(stage, out);
      const reason = out.logMessage ?? out.message ?? r.lines.join(' ');
      const verb = out.verdict === 'defer' ? 'temporarily rejected' : 'rejected';
      enqueue.emit({
        type: 'log', level: 'info',
        msg: `H=${context.heloName || '(none)'} [${context.conn.clientIp}] F=<${addressText(context.sender ?? (d?.kind === 'mail' ? d.sender : undefined))}> ${verb} ${what}: ${reason}`,
        fields: { event: 'reject', stage },
      });
    }),
    refuse: emit(({ context, event }, stage: AclStage) => wire(context, refusalReply(stage, aclOut(event)))),
    aclFailed: enqueueActions(({ context, event, enqueue }) => {
      enqueue.emit(wire(context, R.localError));
      enqueue.emit({ type: 'log', level: 'error', msg: `ACL evaluation failed: ${String((event as { error?: unknown }).error)}`, fields: { event: 'acl-error' } });
    }),
    aclTimedOut: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(wire(context, R.localError));
      enqueue.emit({ type: 'log', level: 'error', msg: 'ACL evaluation timed out', fields: { event: 'acl-timeout' } });
    }),
  },
}).createMachine({
  id: 'smtp-session',
  context: ({ input }) => initialContext(input),
  initial: 'connect',
  on: {
    'SOCKET.CLOSED': { target: '.done' },
    'SESSION.SHUTDOWN': { actions: assign({ shuttingDown: true }) },
  },
  states: {
    connect: {
      invoke: {
        src: 'acl',
        input: ({ context }) => ({ ports: context.ports, request: aclRequest(context, 'connect') }),
        onDone: [
          {
            guard: 'accepted', target: 'idle',
            actions: ['applyAcl', { type: 'logAcl', params: 'connect' }, { type: 'say', params: ({ context }) => bannerReply(bannerText(context)) }],
          },
          { target: 'closing', actions: [{ type: 'logAcl', params: 'connect' }, { type: 'refuse', params: 'connect' }] },
        ],
        onError: { target: 'closing', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'closing', actions: 'aclTimedOut' } },
    },
    idle: {
      tags: ['awaitCommand'],
      after: { commandTimeout: { target: 'closing', actions: [{ type: 'say', params: ({ context }) => R.timeout(context.settings.hostname) }, { type: 'log', params: { level: 'info', msg: 'SMTP command timeout' } }] } },
      on: {
        'SMTP.COMMAND': [
          { guard: 'early', target: 'closing', actions: [{ type: 'say', params: R.syncError }, { type: 'log', params: { level: 'warn', msg: 'SMTP protocol synchronization error (input sent without waiting for greeting)' } }] },
          { guard: 'shuttingDown', target: 'closing', actions: { type: 'say', params: ({ context }) => R.shuttingDown(context.settings.hostname) } },
          { guard: 'syncViolation', target: 'closing', actions: [{ type: 'say', params: R.syncError }, { type: 'log', params: { level: 'warn', msg: 'SMTP protocol synchronization error (next input sent too soon: pipelining was not offered or not allowed here)' } }] },
          { target: 'dispatch', actions: 'decide' },
        ],
        'SESSION.SHUTDOWN': [
          { guard: 'idleShutdown', target: 'closing', actions: [assign({ shuttingDown: true }), { type: 'say', params: ({ context }) => R.shuttingDown(context.settings.hostname) }] },
          { actions: assign({ shuttingDown: true }) },
        ],
      },
    },
    dispatch: {
      always: [
        { guard: 'tooManyErrors', target: 'closing', actions: 'answerTooManyErrors' },
        { guard: { type: 'is', params: 'reply' }, target: 'idle', reenter: true, actions: 'answerDecision' },
        { guard: { type: 'is', params: 'quit' }, target: 'closing', actions: { type: 'say', params: ({ context }) => R.bye(context.settings.hostname) } },
        { guard: { type: 'is', params: 'rset' }, target: 'idle', reenter: true, actions: ['resetTransaction', { type: 'say', params: R.ok }] },
        { guard: { type: 'is', params: 'helo' }, target: 'helo' },
        { guard: { type: 'is', params: 'mail' }, target: 'mail' },
        { guard: { type: 'is', params: 'rcpt' }, target: 'rcpt' },
        { guard: { type: 'is', params: 'data' }, target: 'predata' },
        { guard: { type: 'is', params: 'starttls' }, target: 'starttls' },
        { target: 'idle', reenter: true, actions: { type: 'say', params: reply(502, '5.5.1', 'Command not implemented') } },
      ],
    },
    helo: {
      invoke: {
        src: 'acl',
        input: ({ context }) => {
          const d = context.decision;
          const name = d?.kind === 'helo' ? d.name : '';
          return { ports: context.ports, request: aclRequest({ ...context, heloName: name }, 'helo') };
        },
        onDone: [
          {
            guard: 'accepted', target: 'idle',
            actions: [
              'resetTransaction',
              assign(({ context }) => {
                const d = context.decision;
                const ehlo = d?.kind === 'helo' && d.ehlo;
                return {
                  greeting: ehlo ? ('ehlo' as const) : ('helo' as const),
                  heloName: d?.kind === 'helo' ? d.name : '',
                  offer: ehlo ? context.ports.offer(context.tls !== undefined) : context.offer,
                };
              }),
              'applyAcl',
              { type: 'logAcl', params: 'helo' },
              {
                type: 'say',
                params: ({ context, event }) => acceptReply(
                  context.greeting === 'ehlo'
                    ? ehloReply(context.settings.hostname, context.heloName, context.conn.clientIp, context.offer, context.settings.messageSizeLimit)
                    : heloReply(context.settings.hostname, context.heloName, context.conn.clientIp),
                  aclOut(event).message ? aclOut(event) : undefined,
                ),
              },
            ],
          },
          { guard: { type: 'verdictIs', params: 'drop' }, target: 'closing', actions: [{ type: 'logAcl', params: 'helo' }, { type: 'refuse', params: 'helo' }] },
          { target: 'idle', actions: [{ type: 'logAcl', params: 'helo' }, { type: 'refuse', params: 'helo' }] },
        ],
        onError: { target: 'idle', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'idle', actions: 'aclTimedOut' } },
    },
    mail: {
      invoke: {
        src: 'acl',
        input: ({ context }) => ({ ports: context.ports, request: aclRequest(context, 'mail') }),
        onDone: [
          {
            guard: 'accepted', target: 'idle',
            actions: [
              assign(({ context }) => {
                const d = context.decision;
                return d?.kind === 'mail' ? { sender: d.sender, mailParams: d.params, aclM: {}, addedHeaders: [] } : {};
              }),
              'applyAcl',
              { type: 'logAcl', params: 'mail' },
              { type: 'say', params: ({ event }) => acceptReply(R.senderOk, aclOut(event)) },
            ],
          },
          { guard: { type: 'verdictIs', params: 'drop' }, target: 'closing', actions: [{ type: 'logAcl', params: 'mail' }, { type: 'refuse', params: 'mail' }] },
          { target: 'idle', actions: [{ type: 'logAcl', params: 'mail' }, { type: 'refuse', params: 'mail' }] },
        ],
        onError: { target: 'idle', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'idle', actions: 'aclTimedOut' } },
    },
    rcpt: {
      entry: assign(({ context }) => ({ rcptCommands: context.rcptCommands + 1 })),
      invoke: {
        src: 'acl',
        input: ({ context }) => ({ ports: context.ports, request: aclRequest(context, 'rcpt') }),
        onDone: [
          {
            guard: { type: 'verdictIs', params: 'accept' }, target: 'idle',
            actions: [
              assign(({ context }) => {
                const d = context.decision;
                if (d?.kind !== 'rcpt') return {};
                // Appended in place: a transaction may have thousands of recipients.
                context.recipients.push({ mailbox: d.recipient, params: d.params });
                return { recipients: context.recipients };
              }),
              'applyAcl',
              { type: 'logAcl', params: 'rcpt' },
              { type: 'say', params: ({ event }) => acceptReply(R.rcptOk, aclOut(event)) },
            ],
          },
          {
            guard: { type: 'verdictIs', params: 'discard' }, target: 'idle',
            actions: [assign(({ context }) => ({ discarded: context.discarded + 1 })), 'applyAcl', { type: 'logAcl', params: 'rcpt' }, { type: 'say', params: ({ event }) => acceptReply(R.rcptOk, aclOut(event)) }],
          },
          { guard: { type: 'verdictIs', params: 'drop' }, target: 'closing', actions: [{ type: 'logAcl', params: 'rcpt' }, { type: 'refuse', params: 'rcpt' }] },
          { target: 'idle', actions: ['applyAcl', { type: 'logAcl', params: 'rcpt' }, { type: 'refuse', params: 'rcpt' }] },
        ],
        onError: { target: 'idle', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'idle', actions: 'aclTimedOut' } },
    },
    predata: {
      invoke: {
        src: 'predata',
        input: ({ context }) => ({ ports: context.ports, request: aclRequest(context, 'predata') }),
        onDone: [
          {
            guard: 'predataAccepted', target: 'receiving',
            actions: [
              assign(({ context, event }) => ({ ...withAclSets(context, event.output.acl), messageId: event.output.id, receivedAt: event.output.time })),
              emit(({ context }) => ({ type: 'beginData' as const, id: context.messageId as string, header: receivedFor(context, context.messageId as string, context.receivedAt) })),
              { type: 'say', params: R.startData },
            ],
          },
          {
            guard: 'predataDropped', target: 'closing',
            actions: emit(({ context, event }) => wire(context, refusalReply('predata', event.output.acl))),
          },
          { target: 'idle', actions: emit(({ context, event }) => wire(context, refusalReply('predata', event.output.acl))) },
        ],
        onError: { target: 'idle', actions: 'aclFailed' },
      },
      after: { aclTimeout: { target: 'idle', actions: 'aclTimedOut' } },
    },
    receiving: {
      tags: ['data'],
      on: {
        'DATA.PROGRESS': { target: 'receiving', reenter: true },
        'DATA.END': { target: 'checkData', actions: assign(({ event }) => ({ data: event.summary })) },
      },
      after: { dataTimeout: { target: 'closing', actions: ['discardData', { type: 'say', params: ({ context }) => R.timeout(context.settings.hostname) }, { type: 'log', params: { level: 'info', msg: 'SMTP data timeout' } }] } },
    },
    checkData: {
      always: [
        { guard: 'dataTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: R.tooBig }, 'resetTransaction'] },
        { guard: 'headersTooBig', target: 'idle', actions: ['discardData', { type: 'say', params: reply(552, '5.3.4', 'Header section too large') }, 'resetTransaction'] },
        { guard: 'bareNewline', target: 'idle', actions: ['discardData', { type: 'say', params: reply(554, '5.6.0', 'Message contains a bare CR or LF; lines must end with CRLF') }, { type: 'log', params: { level: 'info', msg: 'message rejected: bare CR or LF in content' } }, 'resetTransaction'] },
        { guard: 'longLine', target: 'idle', actions: ['discardData', { type: 'say', params: ({ context }) => reply(554, '5.6.0', `Message has a line longer than ${context.settings.lineLengthLimit} characters (RFC 5322 section 2.1.1)`) }, 'resetTransaction'] },
        { target: 'dataAcl' },
      ],
    },
    dataAcl: {
      invoke: {
        src: 'acl',
        input: ({ context }) => ({ ports: context.ports, request: aclRequest(context, 'data') }),
        onDone: [
          { guard: { type: 'verdictIs', params: 'accept' }, target: 'committing', actions: ['applyAcl', { type: 'logAcl', params: 'data' }] },
          { guard: { type: 'verdictIs', params: 'discard' }, target: 'idle', actions: ['discardData', { type: 'logAcl', params: 'data' }, { type: 'say', params: ({ event }) => acceptReply(reply(250, '2.0.0', 'OK'), aclOut(event)) }, 'resetTransaction'] },
          { guard: { type: 'verdictIs', params: 'drop' }, target: 'closing', actions: ['discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }] },
          { target: 'idle', actions: ['discardData', { type: 'logAcl', params: 'data' }, { type: 'refuse', params: 'data' }, 'resetTransaction'] },
        ],
        onError: { target: 'idle', actions: ['discardData', 'aclFailed', 'resetTransaction'] },
      },
      after: { aclTimeout: { target: 'idle', actions: ['discardData', 'aclTimedOut', 'resetTransaction'] } },
    },
    committing: {
      always: { guard: 'nothingToStore', target: 'idle', actions: ['discardData', { type: 'say', params: reply(250, '2.0.0', 'OK (all recipients discarded)') }, 'resetTransaction'] },
      invoke: {
        src: 'commit',
        input: ({ context }) => ({ ports: context.ports, draft: envelopeDraft(context) }),
        onDone: {
          target: 'idle',
          actions: [
            { type: 'say', params: ({ event }) => reply(250, '2.0.0', `OK id=${event.output.id}`) },
            emit(({ context, event }) => arrivalLog(context, event.output)),
            assign(({ context }) => ({ ...clearedTransaction(), messages: context.messages + 1 })),
          ],
        },
        onError: {
          target: 'idle',
          actions: ['discardData', { type: 'say', params: R.localError }, emit(({ event }) => ({ type: 'log' as const, level: 'error' as const, msg: `spool commit failed: ${String(event.error)}`, fields: { event: 'spool-error' } })), 'resetTransaction'],
        },
      },
      after: { commitTimeout: { target: 'idle', actions: [{ type: 'say', params: R.localError }, { type: 'log', params: { level: 'error', msg: 'spool commit timed out' } }, 'resetTransaction'] } },
    },
    starttls: {
      entry: [{ type: 'say', params: R.tlsReady }, emit({ type: 'startTls' } as const)],
      on: {
        // RFC 3207 section 4.2: after the handshake the session starts over, EHLO first.
        'TLS.READY': {
          target: 'idle',
          actions: [assign(({ event }) => ({ ...clearedTransaction(), tls: event.tls, greeting: 'none' as const, heloName: '', offer: NOTHING_OFFERED })), { type: 'log', params: { level: 'debug', msg: 'TLS started' } }],
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

/** The classic arrival line: <= id sender H=helo [ip]:port P=protocol S=size id=message-id for rcpts. */
function arrivalLog(c: SessionContext, env: Envelope): SessionEmitted {
  const tls = env.tls ? ` X=${env.tls.version}:${env.tls.cipher}` : '';
  const mid = env.messageIdHeader ? ` id=${env.messageIdHeader.replace(/^<|>$/g, '')}` : '';
  const rcpts = env.recipients.map((r) => r.address).join(' ');
  return {
    type: 'log',
    level: 'info',
    msg: `<= ${env.id} ${env.sender || '<>'} H=${c.heloName} [${c.conn.clientIp}]:${c.conn.clientPort} P=${env.protocol}${tls} S=${env.size}${mid} for ${rcpts}`,
    fields: { event: 'arrival', id: env.id, sender: env.sender, size: env.size, recipients: env.recipients.length },
  };
}
