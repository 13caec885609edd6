// The count of open connections behind smtp_accept_max and smtp_accept_max_per_host: plain data, no actor.
import type { RefusalReason } from '../events.js';

/** Why a connection is refused, or 'admit'. */
export type Admission = 'admit' | RefusalReason;

/**
 * Counting is kept out of the listener actor on purpose: it changes twice per connection, and an actor
 * step for each (with its inspection) cost about 60 us per connection, some 5% of a one-message session
 * (docs/decisions/0013). The actor sees what changes the listener's course: reloads, the stop, refusals.
 */
export class Admissions {
  #maxTotal: number;
  #maxPerHost: number;
  #total = 0;
  /** Open connections per client IP (an entry per connected host). */
  readonly #perHost = new Map<string, number>();

  constructor(maxTotal: number, maxPerHost: number) {
    this.#maxTotal = maxTotal;
    this.#maxPerHost = maxPerHost;
  }

  get total(): number {
    return this.#total;
  }

  /** Open connections from this address. */
  from(ip: string): number {
    return this.#perHost.get(ip) ?? 0;
  }

  /** New limits apply to connections yet to come; open ones are not touched. A limit of 0 means none, as in Exim. */
  limits(maxTotal: number, maxPerHost: number): void {
    this.#maxTotal = maxTotal;
    this.#maxPerHost = maxPerHost;
  }

  /** Decide on a new connection from `ip`, and count it when admitted. */
  open(ip: string): Admission {
    if (this.#maxTotal > 0 && this.#total >= this.#maxTotal) return 'total';
    const n = this.#perHost.get(ip) ?? 0;
    if (this.#maxPerHost > 0 && n >= this.#maxPerHost) return 'per-host';
    this.#perHost.set(ip, n + 1);
    this.#total++;
    return 'admit';
  }

  /** A connection counted by open() ended. */
  close(ip: string): void {
    const n = (this.#perHost.get(ip) ?? 0) - 1;
    if (n > 0) this.#perHost.set(ip, n);
    else this.#perHost.delete(ip);
    this.#total = Math.max(0, this.#total - 1);
  }
}
