// Postfix smtp-sink as a peer: the protocol ceiling of this machine; it stores nothing.

import { spawn } from 'node:child_process';
import { PeerError } from '../errors.js';
import { isExecutable, postfixVersion, SMTP_SINK_BIN } from './install.js';
import { freePort, isRunning, stopChild, trackChild, waitForBanner } from './process.js';
import type { PeerInfo, PeerTarget, RunningPeer, StartOptions } from './types.js';

const INFO: PeerInfo = {
  name: 'sink',
  description: 'Postfix smtp-sink: protocol only, single process, C',
  durable: false,
  durability: 'no (nothing stored: protocol ceiling)',
};

const HOST = '127.0.0.1';
// smtp-sink's listen backlog; large enough that 20 sessions reconnecting never see a refusal.
const BACKLOG = '1000';

export function sinkTarget(): PeerTarget {
  return {
    ...INFO,
    async start(opts: StartOptions = {}): Promise<RunningPeer> {
      if (!(await isExecutable(SMTP_SINK_BIN))) {
        throw new PeerError('ERR_PEER_START', `${SMTP_SINK_BIN} not found: run ensurePeers(['sink']) first`);
      }
      const port = opts.port ?? (await freePort(HOST));
      // smtp-sink refuses to run as root without -u; as another user it needs nothing.
      const user = process.getuid?.() === 0 ? ['-u', 'postfix'] : [];
      const child = spawn(SMTP_SINK_BIN, [...user, `${HOST}:${port}`, BACKLOG], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      trackChild(child);
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
      const stop = async (): Promise<void> => stopChild(child, 5000);
      try {
        await waitForBanner(HOST, port, 10_000, () =>
          isRunning(child) ? undefined : `smtp-sink exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`,
        );
      } catch (err) {
        await stop();
        throw err;
      }
      return { info: INFO, host: HOST, port, version: await postfixVersion(), stop };
    },
  };
}
