// How the bench writes numbers and names in its tables, notes and charts.

import type { ScenarioReport } from './scenarios/index.js';

/** 12345.6 -> "12,346"; small rates keep one decimal so that 0.4/s does not read as 0. */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return 'n/a';
  if (rate < 10) return rate.toFixed(1);
  return groupThousands(String(Math.round(rate)));
}

/** 12345 -> "12,345": a count of messages. */
export function formatCount(n: number): string {
  return groupThousands(String(Math.round(n)));
}

/** "12345" -> "12,345". */
export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Latency in ms: three significant digits are plenty given the noise of a shared machine. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms >= 100) return groupThousands(String(Math.round(ms)));
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** 2.43 -> "2.4x", 17.2 -> "17x", 0.0463 -> "0.046x". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio) || ratio <= 0) return 'n/a';
  if (ratio >= 10) return `${Math.round(ratio)}x`;
  if (ratio >= 1) return `${ratio.toFixed(1)}x`;
  // 0.996 rounds up to 1.0: written like the ratios of 1 and above.
  const rounded = Number(ratio.toPrecision(2));
  return rounded >= 1 ? `${rounded.toFixed(1)}x` : `${rounded}x`;
}

/** Seconds to three significant digits at most: "4.21", "17.3", "123". */
export function formatSeconds(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return 'n/a';
  const s = ms / 1000;
  if (s >= 100) return groupThousands(String(Math.round(s)));
  if (s >= 10) return s.toFixed(1);
  return s.toFixed(2);
}

/** kB with one decimal below 100, whole above. */
export function formatKb(kb: number | undefined): string {
  if (kb === undefined || !Number.isFinite(kb)) return 'n/a';
  return kb >= 100 ? groupThousands(String(Math.round(kb))) : kb.toFixed(1);
}

/** A scenario's name as the tables and charts show it: with its round when the bench ran several. */
export function scenarioLabel(s: Pick<ScenarioReport, 'name' | 'round'>): string {
  return s.round === undefined ? s.name : `${s.name} #${s.round}`;
}
