// `petrel dmarc report` (issue 6 item 3): RFC 7489 aggregate reports from the verdicts of a dmarc_history_file, one
// per policy domain and period, gzipped (section 7.2.1.1), mailed only to verified destinations (section 7.1) within
// their size limits (section 6.2 "!size"). Written to --out and/or queued in Petrel's spool (--queue), after which a
// running daemon is told (SIGUSR1) to look at its queue, so the reports go out like any other mail.
import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, ConfigLoadError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/load.js';
import type { Resolver } from '../net/dns/resolver.js';
import {
  aggregateReportMail, aggregateReportName, aggregateReportXml, externalReportAuthorized, fitsSizeLimit, groupByPolicyDomain,
  parseDmarcUri, parseHistory,
} from '../protocol/dmarc/index.js';
import type { DmarcUri, DmarcVerdict } from '../protocol/dmarc/index.js';
import type { Envelope } from '../store/envelope.js';
import { createIdGenerator } from '../store/ids.js';
import { Spool } from '../store/spool.js';
import type { SpoolChange } from '../store/spool.js';
import { CliError, clockMs, EX_CANTCREAT, EX_CONFIG, EX_TEMPFAIL, guarded, printJson, readInput, resolverFor } from './auth-io.js';

type Out = NodeJS.WritableStream;

export interface DmarcReportOptions {
  readonly config?: string;
  readonly history?: string;
  readonly period?: string;
  readonly from?: string;
  readonly to?: string;
  readonly reporter?: string;
  readonly orgName?: string;
  readonly email?: string;
  readonly extraContactInfo?: string;
  readonly out?: string;
  readonly queue?: boolean;
  readonly dnsCache?: string;
  readonly dnsServer?: string;
  readonly now?: string;
}

const DAY = 86_400_000;

/** A time option: seconds since the epoch, or an ISO 8601 date or date-time (a bare date is 00:00 UTC). */
function instant(text: string, option: string): number {
  const t = text.trim();
  if (/^\d{1,12}$/.test(t)) return Number(t) * 1000;
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t) ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) throw new CliError(`${option} wants seconds since the epoch or an ISO 8601 date, not ${JSON.stringify(text)}`);
  return ms;
}

/**
 * The reporting period as [begin, end) in ms: --period DAY (that UTC day), --from/--to, or by default the UTC day
 * before now. The report's date_range says begin and end - 1 s, both inclusive.
 */
function periodOf(o: DmarcReportOptions, now: number): { begin: number; end: number } {
  if (o.period !== undefined) {
    if (o.from !== undefined || o.to !== undefined) throw new CliError('give --period or --from/--to, not both');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(o.period.trim())) throw new CliError(`--period wants YYYY-MM-DD, not ${JSON.stringify(o.period)}`);
    const begin = instant(o.period, '--period');
    return { begin, end: begin + DAY };
  }
  if (o.from !== undefined || o.to !== undefined) {
    if (o.from === undefined || o.to === undefined) throw new CliError('--from and --to go together');
    const begin = instant(o.from, '--from');
    const end = instant(o.to, '--to');
    if (end - begin < 1000) throw new CliError('--to must be at least one second after --from');
    return { begin, end };
  }
  const today = Math.floor(now / DAY) * DAY;
  return { begin: today - DAY, end: today };
}

/** "Name <addr@host>" or "addr@host" -> addr@host. */
function addressIn(text: string): string {
  return (/<([^<>]*)>/.exec(text)?.[1] ?? text).trim();
}

/** The DSN sender of the config with $primary_hostname expanded, as the queue's own reports use it. */
function dsnFrom(config: Config): string {
  return config.dsn_from.replace(/\$\{?primary_hostname\}?/g, config.primary_hostname);
}

async function configOf(file: string | undefined): Promise<Config> {
  try {
    return await loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigLoadError) throw new CliError(e.message, EX_CONFIG);
    throw e;
  }
}

/** Ask a running daemon (its pid in the spool directory) to look at its queue now, as `petrel queue retry` does. */
function kickDaemon(spoolDir: string): boolean {
  try {
    const pid = Number(readFileSync(join(spoolDir, 'petrel.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 'SIGUSR1');
    return true;
  } catch {
    return false;
  }
}

interface Destination {
  readonly uri: DmarcUri;
  readonly address: string;
}

interface Skip {
  readonly uri: string;
  readonly reason: string;
}

/**
 * Where reports about `policyDomain` may go: the mailto: URIs of rua=, each checked by RFC 7489 section 7.1
 * (same Organizational Domain, or a <policy domain>._report._dmarc.<destination> record; its rua= replaces the URI).
 */
async function destinations(policyDomain: string, rua: readonly string[], dns: Resolver):
  Promise<{ to: Destination[]; skipped: Skip[]; temporary: boolean }> {
  const to: Destination[] = [];
  const skipped: Skip[] = [];
  let temporary = false;
  const add = (uri: DmarcUri): void => {
    if (uri.address === undefined) return;
    const address = uri.address;
    if (!to.some((d) => d.address.toLowerCase() === address.toLowerCase())) to.push({ uri, address });
  };
  for (const text of rua) {
    const uri = parseDmarcUri(text);
    if (uri === undefined) {
      skipped.push({ uri: text, reason: 'not a usable DMARC URI' });
      continue;
    }
    if (uri.scheme !== 'mailto' || uri.address === undefined || uri.domain === undefined) {
      skipped.push({ uri: uri.uri, reason: `only mailto: destinations are supported (${uri.scheme}:)` });
      continue;
    }
    const check = await externalReportAuthorized(policyDomain, uri.domain, { dns });
    if (check.kind === 'temperror') {
      temporary = true;
      skipped.push({ uri: uri.uri, reason: `external destination not verified now (DNS: ${check.reason}); try again later` });
    } else if (check.kind === 'unauthorized') {
      skipped.push({ uri: uri.uri, reason: `external destination not verified (RFC 7489 section 7.1): ${check.reason}` });
    } else if (check.rua !== undefined && check.rua.length > 0) {
      for (const r of check.rua) add(r);
    } else add(uri);
  }
  return { to, skipped, temporary };
}

/** A file name part from an address. */
const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9@._+-]/g, '_');

/** A report mail as a queued message: null sender (or --email), one recipient, due now. */
function insertOf(id: string, sender: string, to: string, message: Buffer, messageId: string, now: number): SpoolChange {
  const blank = message.indexOf('\r\n\r\n');
  const envelope: Envelope = {
    format: 1,
    id,
    sender,
    recipients: [{ address: to, state: 'pending' }],
    smtputf8: false,
    body: '7BIT',
    client: { ip: '', port: 0, helo: '' },
    server: { ip: '', port: 0 },
    protocol: 'local',
    receivedAt: now,
    size: message.length,
    headerEnd: blank < 0 ? 0 : blank + 4,
    headerSeparator: blank >= 0,
    addedHeaders: [],
    messageIdHeader: messageId,
    chunks: 0,
    due: now,
  };
  return { kind: 'insert', envelope, data: message };
}

export function dmarcReport(o: DmarcReportOptions, out: Out, err: Out): Promise<number> {
  return guarded(err, async () => {
    const now = clockMs(o.now);
    const { begin, end } = periodOf(o, now);
    const config = await configOf(o.config);
    const historyFile = o.history ?? (config as unknown as Record<string, unknown>)['dmarc_history_file'];
    if (typeof historyFile !== 'string' || historyFile === '') {
      throw new CliError('no history file: give --history FILE (or set dmarc_history_file in the config)');
    }
    const reporter = (o.reporter ?? config.primary_hostname).trim();
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(reporter)) throw new CliError(`--reporter: ${JSON.stringify(reporter)} is not a host name`);
    // From: the contact address when given (also the envelope sender); else dsn_from with a null envelope sender,
    // as Exim sends DMARC failure reports without dmarc_forensic_sender.
    const fromHeader = o.email !== undefined ? o.email.trim() : dsnFrom(config);
    const envelopeSender = o.email !== undefined ? addressIn(o.email) : '';
    const contact = addressIn(o.email ?? dsnFrom(config));
    if (!/^[^@\s]+@[^@\s]+$/.test(contact)) throw new CliError(`--email: ${JSON.stringify(o.email ?? contact)} is not an address`);
    const orgName = (o.orgName ?? reporter).trim();
    if (o.out !== undefined) {
      try {
        mkdirSync(o.out, { recursive: true });
      } catch (e) {
        throw new CliError(`cannot create ${o.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EX_CANTCREAT);
      }
    }

    const verdicts = parseHistory((await readInput(historyFile, 'history file')).toString('utf8'));
    const inPeriod = verdicts.filter((v) => v.received >= begin && v.received < end);
    const groups = groupByPolicyDomain(inPeriod);
    const dns = await resolverFor(o.dnsCache, o.dnsServer);
    const newId = createIdGenerator(Date.now, () => randomInt(0, 2 ** 32));
    const inserts: SpoolChange[] = [];
    const reports: Record<string, unknown>[] = [];
    let temporary = false;

    for (const [policyDomain, list] of groups) {
      const period = { begin, end: end - 1000, reportId: `${Math.floor(begin / 1000)}.${policyDomain}` };
      const xml = aggregateReportXml(period, list, {
        orgName, email: contact, ...(o.extraContactInfo !== undefined ? { extraContactInfo: o.extraContactInfo } : {}),
      });
      const payload = gzipSync(Buffer.from(xml, 'utf8'));
      const filename = aggregateReportName({ receiver: reporter, policyDomain, begin: period.begin, end: period.end, gzip: true });
      if (o.out !== undefined) writeFileSync(join(o.out, filename), payload);
      // The record seen last in the period says where reports go (as policy_published does).
      const latest = list.reduce((a: DmarcVerdict, b) => (b.received >= a.received ? b : a));
      const dest = await destinations(policyDomain, latest.rua, dns);
      temporary ||= dest.temporary;
      const sent: Record<string, unknown>[] = [];
      const skipped: Skip[] = [...dest.skipped];
      if (latest.rua.length === 0) skipped.push({ uri: '', reason: 'the policy record has no rua=' });
      dest.to.forEach((d, i) => {
        const mail = aggregateReportMail({
          from: fromHeader, to: [d.address], submitter: reporter, policyDomain, period, payload, gzip: true, now,
          messageIdSeed: `${period.reportId}.${i + 1}`,
        });
        if (!fitsSizeLimit(d.uri, mail.message.length)) {
          skipped.push({ uri: d.uri.uri, reason: `the report mail has ${mail.message.length} octets, over the destination's limit of ${d.uri.maxSize} (RFC 7489 section 6.2)` });
          return;
        }
        const entry: Record<string, unknown> = { to: d.address, size: mail.message.length, messageId: mail.messageId, subject: mail.subject };
        if (o.out !== undefined) {
          const eml = join(o.out, `${filename.replace(/\.xml\.gz$/, '')}.${fileSafe(d.address)}.eml`);
          writeFileSync(eml, mail.message);
          entry['file'] = eml;
        }
        if (o.queue) {
          const id = newId();
          inserts.push(insertOf(id, envelopeSender, d.address, mail.message, mail.messageId, Date.now()));
          entry['queueId'] = id;
        }
        sent.push(entry);
      });
      for (const s of skipped) err.write(`petrel: ${policyDomain}: no report to ${s.uri || '(nobody)'}: ${s.reason}\n`);
      reports.push({
        policyDomain, reportId: period.reportId, messages: list.length, filename,
        file: o.out !== undefined ? join(o.out, filename) : null, xmlSize: Buffer.byteLength(xml), gzipSize: payload.length, sent, skipped,
      });
    }
    if (groups.size === 0) err.write(`petrel: no DMARC verdicts with a policy record between ${new Date(begin).toISOString()} and ${new Date(end).toISOString()}\n`);

    let daemonTold = false;
    if (o.queue && inserts.length > 0) {
      const spool = Spool.open(config.spool_directory);
      try {
        await spool.apply(inserts);
      } finally {
        await spool.close();
      }
      daemonTold = kickDaemon(config.spool_directory);
    }
    printJson(out, {
      period: { begin: Math.floor(begin / 1000), end: Math.floor(end / 1000) - 1 },
      reporter,
      verdicts: { read: verdicts.length, inPeriod: inPeriod.length },
      reports,
      queued: inserts.length,
      ...(o.queue ? { spool: config.spool_directory, daemonTold } : {}),
    });
    return temporary ? EX_TEMPFAIL : 0;
  });
}
