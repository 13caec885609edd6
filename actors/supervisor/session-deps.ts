// What every SMTP session is given, made from a compiled config: the daemon and each session process build it alike.
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { SessionSpool } from '../../store/writer.js';
import type { Envelope } from '../../store/envelope.js';
import type { Metrics } from '../../net/admin/metrics.js';
import type { InspectionHub } from '../inspection.js';
import type { ConnectionDeps } from '../smtp-session/deps.js';
import type { SessionSettings } from '../smtp-session/types.js';
import type { CompiledPolicy } from './policy.js';
import type { AuthWiring } from './auth-deps.js';

/** `logArrivals`: whether the logger writes info lines (the arrival line is not built when it would be dropped). */
export function sessionSettings(c: Config, policy: CompiledPolicy, logArrivals: boolean): SessionSettings {
  return {
    logArrivals,
    hostname: c.primary_hostname,
    banner: c.smtp_banner,
    messageSizeLimit: c.message_size_limit,
    recipientsMax: c.recipients_max,
    maxSynprotErrors: c.smtp_max_synprot_errors,
    maxUnknownCommands: c.smtp_max_unknown_commands,
    bareNewline: c.smtp_bare_newline,
    lineLengthLimit: c.message_linelength_limit,
    aclStages: policy.stages,
    dmarc: c.dmarc_verify || c.dmarc_tld_file !== undefined,
    arc: c.arc_verify,
    headerMax: c.header_maxsize,
    timeouts: {
      command: c.smtp_receive_timeout,
      data: c.smtp_data_timeout,
      acl: c.acl_timeout,
      tlsHandshake: c.tls_handshake_timeout,
      // The verifier bounds each of its steps with auth_timeout; this covers them all, with room to spare.
      verify: 3 * c.auth_timeout + 5000,
    },
  };
}

export interface SessionDepsInput {
  readonly config: Config;
  readonly policy: CompiledPolicy;
  readonly tls: SecureContext | undefined;
  /** Undefined until the spool is open (a session that needs it then is a bug, and says so). */
  readonly spool: SessionSpool | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  inspection(): InspectionHub;
  readonly auth: AuthWiring;
  newId(): string;
  /** A message is durably queued: hand it to whoever delivers, with the edit mark read at its commit. */
  committed(envelope: Envelope, editMark?: number): void;
}

export function connectionDeps(d: SessionDepsInput): ConnectionDeps {
  const { policy, tls, spool, auth } = d;
  const ports = {
    verifyRecipient: (a: { local: string; domain: string }) => policy.verifyRecipient(a),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    spf: auth.spf,
  };
  return {
    settings: sessionSettings(d.config, policy, d.logger.isLevelEnabled('info')),
    get spool() {
      if (!spool) throw new Error('spool is not open');
      return spool;
    },
    logger: d.logger,
    metrics: d.metrics,
    get inspection() {
      return d.inspection();
    },
    runAcl: (request) => policy.run(request, ports),
    tryAcl: (request) => policy.tryRun(request, ports),
    newMessage: () => ({ id: d.newId(), time: Date.now() }),
    offer: (ip, active) => policy.offer(ip, active, tls !== undefined),
    committed: d.committed,
    tlsContext: () => tls,
    auth: auth.auth,
  };
}
