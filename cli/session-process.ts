// Entry file of a session process (session_processes): serves sessions for the daemon that forked it.
import { SessionProcess } from '../actors/listener/process/session.js';
import type { ParentChannel } from '../actors/listener/process/session.js';
import { createLogger } from './log.js';
import { tuneHeap } from '../actors/supervisor/heap.js';

if (process.send) {
  tuneHeap();
  // The daemon decides when this process stops: a terminal's Ctrl-C or hangup reaches the whole group.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  const sessions = new SessionProcess(process as unknown as ParentChannel, (code) => process.exit(code), createLogger);
  process.on('SIGTERM', () => void sessions.stop(10_000));
  process.on('unhandledRejection', (reason) => sessions.bug(reason));
}
