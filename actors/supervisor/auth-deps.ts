// Wires message authentication into the sessions: the verifiers with the daemon's DNS, the body hashes the
// receiver computes, Authentication-Results stripping, and where DMARC verdicts go.
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { matchHost } from '../../policy/lists.js';
import type { MatchContext } from '../../policy/lists.js';
import type { SpfQuery } from '../../policy/acl-types.js';
import type { SpfResult } from '../../protocol/spf/index.js';
import type { Envelope } from '../../store/envelope.js';
import type { SpoolChange } from '../../store/spool.js';
import type { InspectionHub } from '../inspection.js';
import { AuthVerifier } from '../auth-verifier/service.js';
import type { AuthResolver, AuthSettings } from '../auth-verifier/service.js';
import { DmarcEffects } from '../auth-verifier/dmarc-effects.js';
import type { ConnectionAuth } from '../smtp-session/deps.js';

export interface AuthWiring {
  readonly auth: ConnectionAuth;
  /** The ACL port behind the `spf` and `spf_helo` conditions. */
  spf(identity: 'mailfrom' | 'helo', q: SpfQuery): Promise<SpfResult>;
}

export interface AuthWiringDeps {
  readonly dns: AuthResolver;
  readonly logger: Logger;
  readonly match: MatchContext;
  readonly inspection: () => InspectionHub;
  newId(): string;
  /** Where generated messages (DMARC failure reports) are stored. */
  spool(): { apply(changes: readonly SpoolChange[]): Promise<unknown> } | undefined;
  /** A message we generated is durable: deliver it. */
  submit(id: string): void;
}

const expandHost = (text: string, c: Config): string => text.replace(/\$\{?primary_hostname\}?/g, c.primary_hostname);

/** `settings` is compileAuth(c), made when the config was checked. */
export function wireAuth(c: Config, settings: AuthSettings, d: AuthWiringDeps): AuthWiring {
  const verifier = new AuthVerifier({
    dns: d.dns,
    settings,
    get inspection() {
      return d.inspection();
    },
  });
  const authservId = c.authserv_id ?? c.primary_hostname;
  const effects = new DmarcEffects(
    {
      reporter: c.primary_hostname,
      ...(c.dmarc_history_file ? { historyFile: c.dmarc_history_file } : {}),
      ...(c.dmarc_forensic_sender ? { forensicSender: expandHost(c.dmarc_forensic_sender, c) } : {}),
      dsnFrom: expandHost(c.dsn_from, c),
      authservId,
      ...(settings.dmarc !== false && settings.dmarc.psl ? { psl: settings.dmarc.psl } : {}),
    },
    {
      dns: d.dns,
      logger: d.logger,
      now: Date.now,
      newId: d.newId,
      queue: async (envelope: Envelope, data: Buffer) => {
        const spool = d.spool();
        if (!spool) throw new Error('spool is not open');
        await spool.apply([{ kind: 'insert', envelope, data }]);
        d.submit(envelope.id);
      },
    },
  );
  const dkimHashes = { hashes: settings.dkim.hashes, keyTypes: settings.dkim.keyTypes };
  const auth: ConnectionAuth = {
    hashes: (dkim) => (!dkim && !settings.arc ? undefined : { dkim: dkim ? dkimHashes : false, arc: settings.arc }),
    verify: (r) => verifier.verify(r),
    authservId,
    // RFC 8601 section 5: only mail from inside our trust boundary may keep fields that claim our authserv-id.
    strip: (ip, authenticated) => !authenticated && !matchHost(ip, c.relay_from_hosts, d.match),
    dmarc: (e) => {
      void effects.handle(e);
    },
  };
  return { auth, spf: (identity, q) => verifier.spf(identity, q) };
}
