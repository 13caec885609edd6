// Runs SPF verifier actors for the sessions' ACLs, sharing a check that is already under way.
import { createActor, toPromise } from 'xstate';
import type { SpfPorts, SpfResult } from '../../protocol/spf/index.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import { spfVerifierMachine } from './machine.js';

export interface SpfQuery {
  readonly ip: string;
  readonly helo: string;
  readonly sender: string;
}

export interface SpfVerifierDeps {
  readonly ports: SpfPorts;
  readonly timeoutMs: number;
  readonly inspection?: InspectionHub;
}

/**
 * How long a finished check is shared. An ACL that first ran inline stops at the SPF check and is run again
 * by the driver, which must find the same check rather than start a second one; later messages of the
 * session ask again (the DNS cache makes that cheap) so that a result never outlives its records' TTLs by much.
 */
const SHARE_MS = 10_000;

export class SpfVerifier {
  readonly #deps: SpfVerifierDeps;
  readonly #inflight = new Map<string, Promise<SpfResult>>();

  constructor(deps: SpfVerifierDeps) {
    this.#deps = deps;
  }

  check(identity: 'mailfrom' | 'helo', q: SpfQuery): Promise<SpfResult> {
    const key = `${identity}|${q.ip}|${q.helo}|${identity === 'mailfrom' ? q.sender : ''}`;
    const known = this.#inflight.get(key);
    if (known) return known;
    const actor = createActor(spfVerifierMachine, {
      input: { identity, ip: q.ip, helo: q.helo, sender: q.sender, ports: this.#deps.ports, timeoutMs: this.#deps.timeoutMs },
      ...inspectOption(this.#deps.inspection, 'verifier', () => ({ verifier: 'spf', identity, client: q.ip, sender: q.sender, helo: q.helo })),
    });
    const done = toPromise(actor);
    actor.start();
    this.#inflight.set(key, done);
    const forget = (): void => {
      setTimeout(() => {
        if (this.#inflight.get(key) === done) this.#inflight.delete(key);
      }, SHARE_MS).unref();
    };
    done.then(forget, forget);
    return done;
  }
}
