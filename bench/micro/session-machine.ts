// Micro-benchmark of the smtp-session actor alone: one message per actor, ports answered at once.
import { createActor } from 'xstate';
import { sessionMachine } from '../../actors/smtp-session/machine.js';
import type { SessionInput } from '../../actors/smtp-session/types.js';
import { parseCommand } from '../../protocol/smtp/command.js';
import type { Envelope } from '../../store/envelope.js';
import { tuneHeap } from '../../actors/supervisor/heap.js';

const ACCEPT = { verdict: 'accept' as const, addHeaders: [], set: {}, logwrites: [], controls: [] };
const offer = { size: true, eightBitMime: true, smtpUtf8: true, dsn: true, auth: false, pipelining: true, starttls: false, authMechanisms: [] };

function input(): SessionInput {
  return {
    conn: { clientIp: '127.0.0.1', clientPort: 1234, serverIp: '127.0.0.1', serverPort: 25 },
    settings: {
      hostname: 'mx.test', banner: '$primary_hostname ESMTP', logArrivals: true, messageSizeLimit: 1e7, recipientsMax: 100,
      maxSynprotErrors: 3, maxUnknownCommands: 3, bareNewline: 'reject', lineLengthLimit: 998, headerMax: 1e6,
      aclStages: new Set(['rcpt']), dmarc: false, arc: true,
      timeouts: { command: 300000, data: 300000, acl: 60000, tlsHandshake: 30000, verify: 60000 },
    },
    ports: {
      tryAcl: () => ACCEPT,
      newMessage: () => ({ id: '01ABCDEFGHJKMNPQ', time: Date.now() }),
      offer: () => offer,
    },
  };
}

const lines = ['EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA'].map((l) => Buffer.from(l));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function one(): Promise<void> {
  const actor = createActor(sessionMachine, { input: input() });
  let replies = 0;
  actor.on('reply', () => replies++);
  // The driver's part: answer ACL and commit requests as the connection does.
  actor.on('acl', (e) => queueMicrotask(() => actor.send({ type: 'ACL.RESULT', seq: e.seq, outcome: ACCEPT })));
  actor.on('commit', (e) => queueMicrotask(() => actor.send({ type: 'SPOOL.COMMITTED', envelope: { ...e.draft, format: 1, id: '01ABCDEFGHJKMNPQ', size: 2048, chunks: 1 } as Envelope })));
  actor.start();
  await tick();
  for (const l of lines) {
    actor.send({ type: 'SMTP.COMMAND', command: parseCommand(l), octets: l.length + 2, pipelined: false, early: false });
    await tick();
  }
  actor.send({ type: 'DATA.END', summary: { size: 2048, tooBig: false, bareNewline: false, longLine: false, headers: [], signed: false } });
  await tick();
  actor.send({ type: 'SMTP.COMMAND', command: parseCommand(Buffer.from('QUIT')), octets: 6, pipelined: false, early: false });
  if (replies !== 7) throw new Error(`expected 7 replies, got ${replies}`);
}

/** `total` messages over `lanes` actors alive at once (the daemon has 20 sessions in flight under load). */
async function round(total: number, lanes: number): Promise<void> {
  let left = total;
  const lane = async (): Promise<void> => {
    while (left > 0) {
      left--;
      await one();
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

// CPU time, not wall time, and the best of several rounds: the machine is shared and noisy.
// The daemon's heap settings (actors/supervisor/heap.ts), so that this measures what it runs.
tuneHeap();
const n = Number(process.argv[2] ?? 3000);
const lanes = Number(process.argv[3] ?? 1);
await round(500, lanes);
let best = Infinity;
for (let r = 0; r < 5; r++) {
  const c0 = process.cpuUsage();
  await round(n, lanes);
  const c = process.cpuUsage(c0);
  best = Math.min(best, (c.user + c.system) / n);
}
process.stdout.write(`session machine: ${best.toFixed(1)} us CPU per message (best of 5 rounds of ${n}; ${lanes} at once; one actor per message, 7 replies)\n`);
