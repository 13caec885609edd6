// inbound-inspected: inbound-reuse against Petrel with the inspector watched by a viewer, enabled but unwatched, and disabled; the cost of a viewer (target < 10%).

// The viewer is what the inspector page does: one server-sent-events stream of every kind of actor
// (/inspector/api/stream on the admin listener), read here and thrown away, for the whole run
// (warm-up included). Its bytes and events are counted: a stream that carried no actor updates
// fails the run, since it would have measured an inspector nobody watched.

import http from 'node:http';
import { BenchError, describeError } from '../errors.js';
import type { PeerTarget, RunningPeer } from '../peers/types.js';
import type { InboundProbe, ScenarioHooks, ScenarioLoad, ScenarioReport, ScenarioSpec } from './types.js';
import { costPercent, petrelOf, rateOf, runPetrelVariants, variantRunCount, withChecks, type InboundVariant } from './variants.js';

/** The target: a viewer costs less than this share of the unwatched rate. */
export const VIEWER_COST_TARGET = 0.1;
const CONNECT_TIMEOUT_MS = 10_000;

/** Counts of a server-sent-events stream, parsed as it arrives. */
export class SseCounter {
  bytes = 0;
  /** Events by name ("message" when unnamed); comments (keep-alives) are not events. */
  readonly events = new Map<string, number>();
  /** Bytes of the data lines of events other than hello. */
  dataBytes = 0;
  #rest = '';

  push(chunk: string): void {
    this.bytes += Buffer.byteLength(chunk, 'utf8');
    const text = this.#rest + chunk;
    const blocks = text.split('\n\n');
    this.#rest = blocks.pop() ?? '';
    for (const block of blocks) {
      let name = 'message';
      let data = 0;
      let any = false;
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) {
          data += line.length - 5;
          any = true;
        }
      }
      if (!any) continue;
      this.events.set(name, (this.events.get(name) ?? 0) + 1);
      if (name !== 'hello') this.dataBytes += data;
    }
  }

  /** "hello 1, actors 412, resync 0" */
  describe(): string {
    return [...this.events.entries()].map(([n, c]) => `${n} ${c}`).join(', ') || 'none';
  }
}

/** The stream URL on the daemon's admin listener (beside its /metrics). */
export function streamUrl(peer: RunningPeer): string {
  const metrics = peer.metricsUrl?.();
  if (!metrics) throw new BenchError('ERR_BENCH_CHECK', 'the system has no admin listener to watch');
  return new URL('/inspector/api/stream', metrics).href;
}

/** Opens the stream; retries while the admin listener does not answer yet. */
function openStream(url: string, counter: SseCounter, deadline: number): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const attempt = (): void => {
      const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
        settled = true;
        if (res.statusCode !== 200) {
          res.resume();
          req.destroy();
          reject(new BenchError('ERR_BENCH_CHECK', `GET ${url}: HTTP ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => counter.push(chunk));
        res.on('error', () => undefined);
        resolve(req);
      });
      // After the answer, errors are the end of the stream (its destroy included): 'close' tells.
      req.on('error', (err) => {
        if (settled) return;
        if (Date.now() < deadline) setTimeout(attempt, 100);
        else {
          settled = true;
          reject(new BenchError('ERR_BENCH_CHECK', `GET ${url}: ${describeError(err)}`, { cause: err }));
        }
      });
    };
    attempt();
  });
}

/** One viewer attached for the whole run; finishing checks that actor updates flowed. */
export async function attachViewer(peer: RunningPeer): Promise<InboundProbe & { readonly counter: SseCounter }> {
  const url = streamUrl(peer);
  const counter = new SseCounter();
  const req = await openStream(url, counter, Date.now() + CONNECT_TIMEOUT_MS);
  const t0 = Date.now();
  let ended = false;
  req.on('close', () => (ended = true));
  return {
    counter,
    async finish() {
      const early = ended;
      req.destroy();
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      const line = `viewer on ${new URL(url).pathname} received ${counter.bytes} bytes over ${seconds} s (events: ${counter.describe()}; ${counter.dataBytes} bytes of actor data)`;
      if (counter.bytes === 0 || (counter.events.get('actors') ?? 0) === 0) {
        throw new BenchError('ERR_BENCH_CHECK', `the inspector stream carried no actor updates: ${line}`);
      }
      return early ? [line, 'the stream ended before the run did'] : [line];
    },
  };
}

const VARIANTS: readonly InboundVariant[] = [
  { suffix: '+no-inspector', description: 'inspector disabled', config: { inspector: { enabled: false } } },
  { suffix: '+inspector', description: 'inspector enabled, nobody watching', config: { inspector: { enabled: true } } },
  {
    suffix: '+inspector+viewer',
    description: 'inspector enabled, one viewer reading the stream of every kind of actor',
    config: { inspector: { enabled: true } },
    extras: { probe: attachViewer },
  },
];

async function runInspectedScenario(spec: ScenarioSpec, load: ScenarioLoad, targets: readonly PeerTarget[], hooks: ScenarioHooks): Promise<ScenarioReport> {
  const report = { name: spec.name, kind: spec.kind, description: spec.description, load };
  const petrel = petrelOf(targets);
  if (!petrel) return { ...report, runs: [] };
  // Watched first, disabled last: the ratios read watched/unwatched, watched/disabled, unwatched/disabled.
  const runs = await runPetrelVariants(spec, load, petrel, hooks, VARIANTS, [2, 1, 0]);
  const [watched, unwatched, disabled] = runs;
  const w = rateOf(watched);
  const u = rateOf(unwatched);
  const d = rateOf(disabled);
  if (watched && w !== undefined && u !== undefined) {
    const verdict = w >= (1 - VIEWER_COST_TARGET) * u ? 'met' : 'MISSED';
    const lines = [`a viewer costs ${costPercent(w, u)} of the unwatched rate (target < ${VIEWER_COST_TARGET * 100}%: ${verdict})`];
    if (d !== undefined) lines.push(`with the viewer: ${costPercent(w, d)} below the rate with the inspector disabled`);
    runs[0] = withChecks(watched, lines);
  }
  if (unwatched && u !== undefined && d !== undefined) {
    runs[1] = withChecks(unwatched, [`the unwatched inspector costs ${costPercent(u, d)} of the rate with it disabled`]);
  }
  return { ...report, runs };
}

export const INSPECTED_SCENARIOS: Readonly<Record<string, ScenarioSpec>> = {
  'inbound-inspected': {
    name: 'inbound-inspected',
    kind: 'inbound',
    description:
      'inbound-reuse by Petrel with the inspector enabled and one viewer on its live stream (all kinds), enabled and unwatched, ' +
      'and disabled; target: a viewer costs < 10% of the unwatched rate',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
    run: runInspectedScenario,
    runCount: variantRunCount(3),
  },
};
