// Shared helpers for the SPF unit tests: a counting resolver over the project's JSON DNS fixtures, and a checkHost
// call with fixed ports.
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import { checkHost } from '../../../protocol/spf/index.js';
import type { SpfDnsResult, SpfDnsType, SpfPorts, SpfRecordTypes, SpfResolver, SpfResult } from '../../../protocol/spf/index.js';

export const NOW = Date.UTC(2024, 1, 29, 12, 0, 0);

/** Wraps any SpfResolver and records every query, in order. */
export class CountingResolver implements SpfResolver {
  readonly queries: string[] = [];
  readonly #inner: SpfResolver;

  constructor(inner: SpfResolver) {
    this.#inner = inner;
  }

  lookup<T extends SpfDnsType>(name: string, type: T): Promise<SpfDnsResult<SpfRecordTypes[T]>> {
    this.queries.push(`${type} ${name}`);
    return this.#inner.lookup(name, type);
  }
}

/** The net/dns fixture resolver is an SpfResolver as it stands: this assignment is the compile-time check. */
export function fixtureDns(fixture: DnsFixture): CountingResolver {
  const resolver: SpfResolver = createFixtureResolver(fixture);
  return new CountingResolver(resolver);
}

export interface Check {
  readonly ip: string;
  readonly sender: string;
  readonly helo?: string;
}

/** check_host for `sender` (its domain is the one checked) against `dns`. */
export function check(dns: SpfResolver, c: Check, ports: Partial<SpfPorts> = {}): Promise<SpfResult> {
  const domain = c.sender.slice(c.sender.lastIndexOf('@') + 1);
  return checkHost(
    { ip: c.ip, domain, sender: c.sender, helo: c.helo ?? 'client.example.org' },
    { dns, now: () => NOW, receiver: 'mx.receiver.example', ...ports },
  );
}

/** One TXT record holding `text`, cut into character-strings of at most 255 characters (as DNS must). */
export function txt(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 255) out.push(text.slice(i, i + 255));
  return out.length === 0 ? [''] : out;
}
