// A DNS server on 127.0.0.1 (UDP) answering from an OpenSPF suite scenario's zonedata with the exact octets of its
// TXT strings, "\xNN" escapes included: what a JSON fixture cannot carry (octets that are not UTF-8). It answers as
// the unit suite's SuiteResolver does (test/unit/spf/suite.ts): records listed before a TIMEOUT, CNAMEs followed;
// a TIMEOUT with nothing before it is answered SERVFAIL at once (temperror either way, without the client's wait).
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { entries } from './spf-suite.js';
import type { Entry } from './spf-suite.js';

export interface RawDnsServer {
  /** "127.0.0.1:port", for --dns-server. */
  readonly server: string;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const key = (name: string): string => name.toLowerCase().replace(/\.$/, '');

function answerOf(name: string, type: string, value: unknown): Answer | undefined {
  switch (type) {
    case 'TXT':
      return { type: 'TXT', name, ttl: 300, data: (Array.isArray(value) ? value.map(String) : [String(value)]).map((s) => Buffer.from(s, 'latin1')) };
    case 'MX': {
      const [priority, exchange] = Array.isArray(value) ? value : [0, ''];
      return { type: 'MX', name, ttl: 300, data: { preference: Number(priority), exchange: String(exchange ?? '') || '.' } };
    }
    case 'A':
    case 'AAAA':
    case 'PTR':
      return { type, name, ttl: 300, data: String(value) };
    default:
      return undefined;
  }
}

export async function startRawDns(zonedata: Record<string, unknown>): Promise<RawDnsServer> {
  const zone = new Map<string, Entry[]>();
  for (const [name, list] of Object.entries(zonedata)) zone.set(key(name), entries(Array.isArray(list) ? list : []));

  const resolve = (qname: string, type: string): { rcode: keyof typeof RCODE; answers: Answer[] } => {
    const answers: Answer[] = [];
    let current = qname;
    for (let hops = 0; hops < 8; hops++) {
      const items = zone.get(key(current));
      if (items === undefined) return { rcode: 'NXDOMAIN', answers };
      let cname: string | undefined;
      const found: Answer[] = [];
      for (const item of items) {
        if (item === 'TIMEOUT') {
          if (found.length === 0) return { rcode: 'SERVFAIL', answers: [] };
          break;
        }
        if (item.type === type) {
          const a = answerOf(current, type, item.value);
          if (a) found.push(a);
        } else if (item.type === 'CNAME') cname ??= String(item.value).replace(/\.$/, '');
      }
      if (found.length > 0) return { rcode: 'NOERROR', answers: [...answers, ...found] };
      if (cname === undefined) return { rcode: 'NOERROR', answers };
      answers.push({ type: 'CNAME', name: current, ttl: 300, data: cname });
      current = cname;
    }
    return { rcode: 'SERVFAIL', answers: [] };
  };

  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    let q: DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    const { rcode, answers } = resolve(question.name, question.type);
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | RCODE[rcode];
    sock.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags, questions: q.questions ?? [], answers }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((ok, fail) => {
    sock.once('error', fail);
    sock.bind(0, '127.0.0.1', () => ok());
  });
  return {
    server: `127.0.0.1:${sock.address().port}`,
    close: () => new Promise<void>((ok) => sock.close(() => ok())),
  };
}
