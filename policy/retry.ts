// Exim-style retry rules ("F,2h,15m; G,16h,1h,1.5; F,4d,6h"): when to try a deferred address again,
// and when to give up (Exim spec, "Retry configuration").
import { parseTime } from '../config/units.js';

/** One rule: until `cutoff` after the first failure, retry every `interval` (F) or growing intervals (G, H). */
export type RetryRule =
  | { readonly kind: 'F'; readonly cutoff: number; readonly interval: number }
  | { readonly kind: 'G' | 'H'; readonly cutoff: number; readonly start: number; readonly factor: number };

export class RetryRuleError extends Error {
  readonly code = 'RETRY_RULES';
  constructor(message: string) {
    super(message);
    this.name = 'RetryRuleError';
  }
}

/** Parse a rule list; cutoffs must grow from rule to rule. */
export function parseRetryRules(text: string): RetryRule[] {
  const rules: RetryRule[] = [];
  for (const raw of text.split(';').map((r) => r.trim()).filter((r) => r !== '')) {
    const parts = raw.split(',').map((p) => p.trim());
    const kind = parts[0]?.toUpperCase();
    const time = (v: string | undefined, what: string): number => {
      const t = v === undefined ? null : parseTime(v);
      if (t === null || t <= 0) throw new RetryRuleError(`"${raw}": ${what} must be a time such as 15m`);
      return t;
    };
    if (kind === 'F' && parts.length === 3) {
      rules.push({ kind: 'F', cutoff: time(parts[1], 'the cutoff'), interval: time(parts[2], 'the interval') });
    } else if ((kind === 'G' || kind === 'H') && parts.length === 4) {
      const factor = Number(parts[3]);
      if (!(factor > 1)) throw new RetryRuleError(`"${raw}": the multiplier must be a number above 1`);
      rules.push({ kind, cutoff: time(parts[1], 'the cutoff'), start: time(parts[2], 'the first interval'), factor });
    } else {
      throw new RetryRuleError(`"${raw}": expected F,<cutoff>,<interval> or G,<cutoff>,<interval>,<multiplier>`);
    }
    const prev = rules[rules.length - 2];
    const cur = rules[rules.length - 1] as RetryRule;
    if (prev && cur.cutoff <= prev.cutoff) throw new RetryRuleError(`"${raw}": cutoffs must grow from one rule to the next`);
  }
  if (rules.length === 0) throw new RetryRuleError('no retry rules');
  return rules;
}

export type RetryDecision = { readonly kind: 'retry'; readonly at: number } | { readonly kind: 'giveup' };

/**
 * After a temporary failure at `now` of an address that first failed at `firstFailure`: the next
 * attempt time, or give up once the last rule's cutoff has passed. The attempt times of a rule
 * are counted from where the rule begins, so no interval needs to be stored between attempts.
 * `random` (0..1) spreads H rules between the plain and the multiplied interval.
 */
export function nextRetry(rules: readonly RetryRule[], firstFailure: number, now: number, random: () => number = Math.random): RetryDecision {
  const elapsed = Math.max(0, now - firstFailure);
  let ruleStart = 0;
  for (const rule of rules) {
    if (elapsed < rule.cutoff) {
      let t = ruleStart;
      if (rule.kind === 'F') {
        t = ruleStart + Math.floor((elapsed - ruleStart) / rule.interval + 1) * rule.interval;
      } else {
        let step = rule.start;
        while (t <= elapsed) {
          const grown = step * rule.factor;
          t += rule.kind === 'H' ? step + (grown - step) * random() : step;
          step = grown;
        }
      }
      // One last try at the final cutoff, rather than skipping past it.
      const last = rules[rules.length - 1] as RetryRule;
      return { kind: 'retry', at: firstFailure + Math.min(t, last.cutoff) };
    }
    ruleStart = rule.cutoff;
  }
  return { kind: 'giveup' };
}
