// The config of the Petrel daemons the bench starts: the keys every scenario relies on, the inbound and
// relay variants, and PETREL_BENCH_CONFIG for A/B runs.
import { join } from 'node:path';

const HOST = '127.0.0.1';

/**
 * PETREL_BENCH_CONFIG: config keys (a JSON object) merged into every Petrel daemon the bench starts, for
 * A/B runs of an option (e.g. '{"delivery_thread":false}'). The system's description in the reports names them.
 */
export function envConfig(): Record<string, unknown> {
  const text = process.env.PETREL_BENCH_CONFIG;
  if (!text) return {};
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('PETREL_BENCH_CONFIG: a JSON object of config keys is expected');
  return parsed as Record<string, unknown>;
}

/** The daemon configuration the bench relies on; every key here is part of the contract. */
export interface PetrelBenchConfig {
  readonly listen: string[];
  readonly spool_directory: string;
  readonly primary_hostname: string;
  readonly relay_to_domains: string[];
  readonly log_level: string;
  /** Local deliveries (bounces to postmaster, if any) stay in the temporary directory. */
  readonly maildir_directory: string;
  /** The admin listener (/metrics) on a port of its own, or none. */
  readonly admin_listen?: string | false;
  readonly smtp_accept_max?: number;
  readonly smtp_accept_max_per_host?: number;
}

/**
 * The daemon's bench config. `adminPort` puts /metrics on that loopback port (sampled during the
 * run); `maxSessions` raises the connection limits (all the load comes from 127.0.0.1) for
 * idle-connections.
 */
export function petrelConfig(dir: string, port: number, opts: { adminPort?: number; maxSessions?: number } = {}): PetrelBenchConfig {
  return {
    listen: [`${HOST}:${port}`],
    spool_directory: join(dir, 'spool'),
    primary_hostname: 'bench.petrel.test',
    relay_to_domains: ['example.com'],
    log_level: 'warn',
    maildir_directory: join(dir, 'mail'),
    ...(opts.adminPort !== undefined ? { admin_listen: `${HOST}:${opts.adminPort}` } : {}),
    ...(opts.maxSessions !== undefined
      ? { smtp_accept_max: opts.maxSessions + 1000, smtp_accept_max_per_host: opts.maxSessions + 1000 }
      : {}),
  };
}

/**
 * The inbound scenarios measure accepting: a message is acknowledged once it is durable in the
 * spool, where it then stays (queue_only, no queue runs). Delivering it would send example.com to
 * DNS, bounce it, and deliver the bounces: work no peer does (Postfix discards, Haraka discards).
 */
export function petrelInboundConfig(dir: string, port: number, opts: { adminPort?: number; maxSessions?: number } = {}): PetrelBenchConfig & { queue_only: true; queue_run_interval: 0 } {
  return { ...petrelConfig(dir, port, opts), queue_only: true, queue_run_interval: 0 };
}

/** The configuration of the delivery scenarios: everything for example.com goes to the sink. */
export interface PetrelRelayConfig extends PetrelBenchConfig {
  readonly smarthost: string;
  /** true while holding: accepted mail waits for the next look at the queue... */
  readonly queue_only: boolean;
  /** ...which, while holding, never comes by itself (0: no queue runs). */
  readonly queue_run_interval?: string | number;
}

/**
 * Holding (`hold`) is queue_only with no queue runs (queue_run_interval 0); releasing is a SIGUSR1
 * to the running daemon (what `petrel queue retry` sends): it looks at the queue at once and
 * delivers everything due. Without hold, mail goes at once.
 */
export function petrelRelayConfig(
  dir: string,
  port: number,
  relay: { sinkPort: number; hold: boolean; released?: boolean; logLevel?: string; adminPort?: number },
  extra: Readonly<Record<string, unknown>> = {},
): PetrelRelayConfig & Record<string, unknown> {
  const held = relay.hold && !relay.released;
  return {
    ...petrelConfig(dir, port, relay.adminPort !== undefined ? { adminPort: relay.adminPort } : {}),
    log_level: relay.logLevel ?? 'info',
    smarthost: `${HOST}:${relay.sinkPort}`,
    queue_only: held,
    ...(relay.hold ? { queue_run_interval: 0 } : {}),
    ...extra,
  };
}
