// Command-line entry of the bench: `petrel bench [SCENARIO...] [options]` (also node dist/bench/main.js).

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchError, describeError } from './errors.js';
import { runBench, type BenchOptions } from './run.js';
import { SCENARIOS } from './scenarios/index.js';

export const USAGE = `usage: petrel bench [SCENARIO...] [options]

scenarios: ${Object.keys(SCENARIOS).join(', ')} (default: all)

options:
  --peers LIST         systems to measure, comma-separated (default: petrel,postfix,sink)
  --messages N         messages per measured run (default 5000; outbound-drain 20000)
  --duration SECONDS   run for a time instead of a message count (inbound scenarios)
  --concurrency C      simultaneous sessions (default 20)
  --size BYTES         message size (default 2048)
  --processes 1|2      load generator processes (default 1)
  --warmup N           warm-up messages before each run
  --timeout SECONDS    deadline of the whole bench
  --report DIR         directory of the JSON report (default bench/results)
  --no-install         do not apt-install missing peers
  -h, --help           this text`;

function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new BenchError('ERR_BENCH_OPTIONS', `--${name}: not a number: ${v}`);
  return n;
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
        processes: { type: 'string' },
        warmup: { type: 'string' },
        timeout: { type: 'string' },
        report: { type: 'string' },
        'no-install': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new BenchError('ERR_BENCH_OPTIONS', describeError(err), { cause: err });
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const opts: BenchOptions = {
    scenarios: parsed.positionals,
    peers: (v.peers ?? 'petrel,postfix,sink')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
    messages: number('messages', v.messages),
    duration: number('duration', v.duration),
    concurrency: number('concurrency', v.concurrency),
    size: number('size', v.size),
    processes: number('processes', v.processes),
    warmup: number('warmup', v.warmup),
    timeout: number('timeout', v.timeout),
    report: v.report,
    install: v['no-install'] ? false : undefined,
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
