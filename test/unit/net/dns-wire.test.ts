// The DNS client against hand-made answers from a raw UDP/TCP responder: anti-spoofing (RFC 5452: id, question,
// source), EDNS fallback (RFC 6891 7), TTL rules (RFC 2181 5.2, 8), negative TTL (RFC 2308 5), malformed answers.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { createResolver } from '../../../net/dns/resolver.js';

const T = { timeout: 10_000 };
const RD_RA = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;

interface Raw {
  port: number;
  server: string;
  queries: DecodedPacket[];
  /** Where each UDP query came from. */
  sources: RemoteInfo[];
  /** Sends from the responder's port. */
  send(buf: Buffer, to: RemoteInfo): void;
  /** Sends from another port of 127.0.0.1 (a spoofer that got the address right but not the port). */
  sendFromElsewhere(buf: Buffer, to: RemoteInfo): void;
  close(): Promise<void>;
}

type UdpHandler = (q: DecodedPacket, from: RemoteInfo, raw: Raw) => void;
type TcpHandler = (q: DecodedPacket) => Buffer | null;

/** A responder whose every answer is written by the test; TCP on the same port if a TCP handler is given. */
async function rawResponder(onUdp: UdpHandler, onTcp?: TcpHandler): Promise<Raw> {
  const sock = createSocket('udp4');
  const other = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  let tcp: Server | null = null;
  if (onTcp) {
    tcp = createServer((c) => {
      let buf: Buffer = Buffer.alloc(0);
      c.on('error', () => c.destroy());
      c.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const q = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        raw.queries.push(q);
        const reply = onTcp(q);
        if (reply) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          c.write(Buffer.concat([len, reply]));
        }
      });
    });
    await new Promise<void>((resolve) => tcp?.listen(port, '127.0.0.1', resolve));
  }
  const raw: Raw = {
    port,
    server: `127.0.0.1:${port}`,
    queries: [],
    sources: [],
    send: (buf, to) => sock.send(buf, to.port, to.address),
    sendFromElsewhere: (buf, to) => other.send(buf, to.port, to.address),
    close: async () => {
      await new Promise<void>((resolve) => sock.close(() => resolve()));
      await new Promise<void>((resolve) => other.close(() => resolve()));
      if (tcp) await new Promise<void>((resolve) => tcp?.close(() => resolve()));
    },
  };
  sock.on('message', (msg, from) => {
    const q = dnsPacket.decode(msg);
    raw.queries.push(q);
    raw.sources.push(from);
    onUdp(q, from, raw);
  });
  return raw;
}

/** A response to q; `over` replaces any part of it. */
function reply(q: DecodedPacket, over: Packet = {}): Buffer {
  return dnsPacket.encode({ type: 'response', id: q.id, flags: RD_RA, questions: q.questions, answers: [], ...over });
}

function a(name: string, data: string, ttl = 300): Answer {
  return { type: 'A', name, ttl, data };
}

function soa(name: string, ttl: number, minimum: number): Answer {
  return { type: 'SOA', name, ttl, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum } };
}

function qname(q: DecodedPacket): string {
  return q.questions?.[0]?.name ?? '';
}

async function withRaw(onUdp: UdpHandler, body: (raw: Raw) => Promise<void>, onTcp?: TcpHandler): Promise<void> {
  const raw = await rawResponder(onUdp, onTcp);
  try {
    await body(raw);
  } finally {
    await raw.close();
  }
}

describe('anti-spoofing', () => {
  test('answers with another id, question, source port or no QR bit are ignored; the real one is taken', T, () =>
    withRaw(
      (q, from, raw) => {
        const name = qname(q);
        const forged = [a(name, '6.6.6.6')];
        raw.sendFromElsewhere(reply(q, { answers: forged }), from);
        raw.send(reply(q, { id: ((q.id ?? 0) + 1) & 0xffff, answers: forged }), from);
        raw.send(reply(q, { questions: [{ name: 'evil.example', type: 'A', class: 'IN' }], answers: [a('evil.example', '6.6.6.6')] }), from);
        raw.send(reply(q, { questions: [{ name, type: 'AAAA', class: 'IN' }], answers: forged }), from);
        raw.send(reply(q, { type: 'query', answers: forged }), from);
        const junk = Buffer.from([((q.id ?? 0) >> 8) ^ 0xff, 0x00, 0x81, 0x80, 0xde, 0xad]);
        raw.send(junk, from);
        // The real answer comes last, with the question name in another case (RFC 4343).
        setTimeout(() => raw.send(reply(q, { questions: [{ name: name.toUpperCase(), type: 'A', class: 'IN' }], answers: [a(name.toUpperCase(), '192.0.2.7')] }), from), 50);
      },
      async (raw) => {
        const r = createResolver({ servers: [raw.server], timeoutMs: 1000, retries: 0, now: () => 0 });
        assert.deepEqual(await r.lookup('target.example', 'A'), { kind: 'ok', records: ['192.0.2.7'], ad: false, ttl: 300 });
        assert.equal(raw.queries.length, 1);
      },
    ));

  test('forged answers alone end in a timeout, never in their data', T, () =>
    withRaw(
      (q, from, raw) => {
        raw.send(reply(q, { id: ((q.id ?? 0) ^ 0x5a5a) & 0xffff, answers: [a(qname(q), '6.6.6.6')] }), from);
        raw.sendFromElsewhere(reply(q, { answers: [a(qname(q), '6.6.6.6')] }), from);
      },
      async (raw) => {
        const r = createResolver({ servers: [raw.server], timeoutMs: 200, retries: 1 });
        const res = await r.lookup('target.example', 'A');
        assert.equal(res.kind, 'temperror');
        if (res.kind === 'temperror') assert.match(res.reason, /timeout after 200 ms .*unmatched answers ignored/);
        assert.equal(raw.queries.length, 2, 'the retry was sent');
      },
    ));

  test('query ids and source ports vary from query to query', T, () =>
    withRaw(
      (q, from, raw) => raw.send(reply(q, { answers: [a(qname(q), '192.0.2.1')] }), from),
      async (raw) => {
        const r = createResolver({ servers: [raw.server], cacheSize: 0 });
        for (let i = 0; i < 20; i++) assert.equal((await r.lookup(`n${i}.example`, 'A')).kind, 'ok');
        const ids = new Set(raw.queries.map((q) => q.id));
        const ports = new Set(raw.sources.map((s) => s.port));
        assert.ok(ids.size >= 18, `ids: ${[...ids].join(',')}`);
        assert.ok(ports.size >= 10, `ports: ${[...ports].join(',')}`);
      },
    ));
});

describe('what the query looks like, and server quirks', () => {
  test('the query: RD and AD set, EDNS0 OPT with 1232 octets and DO off', T, () =>
    withRaw(
      (q, from, raw) => raw.send(reply(q, { answers: [a(qname(q), '192.0.2.1')] }), from),
      async (raw) => {
        const r = createResolver({ servers: [raw.server] });
        await r.lookup('Mixed.Example.', 'A');
        const q = raw.queries[0];
        assert.ok(q);
        assert.equal(q.flag_rd, true);
        assert.equal(q.flag_ad, true);
        assert.equal(q.flag_cd, false);
        assert.deepEqual(q.questions, [{ name: 'mixed.example', type: 'A', class: 'IN' }]);
        const opt = q.additionals?.find((x) => x.type === 'OPT');
        assert.ok(opt && opt.type === 'OPT');
        assert.equal(opt.udpPayloadSize, 1232);
        assert.equal(opt.flag_do, false);
        assert.equal(opt.ednsVersion, 0);
      },
    ));

  test('FORMERR without OPT: asked again without EDNS', T, () =>
    withRaw(
      (q, from, raw) => {
        const hasOpt = (q.additionals ?? []).some((x) => x.type === 'OPT');
        raw.send(hasOpt ? reply(q, { flags: RD_RA | 1 }) : reply(q, { answers: [a(qname(q), '192.0.2.8')] }), from);
      },
      async (raw) => {
        const r = createResolver({ servers: [raw.server], now: () => 0 });
        assert.deepEqual(await r.lookup('old.example', 'A'), { kind: 'ok', records: ['192.0.2.8'], ad: false, ttl: 300 });
        assert.equal(raw.queries.length, 2);
        assert.equal((raw.queries[1]?.additionals ?? []).length, 0);
      },
    ));

  test('REFUSED is a temperror and that server is not asked again', T, () =>
    withRaw(
      (q, from, raw) => raw.send(reply(q, { flags: RD_RA | 5 }), from),
      async (raw) => {
        const r = createResolver({ servers: [raw.server], retries: 3 });
        const res = await r.lookup('x.example', 'A');
        assert.equal(res.kind, 'temperror');
        if (res.kind === 'temperror') assert.match(res.reason, /REFUSED/);
        assert.equal(raw.queries.length, 1);
      },
    ));

  test('an answer with our id that cannot be read is a temperror, not retried at that server', T, () =>
    withRaw(
      (q, from, raw) => {
        const good = reply(q, { answers: [a(qname(q), '192.0.2.1')] });
        raw.send(good.subarray(0, good.length - 3), from);
      },
      async (raw) => {
        const r = createResolver({ servers: [raw.server], retries: 2, timeoutMs: 500 });
        const start = Date.now();
        const res = await r.lookup('x.example', 'A');
        assert.equal(res.kind, 'temperror');
        if (res.kind === 'temperror') assert.match(res.reason, /malformed/);
        assert.equal(raw.queries.length, 1);
        assert.ok(Date.now() - start < 400, 'no waiting for the timeout');
      },
    ));

  test('over TCP, an answer to another question is a temperror', T, () =>
    withRaw(
      (q, from, raw) => raw.send(reply(q, { flags: RD_RA | dnsPacket.TRUNCATED_RESPONSE }), from),
      async (raw) => {
        const r = createResolver({ servers: [raw.server], retries: 0 });
        const res = await r.lookup('x.example', 'TXT');
        assert.equal(res.kind, 'temperror');
        if (res.kind === 'temperror') assert.match(res.reason, /mismatched answer .*TCP/);
        assert.equal(raw.queries.length, 2, 'UDP, then TCP');
      },
      (q) => reply(q, { id: ((q.id ?? 0) + 1) & 0xffff, answers: [{ type: 'TXT', name: qname(q), ttl: 1, data: ['x'] }] }),
    ));
});

describe('reading answers', () => {
  const answers: Record<string, (q: DecodedPacket) => Packet> = {
    // RFC 2181 5.2: differing TTLs in one RRset count as the lowest.
    'mixed-ttl.example': (q) => ({ answers: [a(qname(q), '192.0.2.1', 500), a(qname(q), '192.0.2.2', 100)] }),
    // RFC 2181 8: a TTL with the top bit set is zero.
    'top-bit.example': (q) => ({ answers: [a(qname(q), '192.0.2.1', 0x80000000)] }),
    'huge-ttl.example': (q) => ({ answers: [a(qname(q), '192.0.2.1', 2_000_000)] }),
    // Records off the chain (another owner, another type) are not part of the answer.
    'noise.example': (q) => ({
      answers: [a('other.example', '6.6.6.6'), { type: 'AAAA', name: qname(q), ttl: 300, data: '2001:db8::6' }, a(qname(q), '192.0.2.3')],
    }),
    'only-noise.example': () => ({ answers: [a('other.example', '6.6.6.6')] }),
    'soa-ttl.example': () => ({ authorities: [soa('example', 7, 900)] }),
    'soa-min.example': () => ({ authorities: [soa('example', 900, 8)] }),
    'soa-huge.example': () => ({ flags: RD_RA | 3, authorities: [soa('example', 999_999, 999_999)] }),
    'no-soa.example': () => ({ flags: RD_RA | 3 }),
    'cname-nx.example': (q) => ({ flags: RD_RA | 3, answers: [{ type: 'CNAME', name: qname(q), ttl: 20, data: 'gone.example' }], authorities: [soa('example', 50, 50)] }),
  };

  test('TTL, negative TTL and chain rules', T, () =>
    withRaw(
      (q, from, raw) => {
        const make = answers[qname(q)];
        raw.send(make ? reply(q, make(q)) : reply(q, { flags: RD_RA | 2 }), from);
      },
      async (raw) => {
        const r = createResolver({ servers: [raw.server], now: () => 0 });
        assert.deepEqual(await r.lookup('mixed-ttl.example', 'A'), { kind: 'ok', records: ['192.0.2.1', '192.0.2.2'], ad: false, ttl: 100 });
        assert.deepEqual(await r.lookup('top-bit.example', 'A'), { kind: 'ok', records: ['192.0.2.1'], ad: false, ttl: 0 });
        await r.lookup('top-bit.example', 'A');
        assert.equal(raw.queries.filter((q) => qname(q) === 'top-bit.example').length, 2, 'TTL 0 is not cached');
        assert.deepEqual(await r.lookup('huge-ttl.example', 'A'), { kind: 'ok', records: ['192.0.2.1'], ad: false, ttl: 86_400 });
        assert.deepEqual(await r.lookup('noise.example', 'A'), { kind: 'ok', records: ['192.0.2.3'], ad: false, ttl: 300 });
        assert.deepEqual(await r.lookup('only-noise.example', 'A'), { kind: 'nodata', ad: false, ttl: 60 }, 'no SOA: 60 s');
        assert.deepEqual(await r.lookup('soa-ttl.example', 'A'), { kind: 'nodata', ad: false, ttl: 7 });
        assert.deepEqual(await r.lookup('soa-min.example', 'A'), { kind: 'nodata', ad: false, ttl: 8 });
        assert.deepEqual(await r.lookup('soa-huge.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 3600 }, 'capped at an hour');
        assert.deepEqual(await r.lookup('no-soa.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 60 });
        assert.deepEqual(await r.lookup('cname-nx.example', 'A'), { kind: 'nxdomain', ad: false, ttl: 20 }, 'RFC 6604: NXDOMAIN is about the target');
      },
    ));
});
