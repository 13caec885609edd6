// Micro-benchmark of the crypto worker pool (actors/supervisor/pool.ts) alone, against `openssl speed -multi
// <cores> rsa2048` on the same machine: RSA-2048 signatures per second through the pool (target: >= 80% of
// openssl's sign rate), and Ed25519 inline vs batched in the pool (main-thread cost per signature), which
// decides where Ed25519 is signed. `node dist/bench/micro/sign-pool.js [--seconds S] [--rounds R] [--threads N] [--report DIR]`.
// openssl and the pool take turns for R rounds and the best round of each is compared: on a shared machine a
// neighbour's burst then costs both sides alike, instead of whichever happened to run during it.

import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { CryptoPool } from '../../actors/supervisor/pool.js';

export interface RateFigure {
  readonly signatures: number;
  readonly seconds: number;
  readonly rate: number;
  /** Busy share of the main thread (event-loop utilization) while it ran. */
  readonly mainThread: number;
  /** Main-thread time per signature, microseconds. */
  readonly mainUsPerSignature: number;
}

export interface SignPoolReport {
  readonly format: 'petrel-sign-pool/1';
  readonly at: string;
  readonly cpu: string;
  readonly cores: number;
  readonly threads: number;
  readonly node: string;
  readonly openssl: { readonly version: string; readonly rsa2048SignPerS: number; readonly rounds?: readonly number[] } | { readonly error: string };
  /** The pool's RSA-2048 rate in each round (the best is rsa2048.pool). */
  readonly poolRounds?: readonly number[];
  readonly rsa2048: { readonly pool: RateFigure; readonly inline: RateFigure };
  readonly ed25519: { readonly pool: RateFigure; readonly inline: RateFigure };
  /** pool RSA-2048 rate / openssl's. */
  readonly poolVsOpenssl?: number;
}

const run = promisify(execFile);

/** `openssl speed -multi N rsa2048`: the sign/s figure of its summary line. */
export function parseOpensslSpeed(out: string): number | undefined {
  const line = out.split('\n').reverse().find((l) => /^rsa\s+2048 bits/.test(l.trim()));
  const nums = line?.trim().split(/\s+/).slice(3).map((x) => Number(x.replace(/s$/, '')));
  return nums && nums.length >= 4 && Number.isFinite(nums[2]) ? nums[2] : undefined;
}

async function opensslRate(cores: number, seconds: number): Promise<SignPoolReport['openssl']> {
  try {
    const version = (await run('openssl', ['version'])).stdout.trim();
    const { stdout } = await run('openssl', ['speed', '-seconds', String(seconds), '-multi', String(cores), 'rsa2048'], { maxBuffer: 1 << 22 });
    const rate = parseOpensslSpeed(stdout);
    return rate === undefined ? { error: `no rsa 2048 line in: ${stdout.slice(-300)}` } : { version, rsa2048SignPerS: rate };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Keeps `window` signatures in flight for `seconds`; counts those done. */
async function saturate(signOne: () => Promise<unknown>, seconds: number, window: number): Promise<RateFigure> {
  const startElu = performance.eventLoopUtilization();
  const started = performance.now();
  const end = started + seconds * 1000;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      await signOne();
      done++;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const secs = (performance.now() - started) / 1000;
  const elu = performance.eventLoopUtilization(startElu).utilization;
  return figure(done, secs, elu);
}

/** Signs on the main thread for `seconds` (a turn given back every 64 signatures). */
async function inline(signOne: () => void, seconds: number): Promise<RateFigure> {
  const startElu = performance.eventLoopUtilization();
  const started = performance.now();
  const end = started + seconds * 1000;
  let done = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) signOne();
    done += 64;
    await new Promise((r) => setImmediate(r));
  }
  const secs = (performance.now() - started) / 1000;
  return figure(done, secs, performance.eventLoopUtilization(startElu).utilization);
}

function figure(signatures: number, seconds: number, mainThread: number): RateFigure {
  return {
    signatures,
    seconds: Math.round(seconds * 100) / 100,
    rate: Math.round(signatures / seconds),
    mainThread: Math.round(mainThread * 1000) / 1000,
    mainUsPerSignature: Math.round(((mainThread * seconds * 1e6) / Math.max(1, signatures)) * 10) / 10,
  };
}

export async function benchSignPool(opts: { seconds?: number; threads?: number; rounds?: number } = {}): Promise<SignPoolReport> {
  const seconds = opts.seconds ?? 5;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const cores = availableParallelism();
  const threads = opts.threads ?? cores;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ed = generateKeyPairSync('ed25519').privateKey;
  const rsaPem = rsa.export({ format: 'pem', type: 'pkcs8' }).toString();
  const edPem = ed.export({ format: 'pem', type: 'pkcs8' }).toString();
  // A DKIM header hash input of the usual size (the relaxed fields of h= plus the signature's own).
  const input = Buffer.from('from:Alice <alice@example.org>\r\n'.repeat(20) + 'dkim-signature:v=1; a=rsa-sha256; b=');
  const digest = Buffer.alloc(32, 7);

  const pool = new CryptoPool({ threads, minThreads: threads });
  try {
    // Warm-up: threads started, keys parsed in each.
    await saturate(() => pool.sign(rsaPem, 'sha256', input), 1, 64);
    await saturate(() => pool.sign(edPem, null, digest), 0.5, 64);
    const osslRounds: SignPoolReport['openssl'][] = [];
    const poolRounds: RateFigure[] = [];
    for (let r = 0; r < rounds; r++) {
      osslRounds.push(await opensslRate(cores, seconds));
      poolRounds.push(await saturate(() => pool.sign(rsaPem, 'sha256', input), seconds, 64));
    }
    const rates = osslRounds.flatMap((o) => ('rsa2048SignPerS' in o ? [o.rsa2048SignPerS] : []));
    const first = osslRounds[0] as SignPoolReport['openssl'];
    const openssl: SignPoolReport['openssl'] = 'rsa2048SignPerS' in first ? { version: first.version, rsa2048SignPerS: Math.max(...rates), rounds: rates } : first;
    const rsaPool = poolRounds.reduce((a, b) => (b.rate > a.rate ? b : a));
    const edPool = await saturate(() => pool.sign(edPem, null, digest), seconds, 256);
    const rsaInline = await inline(() => sign('sha256', input, rsa), Math.min(seconds, 2));
    const edInline = await inline(() => sign(null, digest, ed), Math.min(seconds, 2));
    const report: SignPoolReport = {
      format: 'petrel-sign-pool/1',
      at: new Date().toISOString(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cores,
      threads,
      node: process.version,
      openssl,
      poolRounds: poolRounds.map((f) => f.rate),
      rsa2048: { pool: rsaPool, inline: rsaInline },
      ed25519: { pool: edPool, inline: edInline },
      ...('rsa2048SignPerS' in openssl ? { poolVsOpenssl: Math.round((rsaPool.rate / openssl.rsa2048SignPerS) * 1000) / 1000 } : {}),
    };
    return report;
  } finally {
    await pool.stop();
  }
}

export function signPoolTable(r: SignPoolReport): string {
  const row = (what: string, f: RateFigure): string => `| ${what} | ${f.rate} | ${(f.mainThread * 100).toFixed(0)}% | ${f.mainUsPerSignature} |`;
  const ossl = 'rsa2048SignPerS' in r.openssl ? `${Math.round(r.openssl.rsa2048SignPerS)}` : `n/a (${r.openssl.error})`;
  return [
    `${r.cpu} x ${r.cores}, Node ${r.node}, pool of ${r.threads} threads`,
    '',
    '| signing | signatures/s | main thread busy | main-thread us per signature |',
    '|---|---:|---:|---:|',
    `| openssl speed -multi ${r.cores} rsa2048 (best round) | ${ossl} | | |`,
    row('RSA-2048, pool (best round)', r.rsa2048.pool),
    row('RSA-2048, inline (one thread)', r.rsa2048.inline),
    row('Ed25519, pool (batched)', r.ed25519.pool),
    row('Ed25519, inline (one thread)', r.ed25519.inline),
    '',
    r.poolVsOpenssl !== undefined ? `pool / openssl = ${(r.poolVsOpenssl * 100).toFixed(1)}% (target >= 80%)` : 'pool / openssl: n/a',
    ...('rounds' in r.openssl && r.openssl.rounds && r.poolRounds
      ? [`rounds (openssl, pool): ${r.openssl.rounds.map((o, i) => `${Math.round(o)}/${r.poolRounds?.[i] ?? '?'}`).join(', ')}`]
      : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' }, report: { type: 'string' } } });
  const report = await benchSignPool({
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  });
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const dir = values.report ?? join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `sign-pool-${report.at.replace(/:/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${signPoolTable(report)}\n\nreport: ${file}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
