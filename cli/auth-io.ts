// What the authentication commands (`petrel auth`, `petrel dkim`, `petrel dmarc`) share: user errors with an exit
// code and no stack trace, the DNS to use (a fixture file or the network), reading a message file, clock options.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { createFixtureResolver, createResolver, DnsConfigError, loadDnsFixture } from '../net/dns/resolver.js';
import type { Resolver } from '../net/dns/resolver.js';

/** sysexits(3) codes used by these commands. */
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOINPUT = 66;
export const EX_CANTCREAT = 73;
export const EX_TEMPFAIL = 75;
export const EX_CONFIG = 78;

/** A mistake of the user (a bad option value, a missing file): one line on stderr, an exit code, no stack trace. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EX_USAGE) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

type Out = NodeJS.WritableStream;

/**
 * Runs a command body; user errors (CliError, a bad DNS fixture) become "petrel: <message>" on `err` and their exit
 * code. Anything else is a bug and keeps its stack trace.
 */
export async function guarded(err: Out, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof CliError) {
      err.write(`petrel: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof DnsConfigError) {
      err.write(`petrel: ${e.message}\n`);
      return EX_DATAERR;
    }
    throw e;
  }
}

/**
 * The DNS the commands use: `--dns-cache FILE` answers from that fixture; `--dns-server HOST:PORT` asks that
 * server; without either, the servers of /etc/resolv.conf.
 */
export async function resolverFor(dnsCache: string | undefined, dnsServer?: string): Promise<Resolver> {
  if (dnsCache !== undefined && dnsServer !== undefined) throw new CliError('give --dns-cache or --dns-server, not both');
  if (dnsCache !== undefined) return createFixtureResolver(await loadDnsFixture(dnsCache));
  try {
    return createResolver(dnsServer === undefined ? {} : { servers: [dnsServer] });
  } catch (e) {
    if (e instanceof DnsConfigError) throw new CliError(`--dns-server: ${e.message}`);
    throw e;
  }
}

/** Reads a whole file; a missing or unreadable file is a user error. */
export async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EX_NOINPUT);
  }
}

/** True when every line of the text ends with CRLF (a message as it travels); false when bare LFs are present. */
export function hasCrlf(message: Buffer): boolean {
  for (let i = message.indexOf(0x0a); i >= 0; i = message.indexOf(0x0a, i + 1)) {
    if (i === 0 || message[i - 1] !== 0x0d) return false;
  }
  return true;
}

/**
 * The message with CRLF line ends, as it is on the wire and as DKIM and ARC canonicalize it. A file saved with Unix
 * line ends (bare LF) has them turned into CRLF; a CRLF file is left as it is, octet for octet.
 */
export function wireForm(message: Buffer): Buffer {
  if (hasCrlf(message)) return message;
  return Buffer.from(message.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** `--now UNIXTIME` (seconds since the epoch) as milliseconds; the current time without it. */
export function clockMs(now: string | undefined): number {
  if (now === undefined) return Date.now();
  if (!/^\d{1,12}$/.test(now.trim())) throw new CliError(`--now wants seconds since the epoch, not ${JSON.stringify(now)}`);
  return Number(now.trim()) * 1000;
}

/** This host's name: the default authserv-id and SPF receiver. */
export function hostName(): string {
  return hostname() || 'localhost';
}

/** A positive whole number option. */
export function positiveInt(value: string | undefined, option: string, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(`${option} wants a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** A value as pretty JSON on stdout. */
export function printJson(out: Out, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}
