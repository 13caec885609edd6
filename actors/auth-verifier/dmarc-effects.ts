// What a DMARC verdict leaves behind (RFC 7489 section 7): a line group in dmarc_history_file, and failure
// ("forensic") reports (RFC 6591) when an ACL set control = dmarc_enable_forensic and the record asks for them.
import { appendFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import {
  externalReportAuthorized, failureReport, failureReportWanted, historyRecord,
} from '../../protocol/dmarc/index.js';
import type { ArcSummary, DmarcInput, DmarcResolver, DmarcResult, SuffixList } from '../../protocol/dmarc/index.js';
import type { RawField } from '../../protocol/dkim/index.js';
import type { Envelope } from '../../store/envelope.js';
import type { ArcFacts } from '../../policy/auth-facts.js';

export interface DmarcEffectSettings {
  readonly reporter: string;
  readonly historyFile?: string;
  /** dmarc_forensic_sender, expanded: the report's From: and (its address) the envelope sender. */
  readonly forensicSender?: string;
  /** dsn_from, expanded: the From: when no forensic sender is set (the envelope sender is then <>). */
  readonly dsnFrom: string;
  readonly authservId: string;
  readonly psl?: SuffixList;
}

export interface DmarcEffectPorts {
  readonly dns: DmarcResolver;
  readonly logger: Logger;
  readonly now: () => number;
  newId(): string;
  /** Queue a message we generated; resolves once it is durable. */
  queue(envelope: Envelope, data: Buffer): Promise<void>;
}

/** One verified message, as the driver knows it when the verifier answers. */
export interface DmarcEvent {
  readonly messageId: string;
  readonly received: number;
  readonly clientIp: string;
  readonly sender: string;
  readonly helo: string;
  readonly recipients: readonly string[];
  readonly input: DmarcInput;
  readonly result: DmarcResult;
  readonly arc?: ArcFacts;
  readonly headers: readonly RawField[];
  /** The Authentication-Results value we would add (for the report). */
  readonly authResults: string;
  /** control = dmarc_enable_forensic was set. */
  readonly forensic: boolean;
}

const addressOf = (text: string): string => {
  const angle = /<([^<>]*)>/.exec(text);
  return (angle ? angle[1] as string : text).trim();
};

export class DmarcEffects {
  readonly #settings: DmarcEffectSettings;
  readonly #ports: DmarcEffectPorts;
  /** History appends in order, one at a time, so that records never interleave. */
  #writing: Promise<void> = Promise.resolve();

  constructor(settings: DmarcEffectSettings, ports: DmarcEffectPorts) {
    this.#settings = settings;
    this.#ports = ports;
  }

  /** Record and report; never throws (trouble is logged: the message itself is not affected). */
  async handle(e: DmarcEvent): Promise<void> {
    await Promise.all([this.#history(e), e.forensic ? this.#forensic(e) : Promise.resolve()]);
  }

  #history(e: DmarcEvent): Promise<void> {
    const file = this.#settings.historyFile;
    if (file === undefined) return Promise.resolve();
    const arc: ArcSummary | undefined = e.arc
      ? {
        result: e.arc.state, policy: 'unused',
        seals: e.arc.sets.filter((s) => s.sealDomain).map((s) => ({ i: s.instance, d: s.sealDomain as string, s: s.sealSelector ?? '' })),
      }
      : undefined;
    const text = historyRecord({
      jobId: e.messageId, reporter: this.#settings.reporter, received: e.received, sourceIp: e.clientIp,
      mailFromDomain: e.sender.includes('@') ? e.sender.slice(e.sender.lastIndexOf('@') + 1) : '',
      ...(e.recipients[0] ? { envelopeTo: e.recipients[0].slice(e.recipients[0].lastIndexOf('@') + 1) } : {}),
      input: e.input, result: e.result, ...(arc ? { arc } : {}),
    });
    if (text === undefined) return Promise.resolve();
    const next = this.#writing.then(() => appendFile(file, text.endsWith('\n') ? text : `${text}\n`)).catch((err: Error) => {
      this.#ports.logger.error({ event: 'dmarc-history-error', file, err: err.message }, `dmarc_history_file ${file}: ${err.message}`);
    });
    this.#writing = next;
    return next;
  }

  async #forensic(e: DmarcEvent): Promise<void> {
    const r = e.result;
    if (!failureReportWanted(r, e.input)) return;
    const { dns, logger } = this.#ports;
    const to: string[] = [];
    for (const uri of r.ruf) {
      if (uri.scheme !== 'mailto' || !uri.address || !uri.domain) continue;
      // RFC 7489 section 7.1: reports go outside the policy domain's organization only when the destination agreed.
      const check = await externalReportAuthorized(r.usedDomain, uri.domain, { dns, ...(this.#settings.psl ? { psl: this.#settings.psl } : {}) });
      if (check.kind === 'authorized') to.push(uri.address);
      else logger.info({ event: 'dmarc-forensic-skipped', ruf: uri.uri, reason: check.reason }, `DMARC failure report not sent to ${uri.uri}: ${check.reason}`);
    }
    if (to.length === 0) return;
    const id = this.#ports.newId();
    const now = this.#ports.now();
    const from = this.#settings.forensicSender ?? this.#settings.dsnFrom;
    const headers = Buffer.from(e.headers.map((h) => (typeof h.raw === 'string' ? h.raw : h.raw.toString('latin1')) + '\r\n').join(''), 'latin1');
    const report = failureReport({
      reportingMta: this.#settings.reporter, from, to, now, messageIdSeed: id, arrivalDate: e.received, sourceIp: e.clientIp,
      originalMailFrom: e.sender, originalRcptTo: e.recipients, authenticationResults: e.authResults, result: r,
      deliveryResult: r.disposition === 'reject' ? 'reject' : r.disposition === 'quarantine' ? 'spam' : 'delivered',
      originalHeaders: headers, returned: 'headers',
    });
    const data = Buffer.concat([report.head, report.tail]);
    const blank = report.head.indexOf('\r\n\r\n');
    const sender = this.#settings.forensicSender ? addressOf(this.#settings.forensicSender) : '';
    const envelope: Envelope = {
      format: 1, id, sender, recipients: to.map((address) => ({ address, state: 'pending' as const })), smtputf8: false,
      body: report.eightBit ? '8BITMIME' : '7BIT', client: { ip: '', port: 0, helo: '' }, server: { ip: '', port: 0 }, protocol: 'local',
      receivedAt: now, size: data.length, headerEnd: blank < 0 ? 0 : blank + 4, headerSeparator: blank >= 0, addedHeaders: [],
      messageIdHeader: report.messageId, chunks: 0, due: now, reportOf: e.messageId,
    };
    try {
      await this.#ports.queue(envelope, data);
      logger.info({ event: 'dmarc-forensic', id, about: e.messageId, to }, `DMARC failure report ${id} about ${e.messageId} queued for ${to.join(', ')}`);
    } catch (err) {
      logger.error({ event: 'dmarc-forensic-error', err: (err as Error).message }, `DMARC failure report not queued: ${(err as Error).message}`);
    }
  }
}
