// One exchange with one server: UDP from a fresh connected socket on a random port, or TCP with the
// two-octet length prefix (RFC 1035 4.2.1, 4.2.2; RFC 5452 for what an answer must match to be believed).
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import ipaddr from 'ipaddr.js';
import { decodeMessage } from './message.js';
import type { Decoded } from './message.js';
import type { ServerAddress } from './servers.js';

export type Exchange =
  | { kind: 'response'; packet: Decoded }
  | { kind: 'timeout'; ignored: number }
  | { kind: 'error'; reason: string; /** the server's answer could not be read */ malformed?: boolean };

export interface ExchangeRequest {
  readonly server: ServerAddress;
  readonly query: Buffer;
  readonly id: number;
  /** True if a decoded message answers our question (id, QR, question). */
  readonly accept: (p: Decoded) => boolean;
  readonly timeoutMs: number;
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return ipaddr.parse(a.split('%')[0] ?? a).toNormalizedString() === ipaddr.parse(b.split('%')[0] ?? b).toNormalizedString();
  } catch {
    return false;
  }
}

function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

/**
 * Sends the query over UDP and waits for the first datagram that answers it. Datagrams from elsewhere, with
 * another id, or for another question are ignored (counted); a datagram with our id that cannot be decoded ends
 * the exchange as an error. The socket is connected, so the kernel also drops other sources and reports ICMP
 * port unreachable as ECONNREFUSED at once.
 */
export function udpExchange(req: ExchangeRequest): Promise<Exchange> {
  const { server, query, id, accept, timeoutMs } = req;
  return new Promise((resolve) => {
    const socket = createSocket(server.family === 6 ? 'udp6' : 'udp4');
    let done = false;
    let ignored = 0;
    const finish = (result: Exchange): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed after an error
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', ignored }), timeoutMs);
    socket.on('error', (err) => finish({ kind: 'error', reason: `${server.label}: ${errorReason(err)}` }));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== server.port || !sameAddress(rinfo.address, server.address)) {
        ignored++;
        return;
      }
      const packet = decodeMessage(msg);
      if (!packet) {
        if (msg.length >= 2 && msg.readUInt16BE(0) === id) finish({ kind: 'error', reason: `malformed answer from ${server.label}`, malformed: true });
        else ignored++;
        return;
      }
      if (!accept(packet)) {
        ignored++;
        return;
      }
      finish({ kind: 'response', packet });
    });
    socket.connect(server.port, server.address, () => {
      if (done) return;
      socket.send(query, (err) => {
        if (err) finish({ kind: 'error', reason: `${server.label}: ${errorReason(err)}` });
      });
    });
  });
}

/** Sends the query over TCP and reads one length-prefixed answer, which must answer our question. */
export function tcpExchange(req: ExchangeRequest): Promise<Exchange> {
  const { server, query, accept, timeoutMs } = req;
  return new Promise((resolve) => {
    const socket = connect({ host: server.address, port: server.port, noDelay: true });
    let done = false;
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (result: Exchange): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', ignored: 0 }), timeoutMs);
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      const packet = decodeMessage(buffered.subarray(2, 2 + length));
      if (!packet) finish({ kind: 'error', reason: `malformed answer from ${server.label} (TCP)`, malformed: true });
      else if (!accept(packet)) finish({ kind: 'error', reason: `mismatched answer from ${server.label} (TCP)`, malformed: true });
      else finish({ kind: 'response', packet });
    });
    socket.on('error', (err) => finish({ kind: 'error', reason: `${server.label}: ${errorReason(err)} (TCP)` }));
    socket.on('close', () => finish({ kind: 'error', reason: `${server.label}: TCP connection closed before the answer` }));
  });
}
