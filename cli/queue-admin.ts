// `petrel queue retry|delete|freeze|thaw|bounce`: change queued messages in the spool, then tell a
// running daemon (SIGUSR1) to look at its queue again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import type { Config } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import type { Envelope } from '../store/envelope.js';
import { Spool } from '../store/spool.js';
import type { SpoolChange } from '../store/spool.js';
import { createIdGenerator } from '../store/ids.js';
import { applyResults } from '../actors/queue/outcomes.js';
import { reportMessage } from '../actors/queue/reports.js';
import type { RecipientResult } from '../actors/delivery/types.js';

type Out = NodeJS.WritableStream;

async function openWritable(configFile: string | undefined): Promise<{ spool: Spool; config: Config } | undefined> {
  const config = await loadConfig(configFile);
  if (!existsSync(join(config.spool_directory, 'petrel.lmdb'))) return undefined;
  // No lock: the daemon holds it; LMDB lets both write, one transaction at a time.
  return { spool: Spool.open(config.spool_directory), config };
}

/** Ask a running daemon to look at its queue now. */
function kickDaemon(spoolDir: string): boolean {
  try {
    const pid = Number(readFileSync(join(spoolDir, 'petrel.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 'SIGUSR1');
    return true;
  } catch {
    return false;
  }
}

const open = (env: Envelope): boolean => env.recipients.some((r) => r.state === 'pending' || r.state === 'deferred');

export type AdminAction = 'retry' | 'delete' | 'freeze' | 'thaw' | 'bounce';

export async function queueAdmin(action: AdminAction, ids: string[], opts: { config?: string; all?: boolean }, out: Out, err: Out): Promise<number> {
  const o = await openWritable(opts.config);
  if (!o) {
    err.write('petrel: the queue is empty (no spool yet)\n');
    return 1;
  }
  const { spool, config } = o;
  let failed = 0;
  try {
    const targets = opts.all ? [...spool.list()].map((e) => e.id) : ids;
    if (targets.length === 0) {
      err.write(`petrel: queue ${action} needs message ids${action === 'retry' ? ' or --all' : ''}\n`);
      return 1;
    }
    const now = Date.now();
    const newId = createIdGenerator(Date.now, () => randomInt(0, 2 ** 32));
    for (const id of targets) {
      const env = spool.envelope(id);
      if (!env) {
        err.write(`petrel: no message ${id} in the queue\n`);
        failed++;
        continue;
      }
      const changes = change(action, env, now, config, spool, newId);
      if (changes.length === 0) {
        out.write(`${id}: nothing to do\n`);
        continue;
      }
      await spool.apply(changes, { edit: true });
      out.write(`${id}: ${PAST[action]}\n`);
    }
  } finally {
    await spool.close();
  }
  if (action !== 'delete' && kickDaemon(config.spool_directory)) out.write('daemon told to look at the queue\n');
  return failed > 0 ? 1 : 0;
}

const PAST: Record<AdminAction, string> = { retry: 'due now', delete: 'deleted', freeze: 'frozen', thaw: 'thawed, due now', bounce: 'bounced' };

function change(action: AdminAction, env: Envelope, now: number, config: Config, spool: Spool, newId: () => string): SpoolChange[] {
  switch (action) {
    case 'delete':
      return [{ kind: 'remove', id: env.id }];
    case 'freeze':
      return env.frozen ? [] : [{ kind: 'update', envelope: { ...env, frozen: true, due: undefined } }];
    case 'thaw':
      return env.frozen ? [{ kind: 'update', envelope: { ...env, frozen: false, due: now } }] : [];
    case 'retry': {
      if (!open(env)) return [];
      // Deferred recipients become due now; a frozen message is thawed too, as Exim's -M does.
      const recipients = env.recipients.map((r) => (r.state === 'deferred' ? { ...r, nextAttempt: now } : r));
      return [{ kind: 'update', envelope: { ...env, recipients, frozen: false, due: now } }];
    }
    case 'bounce': {
      const results: RecipientResult[] = env.recipients
        .map((r, index) => ({ r, index }))
        .filter(({ r }) => r.state === 'pending' || r.state === 'deferred')
        .map(({ index }) => ({ index, outcome: { kind: 'failed', status: '5.0.0', reason: 'bounced by the administrator' } }));
      if (results.length === 0) return [];
      const applied = applyResults(env, results, { now, rulesFor: () => [], delayWarnings: [] });
      const changes: SpoolChange[] = [applied.done ? { kind: 'remove', id: env.id } : { kind: 'update', envelope: applied.envelope }];
      const settings = {
        hostname: config.primary_hostname,
        from: config.dsn_from.replace(/\$\{?primary_hostname\}?/g, config.primary_hostname),
        returnLimit: config.bounce_return_size_limit,
        now,
        newId,
      };
      for (const req of applied.reports) changes.push(reportMessage(spool, env, req, env.sender, settings));
      return changes;
    }
  }
}
