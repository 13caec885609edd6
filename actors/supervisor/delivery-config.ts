// Turns config into what delivery needs: retry rules per domain, the router chain's settings,
// the SMTP client's settings and the queue's; every problem is a ConfigError naming its key.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Config } from '../../config/load.js';
import type { TransportSigning } from '../../config/signing.js';
import { ConfigError } from '../../config/errors.js';
import type { RetryRule } from '../../policy/retry.js';
import { RetryRuleError, parseRetryRules } from '../../policy/retry.js';
import type { ListSpec } from '../../policy/lists.js';
import { matchDomain, matchHost, splitList, validateList } from '../../policy/lists.js';
import { AliasError, parseAliases } from '../../routing/aliases.js';
import type { Aliases } from '../../routing/aliases.js';
import type { DnsPort, RoutingSettings } from '../../routing/routers.js';
import { parseHostSpec } from '../../routing/routers.js';
import type { DeliverySettings } from '../delivery/steps.js';
import type { QueueSettings } from '../queue/ports.js';
import { randomUnit } from '../queue/service.js';
import type { CompiledPolicy } from './policy.js';

export interface CompiledDelivery {
  rulesFor(domain: string): readonly RetryRule[];
  readonly aliases?: Aliases;
  routing(dns: DnsPort, self: ReadonlySet<string>): RoutingSettings;
  readonly delivery: DeliverySettings;
  /** DKIM signing and ARC sealing on the smtp transport (keys read at load); none configured: undefined. */
  readonly signing?: TransportSigning;
  queue(dns: DnsPort, self: () => ReadonlySet<string>): QueueSettings;
}

const hostList = (v: string | readonly string[]): string[] => (typeof v === 'string' ? v.split(/[\s,]+/).filter((x) => x !== '') : [...v]);

export function compileDelivery(c: Config, policy: CompiledPolicy): CompiledDelivery {
  const problems: string[] = [];
  const rules: { domains: ListSpec; rules: RetryRule[] }[] = [];
  c.retry_rules.forEach((r, i) => {
    try {
      rules.push({ domains: r.domains, rules: parseRetryRules(r.rules) });
    } catch (e) {
      if (e instanceof RetryRuleError) problems.push(`retry_rules.${i}.rules: ${e.message}`);
      else throw e;
    }
    const p = validateList('domain', r.domains, policy.named);
    if (p) problems.push(`retry_rules.${i}.domains: ${p}`);
  });
  let aliases: Aliases | undefined;
  if (c.aliases_file) {
    try {
      aliases = parseAliases(readFileSync(c.aliases_file, 'utf8'), c.aliases_file);
    } catch (e) {
      if (e instanceof AliasError) problems.push(`aliases_file: ${e.message}`);
      else problems.push(`aliases_file: cannot read ${c.aliases_file}: ${(e as Error).message}`);
    }
  }
  const smarthost = c.smarthost === undefined ? undefined : hostList(c.smarthost);
  for (const h of smarthost ?? []) if (!parseHostSpec(h, 25)) problems.push(`smarthost: "${h}" is not host[:port]`);
  const routeList = c.route_list.map((r, i) => {
    const hosts = hostList(r.hosts);
    for (const h of hosts) if (!parseHostSpec(h, 25)) problems.push(`route_list.${i}.hosts: "${h}" is not host[:port]`);
    const p = validateList('domain', r.domains, policy.named);
    if (p) problems.push(`route_list.${i}.domains: ${p}`);
    return { domains: r.domains, hosts };
  });
  for (const key of ['ignore_target_hosts'] as const) {
    const p = validateList('host', c[key], policy.named);
    if (p) problems.push(`${key}: ${p}`);
  }
  for (const key of ['hosts_avoid_tls', 'hosts_require_tls'] as const) {
    const p = validateList('host', c.smtp_transport[key], policy.named);
    if (p) problems.push(`smtp_transport.${key}: ${p}`);
  }
  if (problems.length > 0) throw new ConfigError(problems, c.source.startsWith('(') ? undefined : c.source);

  const rulesFor = (domain: string): readonly RetryRule[] =>
    (rules.find((r) => matchDomain(domain, r.domains, policy.match)) ?? rules[rules.length - 1])?.rules ?? [];
  const t = c.smtp_transport;
  const delivery: DeliverySettings = {
    heloName: t.helo_data ?? c.primary_hostname,
    timeouts: { connect: t.connect_timeout, command: t.command_timeout, data: t.data_timeout, final: t.final_timeout, idle: t.connection_idle_time },
    tls: (_host, ip) => (matchHost(ip, t.hosts_require_tls, policy.match) ? 'require' : matchHost(ip, t.hosts_avoid_tls, policy.match) ? 'avoid' : 'try'),
    maxMessages: t.connection_max_messages,
  };
  const routing = (dns: DnsPort, self: ReadonlySet<string>): RoutingSettings => ({
    primaryHostname: c.primary_hostname,
    localDomains: c.local_domains,
    localUsers: c.local_users,
    match: policy.match,
    ...(aliases ? { aliases } : {}),
    routeList,
    ...(smarthost ? { smarthost } : {}),
    ignoreTargetHosts: c.ignore_target_hosts,
    smtpPort: t.port,
    self,
    dns,
    random: randomUnit,
  });
  const signing = t.signing.dkim.length > 0 || t.signing.arc ? t.signing : undefined;
  return {
    rulesFor,
    ...(aliases ? { aliases } : {}),
    routing,
    delivery,
    ...(signing ? { signing } : {}),
    queue: (dns, self) => {
      // Routing settings are built once per queue settings, not per message.
      let cached: RoutingSettings | undefined;
      return {
        hostname: c.primary_hostname,
        dsnFrom: c.dsn_from.replace(/\$\{?primary_hostname\}?/g, c.primary_hostname),
        returnLimit: c.bounce_return_size_limit,
        delayWarnings: c.delay_warning,
        maxRcpt: t.max_rcpt,
        maxTotal: c.remote_max_parallel,
        maxPerHost: c.remote_max_parallel_per_host,
        interval: c.queue_run_interval,
        queueOnly: c.queue_only,
        rulesFor,
        routing: () => (cached ??= routing(dns, self())),
      };
    },
  };
}

/** "ip:port" of every address we listen on (a wildcard address stands for every interface). */
export function selfAddresses(bound: readonly { host: string; port: number }[]): Set<string> {
  const out = new Set<string>();
  for (const b of bound) {
    if (b.host === '0.0.0.0' || b.host === '::') {
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(`${i.address}:${b.port}`);
    } else out.add(`${b.host}:${b.port}`);
  }
  return out;
}

export { splitList };
