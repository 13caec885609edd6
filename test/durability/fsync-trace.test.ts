// Acknowledged means durable, checked where a SIGKILL test cannot see: a system-call trace of the
// daemon must show a completed fdatasync/fsync/msync between each end of data and its 250.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { RawClient } from '../helpers/smtp-client.js';

const SYNC = /\b(fdatasync|fsync|msync)\(/;
const MESSAGES = 20;

interface Line {
  readonly text: string;
  readonly index: number;
}

/** A sync call that returned 0: a whole line, or the "resumed" half of one another thread interrupted. */
function completedSync(l: string): boolean {
  if (!SYNC.test(l) && !/<\.\.\. (fdatasync|fsync|msync) resumed>/.test(l)) return false;
  return !l.includes('<unfinished ...>') && /= 0\s*$/.test(l);
}

test('strace: every 250 after end of data follows a completed fdatasync/fsync/msync', { timeout: 120_000 }, async (t) => {
  const d = await startDaemon({ config: { log_level: 'info' }, wrap: ['strace', '-f', '-qq', '-s', '256', '-e', 'trace=read,readv,recvfrom,write,writev,sendto,sendmsg,fdatasync,fsync,msync', '-o', 'TRACE'] });
  const traceFile = join(d.dir, 'TRACE');
  try {
    const c = await RawClient.connect(d.port);
    assert.equal((await c.read())?.code, 220);
    assert.equal((await c.cmd('EHLO trace.client.test'))?.code, 250);
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      assert.equal((await c.cmd('MAIL FROM:<t@client.test>'))?.code, 250);
      assert.equal((await c.cmd('RCPT TO:<traced@localhost>'))?.code, 250);
      assert.equal((await c.cmd('DATA'))?.code, 354);
      c.write(`Subject: traced ${i}\r\n\r\nbody ${i}\r\n.\r\n`);
      const r = await c.read();
      assert.equal(r?.code, 250);
      const id = /id=([0-9A-Z]{16})/.exec(r?.text ?? '')?.[1];
      assert.ok(id, 'the 250 names the message id');
      ids.push(id);
    }
    await c.cmd('QUIT');
    c.close();
    await d.stop();

    const lines: Line[] = readFileSync(traceFile, 'utf8').split('\n').map((text, index) => ({ text, index }));
    for (const id of ids) {
      const ack = lines.find((l) => /write|send/.test(l.text) && l.text.includes(`250 2.0.0 OK id=${id}`));
      assert.ok(ack, `the trace shows the 250 for ${id}`);
      // The read that carried the end of data for this message: the last <CRLF>.<CRLF> read before the 250.
      const eod = [...lines.slice(0, ack.index)].reverse().find((l) => /\b(read|readv|recvfrom)\(/.test(l.text) && l.text.includes('\\r\\n.\\r\\n'));
      assert.ok(eod, `the trace shows the end of data of ${id}`);
      const between = lines.slice(eod.index + 1, ack.index);
      assert.ok(between.some((l) => completedSync(l.text)), `a completed sync lies between the end of data and the 250 of ${id}`);
    }
    t.diagnostic(`${ids.length} acknowledgements checked against the trace (${lines.filter((l) => completedSync(l.text)).length} completed syncs)`);
  } finally {
    await d.stop();
    d.cleanup();
  }
});
