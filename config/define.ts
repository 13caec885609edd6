// defineConfig(): typed identity helper for petrel.config.ts / .js files.
import type { ConfigInput } from './schema.js';

export type { ConfigInput } from './schema.js';

/** Returns its argument; exists so that an editor checks a config file against the schema. */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
