// What a session's driver uses from the daemon: its services (spool, ACLs, TLS, metrics) and message authentication.
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Offer } from '../../protocol/smtp/sequencer.js';
import type { SessionSpool } from '../../store/writer.js';
import type { Metrics } from '../../net/admin/metrics.js';
import type { InspectionHub } from '../inspection.js';
import type { Envelope } from '../../store/envelope.js';
import type { ReceiverOptions } from './receiver.js';
import type { AuthVerdict, VerifyRequest } from '../auth-verifier/service.js';
import type { DmarcEvent } from '../auth-verifier/dmarc-effects.js';
import type { AclOutcome, AclRequest, SessionSettings } from './types.js';

/** Message authentication as the driver uses it (see actors/auth-verifier). */
export interface ConnectionAuth {
  /** The body hashes to compute while a message streams in; `dkim` false: control = dkim_disable_verify. */
  hashes(dkim: boolean): ReceiverOptions['hashes'];
  verify(request: VerifyRequest): Promise<AuthVerdict>;
  /** Our authserv-id (RFC 8601). */
  readonly authservId: string;
  /** Whether incoming Authentication-Results claiming our authserv-id are removed for this client. */
  strip(clientIp: string, authenticated: boolean): boolean;
  /** A DMARC verdict was reached: record it, report it. */
  dmarc(event: DmarcEvent): void;
}

/** What every connection shares: the daemon's services, as the listener hands them over. */
export interface ConnectionDeps {
  readonly settings: SessionSettings;
  readonly spool: SessionSpool;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly inspection?: InspectionHub;
  runAcl(request: AclRequest): Promise<AclOutcome>;
  tryAcl(request: AclRequest): AclOutcome | undefined;
  newMessage(): { id: string; time: number };
  offer(clientIp: string, tls: boolean): Offer;
  /**
   * A message is durably queued (its envelope as stored): delivery may start. `editMark`: the spool's
   * edit mark as it was committed, when this process wrote it (MessageSink.editMark).
   */
  committed(envelope: Envelope, editMark?: number): void;
  /** The current TLS server context, or undefined when no certificate is configured. */
  tlsContext(): SecureContext | undefined;
  /** Absent: no message verification (the data ACL sees no DKIM, ARC or DMARC results). */
  readonly auth?: ConnectionAuth;
}
