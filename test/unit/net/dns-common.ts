// Shared data for the DNS client tests: a synthetic fixture covering every type and outcome, and small helpers.
import { createSocket } from 'node:dgram';
import type { DnsFixture } from '../../../net/dns/fixture.js';

/** 14 TXT records of 240 octets: about 3.5 KB, too big for UDP with a 1232-octet EDNS buffer. */
export const BIG_TXT: string[][] = Array.from({ length: 14 }, (_, i) => [`${String(i).padStart(2, '0')}${'x'.repeat(238)}`]);

/** c0.example -> c1.example -> ... -> c<n>.example, which has an A record. */
export function cnameChain(n: number, prefix = 'c'): DnsFixture {
  const f: DnsFixture = {};
  for (let i = 0; i < n; i++) f[`${prefix}${i}.example`] = { CNAME: [`${prefix}${i + 1}.example`] };
  f[`${prefix}${n}.example`] = { A: ['192.0.2.99'] };
  return f;
}

export const SYNTHETIC: DnsFixture = {
  'host.example': { A: ['192.0.2.1', '192.0.2.2'], AAAA: ['2001:DB8::1'] },
  'v4only.example': { A: ['192.0.2.3'] },
  'example.com': {
    MX: [{ exchange: 'mx1.example.com', priority: 10 }, { exchange: 'MX2.Example.COM.', priority: 20 }],
    TXT: [['v=spf1 -all'], ['first ', 'second']],
  },
  'null-mx.example': { MX: [{ exchange: '.', priority: 0 }] },
  '1.2.0.192.in-addr.arpa': { PTR: ['Host.Example.'] },
  'alias.example': { CNAME: ['host.example'] },
  'alias2.example': { CNAME: ['alias.example'] },
  '_25._tcp.mx1.example.com': {
    TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: '0123456789abcdef'.repeat(4) }, { usage: 2, selector: 0, matchingType: 2, data: 'FF00' }],
  },
  'big.example': { TXT: BIG_TXT },
  'utf8.example': { TXT: [['h\u00e9llo w\u00f6rld \u2603']] },
  'empty-txt.example': { TXT: [[]] },
  'timeout.example': 'TIMEOUT',
  'servfail.example': 'SERVFAIL',
  'gone.example': 'NXDOMAIN',
  'partial.example': { A: ['192.0.2.9'], AAAA: 'TIMEOUT', MX: 'SERVFAIL' },
  'loop1.example': { CNAME: ['loop2.example'] },
  'loop2.example': { CNAME: ['loop1.example'] },
  'dangling.example': { CNAME: ['nowhere.example'] },
  'to-timeout.example': { CNAME: ['timeout.example'] },
  ...cnameChain(8, 'c'),
  ...cnameChain(9, 'd'),
};

/** A UDP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
