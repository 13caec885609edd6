// Turning a ReportRequest into a queued message: the DSN (protocol/dsn) with the original's headers
// or whole text, as a spool insert that is committed together with the outcome that caused it.
import { buildReport } from '../../protocol/dsn/report.js';
import type { ReportRecipient } from '../../protocol/dsn/report.js';
import { dsnStatusFromReply } from '../../protocol/dsn/status.js';
import { headerValue, parseHeaders } from '../../protocol/message/headers.js';
import type { Envelope } from '../../store/envelope.js';
import type { SpoolChange } from '../../store/spool.js';
import type { Spool } from '../../store/spool.js';
import { messageChunks } from '../../store/reader.js';
import type { ReportRequest } from './outcomes.js';

export interface ReportSettings {
  readonly hostname: string;
  /** dsn_from, with $primary_hostname expanded. */
  readonly from: string;
  /** bounce_return_size_limit: above it a report returns the headers only. */
  readonly returnLimit: number;
  readonly now: number;
  newId(): string;
}

function recipientOf(env: Envelope, req: ReportRequest['recipients'][number], kind: ReportRequest['kind']): ReportRecipient {
  const rec = env.recipients[req.index];
  const r = req.result;
  const action = kind === 'failure' ? 'failed' : kind === 'delay' ? 'delayed' : r?.relayed ? 'relayed' : 'delivered';
  const reply = r?.outcome.kind === 'delivered' ? r.outcome.reply : r?.outcome.reply;
  const fromReply = reply ? /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3}))?/.exec(reply) : null;
  const status = r?.outcome.kind === 'failed' ? r.outcome.status
    : fromReply ? dsnStatusFromReply(Number(fromReply[1]), fromReply[2])
      : kind === 'delay' ? (rec?.status ?? '4.0.0') : '2.0.0';
  const reason = r?.outcome.kind === 'failed' || r?.outcome.kind === 'deferred' ? r.outcome.reason : rec?.lastError;
  return {
    finalRecipient: rec?.address ?? '',
    ...(rec?.orcpt ? { originalRecipient: rec.orcpt } : {}),
    action,
    status,
    ...(r?.host ? { remoteMta: { host: r.host.name, ip: r.host.ip, port: r.host.port } } : rec?.host ? { remoteMta: { host: rec.host.name, ip: rec.host.ip, port: rec.host.port } } : {}),
    ...(reply ? { diagnostic: reply } : reason ? { diagnostic: `X-Petrel; ${reason}` } : {}),
    ...(rec?.lastAttempt ? { lastAttempt: rec.lastAttempt } : {}),
    ...(req.willRetryUntil ? { willRetryUntil: req.willRetryUntil } : {}),
    ...(r && (r.greeting || r.heloResponse || reason)
      ? { extra: { ...(r.greeting ? { greeting: r.greeting } : {}), ...(r.heloResponse ? { heloResponse: r.heloResponse } : {}), ...(reason ? { detail: reason } : {}) } }
      : {}),
  };
}

/**
 * A report as a new queued message from the null sender to `to` (the original sender, or
 * postmaster for a report about a report).
 */
export function reportMessage(spool: Spool, env: Envelope, req: ReportRequest, to: string, s: ReportSettings): SpoolChange {
  const headers = spool.headerSection(env.id) ?? Buffer.alloc(0);
  const fields = parseHeaders(headers);
  const id = s.newId();
  const full = req.kind === 'failure' && env.ret === 'FULL' && env.size <= s.returnLimit;
  const report = buildReport({
    kind: req.kind,
    reportingMta: s.hostname,
    arrivalDate: env.receivedAt,
    now: s.now,
    messageIdSeed: id,
    from: s.from,
    to,
    ...(env.envid ? { originalEnvelopeId: env.envid } : {}),
    ret: full ? 'FULL' : 'HDRS',
    originalHeaders: headers,
    ...(headerValue(fields, 'subject') ? { originalSubject: headerValue(fields, 'subject') } : {}),
    queueId: env.id,
    smtputf8: env.smtputf8,
    ...(env.body ? { originalBody: env.body } : {}),
    recipients: req.recipients.map((r) => recipientOf(env, r, req.kind)),
  });
  const parts: Buffer[] = [report.head];
  if (report.original === 'full') for (const chunk of messageChunks(spool, env)) parts.push(chunk);
  parts.push(report.tail);
  const data = Buffer.concat(parts);
  const blank = report.head.indexOf('\r\n\r\n');
  const envelope: Envelope = {
    format: 1,
    id,
    sender: '',
    recipients: [{ address: to, state: 'pending' }],
    smtputf8: report.smtputf8,
    body: report.eightBit ? '8BITMIME' : '7BIT',
    client: { ip: '', port: 0, helo: '' },
    server: { ip: '', port: 0 },
    protocol: 'local',
    receivedAt: s.now,
    size: data.length,
    headerEnd: blank < 0 ? 0 : blank + 4,
    headerSeparator: blank >= 0,
    addedHeaders: [],
    messageIdHeader: report.messageId,
    chunks: 0,
    due: s.now,
    reportOf: env.id,
  };
  return { kind: 'insert', envelope, data };
}
