// The network resolver: UDP with TCP on truncation (RFC 1035 4.2, RFC 7766), retries across servers, CNAME chains,
// and a cache of positive and negative answers (RFC 2308); temporary failures are never cached.
import { randomInt } from 'node:crypto';
import { AnswerCache } from './cache.js';
import { DEFAULT_NEGATIVE_TTL, MAX_TTL, MalformedAnswer, answersQuery, buildQuery, interpret, optOf } from './message.js';
import type { Interpretation, WireRecord } from './message.js';
import { isEncodableName, normalizeName } from './names.js';
import { LOOKUP_TXT_RAW, toPublic, toRawTxt } from './records.js';
import type { RawTxtSource } from './records.js';
import { DEFAULT_RESOLV_CONF, parseServers, readResolvConf } from './servers.js';
import type { ServerAddress } from './servers.js';
import { tcpExchange, udpExchange } from './transport.js';
import type { ExchangeRequest } from './transport.js';
import { DNS_TYPES, DnsConfigError } from './types.js';
import type { DnsResult, DnsType, RecordOf, Resolver } from './types.js';

export interface ResolverOptions {
  /** `ip:port` strings (`127.0.0.1:5353`, `[::1]:53`; a bare address means port 53). Default: resolv.conf. */
  readonly servers?: readonly string[];
  /** Wait for one answer from one server, ms (default 2000). */
  readonly timeoutMs?: number;
  /** Extra rounds over the servers after the first (default 2). */
  readonly retries?: number;
  /** Most answers kept (default 10,000; 0 turns the cache off). */
  readonly cacheSize?: number;
  /** Clock in ms, for cache expiry (default Date.now). */
  readonly now?: () => number;
  /** resolv.conf to read when `servers` is not given (default /etc/resolv.conf); read at the first lookup. */
  readonly resolvConf?: string;
}

export interface NetworkResolver extends Resolver, RawTxtSource {
  /** Forgets every cached answer. */
  clearCache(): void;
}

/** Most CNAMEs followed for one lookup, in answers and re-queries together. */
export const MAX_CNAME_CHAIN = 8;
export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_CACHE_SIZE = 10_000;

type Kept = DnsResult<WireRecord>;
type Attempt = { kind: 'answer'; it: Interpretation } | { kind: 'failed'; reason: string; /** the server said no: do not ask it again */ final: boolean };

function temperror(reason: string): { kind: 'temperror'; reason: string } {
  return { kind: 'temperror', reason };
}

class DnsClient implements NetworkResolver {
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #cache: AnswerCache;
  readonly #configured: ServerAddress[] | null;
  readonly #resolvConf: string;
  #servers: Promise<ServerAddress[]> | null = null;
  readonly #inflight = new Map<string, Promise<Kept>>();

  constructor(opts: ResolverOptions) {
    this.#configured = opts.servers && opts.servers.length > 0 ? parseServers(opts.servers) : null;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = opts.retries ?? DEFAULT_RETRIES;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) throw new DnsConfigError(`invalid DNS timeout ${String(opts.timeoutMs)}`);
    if (!Number.isInteger(this.#retries) || this.#retries < 0) throw new DnsConfigError(`invalid DNS retries ${String(opts.retries)}`);
    this.#cache = new AnswerCache(opts.cacheSize ?? DEFAULT_CACHE_SIZE, opts.now ?? Date.now);
    this.#resolvConf = opts.resolvConf ?? DEFAULT_RESOLV_CONF;
  }

  async lookup<T extends DnsType>(name: string, type: T): Promise<DnsResult<RecordOf<T>>> {
    return toPublic(type, await this.#lookupKept(name, type)) as DnsResult<RecordOf<T>>;
  }

  async [LOOKUP_TXT_RAW](name: string): Promise<DnsResult<Buffer[]>> {
    return toRawTxt(await this.#lookupKept(name, 'TXT'));
  }

  clearCache(): void {
    this.#cache.clear();
  }

  #lookupKept(name: string, type: DnsType): Promise<Kept> {
    if (!DNS_TYPES.includes(type)) return Promise.resolve(temperror(`unsupported record type ${String(type)}`));
    const n = normalizeName(name);
    // A name that cannot be sent cannot exist.
    if (!isEncodableName(n)) return Promise.resolve({ kind: 'nxdomain', ad: false, ttl: 0 });
    const key = `${type} ${n}`;
    const hit = this.#cache.get(key);
    if (hit) return Promise.resolve(hit);
    // Concurrent lookups of one name and type share one query.
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const p = this.#resolve(n, type, 0)
      // Nothing is expected to throw; if something does, it is still a DNS outcome, not an exception.
      .catch((err: unknown) => temperror(`DNS client error: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  /** Asks for (name, type), `hops` CNAMEs into a chain; re-asks for the target of a CNAME-only answer. */
  async #resolve(name: string, type: DnsType, hops: number): Promise<Kept> {
    const answer = await this.#query(name, type, MAX_CNAME_CHAIN - hops);
    if (answer.kind === 'failed') return temperror(answer.reason);
    const it = answer.it;
    const chainTtl = Math.min(MAX_TTL, ...it.chain.map((c) => c.ttl));
    const negativeTtl = it.negativeTtl ?? DEFAULT_NEGATIVE_TTL;
    let result: Kept;
    if (it.records.length > 0) {
      result = { kind: 'ok', records: [...it.records], ad: it.ad, ttl: Math.min(chainTtl, it.recordTtl) };
    } else if (it.rcode === 'NXDOMAIN') {
      result = { kind: 'nxdomain', ad: it.ad, ttl: Math.min(chainTtl, negativeTtl) };
    } else if (it.chain.length > 0 && it.negativeTtl === null) {
      // Only CNAMEs, and no SOA to say the target has no data: the server did not chase the chain; ask for the target.
      const target = this.#cache.get(`${type} ${it.final}`) ?? (await this.#resolve(it.final, type, hops + it.chain.length));
      if (target.kind === 'temperror') return target;
      result = { ...target, ad: target.ad && it.ad, ttl: Math.min(target.ttl, chainTtl) };
    } else {
      result = { kind: 'nodata', ad: it.ad, ttl: Math.min(chainTtl, negativeTtl) };
    }
    this.#cache.set(`${type} ${name}`, result);
    return result;
  }

  #getServers(): Promise<ServerAddress[]> {
    if (this.#configured) return Promise.resolve(this.#configured);
    this.#servers ??= readResolvConf(this.#resolvConf);
    return this.#servers;
  }

  /**
   * Rounds over the servers (1 + retries). A server that answered with a failure code (SERVFAIL, REFUSED, ...) or
   * a malformed answer is not asked again; one that timed out or could not be reached is, in the next round.
   */
  async #query(name: string, type: DnsType, maxChain: number): Promise<Attempt> {
    const servers = await this.#getServers();
    const refused = new Set<ServerAddress>();
    let reason = 'no DNS servers';
    for (let round = 0; round <= this.#retries && refused.size < servers.length; round++) {
      for (const server of servers) {
        if (refused.has(server)) continue;
        const attempt = await this.#ask(server, name, type, maxChain);
        if (attempt.kind === 'answer') return attempt;
        reason = attempt.reason;
        if (attempt.final) refused.add(server);
      }
    }
    return { kind: 'failed', final: false, reason };
  }

  /** One question to one server: UDP, then TCP if truncated; without EDNS if the server does not know it (RFC 6891 7). */
  async #ask(server: ServerAddress, name: string, type: DnsType, maxChain: number): Promise<Attempt> {
    for (const edns of [true, false]) {
      const id = randomInt(0x10000);
      const req: ExchangeRequest = {
        server,
        query: buildQuery(id, name, type, edns),
        id,
        accept: (p) => answersQuery(p, id, name, type),
        timeoutMs: this.#timeoutMs,
      };
      let ex = await udpExchange(req);
      if (ex.kind === 'response' && ex.packet.flag_tc) ex = await tcpExchange(req);
      if (ex.kind === 'timeout') {
        const ignored = ex.ignored > 0 ? ` (${ex.ignored} unmatched answers ignored)` : '';
        return { kind: 'failed', final: false, reason: `timeout after ${this.#timeoutMs} ms from ${server.label}${ignored}` };
      }
      if (ex.kind === 'error') return { kind: 'failed', final: ex.malformed === true, reason: ex.reason };
      const p = ex.packet;
      const rcode = p.rcode ?? 'NOERROR';
      const opt = optOf(p);
      if (edns && !opt && (rcode === 'FORMERR' || rcode === 'NOTIMP')) continue;
      if (opt && 'extendedRcode' in opt && opt.extendedRcode !== 0) {
        return { kind: 'failed', final: true, reason: `extended rcode ${opt.extendedRcode} from ${server.label}` };
      }
      if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN') return { kind: 'failed', final: true, reason: `${rcode} from ${server.label}` };
      try {
        return { kind: 'answer', it: interpret(p, name, type, maxChain) };
      } catch (err) {
        if (!(err instanceof MalformedAnswer)) throw err;
        return { kind: 'failed', final: true, reason: `${err.message} from ${server.label}` };
      }
    }
    return { kind: 'failed', final: true, reason: `FORMERR from ${server.label}` };
  }
}

/** The network resolver. Throws DnsConfigError for a bad server string, timeout or retry count. */
export function createResolver(opts: ResolverOptions = {}): NetworkResolver {
  return new DnsClient(opts);
}
