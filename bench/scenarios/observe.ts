// What the harness watches while a system runs: its process tree's CPU and RSS and the machine's
// busy share every 250 ms, the load generator's processes likewise when given, and its Prometheus
// metrics every second (and as the measured load begins) when it has them (Petrel).

import { MetricsSampler, type MetricsSeries } from '../metrics.js';
import type { RunningPeer } from '../peers/types.js';
import { ResourceSampler, type ResourceSeries } from '../resources.js';

export const RESOURCE_INTERVAL_MS = 250;
export const METRICS_INTERVAL_MS = 1000;

export interface Observation {
  /** Marks the start of a phase on the charts. */
  mark(label: string): void;
  /** Stops sampling; the metrics get a last scrape first. */
  finish(): Promise<Observed>;
}

export interface Observed {
  resources?: ResourceSeries;
  metrics?: MetricsSeries;
  /** The load generator's client processes: on a small machine they compete with the system for its cores. */
  loadResources?: ResourceSeries;
}

/**
 * Starts sampling a running system; `peer` is asked at each sample, so a restart is followed, and
 * `loadPids` likewise (the load generator's processes, which are replaced when one dies).
 */
export function observe(peer: () => RunningPeer | undefined, loadPids?: () => readonly number[]): Observation {
  const resources = new ResourceSampler(() => peer()?.pids?.() ?? [], RESOURCE_INTERVAL_MS).start();
  // The machine's share is in the system's samples; the load generator's need only their own CPU.
  const load = loadPids ? new ResourceSampler(loadPids, RESOURCE_INTERVAL_MS, { machine: false }).start() : undefined;
  const hasMetrics = peer()?.metricsUrl?.() !== undefined;
  const metrics = hasMetrics ? new MetricsSampler(() => peer()?.metricsUrl?.(), METRICS_INTERVAL_MS).start() : undefined;
  let done: Promise<Observed> | undefined;
  let atMeasure: Promise<void> | undefined;
  return {
    mark(label) {
      resources.mark(label);
      load?.mark(label);
      // A sample as the measured load begins: a run of two seconds has room for only one or two of the
      // periodic ones, and the loop-busy figure needs two inside its window.
      if (metrics && label === 'measure') atMeasure = metrics.scrape();
    },
    finish() {
      done ??= (async () => {
        let m: MetricsSeries | undefined;
        if (metrics) {
          await atMeasure;
          await metrics.scrape();
          m = await metrics.stop();
        }
        const r = resources.stop();
        const l = load?.stop();
        return {
          ...(r.samples.length > 0 ? { resources: r } : {}),
          ...(m && m.samples.length > 0 ? { metrics: m } : {}),
          ...(l && l.samples.length > 0 ? { loadResources: l } : {}),
        };
      })();
      return done;
    },
  };
}
