// Reading what a bench daemon printed: `petrel queue count`, and its pino log (deliveries, and the lines worth
// showing when something failed).
import { PeerError } from '../errors.js';

/** The number `petrel queue count` prints (one line, digits); anything else is an error. */
export function parseQueueCount(stdout: string): number {
  const text = stdout.trim();
  if (!/^\d+$/.test(text)) throw new PeerError('ERR_PEER_COMMAND', `petrel queue count printed ${JSON.stringify(text.slice(0, 200))}`);
  return Number(text);
}

/** What the daemon's log says about deliveries, and the lines worth showing when something failed. */
export interface DaemonLogSummary {
  readonly arrivals: number;
  readonly delivered: number;
  readonly completed: number;
  readonly deferred: number;
  readonly failed: number;
  /** Lines that are not routine (warnings, errors, deferrals, failures, anything not JSON such as a crash trace). */
  readonly notable: string[];
}

const ROUTINE = new Set(['arrival', 'delivered', 'completed', 'spool-open', 'ready', 'signal', 'stopped']);

/** Reads a daemon log (pino JSON lines, maybe a crash trace among them). */
export function summarizeDaemonLog(text: string, maxNotable = 40): DaemonLogSummary {
  let arrivals = 0;
  let delivered = 0;
  let completed = 0;
  let deferred = 0;
  let failed = 0;
  const notable: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let rec: { level?: unknown; event?: unknown; msg?: unknown } | undefined;
    try {
      const v: unknown = JSON.parse(line);
      rec = typeof v === 'object' && v !== null ? v : undefined;
    } catch {
      rec = undefined;
    }
    const event = typeof rec?.event === 'string' ? rec.event : undefined;
    if (event === 'arrival') arrivals++;
    else if (event === 'delivered') delivered++;
    else if (event === 'completed') completed++;
    else if (event === 'deferred') deferred++;
    else if (event === 'failed') failed++;
    // Arrivals, deliveries and start/stop lines are routine below level warn (40).
    const routine = rec !== undefined && (typeof rec.level !== 'number' || rec.level < 40) && event !== undefined && ROUTINE.has(event);
    if (!routine && notable.length < maxNotable) notable.push(line.length > 600 ? `${line.slice(0, 600)}...` : line);
  }
  return { arrivals, delivered, completed, deferred, failed, notable };
}

/** Epoch ms of the last log line with this event (pino's ISO `time`), undefined when there is none. */
export function lastEventTime(text: string, event: string): number | undefined {
  const needle = `"event":"${event}"`;
  let at = text.lastIndexOf(needle);
  while (at >= 0) {
    const start = text.lastIndexOf('\n', at) + 1;
    const end = text.indexOf('\n', at);
    try {
      const rec = JSON.parse(text.slice(start, end < 0 ? undefined : end)) as { time?: unknown; event?: unknown };
      const t = typeof rec.time === 'string' ? Date.parse(rec.time) : typeof rec.time === 'number' ? rec.time : NaN;
      if (rec.event === event && Number.isFinite(t)) return t;
    } catch {
      // Not a JSON line (a crash trace quoting the text): look further back.
    }
    at = start >= 2 ? text.lastIndexOf(needle, start - 2) : -1;
  }
  return undefined;
}
