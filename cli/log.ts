// The daemon's logger: pino, one JSON line per event, or pretty lines on a terminal.
import { fstatSync } from 'node:fs';
import { pino } from 'pino';
import type { Logger } from 'pino';

/**
 * Standard output redirected to a file (the usual way to keep a daemon's log): lines are gathered
 * and written 4 KB at a time, and at least every half second, by the event loop itself. A write to
 * a file only copies into the page cache, and it saves the loop handing every few lines to libuv's
 * threads, which LMDB's syncs keep busy. Measured in relay-through, which logs three lines per message
 * (docs/decisions/0009-one-event-loop.md).
 */
const TO_FILE = { dest: 1, sync: true, minLength: 4096, periodicFlush: 500 };

/**
 * Anything else (a pipe, a terminal, a journal's socket) keeps asynchronous writes: a reader that
 * falls behind must not hold up the sessions.
 */
function stdoutIsFile(): boolean {
  try {
    return fstatSync(1).isFile();
  } catch {
    return false;
  }
}

/**
 * pino's isoTime, made once per millisecond: under load many lines share one, and formatting the date
 * was most of what a line cost the main loop beyond its fields.
 */
export function cachedIsoTime(now: () => number = Date.now): () => string {
  let at = -1;
  let text = '';
  return () => {
    const t = now();
    if (t !== at) {
      at = t;
      text = `,"time":"${new Date(t).toISOString()}"`;
    }
    return text;
  };
}

export function createLogger(level: string, format: 'auto' | 'json' | 'pretty'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (pretty) {
    return pino(
      { level },
      pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss', ignore: 'pid,hostname' } }),
    );
  }
  // Whatever is buffered is written out when the process exits, even on a crash.
  const dest = pino.destination(stdoutIsFile() ? TO_FILE : { dest: 1, sync: false });
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // nothing more can be done this late
    }
  });
  return pino({ level, base: { pid: process.pid }, timestamp: cachedIsoTime() }, dest);
}
