// Config loading: read a .json/.js/.ts file (or take the embedded default), validate, normalise.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ZodError } from 'zod';
import { ConfigError, ConfigLoadError } from './errors.js';
import type { ConfigInput, ConfigParsed } from './schema.js';
import { configSchema } from './schema.js';
import { parseHostPort, parseSize, parseTime } from './units.js';
import { compileSigning } from './signing.js';
import type { TransportSigning } from './signing.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly tlsOnConnect: boolean;
}

type TimeKey = 'smtp_receive_timeout' | 'smtp_data_timeout' | 'acl_timeout' | 'spool_commit_timeout' | 'tls_handshake_timeout' | 'shutdown_timeout' | 'dns_timeout' | 'queue_run_interval' | 'auth_timeout';
type SizeKey = 'message_size_limit' | 'header_maxsize' | 'bounce_return_size_limit';

/** The smtp transport's options, times in milliseconds; `signing` is the DKIM/ARC options checked, keys read. */
export type SmtpTransportConfig = Omit<ConfigParsed['smtp_transport'], 'connect_timeout' | 'command_timeout' | 'data_timeout' | 'final_timeout' | 'connection_idle_time'> &
  Record<'connect_timeout' | 'command_timeout' | 'data_timeout' | 'final_timeout' | 'connection_idle_time', number> & { readonly signing: TransportSigning };

/** The inspector's options, times in milliseconds. */
export type InspectorConfig = Omit<ConfigParsed['inspector'], 'keep_failed_deliveries_for'> & { readonly keep_failed_deliveries_for: number };

/** The validated configuration; Exim key names, times in milliseconds, sizes in octets. */
export type Config = Readonly<
  Omit<ConfigParsed, TimeKey | SizeKey | 'listen' | 'primary_hostname' | 'spool_directory' | 'smtp_transport' | 'delay_warning' | 'inspector'> &
    Record<TimeKey | SizeKey, number> & {
      primary_hostname: string;
      listen: readonly ListenAddress[];
      spool_directory: string;
      smtp_transport: SmtpTransportConfig;
      delay_warning: readonly number[];
      inspector: InspectorConfig;
      /** Where the config came from: a file path, or "(embedded default)". */
      source: string;
    }
>;

export const EMBEDDED = '(embedded default)';

function describe(error: ZodError): string[] {
  return error.issues.map((i) => {
    const key = i.path.map(String).join('.') || '(top level)';
    return `${key}: ${i.message}`;
  });
}

/** Validate an object as a config and normalise it; throws ConfigError naming each bad key. */
export function buildConfig(input: unknown, source: string, cwd = process.cwd()): Config {
  const r = configSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(describe(r.error), source === EMBEDDED ? undefined : source);
  const c = r.data;
  // The signing keys are read and checked now: a key that cannot sign is an error naming it, at load.
  const signingProblems: string[] = [];
  const signing = compileSigning(c.smtp_transport, cwd, signingProblems);
  if (signingProblems.length > 0) throw new ConfigError(signingProblems, source === EMBEDDED ? undefined : source);
  const tlsPorts = new Set(c.tls_on_connect_ports);
  const listen = c.listen.map((l) => {
    const hp = parseHostPort(l) as { host: string; port: number };
    return { ...hp, tlsOnConnect: tlsPorts.has(hp.port) };
  });
  const ms = (v: string | number): number => parseTime(v) as number;
  const octets = (v: string | number): number => parseSize(v) as number;
  return {
    ...c,
    primary_hostname: c.primary_hostname ?? hostname(),
    listen,
    spool_directory: resolve(cwd, c.spool_directory),
    smtp_receive_timeout: ms(c.smtp_receive_timeout),
    smtp_data_timeout: ms(c.smtp_data_timeout),
    acl_timeout: ms(c.acl_timeout),
    spool_commit_timeout: ms(c.spool_commit_timeout),
    tls_handshake_timeout: ms(c.tls_handshake_timeout),
    shutdown_timeout: ms(c.shutdown_timeout),
    dns_timeout: ms(c.dns_timeout),
    queue_run_interval: ms(c.queue_run_interval),
    auth_timeout: ms(c.auth_timeout),
    message_size_limit: octets(c.message_size_limit),
    header_maxsize: octets(c.header_maxsize),
    bounce_return_size_limit: octets(c.bounce_return_size_limit),
    smtp_transport: {
      ...c.smtp_transport,
      connect_timeout: ms(c.smtp_transport.connect_timeout),
      command_timeout: ms(c.smtp_transport.command_timeout),
      data_timeout: ms(c.smtp_transport.data_timeout),
      final_timeout: ms(c.smtp_transport.final_timeout),
      connection_idle_time: ms(c.smtp_transport.connection_idle_time),
      signing,
    },
    delay_warning: c.delay_warning.map(ms).sort((a, b) => a - b),
    inspector: { ...c.inspector, keep_failed_deliveries_for: ms(c.inspector.keep_failed_deliveries_for) },
    maildir_directory: resolve(cwd, c.maildir_directory),
    aliases_file: c.aliases_file === undefined ? undefined : resolve(cwd, c.aliases_file),
    dmarc_tld_file: c.dmarc_tld_file === undefined ? undefined : resolve(cwd, c.dmarc_tld_file),
    dmarc_history_file: c.dmarc_history_file === undefined ? undefined : resolve(cwd, c.dmarc_history_file),
    tls_certificate: c.tls_certificate === undefined ? undefined : resolve(cwd, c.tls_certificate),
    tls_privatekey: c.tls_privatekey === undefined ? undefined : resolve(cwd, c.tls_privatekey),
    source,
  };
}

/** Where defineConfig lives, so that a config file's `import ... from 'petrel-mta'` resolves anywhere. */
const DEFINE_URL = new URL('./define.js', import.meta.url).href;

async function importModule(file: string): Promise<unknown> {
  const ext = extname(file);
  let target = file;
  let temporary: string | undefined;
  if (ext === '.ts' || ext === '.mts') {
    const source = await readFile(file, 'utf8');
    const ts = await import('typescript');
    const out = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: basename(file),
    });
    // Written beside the original so that relative imports inside it still resolve.
    temporary = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.mjs`);
    await writeFile(temporary, rewriteSelfImport(out.outputText));
    target = temporary;
  } else if (ext === '.js' || ext === '.mjs') {
    const source = await readFile(file, 'utf8');
    if (/['"]petrel-mta(\/config)?['"]/.test(source)) {
      temporary = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.mjs`);
      await writeFile(temporary, rewriteSelfImport(source));
      target = temporary;
    }
  }
  try {
    const mod = (await import(`${pathToFileURL(target).href}?t=${Date.now()}`)) as { default?: unknown };
    return mod.default;
  } finally {
    if (temporary) await rm(temporary, { force: true });
  }
}

function rewriteSelfImport(code: string): string {
  return code.replace(/(from\s*|import\s*\(\s*)(['"])petrel-mta(\/config)?\2/g, (_m, pre: string) => `${pre}'${DEFINE_URL}'`);
}

/** Load a config file (.json, .js, .mjs, .ts, .mts), or the embedded default when file is undefined. */
export async function loadConfig(file?: string, cwd = process.cwd()): Promise<Config> {
  if (file === undefined) return buildConfig({}, EMBEDDED, cwd);
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new ConfigLoadError(`config file not found: ${path}`);
  let input: unknown;
  const ext = extname(path);
  try {
    if (ext === '.json') {
      input = JSON.parse(await readFile(path, 'utf8'));
    } else if (['.js', '.mjs', '.ts', '.mts'].includes(ext)) {
      input = await importModule(path);
    } else {
      throw new ConfigLoadError(`${path}: unsupported config file type "${ext}" (use .json, .js, .mjs or .ts)`);
    }
  } catch (e) {
    if (e instanceof ConfigLoadError) throw e;
    throw new ConfigLoadError(`${path}: ${(e as Error).message}`, { cause: e });
  }
  if (input === undefined || input === null || typeof input !== 'object') {
    throw new ConfigLoadError(`${path}: the file must export (default) or contain a config object`);
  }
  return buildConfig(input as ConfigInput, path, cwd);
}
