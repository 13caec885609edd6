// A small DNS server on 127.0.0.1 (UDP and TCP on one port) answering from a DNS fixture like a recursive
// resolver would (RFC 1035; TC over UDP per RFC 7766; SOA in negative answers per RFC 2308): the benchmark's
// DNS (inbound-verify) and the tests' (test/helpers/dns-server.ts re-exports it).
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { FixtureIndex } from '../net/dns/fixture.js';
import type { DnsFixture } from '../net/dns/fixture.js';
import type { MxRecord, TlsaRecord } from '../net/dns/types.js';
import type { WireRecord } from '../net/dns/message.js';

export interface DnsServerOptions {
  /** Port for UDP and TCP; 0 (default) picks one free for both. */
  readonly port?: number;
  /** Set the AD bit on answers to queries that ask for it (AD or DO), as a validating resolver would. */
  readonly ad?: boolean;
  /** TTL of every record (default 300, as the fixture resolver reports). */
  readonly ttl?: number;
  /** MINIMUM of the SOA sent with negative answers (default 30, as the fixture resolver reports). */
  readonly soaMinimum?: number;
  /** TTL of that SOA record (default 3600; the negative TTL is the lower of the two). */
  readonly soaTtl?: number;
  /**
   * Follow CNAMEs inside the fixture (default true, as a recursive resolver does). With false, a name with a CNAME
   * is answered with that CNAME alone, as an authoritative server does for a target outside its zone.
   */
  readonly followCname?: boolean;
}

export interface DnsQueryLog {
  readonly name: string;
  readonly type: string;
  readonly transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  readonly port: number;
  readonly address: string;
  /** `127.0.0.1:port`, ready for `dns_servers`. */
  readonly server: string;
  /** Replaces the fixture (validated; throws DnsConfigError). */
  setFixture(fixture: DnsFixture): void;
  /** Every query received, in order (names lower-cased). */
  readonly queries: DnsQueryLog[];
  close(): Promise<void>;
}

const ADDRESS = '127.0.0.1';
type Decoded = DecodedPacket & { rcode?: string };

function rcodeValue(name: 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN'): number {
  return { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3 }[name];
}

function toAnswer(name: string, type: string, ttl: number, rec: WireRecord): Answer {
  switch (type) {
    case 'A':
    case 'AAAA':
    case 'PTR':
    case 'CNAME':
      return { type, name, ttl, data: rec as string };
    case 'MX': {
      const mx = rec as MxRecord;
      return { type: 'MX', name, ttl, data: { preference: mx.priority, exchange: mx.exchange } };
    }
    case 'TXT':
      return { type: 'TXT', name, ttl, data: [...(rec as Buffer[])] };
    case 'TLSA': {
      const t = rec as TlsaRecord;
      return { type: 'TLSA', name, ttl, data: { usage: t.usage, selector: t.selector, matchingType: t.matchingType, certificate: t.data } };
    }
  }
  throw new Error(`dns-server: cannot encode ${type}`);
}

/** The zone a negative answer's SOA claims: the last two labels of the name. */
function zoneOf(name: string): string {
  const labels = name.split('.');
  return labels.length <= 2 ? name : labels.slice(-2).join('.');
}

class DnsTestServer implements TestDnsServer {
  readonly address = ADDRESS;
  readonly queries: DnsQueryLog[] = [];
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #conns = new Set<Socket>();
  readonly #opts: Required<Omit<DnsServerOptions, 'port'>>;
  #index: FixtureIndex;

  constructor(udp: UdpSocket, tcp: Server, fixture: DnsFixture, opts: DnsServerOptions) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#index = FixtureIndex.from(fixture, 'DNS server fixture');
    this.#opts = {
      ad: opts.ad ?? false,
      ttl: opts.ttl ?? 300,
      soaMinimum: opts.soaMinimum ?? 30,
      soaTtl: opts.soaTtl ?? 3600,
      followCname: opts.followCname ?? true,
    };
    this.#port = udp.address().port;
    udp.on('message', (msg, rinfo) => {
      const reply = this.#respond(msg, 'udp');
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    tcp.on('connection', (sock) => this.#serveTcp(sock));
  }

  // Kept: the port is still known (to check it is closed) after close().
  readonly #port: number;

  get port(): number {
    return this.#port;
  }

  get server(): string {
    return `${ADDRESS}:${this.port}`;
  }

  setFixture(fixture: DnsFixture): void {
    this.#index = FixtureIndex.from(fixture, 'DNS server fixture');
  }

  #serveTcp(sock: Socket): void {
    this.#conns.add(sock);
    sock.on('close', () => this.#conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) return;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const reply = this.#respond(msg, 'tcp');
        if (reply) {
          const frame = Buffer.alloc(2 + reply.length);
          frame.writeUInt16BE(reply.length, 0);
          reply.copy(frame, 2);
          sock.write(frame);
        }
      }
    });
  }

  /** The reply to one query, or null for no reply (TIMEOUT, or not a query). */
  #respond(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | null {
    let q: Decoded;
    try {
      q = dnsPacket.decode(msg) as Decoded;
    } catch {
      return null;
    }
    if (q.flag_qr) return null;
    const opt = q.additionals?.find((a) => a.type === 'OPT');
    const question = q.questions?.[0];
    const base: Packet = {
      type: 'response',
      id: q.id ?? 0,
      questions: q.questions ?? [],
      additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
    };
    const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const header = dnsPacket.AUTHORITATIVE_ANSWER | rd | dnsPacket.RECURSION_AVAILABLE;
    if (!question || (q.questions ?? []).length !== 1) return dnsPacket.encode({ ...base, flags: header | rcodeValue('FORMERR') });
    const qname = question.name.toLowerCase();
    this.queries.push({ name: qname, type: question.type, transport });

    const answer = this.#index.answer(qname, question.type, this.#opts.followCname);
    if (answer.kind === 'TIMEOUT') return null;
    if (answer.kind === 'SERVFAIL') return dnsPacket.encode({ ...base, flags: header | rcodeValue('SERVFAIL') });

    const wantsAd = ((q.flags ?? 0) & dnsPacket.AUTHENTIC_DATA) !== 0 || (opt !== undefined && 'flag_do' in opt && opt.flag_do);
    const ad = this.#opts.ad && wantsAd ? dnsPacket.AUTHENTIC_DATA : 0;
    const ttl = this.#opts.ttl;
    // Owner names as the client wrote them for the first record (RFC 1035 7.3 matches case-insensitively anyway).
    const owner = (n: string): string => (n === qname ? question.name : n);
    const answers: Answer[] = answer.chain.map((c) => ({ type: 'CNAME', name: owner(c.owner), ttl, data: c.target }));
    for (const rec of answer.records) answers.push(toAnswer(owner(answer.final), question.type, ttl, rec));
    const authorities: Answer[] = [];
    // A CNAME the server did not chase comes alone: no SOA, which tells the client to ask for the target.
    const unchased = !this.#opts.followCname && answer.chain.length > 0;
    if (answer.records.length === 0 && !unchased) {
      authorities.push({
        type: 'SOA',
        name: zoneOf(answer.final),
        ttl: this.#opts.soaTtl,
        data: { mname: 'ns.petrel.test', rname: 'hostmaster.petrel.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: this.#opts.soaMinimum },
      });
    }
    const full: Packet = { ...base, flags: header | ad | rcodeValue(answer.rcode), answers, authorities };
    const wire = dnsPacket.encode(full);
    if (transport === 'udp') {
      const limit = opt && 'udpPayloadSize' in opt ? Math.max(512, opt.udpPayloadSize) : 512;
      if (wire.length > limit) return dnsPacket.encode({ ...base, flags: header | ad | dnsPacket.TRUNCATED_RESPONSE | rcodeValue(answer.rcode) });
    }
    return wire;
  }

  #closed: Promise<void> | undefined;

  /** Closes both sockets and every TCP connection; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const c of this.#conns) c.destroy();
      await Promise.all([
        new Promise<void>((resolve) => this.#udp.close(() => resolve())),
        new Promise<void>((resolve) => this.#tcp.close(() => resolve())),
      ]);
    })();
    return this.#closed;
  }
}

function bindUdp(port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    // A big receive buffer: hundreds of queries sent at once must not overflow it (the kernel caps it at rmem_max).
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    sock.once('error', reject);
    sock.bind(port, ADDRESS, () => {
      sock.off('error', reject);
      resolve(sock);
    });
  });
}

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, ADDRESS, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Starts the server. With port 0, binds UDP on a free port and tries TCP on the same one, picking again if taken. */
export async function startDnsServer(fixture: DnsFixture, opts: DnsServerOptions = {}): Promise<TestDnsServer> {
  FixtureIndex.from(fixture, 'DNS server fixture');
  const wanted = opts.port ?? 0;
  for (let attempt = 0; ; attempt++) {
    const udp = await bindUdp(wanted);
    try {
      const tcp = await listenTcp(udp.address().port);
      return new DnsTestServer(udp, tcp, fixture, opts);
    } catch (err) {
      udp.close();
      if (wanted !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

export type { DnsFixture };

/** A TXT record's text cut into character-strings of at most 255 octets (a DKIM key is longer). */
export function txtStrings(record: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < record.length; i += 255) out.push(record.slice(i, i + 255));
  return out;
}

/** The queries a server answered, counted by "name TYPE". */
export function queryCounts(server: TestDnsServer): Map<string, number> {
  const out = new Map<string, number>();
  for (const q of server.queries) {
    const k = `${q.name} ${q.type}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}
