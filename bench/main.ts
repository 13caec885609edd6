// Command-line entry of the bench: `petrel bench [SCENARIO...] [options]` (also node dist/bench/main.js).

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchError, describeError } from './errors.js';
import { runBench, type BenchOptions } from './run.js';
import { DEFAULT_QUEUE_COUNTS } from './scenarios/queue-scale.js';
import { SCENARIOS } from './scenarios/index.js';

export const USAGE = `usage: petrel bench [SCENARIO...] [options]

scenarios: ${Object.keys(SCENARIOS).join(', ')}
  (default: all of them; queue-scale then stops at 100k queued unless --queue-counts says otherwise)

options:
  --peers LIST         systems Petrel is compared with, comma-separated, from postfix,haraka,sink
                       (default: postfix,haraka,sink); Petrel always runs
  --messages N         messages per measured run (default 5000; inbound-large 2000; outbound-drain
                       20000; queue-scale 30000; idle-connections: messages of each latency probe,
                       default 500)
  --duration SECONDS   run for a time instead of a message count (inbound scenarios, queue-scale)
  --concurrency C      simultaneous sessions (default 20)
  --size SPEC          message size: 2048, 2K, 100K, or a mix such as 70%2K,25%20K,5%500K (default 2K)
  --recipients N       recipients per message, 1 to 100 (default 1; idle-connections and the
                       signing and verifying scenarios keep 1)
  --rate R             target rate of the load in messages/s (default: as fast as the system answers)
  --sessions N         idle-connections: sessions held open (default 10000)
  --queue-counts LIST  queue-scale: queue sizes, comma-separated (default ${DEFAULT_QUEUE_COUNTS.join(',')})
  --processes 1|2      load generator processes (default 1)
  --warmup N           warm-up messages before each run
  --warmup-seconds S   inbound scenarios, queue-scale: warm up for at least S seconds, sending past the warm-up
                       messages if need be (default 5 unless --warmup is given; 0: messages only)
  --rounds N           run every scenario N times over, each time against every system (1 to 9,
                       default 1): the table adds each ratio's median over the rounds
  --timeout SECONDS    deadline of the whole bench
  --report DIR         directory of the JSON and HTML reports (default bench/results)
  --no-limits          do not measure the machine's limits (openssl speed, fdatasync, smtp-sink)
  --no-install         do not install missing peers (apt-get: postfix, swaks; npm: Haraka)
  --no-settle          start Postfix without first waiting out ext4's one-minute delay on reusing the
                       inodes of its last run's deleted queue files (only on ext4 without a journal)
  --profile            profile Petrel's daemons (node --cpu-prof, every thread): profiles and flame
                       graphs go in <report>-profiles/, the reports say where each thread's time went
  -h, --help           this text`;

function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new BenchError('ERR_BENCH_OPTIONS', `--${name}: not a number: ${v}`);
  return n;
}

/** "100000", "100k", "1M", "1_000_000" -> a count. */
function countOf(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text.replace(/_/g, ''));
  if (!m) throw new BenchError('ERR_BENCH_OPTIONS', `--queue-counts: not a count: ${text}`);
  const mult = m[2] === '' ? 1 : m[2]?.toLowerCase() === 'k' ? 1000 : 1_000_000;
  return Math.round(Number(m[1]) * mult);
}

/** Parses the arguments (without node and script); returns undefined when help was asked for. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        peers: { type: 'string' },
        messages: { type: 'string' },
        duration: { type: 'string' },
        concurrency: { type: 'string' },
        size: { type: 'string' },
        rate: { type: 'string' },
        recipients: { type: 'string' },
        sessions: { type: 'string' },
        'queue-counts': { type: 'string' },
        'no-limits': { type: 'boolean' },
        processes: { type: 'string' },
        warmup: { type: 'string' },
        'warmup-seconds': { type: 'string' },
        timeout: { type: 'string' },
        rounds: { type: 'string' },
        report: { type: 'string' },
        'no-install': { type: 'boolean' },
        'no-settle': { type: 'boolean' },
        profile: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new BenchError('ERR_BENCH_OPTIONS', describeError(err), { cause: err });
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const peers = (v.peers ?? 'postfix,haraka,sink')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const opts: BenchOptions = {
    scenarios: parsed.positionals,
    // Petrel is the system under test: it always runs, and the others are what it is compared with.
    peers: ['petrel', ...peers.filter((p) => p !== 'petrel')],
    messages: number('messages', v.messages),
    duration: number('duration', v.duration),
    concurrency: number('concurrency', v.concurrency),
    size: v.size === undefined ? undefined : /^\d+$/.test(v.size.trim()) ? Number(v.size) : v.size,
    rate: number('rate', v.rate),
    recipients: number('recipients', v.recipients),
    sessions: number('sessions', v.sessions),
    queueCounts: v['queue-counts'] === undefined ? undefined : v['queue-counts'].split(',').map((c) => countOf(c)),
    limits: v['no-limits'] ? false : undefined,
    processes: number('processes', v.processes),
    warmup: number('warmup', v.warmup),
    warmupSeconds: number('warmup-seconds', v['warmup-seconds']),
    timeout: number('timeout', v.timeout),
    rounds: number('rounds', v.rounds),
    report: v.report,
    install: v['no-install'] ? false : undefined,
    settle: v['no-settle'] ? false : undefined,
    profile: v.profile ? true : undefined,
  };
  // Absent options stay absent, so that the JSON report echoes only what was asked for.
  for (const k of Object.keys(opts) as (keyof BenchOptions)[]) if (opts[k] === undefined) delete opts[k];
  return opts;
}

export async function main(argv: readonly string[]): Promise<number> {
  let opts: BenchOptions | undefined;
  try {
    opts = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const report = await runBench(opts);
    if (report.fileError) process.stderr.write(`could not write the report: ${report.fileError}\n`);
    return process.exitCode === 130 ? 130 : 0;
  } catch (err) {
    process.stderr.write(`bench failed: ${describeError(err)}\n`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${describeError(err)}\n`);
      process.exitCode = 1;
    },
  );
}
