// A scriptable raw SMTP responder for load generator tests: multi-line replies, replies split across writes.

import net from 'node:net';

export interface RawServerOptions {
  /** Offer PIPELINING in the EHLO reply. */
  readonly pipelining?: boolean;
  /** Send each reply in pieces of 1-4 bytes, one write per piece, so replies cross packet boundaries. */
  readonly split?: boolean;
  /** Delay before the reply to end of data (ms), to check what latency the client records. */
  readonly dataDelayMs?: number;
  /** Never answer the end of data: for deadline tests. */
  readonly silentAfterData?: boolean;
  /** Accept connections but never greet: for deadline tests. */
  readonly noBanner?: boolean;
}

export interface RawServer {
  readonly port: number;
  /** Messages received completely (end of data seen). */
  readonly messages: string[];
  /** For each connection, the command lines with the index of the chunk each arrived in. */
  readonly commands: Array<Array<{ line: string; chunk: number }>>;
  close(): Promise<void>;
}

const BANNER = '220-raw.test ESMTP test responder\r\n220-second banner line\r\n220 ready\r\n';

function ehloReply(pipelining: boolean): string {
  const ext = ['raw.test greets you', 'SIZE 10240000', '8BITMIME', ...(pipelining ? ['PIPELINING'] : []), 'HELP'];
  return ext.map((t, i) => `250${i === ext.length - 1 ? ' ' : '-'}${t}\r\n`).join('');
}

export async function startRawServer(opts: RawServerOptions = {}): Promise<RawServer> {
  const messages: string[] = [];
  const commands: RawServer['commands'] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const log: Array<{ line: string; chunk: number }> = [];
    commands.push(log);
    let out = Promise.resolve();
    // Replies are queued so that split pieces of consecutive replies never interleave.
    const send = (text: string, then?: () => void): void => {
      out = out.then(async () => {
        if (!opts.split) {
          if (!socket.destroyed) socket.write(text);
        } else {
          for (let i = 0; i < text.length; ) {
            const n = 1 + (i % 4);
            if (!socket.destroyed) socket.write(text.slice(i, i + n));
            i += n;
            await new Promise((r) => setImmediate(r));
          }
        }
        then?.();
      });
    };
    let buf = '';
    let inData = false;
    let chunkNo = 0;
    if (!opts.noBanner) send(BANNER);
    socket.on('data', (d: Buffer) => {
      chunkNo++;
      buf += d.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          messages.push(buf.slice(0, end + 2));
          buf = buf.slice(end + 5);
          inData = false;
          if (opts.silentAfterData) continue;
          const reply = (): void => send('250 2.0.0 queued as RAW\r\n');
          if (opts.dataDelayMs) setTimeout(reply, opts.dataDelayMs);
          else reply();
          continue;
        }
        const lf = buf.indexOf('\r\n');
        if (lf < 0) return;
        const line = buf.slice(0, lf);
        buf = buf.slice(lf + 2);
        log.push({ line, chunk: chunkNo });
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') send(ehloReply(opts.pipelining === true));
        else if (verb === 'HELO') send('250 raw.test\r\n');
        else if (verb === 'MAIL' || verb === 'RSET') send('250 2.1.0 ok\r\n');
        else if (verb === 'RCPT') send('250 2.1.5 ok\r\n');
        else if (verb === 'DATA') {
          inData = true;
          send('354 go ahead\r\n');
        } else if (verb === 'QUIT') send('221 2.0.0 bye\r\n', () => socket.end());
        else send('500 5.5.1 unknown command\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    messages,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
