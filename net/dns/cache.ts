// The answer cache: positive and negative answers for their TTL (RFC 1035 7.4, RFC 2308 5), least recently used out first.
import type { DnsResult } from './types.js';
import type { WireRecord } from './message.js';

type Answered = Exclude<DnsResult<WireRecord>, { kind: 'temperror' }>;

interface Entry {
  readonly result: Answered;
  /** Expiry, ms on the injected clock. */
  readonly expires: number;
}

export class AnswerCache {
  readonly #max: number;
  readonly #now: () => number;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  readonly #entries = new Map<string, Entry>();

  constructor(maxEntries: number, now: () => number) {
    this.#max = Math.max(0, Math.floor(maxEntries));
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The stored answer with its TTL reduced by the time it has spent here, or undefined. */
  get(key: string): Answered | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const now = this.#now();
    if (now >= entry.expires) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    const left = Math.max(1, Math.ceil((entry.expires - now) / 1000));
    return { ...entry.result, ttl: Math.min(entry.result.ttl, left) };
  }

  /** Stores an answer for its TTL; a TTL of zero is not stored (RFC 1035 3.2.1: use once only). */
  set(key: string, result: Answered): void {
    if (this.#max === 0 || result.ttl <= 0) return;
    const now = this.#now();
    this.#entries.delete(key);
    this.#entries.set(key, { result, expires: now + result.ttl * 1000 });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
