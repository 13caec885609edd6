// The daemon's logger (cli/log.ts): to a file, lines are gathered into larger writes, yet each reaches the
// file within a second and none is lost at exit; to a pipe, each line goes at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cachedIsoTime } from '../../../cli/log.js';

const logModule = new URL('../../../cli/log.js', import.meta.url).href;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// One line now, one more 1.5 s later, then exit: what a quiet daemon does.
const CHILD = `
const { createLogger } = await import(${JSON.stringify(logModule)});
const log = createLogger('info', 'json');
log.info({ event: 'first' }, 'first line');
setTimeout(() => { log.info({ event: 'second' }, 'second line'); process.exit(0); }, 1500);
`;

function run(stdout: number | 'pipe'): { exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['ignore', stdout, 'inherit'] });
  let piped = '';
  child.stdout?.on('data', (b: Buffer) => (piped += b.toString()));
  return { exited: new Promise((r) => child.on('exit', (code) => r(code))), output: () => piped };
}

test('to a file: a lone line is written within a second, and the last ones at exit', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-log-'));
  const file = join(dir, 'daemon.log');
  const fd = openSync(file, 'a');
  try {
    const child = run(fd);
    await sleep(1100);
    assert.match(readFileSync(file, 'utf8'), /"msg":"first line"/, 'the first line, far below the write size, is in the file after a second');
    assert.equal(await child.exited, 0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    assert.deepEqual(lines.map((l) => l.event), ['first', 'second']);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('to a pipe: each line goes at once', { timeout: 20_000 }, async () => {
  const child = run('pipe');
  await sleep(700);
  assert.match(child.output(), /"msg":"first line"/);
  assert.equal(await child.exited, 0);
  assert.match(child.output(), /"msg":"second line"/);
});

test('the time of a line is the ISO time of its millisecond, made once per millisecond', async () => {
  let t = Date.UTC(2026, 10, 23, 12, 0, 0, 5);
  const stamp = cachedIsoTime(() => t);
  const first = stamp();
  assert.equal(first, ',"time":"2026-11-23T12:00:00.005Z"');
  assert.equal(stamp(), first, 'the same millisecond, the same text');
  t += 1;
  assert.equal(stamp(), ',"time":"2026-11-23T12:00:00.006Z"');
  // pino puts it after its first fields: the line must stay valid JSON.
  assert.deepEqual(JSON.parse(`{"level":30${stamp()}}`), { level: 30, time: '2026-11-23T12:00:00.006Z' });
});
