// The daemon's logger: pino, one JSON line per event, or pretty lines on a terminal.
import { pino } from 'pino';
import type { Logger } from 'pino';

export function createLogger(level: string, format: 'auto' | 'json' | 'pretty'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (pretty) {
    return pino(
      { level },
      pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss', ignore: 'pid,hostname' } }),
    );
  }
  // Asynchronous writes keep logging off the hot path; whatever is buffered is written out when
  // the process exits, even on a crash.
  const dest = pino.destination({ dest: 1, sync: false });
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // nothing more can be done this late
    }
  });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
