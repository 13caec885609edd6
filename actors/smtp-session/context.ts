// Pure helpers of the smtp-session actor: initial context, sequencer facts, ACL requests, replies, envelopes.
import type { Mailbox } from '../../protocol/smtp/address.js';
import { formatMailbox } from '../../protocol/smtp/address.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import { R, reply, replyFromText } from '../../protocol/smtp/reply.js';
import { NOTHING_OFFERED } from '../../protocol/smtp/sequencer.js';
import type { SessionFacts } from '../../protocol/smtp/sequencer.js';
import { receivedHeader, withProtocol } from '../../protocol/message/received.js';
import { headerValue } from '../../protocol/message/headers.js';
import type { AclOutcome, AclRequest, AclStage, EnvelopeDraft, SessionContext, SessionInput } from './types.js';

export function initialContext(input: SessionInput): SessionContext {
  return {
    conn: input.conn,
    settings: input.settings,
    ports: input.ports,
    greeting: 'none',
    heloName: '',
    offer: NOTHING_OFFERED,
    tls: input.conn.tls,
    sender: undefined,
    mailParams: { smtputf8: false },
    recipients: [],
    rcptCommands: 0,
    discarded: 0,
    aclC: {},
    aclM: {},
    addedHeaders: [],
    receivedAt: 0,
    synprotErrors: 0,
    unknownCommands: 0,
    shuttingDown: false,
    messages: 0,
  };
}

/** The transaction part of the context, cleared by RSET, EHLO/HELO, STARTTLS and each finished message. */
export function clearedTransaction(): Partial<SessionContext> {
  return {
    sender: undefined,
    mailParams: { smtputf8: false },
    recipients: [],
    rcptCommands: 0,
    discarded: 0,
    aclM: {},
    addedHeaders: [],
    messageId: undefined,
    data: undefined,
  };
}

export function sessionFacts(c: SessionContext): SessionFacts {
  return {
    greeting: c.greeting,
    offer: c.offer,
    tls: c.tls !== undefined,
    authenticated: c.authenticatedId !== undefined,
    mailGiven: c.sender !== undefined,
    smtputf8: c.mailParams.smtputf8,
    recipients: c.recipients.length + c.discarded,
    rcptCommands: c.rcptCommands,
    messageSizeLimit: c.settings.messageSizeLimit,
    recipientsMax: c.settings.recipientsMax,
  };
}

export const addressText = (m: Mailbox | null | undefined): string => (m ? formatMailbox(m) : '');

/** RFC 3848 protocol name for this session (upper case, as in Received:). */
export function protocolName(c: SessionContext): string {
  return withProtocol({
    ehlo: c.greeting === 'ehlo',
    tls: c.tls !== undefined,
    auth: c.authenticatedId !== undefined,
    utf8: c.mailParams.smtputf8,
  });
}

/** Expansion variables, named as Exim names them. */
export function aclVars(c: SessionContext, extra: Record<string, string> = {}): Record<string, string> {
  const sender = c.sender;
  const vars: Record<string, string> = {
    primary_hostname: c.settings.hostname,
    sender_host_address: c.conn.clientIp,
    sender_host_port: String(c.conn.clientPort),
    received_ip_address: c.conn.serverIp,
    received_port: String(c.conn.serverPort),
    sender_helo_name: c.heloName,
    sender_address: addressText(sender),
    sender_address_local_part: sender ? sender.local : '',
    sender_address_domain: sender ? sender.domain : '',
    recipients_count: String(c.recipients.length),
    recipients: c.recipients.map((r) => formatMailbox(r.mailbox)).join(', '),
    received_protocol: protocolName(c).toLowerCase(),
    tls_in_cipher: c.tls?.cipher ?? '',
    tls_in_ver: c.tls?.version ?? '',
    authenticated_id: c.authenticatedId ?? '',
    message_id: c.messageId ?? '',
    ...c.aclC,
    ...c.aclM,
    ...extra,
  };
  return vars;
}

export function aclRequest(c: SessionContext, stage: AclStage): AclRequest {
  const d = c.decision;
  const recipient = stage === 'rcpt' && d?.kind === 'rcpt' ? d.recipient : undefined;
  const vars = aclVars(c, recipient ? { local_part: recipient.local, domain: recipient.domain } : {});
  if (stage === 'data' && c.data) vars.message_size = String(c.data.size);
  return {
    stage,
    clientIp: c.conn.clientIp,
    sender: stage === 'connect' || stage === 'helo' ? undefined : stage === 'mail' && d?.kind === 'mail' ? d.sender : c.sender,
    recipient,
    recipients: c.recipients.map((r) => r.mailbox),
    authenticatedId: c.authenticatedId,
    vars,
    headers: stage === 'data' && c.data && c.data.headers !== 'tooBig' ? c.data.headers : undefined,
  };
}

/** The ACL variables (acl_c*, acl_m*) an ACL run set, merged into the context. */
export function withAclSets(c: SessionContext, out: AclOutcome): Pick<SessionContext, 'aclC' | 'aclM' | 'addedHeaders'> {
  const aclC = { ...c.aclC };
  const aclM = { ...c.aclM };
  for (const [k, v] of Object.entries(out.set)) {
    if (k.startsWith('acl_c')) aclC[k] = v;
    else aclM[k] = v;
  }
  return { aclC, aclM, addedHeaders: out.addHeaders.length > 0 ? [...c.addedHeaders, ...out.addHeaders] : c.addedHeaders };
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
  const only = c.recipients.length === 1 ? c.recipients[0] : undefined;
  return receivedHeader({
    heloName: c.heloName,
    clientIp: c.conn.clientIp,
    byHost: c.settings.hostname,
    protocol: protocolName(c),
    tls: c.tls,
    id,
    sender: addressText(c.sender),
    recipient: only ? formatMailbox(only.mailbox) : undefined,
    time,
  });
}

export function envelopeDraft(c: SessionContext): EnvelopeDraft {
  const headers = c.data && c.data.headers !== 'tooBig' ? c.data.headers : [];
  const p = c.mailParams;
  return {
    sender: addressText(c.sender),
    recipients: c.recipients.map((r) => ({
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
      helo: c.heloName,
      ...(c.authenticatedId ? { authenticatedId: c.authenticatedId } : {}),
    },
    server: { ip: c.conn.serverIp, port: c.conn.serverPort },
    protocol: protocolName(c).toLowerCase(),
    ...(c.tls ? { tls: c.tls } : {}),
    receivedAt: c.receivedAt,
    headerEnd: 0,
    headerSeparator: false,
    addedHeaders: c.addedHeaders,
    ...(headerValue(headers, 'message-id') ? { messageIdHeader: headerValue(headers, 'message-id') } : {}),
  };
}

export { R, reply };
