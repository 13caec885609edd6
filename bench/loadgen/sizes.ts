// Message size specifications of the load generator: one size ("2K") or a mix ("70%2K,25%20K,5%500K").

import { LoadgenError } from '../errors.js';

/** One size of a mix and its share of the messages (shares of a mix add up to 1). */
export interface SizePart {
  readonly size: number;
  readonly share: number;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, KIB: 1024, M: 1024 * 1024, MB: 1024 * 1024, MIB: 1024 * 1024 };

/** "2048", "2K", "100KB", "1.5M" -> octets (K = 1024). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toUpperCase()];
  if (!m || unit === undefined) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `not a size: "${text}" (e.g. 2048, 2K, 500K, 1M)`);
  const n = Math.round(Number(m[1]) * unit);
  if (!(n >= 1)) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `size must be at least 1 octet: "${text}"`);
  return n;
}

/**
 * A size spec: one size ("2K") or a mix of weighted sizes ("70%2K,25%20K,5%500K"). The weights of
 * a mix must add up to 100 (percent); a size without weight is the whole load.
 */
export function parseSizeSpec(spec: string | number): SizePart[] {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 1) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `size must be a positive integer, got ${spec}`);
    return [{ size: spec, share: 1 }];
  }
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new LoadgenError('ERR_LOADGEN_OPTIONS', 'empty size spec');
  if (items.length === 1 && !items[0]?.includes('%')) return [{ size: parseSize(items[0] ?? ''), share: 1 }];
  const parts: SizePart[] = [];
  let total = 0;
  for (const item of items) {
    const m = /^(\d+(?:\.\d+)?)%(.+)$/.exec(item);
    if (!m) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `"${item}" in a size mix needs a weight, e.g. 70%2K`);
    const pct = Number(m[1]);
    if (!(pct > 0)) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `weight of "${item}" must be above 0`);
    total += pct;
    parts.push({ size: parseSize(m[2] ?? ''), share: pct / 100 });
  }
  if (Math.abs(total - 100) > 1e-6) throw new LoadgenError('ERR_LOADGEN_OPTIONS', `the weights of "${spec}" add up to ${total}%, not 100%`);
  return parts;
}

/** "2K", "100K", "70%2K,25%20K,5%500K": the spec written back in its short form. */
export function formatSizeSpec(parts: readonly SizePart[]): string {
  const one = (n: number): string => (n % (1024 * 1024) === 0 ? `${n / 1048576}M` : n % 1024 === 0 ? `${n / 1024}K` : String(n));
  if (parts.length === 1 && parts[0]?.share === 1) return one(parts[0].size);
  return parts.map((p) => `${Math.round(p.share * 1000) / 10}%${one(p.size)}`).join(',');
}

/** The average message size of a mix, in octets. */
export function meanSize(parts: readonly SizePart[]): number {
  return Math.round(parts.reduce((sum, p) => sum + p.size * p.share, 0));
}

// The golden ratio's fractional part: successive multiples spread evenly over [0, 1).
const GOLDEN = 0.6180339887498949;

/**
 * Which part of a mix message number `seq` gets. Deterministic and evenly spread (a low-discrepancy
 * sequence): over any run of a few hundred messages the shares are met within a percent or so,
 * with no random generator whose seed would make runs differ.
 */
export function pickPart(parts: readonly SizePart[], seq: number): number {
  if (parts.length <= 1) return 0;
  const u = (seq * GOLDEN) % 1;
  let acc = 0;
  for (let i = 0; i < parts.length; i++) {
    acc += parts[i]?.share ?? 0;
    if (u < acc) return i;
  }
  return parts.length - 1;
}
