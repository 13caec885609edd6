// Runs the message verifier and SPF verifier actors for the sessions, with the daemon's DNS and settings.
import { createActor, toPromise } from 'xstate';
import type { BodyHashResult, DkimHash, KeyRecordCache, KeyType, RawField } from '../../protocol/dkim/index.js';
import type { SpfResolver, SpfResult } from '../../protocol/spf/index.js';
import type { DmarcResolver, SuffixList } from '../../protocol/dmarc/index.js';
import type { DkimResolver } from '../../protocol/dkim/index.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import { SpfVerifier } from '../spf-verifier/service.js';
import type { SpfQuery } from '../spf-verifier/service.js';
import { authVerifierMachine } from './machine.js';
import type { AuthVerdict } from './machine.js';

export type { AuthVerdict } from './machine.js';

/** The verification settings taken from config (see ARCHITECTURE.md, "Authentication"). */
export interface AuthSettings {
  /** This host's name: SPF's %{r} and the receiver in Received-SPF. */
  readonly receiver: string;
  readonly dkim: { readonly hashes: readonly DkimHash[]; readonly keyTypes: readonly KeyType[]; readonly minimal: boolean };
  readonly arc: boolean;
  /** DMARC on (dmarc_verify, or dmarc_tld_file set); psl from dmarc_tld_file. */
  readonly dmarc: false | { readonly psl?: SuffixList };
  readonly timeoutMs: number;
}

/** What the session's driver knows at the end of DATA. */
export interface VerifyRequest {
  readonly headers: readonly RawField[];
  readonly bodyHashes: readonly BodyHashResult[];
  readonly clientIp: string;
  readonly helo: string;
  readonly sender: string;
  readonly spf?: SpfResult;
  readonly dkimDisabled: boolean;
  readonly dmarcDisabled: boolean;
  readonly authenticated: boolean;
}

export type AuthResolver = SpfResolver & DkimResolver & DmarcResolver;

export interface AuthVerifierDeps {
  readonly dns: AuthResolver;
  readonly settings: AuthSettings;
  readonly inspection?: InspectionHub;
  readonly now?: () => number;
}

/** Parsed DKIM key records by their text, the oldest dropped first beyond `max`. */
class KeyCache implements KeyRecordCache {
  readonly #entries = new Map<string, unknown>();
  constructor(readonly max: number) {}
  get(record: string): unknown {
    return this.#entries.get(record);
  }
  set(record: string, parsed: unknown): void {
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(record, parsed);
  }
}

export class AuthVerifier {
  readonly #deps: AuthVerifierDeps;
  // Decoding a public key (about 0.25 ms for RSA-2048) costs more than verifying with it.
  readonly #keys = new KeyCache(2000);
  readonly #spf: SpfVerifier;
  readonly #now: () => number;

  constructor(deps: AuthVerifierDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#spf = new SpfVerifier({
      ports: { dns: deps.dns, now: this.#now, receiver: deps.settings.receiver },
      timeoutMs: deps.settings.timeoutMs,
      ...(deps.inspection ? { inspection: deps.inspection } : {}),
    });
  }

  get settings(): AuthSettings {
    return this.#deps.settings;
  }

  /** Whether DKIM or ARC will look at this message: they need body hashes computed while it streams in. */
  wantsBodyHashes(dkimDisabled: boolean): { dkim: boolean; arc: boolean } {
    return { dkim: !dkimDisabled, arc: this.#deps.settings.arc };
  }

  spf(identity: 'mailfrom' | 'helo', q: SpfQuery): Promise<SpfResult> {
    return this.#spf.check(identity, q);
  }

  verify(r: VerifyRequest): Promise<AuthVerdict> {
    const s = this.#deps.settings;
    const dns = this.#deps.dns;
    // DMARC is for remote, unauthenticated senders (Exim's rule), and not when a control turned it off.
    const dmarc = s.dmarc === false || r.dmarcDisabled || r.authenticated ? false as const : { ...(s.dmarc.psl ? { psl: s.dmarc.psl } : {}), random: Math.random };
    const actor = createActor(authVerifierMachine, {
      input: {
        headers: r.headers,
        bodyHashes: r.bodyHashes,
        clientIp: r.clientIp,
        helo: r.helo,
        sender: r.sender,
        ...(r.spf ? { spf: r.spf } : {}),
        dkim: r.dkimDisabled ? false : { hashes: s.dkim.hashes, keyTypes: s.dkim.keyTypes, minimal: s.dkim.minimal },
        arc: s.arc,
        dmarc,
        ports: { dns, now: this.#now, keyCache: this.#keys, spf: { dns, now: this.#now, receiver: s.receiver } },
        timeoutMs: s.timeoutMs,
      },
      ...inspectOption(this.#deps.inspection, 'verifier', () => ({ verifier: 'message', client: r.clientIp, sender: r.sender })),
    });
    const done = toPromise(actor);
    actor.start();
    return done;
  }
}
