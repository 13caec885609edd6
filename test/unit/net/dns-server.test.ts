// The test DNS server (test/helpers/dns-server.ts) itself, seen by raw queries: flags, SOA in negative answers,
// truncation at 512 octets without EDNS and at the client's EDNS size, TIMEOUT over TCP, fixed ports.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, RecordType } from 'dns-packet';
import { startDnsServer } from '../../helpers/dns-server.js';
import type { TestDnsServer } from '../../helpers/dns-server.js';
import { SYNTHETIC } from './dns-common.js';

const T = { timeout: 10_000 };
type Decoded = DecodedPacket & { rcode?: string };

function query(name: string, type: RecordType, opts: { edns?: number; ad?: boolean } = {}): Packet {
  return {
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED | (opts.ad ? dnsPacket.AUTHENTIC_DATA : 0),
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns
      ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
      : [],
  };
}

/** One UDP exchange; null if nothing came back within `ms`. */
async function udp(srv: TestDnsServer, q: Packet, ms = 300): Promise<{ packet: Decoded; size: number } | null> {
  const sock = createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      sock.on('message', (msg) => {
        clearTimeout(timer);
        resolve({ packet: dnsPacket.decode(msg) as Decoded, size: msg.length });
      });
      sock.send(dnsPacket.encode(q), srv.port, srv.address);
    });
  } finally {
    sock.close();
  }
}

/** One TCP exchange; null if nothing came back within `ms`. */
async function tcp(srv: TestDnsServer, q: Packet, ms = 300): Promise<Decoded | null> {
  const sock = connect(srv.port, srv.address);
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      let buf: Buffer = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))) as Decoded);
        }
      });
      sock.write(dnsPacket.streamEncode(q));
    });
  } finally {
    sock.destroy();
  }
}

test('flags, the CNAME chain in the answer, SOA in negative answers, query log', T, async () => {
  const srv = await startDnsServer(SYNTHETIC, { soaMinimum: 12 });
  try {
    const ok = await udp(srv, query('Alias.Example', 'A'));
    assert.ok(ok);
    assert.equal(ok.packet.id, 4242);
    assert.equal(ok.packet.flag_qr, true);
    assert.equal(ok.packet.flag_aa, true);
    assert.equal(ok.packet.flag_ad, false);
    assert.equal(ok.packet.rcode, 'NOERROR');
    assert.deepEqual(ok.packet.answers?.map((a) => [a.type, a.name, 'data' in a ? a.data : null]), [
      ['CNAME', 'Alias.Example', 'host.example'],
      ['A', 'host.example', '192.0.2.1'],
      ['A', 'host.example', '192.0.2.2'],
    ]);
    const nx = await udp(srv, query('gone.example', 'A'));
    assert.equal(nx?.packet.rcode, 'NXDOMAIN');
    const soa = nx?.packet.authorities?.[0];
    assert.ok(soa && soa.type === 'SOA');
    assert.equal(soa.data.minimum, 12);
    const nodata = await udp(srv, query('host.example', 'MX'));
    assert.equal(nodata?.packet.rcode, 'NOERROR');
    assert.equal(nodata?.packet.answers?.length, 0);
    assert.equal(nodata?.packet.authorities?.[0]?.type, 'SOA');
    assert.equal((await udp(srv, query('servfail.example', 'A')))?.packet.rcode, 'SERVFAIL');
    assert.equal(await udp(srv, query('timeout.example', 'A')), null);
    assert.equal(await tcp(srv, query('timeout.example', 'A')), null);
    assert.deepEqual(srv.queries.slice(0, 2), [
      { name: 'alias.example', type: 'A', transport: 'udp' },
      { name: 'gone.example', type: 'A', transport: 'udp' },
    ]);
    assert.equal(srv.queries.at(-1)?.transport, 'tcp');
  } finally {
    await srv.close();
  }
});

test('truncation: over 512 octets without EDNS, over the EDNS size with it; whole over TCP', T, async () => {
  // Three records of about 200 octets: about 650 octets in all.
  const srv = await startDnsServer({ 'mid.example': { TXT: [['a'.repeat(200)], ['b'.repeat(200)], ['c'.repeat(200)]] }, 'big.example': SYNTHETIC['big.example'] ?? {} });
  try {
    const plain = await udp(srv, query('mid.example', 'TXT'));
    assert.equal(plain?.packet.flag_tc, true);
    assert.equal(plain?.packet.answers?.length, 0);
    assert.ok((plain?.size ?? 999) <= 512);
    const edns = await udp(srv, query('mid.example', 'TXT', { edns: 1232 }));
    assert.equal(edns?.packet.flag_tc, false);
    assert.equal(edns?.packet.answers?.length, 3);
    const big = await udp(srv, query('big.example', 'TXT', { edns: 1232 }));
    assert.equal(big?.packet.flag_tc, true);
    const bigger = await udp(srv, query('big.example', 'TXT', { edns: 4096 }));
    assert.equal(bigger?.packet.flag_tc, false, 'fits the client\'s 4096');
    const whole = await tcp(srv, query('big.example', 'TXT'));
    assert.equal(whole?.answers?.length, 14);
  } finally {
    await srv.close();
  }
});

test('the ad option sets AD only for queries that ask (AD or DO)', T, async () => {
  const srv = await startDnsServer(SYNTHETIC, { ad: true });
  try {
    assert.equal((await udp(srv, query('host.example', 'A', { ad: true })))?.packet.flag_ad, true);
    assert.equal((await udp(srv, query('host.example', 'A')))?.packet.flag_ad, false);
  } finally {
    await srv.close();
  }
});

test('setFixture takes effect at once; a fixed port is used for UDP and TCP; close frees it', T, async () => {
  const first = await startDnsServer({});
  const port = first.port;
  await first.close();
  const srv = await startDnsServer({ 'a.example': { A: ['192.0.2.1'] } }, { port });
  try {
    assert.equal(srv.port, port);
    assert.equal(srv.server, `127.0.0.1:${port}`);
    assert.equal((await udp(srv, query('a.example', 'A')))?.packet.rcode, 'NOERROR');
    srv.setFixture({});
    assert.equal((await tcp(srv, query('a.example', 'A')))?.rcode, 'NXDOMAIN');
    assert.throws(() => srv.setFixture({ 'a.example': { A: ['x'] } }), { code: 'DNS_CONFIG' });
  } finally {
    await srv.close();
  }
});
