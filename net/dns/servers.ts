// Resolver addresses: `ip:port` strings from configuration and `nameserver` lines of resolv.conf (resolv.conf(5)).
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { DnsConfigError } from './types.js';

export interface ServerAddress {
  /** The IP address in canonical form (IPv6 compressed, with its zone if any). */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** How logs and reasons name it: `1.2.3.4:53`, `[::1]:53`. */
  readonly label: string;
}

export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';
const DNS_PORT = 53;

function makeServer(address: string, port: number): ServerAddress | null {
  if (isIPv4(address)) return { address, port, family: 4, label: `${address}:${port}` };
  const [bare, zone, ...more] = address.split('%');
  if (bare === undefined || more.length > 0 || !isIPv6(bare) || zone === '') return null;
  const canonical = ipaddr.IPv6.parse(bare).toString() + (zone === undefined ? '' : `%${zone}`);
  return { address: canonical, port, family: 6, label: `[${canonical}]:${port}` };
}

function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/**
 * Parses one server: `1.2.3.4`, `1.2.3.4:5353`, `[::1]:5353`, `[::1]` or a bare IPv6 address (port 53).
 * Throws DnsConfigError (code DNS_CONFIG) for anything else.
 */
export function parseServer(text: string): ServerAddress {
  const s = text.trim();
  let host = s;
  let port: number | null = DNS_PORT;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (bracket) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = parsePort(bracket[2]);
    if (host.includes('.') && !host.includes(':')) port = null; // brackets are for IPv6 only
  } else if (!isIPv6(s.split('%')[0] ?? '')) {
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      port = parsePort(s.slice(colon + 1));
    }
  }
  const server = port === null ? null : makeServer(host, port);
  if (!server) throw new DnsConfigError(`invalid DNS server "${text}": expected ip, ip:port or [ipv6]:port`);
  return server;
}

/** Parses a list of servers; the error names the first bad one. */
export function parseServers(list: readonly string[]): ServerAddress[] {
  return list.map(parseServer);
}

/**
 * The `nameserver` lines of a resolv.conf text, in order, port 53. Comments (`#`, `;`), other keywords
 * and unparsable addresses are skipped, as the C library does.
 */
export function parseResolvConf(text: string): ServerAddress[] {
  const servers: ServerAddress[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m?.[1]) continue;
    const server = makeServer(m[1], DNS_PORT);
    if (server) servers.push(server);
  }
  return servers;
}

/** The servers of a resolv.conf file; with no file or no usable line, the local host (127.0.0.1:53), like the C library. */
export async function readResolvConf(path: string = DEFAULT_RESOLV_CONF): Promise<ServerAddress[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    // A missing resolv.conf means the local host, not an error.
  }
  const servers = parseResolvConf(text);
  return servers.length > 0 ? servers : [makeServer('127.0.0.1', DNS_PORT) as ServerAddress];
}
