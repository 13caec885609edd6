// Config check: everything the daemon compiles from a config (policy, routing and signing, TLS, DNS, message
// authentication), with every problem of every part in one ConfigError.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import type { Config } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import type { CompiledPolicy } from './policy.js';
import { compilePolicy } from './policy.js';
import type { CompiledDelivery } from './delivery-config.js';
import { compileDelivery } from './delivery-config.js';
import { compileAuth } from './auth-config.js';
import type { AuthSettings } from '../auth-verifier/service.js';
import { createResolver } from '../../net/dns/client.js';
import type { NetworkResolver } from '../../net/dns/client.js';

function loadTls(c: Config): SecureContext | undefined {
  if (!c.tls_certificate || !c.tls_privatekey) return undefined;
  try {
    return createSecureContext({
      cert: readFileSync(c.tls_certificate),
      key: readFileSync(c.tls_privatekey),
      minVersion: 'TLSv1.2',
    });
  } catch (e) {
    throw new ConfigError([`tls_certificate / tls_privatekey: ${(e as Error).message}`], c.source.startsWith('(') ? undefined : c.source);
  }
}

/** What the daemon compiles from a config. */
export interface CompiledConfig {
  readonly policy: CompiledPolicy;
  readonly delivery: CompiledDelivery;
  readonly tls: SecureContext | undefined;
  readonly dns: NetworkResolver;
  readonly auth: AuthSettings;
}

/**
 * Everything the daemon compiles from a config, without starting anything: every problem of every part (ACLs
 * and lists, routing and signing, TLS files, DNS servers, message authentication) in one ConfigError.
 */
export function checkConfig(c: Config): CompiledConfig {
  const problems: string[] = [];
  const step = <T>(run: () => T): T | undefined => {
    try {
      return run();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  };
  const policy = step(() => compilePolicy(c));
  const delivery = policy && step(() => compileDelivery(c, policy));
  const tls = step(() => ({ context: loadTls(c) }));
  const dns = step(() => makeResolver(c));
  const auth = step(() => compileAuth(c));
  if (problems.length > 0 || !policy || !delivery || !tls || !dns || !auth) {
    throw new ConfigError(problems, c.source.startsWith('(') ? undefined : c.source);
  }
  return { policy, delivery, tls: tls.context, dns, auth };
}

function makeResolver(c: Config): NetworkResolver {
  try {
    return createResolver({ ...(c.dns_servers ? { servers: c.dns_servers } : {}), timeoutMs: c.dns_timeout, retries: c.dns_retries });
  } catch (e) {
    if ((e as { code?: string }).code === 'DNS_CONFIG') throw new ConfigError([`dns_servers: ${(e as Error).message}`], c.source.startsWith('(') ? undefined : c.source);
    throw e;
  }
}

