// `petrel config check [FILE]`: load and validate a config (everything the daemon compiles) without starting anything.
import { loadConfig } from '../config/load.js';
import { ConfigError, ConfigLoadError } from '../config/errors.js';
import { checkConfig } from '../actors/supervisor/check.js';
import { EXIT_CONFIG } from './daemon.js';

export async function configCheck(file: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  try {
    const config = await loadConfig(file);
    const { policy } = checkConfig(config);
    const stages = Object.keys(policy.acls).join(', ') || 'none';
    out.write(`${config.source}: OK\n  listen ${config.listen.map((l) => `${l.host}:${l.port}${l.tlsOnConnect ? ' (TLS)' : ''}`).join(', ')}\n  spool ${config.spool_directory}\n  primary_hostname ${config.primary_hostname}\n  ACL stages: ${stages}\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigLoadError) {
      err.write(`petrel: ${e.message}\n`);
      return EXIT_CONFIG;
    }
    throw e;
  }
}
