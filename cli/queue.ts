// `petrel queue list|show|count`: read the spool (read-only; safe while the daemon runs).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { parseHeaders } from '../protocol/message/headers.js';
import type { Envelope } from '../store/envelope.js';
import { Spool } from '../store/spool.js';
import { deliveredHeaders } from '../store/reader.js';

async function openSpool(configFile?: string): Promise<Spool | undefined> {
  const config = await loadConfig(configFile);
  if (!existsSync(join(config.spool_directory, 'petrel.lmdb'))) return undefined;
  return Spool.open(config.spool_directory, { readOnly: true });
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function summary(env: Envelope): Record<string, unknown> {
  return {
    id: env.id,
    sender: env.sender,
    recipients: env.recipients.map((r) => ({
      address: r.address,
      state: r.state,
      attempts: r.attempts ?? 0,
      nextAttempt: r.state === 'deferred' ? iso(r.nextAttempt) : null,
      ...(r.lastError ? { lastError: r.lastError } : {}),
      ...(r.parent ? { parent: r.parent } : {}),
    })),
    size: env.size,
    received: iso(env.receivedAt),
    messageId: env.messageIdHeader ?? null,
    frozen: env.frozen === true,
  };
}

function age(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export async function queueList(opts: { config?: string; json?: boolean }, out: NodeJS.WritableStream): Promise<number> {
  const spool = await openSpool(opts.config);
  if (!spool) {
    out.write(opts.json ? '[]\n' : '');
    return 0;
  }
  try {
    if (opts.json) {
      // Streamed one message at a time, so a large queue is never held in memory whole.
      out.write('[');
      let first = true;
      for (const env of spool.list()) {
        out.write((first ? '\n' : ',\n') + JSON.stringify(summary(env)));
        first = false;
      }
      out.write(first ? ']\n' : '\n]\n');
    } else {
      for (const env of spool.list()) {
        // Exim's mailq layout: age, size, id, sender, then one indented line per recipient.
        out.write(`${age(env.receivedAt).padStart(4)} ${String(env.size).padStart(6)} ${env.id} <${env.sender}>${env.frozen ? ' *** frozen ***' : ''}\n`);
        for (const r of env.recipients) {
          const mark = r.state === 'delivered' || r.state === 'failed' || r.state === 'expanded' ? 'D' : ' ';
          const tries = r.attempts ? `, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` : '';
          const next = r.state === 'deferred' && r.nextAttempt ? `, next ${new Date(r.nextAttempt).toISOString()}` : '';
          out.write(`          ${mark} ${r.address} (${r.state}${tries}${next})\n`);
          if (r.state === 'deferred' && r.lastError) out.write(`              ${r.lastError}\n`);
        }
        out.write('\n');
      }
    }
  } finally {
    await spool.close();
  }
  return 0;
}

export async function queueCount(opts: { config?: string }, out: NodeJS.WritableStream): Promise<number> {
  const spool = await openSpool(opts.config);
  out.write(`${spool ? spool.count() : 0}\n`);
  await spool?.close();
  return 0;
}

export async function queueShow(id: string, opts: { config?: string; json?: boolean; body?: boolean }, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const spool = await openSpool(opts.config);
  const env = spool?.envelope(id);
  if (!spool || !env) {
    err.write(`petrel: no message ${id} in the queue\n`);
    await spool?.close();
    return 1;
  }
  try {
    // As it will be delivered: ACL-added headers in place, fields not passed on left out.
    const headers = deliveredHeaders(spool, env);
    if (opts.json) {
      out.write(JSON.stringify({ envelope: env, headers: parseHeaders(headers) }, null, 2) + '\n');
    } else {
      out.write(`id: ${env.id}\nsender: <${env.sender}>\nreceived: ${new Date(env.receivedAt).toISOString()} from ${env.client.helo} [${env.client.ip}]:${env.client.port} (${env.protocol}${env.tls ? `, ${env.tls.version} ${env.tls.cipher}` : ''})\nsize: ${env.size}\n`);
      if (env.ret || env.envid) out.write(`dsn: ${env.ret ? `RET=${env.ret} ` : ''}${env.envid ? `ENVID=${env.envid}` : ''}\n`);
      out.write('recipients:\n');
      for (const r of env.recipients) {
        const dsn = [r.notify ? `NOTIFY=${r.notify === 'NEVER' ? 'NEVER' : r.notify.join(',')}` : '', r.orcpt ? `ORCPT=${r.orcpt.type};${r.orcpt.address}` : ''].filter(Boolean).join(' ');
        out.write(`  ${r.address} (${r.state})${dsn ? ` ${dsn}` : ''}\n`);
      }
      out.write('\n');
      out.write(headers.toString('utf8'));
      if (opts.body) {
        out.write('\n');
        let offset = 0;
        for (const chunk of spool.data(id)) {
          const start = Math.max(0, env.headerEnd - offset);
          if (start < chunk.length) out.write(chunk.subarray(start));
          offset += chunk.length;
        }
      }
    }
  } finally {
    await spool.close();
  }
  return 0;
}
