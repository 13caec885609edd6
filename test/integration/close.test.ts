// End-to-end: how a session closes its connection (RFC 5321 section 4.1.1.10: 221, then the close).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../helpers/daemon.js';
import { makeCertificate } from '../helpers/tls.js';

/** Everything a plain client received, and how its connection ended. */
interface Ending {
  readonly text: string;
  /** The server's FIN arrived ('end'), as against a reset or nothing. */
  readonly ended: boolean;
  readonly error?: string;
}

/**
 * Talk to the server without ever closing first: `script` writes commands as replies arrive, and
 * the promise settles once the server's side is gone. allowHalfOpen keeps our side open after the
 * server's FIN, so the FIN is seen on its own and not as a consequence of our close.
 */
function converse(socket: Socket | TLSSocket, script: (text: string, s: Socket | TLSSocket) => void): Promise<Ending> {
  return new Promise((resolve) => {
    let text = '';
    let ended = false;
    let error: string | undefined;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      script(text, socket);
    });
    socket.on('end', () => {
      ended = true;
      socket.destroy();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve({ text, ended, ...(error ? { error } : {}) }));
  });
}

/** A client that sends EHLO after the banner and QUIT after the EHLO reply (and `extra` with it). */
function quitter(extra = ''): (text: string, s: Socket | TLSSocket) => void {
  let step = 0;
  return (text, s) => {
    if (step === 0 && /^220 /m.test(text)) {
      step = 1;
      s.write('EHLO close.petrel.test\r\n');
    } else if (step === 1 && /^250 /m.test(text)) {
      step = 2;
      s.write(`QUIT\r\n${extra}`);
    }
  };
}

function plain(port: number): Socket {
  return netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
}

describe('closing a session', () => {
  let d: Daemon;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-close-'));
    const { cert, key } = makeCertificate(dir);
    d = await startDaemon({ dir, config: { tls_certificate: cert, tls_privatekey: key } });
  });
  after(async () => {
    await d.stop();
    d.cleanup();
  });

  test('QUIT: the whole 221, then the FIN, with no reset, while the client keeps its side open', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await converse(plain(d.port), quitter());
      assert.match(r.text, /\r\n221 2\.0\.0 [^\r\n]*\r\n$/, `round ${i}: ends with the 221: ${JSON.stringify(r.text)}`);
      assert.equal(r.ended, true, `round ${i}: the server's FIN arrived`);
      assert.equal(r.error, undefined, `round ${i}: no error on the client's socket`);
    }
  });

  test('QUIT with more commands in the same write: the 221 and the FIN still arrive, the rest is not answered', async () => {
    const r = await converse(plain(d.port), quitter('NOOP\r\nRSET\r\n'));
    assert.match(r.text, /\r\n221 2\.0\.0 [^\r\n]*\r\n$/, JSON.stringify(r.text));
    assert.equal(r.ended, true);
    assert.equal(r.error, undefined);
  });

  test('a session closed by the server for too many errors ends the same way: its last reply, then the FIN', async () => {
    let sent = false;
    const r = await converse(plain(d.port), (text, s) => {
      if (!sent && /^220 /m.test(text)) {
        sent = true;
        s.write('XYZZY\r\n'.repeat(10));
      }
    });
    assert.match(r.text, /\r\n(421|5\d\d) [^\r\n]*\r\n$/, JSON.stringify(r.text));
    assert.equal(r.ended, true);
    assert.equal(r.error, undefined);
  });

  test('QUIT after STARTTLS: the 221 arrives inside TLS and the connection closes without an error', async () => {
    const raw = plain(d.port);
    const upgraded = await new Promise<TLSSocket>((resolve, reject) => {
      let text = '';
      let step = 0;
      let mark = 0;
      raw.setEncoding('latin1');
      const onData = (t: string): void => {
        text += t;
        const fresh = text.slice(mark);
        if (step === 0 && /^220 /m.test(fresh)) {
          step = 1;
          mark = text.length;
          raw.write('EHLO close.petrel.test\r\n');
        } else if (step === 1 && /^250 /m.test(fresh)) {
          step = 2;
          mark = text.length;
          raw.write('STARTTLS\r\n');
        } else if (step === 2 && /^220 /m.test(fresh)) {
          step = 3;
          raw.off('data', onData);
          const s = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => resolve(s));
          s.once('error', reject);
        }
      };
      raw.on('data', onData);
      raw.once('error', reject);
    });
    let quit = false;
    const ending = converse(upgraded, (text, s) => {
      if (!quit && /^250 /m.test(text)) {
        quit = true;
        s.write('QUIT\r\n');
      }
    });
    upgraded.write('EHLO close.petrel.test\r\n');
    const r = await ending;
    assert.match(r.text, /\r\n221 2\.0\.0 [^\r\n]*\r\n$/, JSON.stringify(r.text));
    assert.equal(r.error, undefined);
  });
});
