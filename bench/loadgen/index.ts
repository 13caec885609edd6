// Load generator entry: runs the load on client processes (clients.ts) and returns what they measured.

import { LoadClients, type ClientSpawn, type RunHooks } from './clients.js';
import type { LoadInput } from './options.js';
import type { LoadResult } from './stats.js';

export type { LoadInput, LoadOptions } from './options.js';
export { LOAD_DEFAULTS } from './options.js';
export type { LatencySummary, LoadResult } from './stats.js';
export { LoadClients } from './clients.js';
export type { ClientSpawn, LoadProgress, RunHooks } from './clients.js';

export type LoadHooks = RunHooks & ClientSpawn;

/**
 * Runs one load against host:port on client processes of its own, and returns the merged
 * measurement. Bounded by `timeoutMs`: on expiry (or abort) the children are told to stop, report,
 * and are killed if they do not. Never leaves a child process behind.
 */
export async function runLoad(input: LoadInput, hooks: LoadHooks = {}): Promise<LoadResult> {
  const clients = new LoadClients(hooks);
  try {
    return await clients.run(input, hooks);
  } finally {
    await clients.close();
  }
}
