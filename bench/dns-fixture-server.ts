// A DNS server on 127.0.0.1 (UDP and TCP on one port) answering from a DNS fixture, for scenarios whose daemon looks up SPF, DKIM and DMARC records.

// Adapted from test/helpers/dns-server.ts (the bench does not import test code): answers as a
// recursive resolver would (RFC 1035; TC over UDP per RFC 7766; SOA in negative answers per RFC 2308),
// without the test server's options (AD bit, unchased CNAMEs, query log).

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { FixtureIndex, type DnsFixture } from '../net/dns/fixture.js';
import type { WireRecord } from '../net/dns/message.js';
import type { MxRecord, TlsaRecord } from '../net/dns/types.js';

export type { DnsFixture };

/** A running fixture server. */
export interface FixtureDnsServer {
  readonly port: number;
  /** `127.0.0.1:port`, ready for the daemon's `dns_servers`. */
  readonly server: string;
  /** Queries answered so far (over UDP and TCP), by "name TYPE" (names lower-cased). */
  readonly queries: ReadonlyMap<string, number>;
  /** All queries answered so far. */
  readonly total: number;
  /** Closes both sockets and every TCP connection; safe to call twice. */
  close(): Promise<void>;
}

const ADDRESS = '127.0.0.1';
/** TTL of every record; negative answers carry an SOA whose minimum (the negative TTL) is lower. */
const TTL = 300;
const NEGATIVE_TTL = 30;
type Decoded = DecodedPacket & { rcode?: string };

const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function toAnswer(name: string, type: string, rec: WireRecord): Answer {
  switch (type) {
    case 'A':
    case 'AAAA':
    case 'PTR':
    case 'CNAME':
      return { type, name, ttl: TTL, data: rec as string };
    case 'MX': {
      const mx = rec as MxRecord;
      return { type: 'MX', name, ttl: TTL, data: { preference: mx.priority, exchange: mx.exchange } };
    }
    case 'TXT':
      return { type: 'TXT', name, ttl: TTL, data: [...(rec as Buffer[])] };
    case 'TLSA': {
      const t = rec as TlsaRecord;
      return { type: 'TLSA', name, ttl: TTL, data: { usage: t.usage, selector: t.selector, matchingType: t.matchingType, certificate: t.data } };
    }
  }
  throw new Error(`dns-fixture-server: cannot encode ${type}`);
}

/** The zone a negative answer's SOA claims: the last two labels of the name. */
function zoneOf(name: string): string {
  const labels = name.split('.');
  return labels.length <= 2 ? name : labels.slice(-2).join('.');
}

class FixtureServer implements FixtureDnsServer {
  readonly queries = new Map<string, number>();
  total = 0;
  /** Kept: the socket cannot tell it once closed. */
  readonly port: number;
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #conns = new Set<Socket>();
  readonly #index: FixtureIndex;
  #closed: Promise<void> | undefined;

  constructor(udp: UdpSocket, tcp: Server, index: FixtureIndex) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#index = index;
    this.port = udp.address().port;
    udp.on('message', (msg, rinfo) => {
      const reply = this.#respond(msg, 'udp');
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    // A reply to a client that went away must not take the bench down.
    udp.on('error', () => undefined);
    tcp.on('connection', (sock) => this.#serveTcp(sock));
  }

  get server(): string {
    return `${ADDRESS}:${this.port}`;
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

  /** The reply to one query, or null for none (TIMEOUT in the fixture, or not a query). */
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
    if (!question || (q.questions ?? []).length !== 1) return dnsPacket.encode({ ...base, flags: header | RCODES.FORMERR });
    const qname = question.name.toLowerCase();
    const key = `${qname} ${question.type}`;
    this.queries.set(key, (this.queries.get(key) ?? 0) + 1);
    this.total++;

    const answer = this.#index.answer(qname, question.type);
    if (answer.kind === 'TIMEOUT') return null;
    if (answer.kind === 'SERVFAIL') return dnsPacket.encode({ ...base, flags: header | RCODES.SERVFAIL });
    // Owner names as the client wrote them for the first record (names match case-insensitively anyway).
    const owner = (n: string): string => (n === qname ? question.name : n);
    const answers: Answer[] = answer.chain.map((c) => ({ type: 'CNAME', name: owner(c.owner), ttl: TTL, data: c.target }));
    for (const rec of answer.records) answers.push(toAnswer(owner(answer.final), question.type, rec));
    const authorities: Answer[] = [];
    if (answer.records.length === 0) {
      authorities.push({
        type: 'SOA',
        name: zoneOf(answer.final),
        ttl: 3600,
        data: { mname: 'ns.bench.test', rname: 'hostmaster.bench.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: NEGATIVE_TTL },
      });
    }
    const wire = dnsPacket.encode({ ...base, flags: header | RCODES[answer.rcode], answers, authorities });
    if (transport === 'udp') {
      const limit = opt && 'udpPayloadSize' in opt ? Math.max(512, opt.udpPayloadSize) : 512;
      if (wire.length > limit) return dnsPacket.encode({ ...base, flags: header | dnsPacket.TRUNCATED_RESPONSE | RCODES[answer.rcode] });
    }
    return wire;
  }

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
    // A big receive buffer: a burst of queries from many sessions must not overflow it.
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

/**
 * Validates the fixture (FixtureIndex: throws DnsConfigError naming the first fault), binds UDP on a
 * free port and TCP on the same one, picking another port when TCP's is taken.
 */
export async function startFixtureDnsServer(fixture: DnsFixture): Promise<FixtureDnsServer> {
  const index = FixtureIndex.from(fixture, 'bench DNS fixture');
  for (let attempt = 0; ; attempt++) {
    const udp = await bindUdp(0);
    try {
      const tcp = await listenTcp(udp.address().port);
      return new FixtureServer(udp, tcp, index);
    } catch (err) {
      udp.close();
      if (attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

/** A TXT record's text cut into character-strings of at most 255 octets (a DKIM key is longer). */
export function txtStrings(record: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < record.length; i += 255) out.push(record.slice(i, i + 255));
  return out;
}
