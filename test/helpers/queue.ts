// A queue service on a real spool in a temporary directory, with scripted runners: for tests of the queue's
// own logic (the SMTP side is not what they test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildConfig } from '../../config/load.js';
import { compilePolicy } from '../../actors/supervisor/policy.js';
import { compileDelivery } from '../../actors/supervisor/delivery-config.js';
import { QueueService } from '../../actors/queue/service.js';
import type { DeliveryRunnerFactory } from '../../actors/queue/ports.js';
import type { InspectionHub } from '../../actors/inspection.js';
import type { DnsPort } from '../../routing/routers.js';
import { Spool } from '../../store/spool.js';
import type { Envelope } from '../../store/envelope.js';
import { testDraft } from './envelope.js';

export interface ScriptedQueue {
  readonly queue: QueueService;
  readonly spool: Spool;
  /** Store a message for r@<domain> (default <id in lower case>.example, routed to the smarthost) and hand it to the queue. */
  message(id: string, domain?: string): Promise<void>;
  close(): Promise<void>;
}

/** `config`: further config keys (route_list, remote_max_parallel...), merged over the test's own; `inspection`: the queue actor's hub. */
export function startScriptedQueue(runners: DeliveryRunnerFactory, name: string, config: Readonly<Record<string, unknown>> = {}, inspection?: InspectionHub): ScriptedQueue {
  const dir = mkdtempSync(join(tmpdir(), `petrel-${name}-`));
  const spool = Spool.open(dir);
  const built = buildConfig({ spool_directory: dir, smarthost: '192.0.2.1:2525', queue_run_interval: 0, log_level: 'silent', ...config }, 'test', dir);
  const settings = compileDelivery(built, compilePolicy(built)).queue({} as DnsPort, () => new Set());
  const queue = new QueueService({
    spool,
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    runners,
    local: { deliver: () => Promise.reject(new Error('no local delivery here')) },
    newId: () => 'unused',
    ...(inspection ? { inspection } : {}),
  });
  queue.start();
  return {
    queue,
    spool,
    async message(id, domain = `${id.toLowerCase()}.example`) {
      const envelope: Envelope = { ...testDraft({ recipients: [{ address: `r@${domain}`, state: 'pending' }] }), format: 1, id, size: 0, chunks: 0, due: Date.now() };
      await spool.apply([{ kind: 'insert', envelope, data: Buffer.from('Subject: x\r\n\r\nbody\r\n') }]);
      queue.submit(id, spool.envelope(id));
    },
    async close() {
      await queue.stop(1000);
      await spool.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
