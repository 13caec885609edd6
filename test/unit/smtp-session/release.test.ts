// A finished SMTP session must become garbage at once: nothing (a timer, a listener) may keep its
// Connection, actor and socket reachable after the socket has closed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { Connection } from '../../../actors/smtp-session/connection.js';
import type { ConnectionDeps } from '../../../actors/smtp-session/deps.js';
import type { AclOutcome } from '../../../actors/smtp-session/types.js';
import type { SessionSpool } from '../../../store/writer.js';
import { NOTHING_OFFERED } from '../../../protocol/smtp/sequencer.js';
import { RawClient } from '../../helpers/smtp-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ACCEPT: AclOutcome = { verdict: 'accept', addHeaders: [], set: {}, logwrites: [], controls: [] };

/** What a session without a message uses: no ACLs, no TLS; the spool is never reached. */
function deps(): ConnectionDeps {
  return {
    settings: {
      hostname: 'mx.test', banner: '$primary_hostname ESMTP', messageSizeLimit: 1e7, recipientsMax: 100,
      maxSynprotErrors: 3, maxUnknownCommands: 3, bareNewline: 'reject', lineLengthLimit: 998, headerMax: 1e6,
      aclStages: new Set(), dmarc: false, arc: false, logArrivals: true,
      timeouts: { command: 60_000, data: 60_000, acl: 60_000, tlsHandshake: 30_000, verify: 60_000 },
    },
    spool: {} as SessionSpool,
    logger: pino({ level: 'silent' }),
    runAcl: () => Promise.resolve(ACCEPT),
    tryAcl: () => ACCEPT,
    newMessage: () => ({ id: '0000000000000001', time: Date.now() }),
    offer: () => ({ ...NOTHING_OFFERED, pipelining: true, size: true }),
    committed: () => undefined,
    tlsContext: () => undefined,
  };
}

test('a session that ended with QUIT is collectable well before the 5 s linger', async () => {
  const collected: string[] = [];
  const registry = new FinalizationRegistry<string>((what) => collected.push(what));
  let ended = 0;
  const server = createServer((socket: Socket) => {
    // No reference is kept here: only what the Connection set up itself can keep it alive.
    const c = new Connection(socket, deps(), () => ended++);
    registry.register(c, 'connection');
    c.start(false);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const client = await RawClient.connect(port);
    assert.equal((await client.read())?.code, 220);
    assert.equal((await client.cmd('EHLO client.test'))?.code, 250);
    assert.equal((await client.cmd('MAIL FROM:<a@client.test>'))?.code, 250);
    assert.equal((await client.cmd('QUIT'))?.code, 221);
    await client.waitClosed();
    assert.equal(ended, 1);
    const deadline = Date.now() + 2000;
    while (collected.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      gc();
    }
    assert.deepEqual(collected, ['connection'], 'the Connection was still reachable 2 s after its socket closed');
  } finally {
    server.close();
  }
});
