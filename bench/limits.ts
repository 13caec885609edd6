// The machine's own limits, recorded beside the results: signing rates (openssl speed on all cores),
// small appends made durable (fdatasync) from one and from four writers, and the smtp-sink ceiling
// (Postfix's smtp-source against smtp-sink).

import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeError } from './errors.js';
import { isExecutable, SMTP_SINK_BIN } from './peers/install.js';
import { runCommand } from './peers/process.js';
import { sinkTarget } from './peers/sink.js';

export const SMTP_SOURCE_BIN = '/usr/sbin/smtp-source';

export interface SignRates {
  readonly rsa2048SignPerS?: number;
  readonly rsa2048VerifyPerS?: number;
  readonly ed25519SignPerS?: number;
  readonly ed25519VerifyPerS?: number;
}

export interface MachineLimits {
  readonly openssl?: SignRates & { readonly version?: string; readonly processes: number };
  /** 2 KB appends, each followed by fdatasync, on the file system of the temporary directory. */
  readonly fdatasync?: { readonly oneWriterPerS: number; readonly fourWritersPerS: number; readonly dir: string; readonly appendBytes: number };
  /** smtp-source against smtp-sink, 2 KB messages, 20 sessions. */
  readonly sinkCeiling?: { readonly oneConnPerS: number; readonly reusePerS: number; readonly messages: { readonly oneConn: number; readonly reuse: number } };
  /** What could not be measured, and why. */
  readonly errors: string[];
  readonly tookMs: number;
}

/**
 * The summary table of `openssl speed`: "rsa 2048 bits 0.000162s 0.000010s 6171.0 104231.0" and
 * " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  46451.0  16045.0" (the last two: sign/s, verify/s).
 */
export function parseOpensslSpeed(text: string): SignRates {
  const out: { -readonly [K in keyof SignRates]: number } = {};
  for (const line of text.split('\n')) {
    const nums = line.trim().split(/\s+/).slice(-2).map(Number);
    if (nums.length !== 2 || nums.some((n) => !Number.isFinite(n))) continue;
    const [sign, verify] = nums as [number, number];
    if (/^rsa\s+2048\s+bits\s/.test(line.trim())) {
      out.rsa2048SignPerS = sign;
      out.rsa2048VerifyPerS = verify;
    } else if (/EdDSA \(Ed25519\)/.test(line)) {
      out.ed25519SignPerS = sign;
      out.ed25519VerifyPerS = verify;
    }
  }
  return out;
}

async function opensslRates(cores: number): Promise<MachineLimits['openssl']> {
  // -seconds 1 bounds each of its measurements; -multi runs one process per core.
  const r = await runCommand('openssl', ['speed', '-seconds', '1', '-multi', String(cores), 'rsa2048', 'ed25519'], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`openssl speed exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
  const rates = parseOpensslSpeed(r.stdout);
  if (rates.rsa2048SignPerS === undefined && rates.ed25519SignPerS === undefined) throw new Error('openssl speed printed no rates');
  const v = await runCommand('openssl', ['version'], { timeoutMs: 10_000 }).catch(() => undefined);
  return { ...rates, processes: cores, ...(v?.code === 0 ? { version: v.stdout.trim() } : {}) };
}

const APPEND = Buffer.alloc(2048, 0x61);

/** Appends + fdatasync from one writer (synchronous, nothing else runs meanwhile) for `ms`. */
function oneWriter(dir: string, ms: number): number {
  const fd = openSync(join(dir, 'w0'), 'a');
  try {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) {
      writeSync(fd, APPEND);
      fdatasyncSync(fd);
      n++;
    }
    return (n * 1000) / (performance.now() - t0);
  } finally {
    closeSync(fd);
  }
}

/** Four writers at once, each on its own file (libuv's thread pool runs the syncs side by side). */
async function fourWriters(dir: string, ms: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  const writer = async (i: number): Promise<void> => {
    const fh = await open(join(dir, `w${i + 1}`), 'a');
    try {
      while (performance.now() - t0 < ms) {
        await fh.write(APPEND);
        await fh.datasync();
        n++;
      }
    } finally {
      await fh.close();
    }
  };
  await Promise.all([0, 1, 2, 3].map(writer));
  return (n * 1000) / (performance.now() - t0);
}

async function syncRates(ms: number): Promise<NonNullable<MachineLimits['fdatasync']>> {
  const dir = await mkdtemp(join(os.tmpdir(), 'petrel-bench-sync-'));
  try {
    const one = oneWriter(dir, ms);
    const four = await fourWriters(dir, ms);
    return { oneWriterPerS: Math.round(one), fourWritersPerS: Math.round(four), dir: os.tmpdir(), appendBytes: APPEND.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** smtp-source sending `messages` to a fresh smtp-sink; messages per second from its wall time. */
async function sourceRate(messages: number, reuse: boolean): Promise<number> {
  const sink = await sinkTarget().start();
  try {
    const args = ['-s', '20', '-m', String(messages), '-l', '2048', '-f', 'sender@loadgen.bench.test', '-t', 'user@example.com'];
    if (reuse) args.push('-d');
    args.push(`${sink.host}:${sink.port}`);
    const t0 = performance.now();
    const r = await runCommand(SMTP_SOURCE_BIN, args, { timeoutMs: 120_000 });
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new Error(`smtp-source exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
    return Math.round((messages * 1000) / ms);
  } finally {
    await sink.stop();
  }
}

export interface LimitsOptions {
  /** ms of each fdatasync measurement (default 2000). */
  readonly syncMs?: number;
  /** Messages sent to smtp-sink: one per connection, and over reused connections. */
  readonly sinkMessages?: { readonly oneConn: number; readonly reuse: number };
  readonly skipOpenssl?: boolean;
  readonly skipSink?: boolean;
}

/** Measures what it can; a part that fails is named in `errors`, the others stand. */
export async function measureLimits(opts: LimitsOptions = {}): Promise<MachineLimits> {
  const t0 = performance.now();
  const errors: string[] = [];
  const cores = os.cpus().length;
  let openssl: MachineLimits['openssl'];
  if (!opts.skipOpenssl) {
    try {
      openssl = await opensslRates(cores);
    } catch (err) {
      errors.push(`openssl speed: ${describeError(err)}`);
    }
  }
  let fdatasync: MachineLimits['fdatasync'];
  try {
    fdatasync = await syncRates(opts.syncMs ?? 2000);
  } catch (err) {
    errors.push(`fdatasync: ${describeError(err)}`);
  }
  let sinkCeiling: MachineLimits['sinkCeiling'];
  if (!opts.skipSink) {
    const messages = opts.sinkMessages ?? { oneConn: 10_000, reuse: 40_000 };
    try {
      if (!(await isExecutable(SMTP_SOURCE_BIN)) || !(await isExecutable(SMTP_SINK_BIN))) throw new Error('smtp-source or smtp-sink missing (Debian postfix)');
      sinkCeiling = { oneConnPerS: await sourceRate(messages.oneConn, false), reusePerS: await sourceRate(messages.reuse, true), messages };
    } catch (err) {
      errors.push(`smtp-sink ceiling: ${describeError(err)}`);
    }
  }
  return {
    ...(openssl ? { openssl } : {}),
    ...(fdatasync ? { fdatasync } : {}),
    ...(sinkCeiling ? { sinkCeiling } : {}),
    errors,
    tookMs: Math.round(performance.now() - t0),
  };
}
