// `petrel inspect`: print the URL of the running daemon's state-chart inspector, from the note the
// daemon leaves in its spool directory (inspector.json) while it runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadConfig } from '../config/load.js';
import { ConfigError, ConfigLoadError } from '../config/errors.js';
import { STATE_FILE } from '../inspector/inspector.js';
import type { InspectorState } from '../inspector/inspector.js';
import { EXIT_CONFIG } from './daemon.js';

/** sysexits.h EX_UNAVAILABLE: no daemon is running there. */
export const EXIT_UNAVAILABLE = 69;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it is someone else's.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function inspect(opts: { config?: string; json?: boolean }, out: Writable, err: Writable): Promise<number> {
  let spool: string;
  let enabled: boolean;
  let admin: string | false;
  try {
    const c = await loadConfig(opts.config);
    spool = c.spool_directory;
    enabled = c.inspector.enabled;
    admin = c.admin_listen;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigLoadError) {
      err.write(`petrel: ${e.message}\n`);
      return EXIT_CONFIG;
    }
    throw e;
  }
  if (admin === false || !enabled) {
    err.write(`petrel: the inspector is off in this configuration (${admin === false ? 'admin_listen: false' : 'inspector.enabled: false'})\n`);
    return EXIT_UNAVAILABLE;
  }
  const file = join(spool, STATE_FILE);
  let state: InspectorState | undefined;
  try {
    state = JSON.parse(await readFile(file, 'utf8')) as InspectorState;
  } catch {
    state = undefined;
  }
  if (!state || typeof state.url !== 'string' || typeof state.pid !== 'number' || !alive(state.pid)) {
    err.write(`petrel: no running daemon found for spool ${spool} (${state ? `pid ${state.pid} is gone` : `no ${file}`}); admin_listen is ${admin}\n`);
    return EXIT_UNAVAILABLE;
  }
  out.write(opts.json ? `${JSON.stringify(state)}\n` : `${state.url}\n`);
  return 0;
}
