// Pure helpers of the smtp-session actor: initial context, sequencer facts, ACL requests, replies, envelopes.
import type { Mailbox } from '../../protocol/smtp/address.js';
import { formatMailbox } from '../../protocol/smtp/address.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import { R, reply, replyFromText } from '../../protocol/smtp/reply.js';
import { NOTHING_OFFERED, decide } from '../../protocol/smtp/sequencer.js';
import type { Decision, SessionFacts } from '../../protocol/smtp/sequencer.js';
import { receivedHeader, withProtocol } from '../../protocol/message/received.js';
import { headerValue } from '../../protocol/message/headers.js';
import type { Envelope } from '../../store/envelope.js';
import type { AuthFacts } from '../../policy/auth-facts.js';
import type { DataSummary, SessionEmitted, SessionEvent } from '../events.js';
import type { AclOutcome, AclRequest, AclStage, EnvelopeDraft, EventMemo, SessionContext, SessionInput, Transaction } from './types.js';

/** The outcome of a stage without an ACL. */
export const ACCEPT: AclOutcome = { verdict: 'accept', addHeaders: [], set: {}, logwrites: [], controls: [] };

/** The session's memo, cleared when a new event comes to be processed. */
function memoOf(c: SessionContext, e: SessionEvent): EventMemo {
  const m = c.memo;
  if (m.event !== e) {
    m.event = e;
    m.decision = undefined;
    m.outcome = undefined;
  }
  return m;
}

/**
 * The outcome of a stage's ACL for this event if it can be known now: ACCEPT when the stage has
 * no ACL, the result when the ACL finishes without waiting, null when the driver must run it.
 * An ACL that needs no waiting is evaluated while the transition is chosen, once per event.
 */
export function inlineOutcome(c: SessionContext, e: SessionEvent, stage: AclStage): AclOutcome | null {
  const m = memoOf(c, e);
  if (m.outcome !== undefined) return m.outcome;
  const o = c.settings.aclStages.has(stage) ? (c.ports.tryAcl(aclRequest(c, stage, decisionOf(c, e), e)) ?? null) : ACCEPT;
  m.outcome = o;
  return o;
}

/** The ACL outcome an event carries: the driver's answer, or the inline one. */
export function outcomeOf(c: SessionContext, e: SessionEvent): AclOutcome {
  if (e.type === 'ACL.RESULT') return e.outcome;
  const m = c.memo;
  return (m.event === e ? m.outcome : undefined) ?? ACCEPT;
}

/** How a verdict continues the session: discard counts as acceptance for the client. */
export type VerdictClass = 'accept' | 'discard' | 'drop' | 'refuse';
export function verdictClass(o: AclOutcome): VerdictClass {
  return o.verdict === 'accept' ? 'accept' : o.verdict === 'discard' ? 'discard' : o.verdict === 'drop' ? 'drop' : 'refuse';
}

/** What an SMTP.COMMAND event means in this context (or the decision being worked on); decided once per event. */
export function decisionOf(c: SessionContext, e: SessionEvent): Decision | undefined {
  if (e.type !== 'SMTP.COMMAND') return c.decision;
  const m = memoOf(c, e);
  if (m.decision === undefined) m.decision = decide(e.command, sessionFacts(c), e.octets);
  return m.decision;
}

export function initialContext(input: SessionInput): SessionContext {
  return {
    conn: input.conn,
    settings: input.settings,
    ports: input.ports,
    aclSeq: 0,
    session: {
      greeting: 'none',
      heloName: '',
      offer: NOTHING_OFFERED,
      tls: input.conn.tls,
      authenticatedId: undefined,
      aclC: {},
      spfHelo: undefined,
      synprotErrors: 0,
      unknownCommands: 0,
      shuttingDown: false,
      messages: 0,
    },
    tx: emptyTransaction(),
    decision: undefined,
    memo: { event: undefined, decision: undefined, outcome: undefined },
  };
}

/** A fresh transaction: after RSET, EHLO/HELO, STARTTLS and each finished message. */
export function emptyTransaction(): Transaction {
  return {
    sender: undefined, mailParams: { smtputf8: false }, recipients: [], rcptCommands: 0, discarded: 0, aclM: {}, addedHeaders: [],
    prependedHeaders: [], controls: [], auth: undefined, messageId: undefined, receivedAt: 0, data: undefined, discardAll: undefined,
  };
}

export function sessionFacts(c: SessionContext): SessionFacts {
  const s = c.session;
  const t = c.tx;
  return {
    greeting: s.greeting,
    offer: s.offer,
    tls: s.tls !== undefined,
    authenticated: s.authenticatedId !== undefined,
    mailGiven: t.sender !== undefined,
    smtputf8: t.mailParams.smtputf8,
    recipients: t.recipients.length + t.discarded,
    rcptCommands: t.rcptCommands,
    messageSizeLimit: c.settings.messageSizeLimit,
    recipientsMax: c.settings.recipientsMax,
    hostname: c.settings.hostname,
  };
}

export const addressText = (m: Mailbox | null | undefined): string => (m ? formatMailbox(m) : '');

/** RFC 3848 protocol name for this session (upper case, as in Received:). */
export function protocolName(c: SessionContext): string {
  return withProtocol({
    ehlo: c.session.greeting === 'ehlo',
    tls: c.session.tls !== undefined,
    auth: c.session.authenticatedId !== undefined,
    utf8: c.tx.mailParams.smtputf8,
  });
}

/** Expansion variables, named as Exim names them. */
export function aclVars(c: SessionContext, extra: Record<string, string> = {}): Record<string, string> {
  const { session, tx } = c;
  const sender = tx.sender;
  const vars: Record<string, string> = {
    primary_hostname: c.settings.hostname,
    sender_host_address: c.conn.clientIp,
    sender_host_port: String(c.conn.clientPort),
    received_ip_address: c.conn.serverIp,
    received_port: String(c.conn.serverPort),
    sender_helo_name: session.heloName,
    sender_address: addressText(sender),
    sender_address_local_part: sender ? sender.local : '',
    sender_address_domain: sender ? sender.domain : '',
    recipients_count: String(tx.recipients.length),
    recipients: tx.recipients.map((r) => formatMailbox(r.mailbox)).join(', '),
    received_protocol: protocolName(c).toLowerCase(),
    tls_in_cipher: session.tls?.cipher ?? '',
    tls_in_ver: session.tls?.version ?? '',
    authenticated_id: session.authenticatedId ?? '',
    message_id: tx.messageId ?? '',
    ...session.aclC,
    ...tx.aclM,
    ...extra,
  };
  return vars;
}

export function aclRequest(c: SessionContext, stage: AclStage, d = c.decision, e?: SessionEvent): AclRequest {
  const recipient = stage === 'rcpt' && d?.kind === 'rcpt' ? d.recipient : undefined;
  const extra: Record<string, string> = recipient ? { local_part: recipient.local, domain: recipient.domain } : {};
  if (stage === 'helo' && d?.kind === 'helo') extra.sender_helo_name = d.name;
  const vars = aclVars(c, extra);
  // At the data stage the summary may still be on its way in (the DATA.END event itself).
  const data = e?.type === 'DATA.END' ? e.summary : c.tx.data;
  if (stage === 'data' && data) vars.message_size = String(data.size);
  return {
    stage,
    clientIp: c.conn.clientIp,
    helo: stage === 'helo' && d?.kind === 'helo' ? d.name : c.session.heloName,
    auth: stage === 'helo' ? undefined : knownFacts(c, e),
    sender: stage === 'connect' || stage === 'helo' ? undefined : stage === 'mail' && d?.kind === 'mail' ? d.sender : c.tx.sender,
    recipient,
    recipients: c.tx.recipients.map((r) => r.mailbox),
    authenticatedId: c.session.authenticatedId,
    vars,
    headers: stage === 'data' && data && data.headers !== 'tooBig' ? data.headers : undefined,
  };
}

/** Whether a transaction's ACLs set a control. */
export const hasControl = (c: SessionContext, name: string): boolean => c.tx.controls.includes(name);

/**
 * The authentication facts an ACL sees: SPF checked by earlier ACLs and, at the data stage, what the message
 * verifier found (or, for a message the verifier was not needed for, the facts known without it).
 */
export function knownFacts(c: SessionContext, e?: SessionEvent): AuthFacts | undefined {
  let facts = c.tx.auth;
  // Object.assign, not spreads: a spread of a non-empty object followed by new keys is slow on Node 20.
  if (e?.type === 'VERIFY.DONE') facts = Object.assign({}, facts, e.facts);
  else if (e?.type === 'DATA.END') facts = Object.assign({}, facts, unverifiedFacts(c));
  const helo = c.session.spfHelo;
  return helo ? Object.assign({}, facts, { spfHelo: helo }) : facts;
}

/** A message with no DKIM or ARC fields and DMARC off: its results are known without looking anything up. */
export function unverifiedFacts(c: SessionContext): AuthFacts {
  // Literals rather than spreads of optional parts: this runs for every message.
  const dkim = hasControl(c, 'dkim_disable_verify') ? undefined : { signatures: [], skipped: 0 };
  if (!c.settings.arc) return dkim ? { dkim } : {};
  const arc = { state: 'none' as const, code: 'no_chain' as const, reason: 'no ARC header fields', instances: 0, domains: [], sets: [] };
  return dkim ? { dkim, arc } : { arc };
}

/**
 * The end of DATA needs the message verifier: the message carries DKIM or ARC fields, or DMARC is to be
 * evaluated (on, not disabled by a control, and the client is not authenticated).
 */
export function mustVerify(c: SessionContext, summary: DataSummary): boolean {
  if (summary.signed) return !hasControl(c, 'dkim_disable_verify') || c.settings.arc;
  return c.settings.dmarc && !hasControl(c, 'dmarc_disable_verify') && c.session.authenticatedId === undefined;
}

const AT_START = /^:at_start:/;
const AT_END = /^:at_end:/;

/** The context after an ACL run: its acl_c and acl_m sets, added headers, controls and SPF results merged in. */
export function withAclSets(c: SessionContext, out: AclOutcome): Pick<SessionContext, 'session' | 'tx'> {
  const entries = Object.entries(out.set);
  const found = out.found;
  if (entries.length === 0 && out.addHeaders.length === 0 && out.controls.length === 0 && found === undefined) {
    return { session: c.session, tx: c.tx };
  }
  const aclC = { ...c.session.aclC };
  const aclM = { ...c.tx.aclM };
  for (const [k, v] of entries) {
    if (k.startsWith('acl_c')) aclC[k] = v;
    else aclM[k] = v;
  }
  const appended = [...c.tx.addedHeaders];
  const prepended = [...c.tx.prependedHeaders];
  for (const h of out.addHeaders) {
    // Exim's placement prefixes: :at_start: puts the header before all others; :at_end: is the default.
    if (AT_START.test(h)) prepended.push(h.replace(AT_START, ''));
    else appended.push(h.replace(AT_END, ''));
  }
  let auth = c.tx.auth;
  if (found?.spf) auth = Object.assign({}, auth, { spf: found.spf });
  return {
    session: { ...c.session, aclC, ...(found?.spfHelo ? { spfHelo: found.spfHelo } : {}) },
    tx: {
      ...c.tx, aclM, addedHeaders: appended, prependedHeaders: prepended,
      controls: out.controls.length > 0 ? [...new Set([...c.tx.controls, ...out.controls])] : c.tx.controls,
      ...(auth ? { auth } : {}),
    },
  };
}

const DENY_DEFAULT: Record<AclStage, { code: number; enhanced: string }> = {
  connect: { code: 554, enhanced: '5.7.1' },
  helo: { code: 550, enhanced: '5.7.1' },
  mail: { code: 550, enhanced: '5.7.1' },
  rcpt: { code: 550, enhanced: '5.7.1' },
  predata: { code: 554, enhanced: '5.7.1' },
  data: { code: 550, enhanced: '5.7.1' },
};

/** The reply for an ACL that did not accept: deny/drop are 5xx, defer is 4xx; a message may set the codes. */
export function refusalReply(stage: AclStage, out: AclOutcome): Reply {
  if (out.verdict === 'defer') {
    return replyFromText(out.message ?? 'Temporary local problem - please try later', { code: 451, enhanced: '4.7.1' });
  }
  return replyFromText(out.message ?? 'Administrative prohibition', DENY_DEFAULT[stage]);
}

/** The reply for an accepting ACL: its message (if any) replaces the text of the usual 2xx. */
export function acceptReply(usual: Reply, out: AclOutcome | undefined): Reply {
  if (!out?.message) return usual;
  return replyFromText(out.message, { code: usual.code, enhanced: usual.enhanced ?? '2.0.0' });
}

export function bannerText(c: SessionContext): string {
  return c.settings.banner.replace(/\$\{?primary_hostname\}?/g, c.settings.hostname);
}

export function receivedFor(c: SessionContext, id: string, time: number): string {
  const only = c.tx.recipients.length === 1 ? c.tx.recipients[0] : undefined;
  return receivedHeader({
    heloName: c.session.heloName,
    clientIp: c.conn.clientIp,
    byHost: c.settings.hostname,
    protocol: protocolName(c),
    tls: c.session.tls,
    id,
    sender: addressText(c.tx.sender),
    recipient: only ? formatMailbox(only.mailbox) : undefined,
    time,
  });
}

export function envelopeDraft(c: SessionContext): EnvelopeDraft {
  const { session, tx } = c;
  const headers = tx.data && tx.data.headers !== 'tooBig' ? tx.data.headers : [];
  const p = tx.mailParams;
  return {
    sender: addressText(tx.sender),
    recipients: tx.recipients.map((r) => ({
      address: formatMailbox(r.mailbox),
      ...(r.params.notify ? { notify: r.params.notify } : {}),
      ...(r.params.orcpt ? { orcpt: r.params.orcpt } : {}),
      state: 'pending' as const,
    })),
    ...(p.ret ? { ret: p.ret } : {}),
    ...(p.envid ? { envid: p.envid } : {}),
    ...(p.body ? { body: p.body } : {}),
    smtputf8: p.smtputf8,
    client: {
      ip: c.conn.clientIp,
      port: c.conn.clientPort,
      helo: session.heloName,
      ...(session.authenticatedId ? { authenticatedId: session.authenticatedId } : {}),
    },
    server: { ip: c.conn.serverIp, port: c.conn.serverPort },
    protocol: protocolName(c).toLowerCase(),
    ...(session.tls ? { tls: session.tls } : {}),
    receivedAt: tx.receivedAt,
    headerEnd: 0,
    headerSeparator: false,
    addedHeaders: tx.addedHeaders,
    ...(tx.prependedHeaders.length > 0 ? { prependedHeaders: tx.prependedHeaders } : {}),
    ...(tx.controls.includes('freeze') ? { frozen: true } : {}),
    ...arrivalAuth(tx.auth),
    ...(headerValue(headers, 'message-id') ? { messageIdHeader: headerValue(headers, 'message-id') } : {}),
  };
}

/** What the envelope keeps of the authentication results: the ARC chain state, and a summary for people. */
function arrivalAuth(a: AuthFacts | undefined): Pick<EnvelopeDraft, 'arc' | 'auth'> {
  if (!a) return {};
  // Built by assignment and branches, not literals opening with an optional spread: those are slow
  // on Node 20 (decision 0014), and this runs for every message.
  const auth: { spf?: string; dkim?: { domain: string; status: string }[]; dmarc?: string } = {};
  if (a.spf) auth.spf = a.spf.kind;
  if (a.dkim) auth.dkim = a.dkim.signatures.map((s) => ({ domain: s.domain ?? '', status: s.status }));
  if (a.dmarc) auth.dmarc = a.dmarc.status;
  const some = Boolean(a.spf || a.dkim || a.dmarc);
  if (!a.arc) return some ? { auth } : {};
  const arc = { state: a.arc.state, instances: a.arc.instances, ...(a.arc.state === 'fail' ? { reason: a.arc.reason } : {}) };
  return some ? { arc, auth } : { arc };
}

/** The rejection log line: H=helo [ip] F=<sender> rejected RCPT <x>: reason. */
export function refusalLog(c: SessionContext, stage: AclStage, out: AclOutcome): SessionEmitted {
  const d = c.decision;
  const what = stage === 'rcpt' && d?.kind === 'rcpt' ? `RCPT <${addressText(d.recipient)}>`
    : stage === 'mail' && d?.kind === 'mail' ? `MAIL FROM:<${addressText(d.sender)}>` : stage.toUpperCase();
  const r = refusalReply(stage, out);
  const reason = out.logMessage ?? out.message ?? r.lines.join(' ');
  const verb = out.verdict === 'defer' ? 'temporarily rejected' : 'rejected';
  const sender = c.tx.sender !== undefined ? c.tx.sender : d?.kind === 'mail' ? d.sender : undefined;
  return {
    type: 'log', level: 'info',
    msg: `H=${c.session.heloName || '(none)'} [${c.conn.clientIp}] F=<${addressText(sender)}> ${verb} ${what}: ${reason}`,
    fields: { event: 'reject', stage },
  };
}

/** The classic arrival line: <= id sender H=helo [ip]:port P=protocol S=size id=message-id for rcpts. */
export function arrivalLog(c: SessionContext, env: Envelope): SessionEmitted {
  const tls = env.tls ? ` X=${env.tls.version}:${env.tls.cipher}` : '';
  const mid = env.messageIdHeader ? ` id=${env.messageIdHeader.replace(/^<|>$/g, '')}` : '';
  // Exim tags an ARC pass, and (log_selector +dkim) names the domains whose signatures verified.
  const arc = env.arc?.state === 'pass' ? ' ARC' : '';
  const dkim = (env.auth?.dkim ?? []).filter((d) => d.status === 'pass').map((d) => ` DKIM=${d.domain}`).join('');
  const rcpts = env.recipients.map((r) => r.address).join(' ');
  return {
    type: 'log',
    level: 'info',
    msg: `<= ${env.id} ${env.sender || '<>'} H=${c.session.heloName} [${c.conn.clientIp}]:${c.conn.clientPort} P=${env.protocol}${tls}${arc}${dkim} S=${env.size}${mid} for ${rcpts}`,
    fields: { event: 'arrival', id: env.id, sender: env.sender, size: env.size, recipients: env.recipients.length },
  };
}

export { R, reply };
