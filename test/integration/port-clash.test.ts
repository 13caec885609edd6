// The test helper that starts a daemon on ports picked beforehand: a port someone else took between
// the pick and the bind (the daemon stops with EADDRINUSE, naming the address) is picked again.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startDaemonOnPorts } from '../helpers/daemon.js';
import { freePort } from '../helpers/integration.js';

test('a picked port that is taken by the time the daemon binds it is picked again', { timeout: 60_000 }, async () => {
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen({ host: '127.0.0.1', port: 0 }, r));
  const taken = (squatter.address() as AddressInfo).port;
  const picks = [taken];
  const pick = async (): Promise<number> => picks.shift() ?? freePort();
  try {
    const { daemon, ports } = await startDaemonOnPorts(1, pick, ([p]) => ({ config: { listen: [`127.0.0.1:${p}`] } }));
    try {
      assert.notEqual(ports[0], taken);
      assert.deepEqual(daemon.ports, ports);
    } finally {
      await daemon.stop();
      daemon.cleanup();
    }
  } finally {
    squatter.close();
  }
});
