// ARC chain parsing (RFC 8617 sections 4.1, 4.2 and 5.2 steps 1-3): the three ARC header fields, their i=
// instance tags (1..50), grouping into ARC Sets, and the structural checks that come before any cryptography.
import { asciiLower, normalizeDomain, normalizeSelector, parseTagList } from '../dkim/index.js';
import type { Field, TagList, TagListResult } from '../dkim/index.js';
import { MAX_INSTANCE } from './types.js';
import type { ArcCode, ArcSetInfo } from './types.js';

export type ArcFieldKind = 'seal' | 'signature' | 'results';

const KINDS: Readonly<Record<string, ArcFieldKind>> = {
  'arc-seal': 'seal',
  'arc-message-signature': 'signature',
  'arc-authentication-results': 'results',
};

const NAMES: Readonly<Record<ArcFieldKind, string>> = {
  seal: 'ARC-Seal',
  signature: 'ARC-Message-Signature',
  results: 'ARC-Authentication-Results',
};

/** More ARC fields than 50 complete sets hold is not a chain: it is refused before any parsing (bounded work). */
export const MAX_ARC_FIELDS = 3 * MAX_INSTANCE;

/** One ARC header field of the message, with what its instance tag said. */
export interface ArcField {
  readonly kind: ArcFieldKind;
  /** Position in the header list (top = 0). */
  readonly index: number;
  readonly field: Field;
  /** ARC-Seal and ARC-Message-Signature: the tag-list, or why it does not read. */
  readonly tags: TagList | null;
  readonly tagError?: string;
  /** ARC-Authentication-Results: the authres-payload after "i=N;". */
  readonly payload?: string;
}

/** A complete ARC Set: exactly one field of each kind for one instance. */
export interface ArcSet {
  readonly instance: number;
  readonly seal: ArcField;
  readonly signature: ArcField;
  readonly results: ArcField;
}

interface Slot {
  seal: ArcField[];
  signature: ArcField[];
  results: ArcField[];
}

export type ChainCheck =
  | { readonly kind: 'none' }
  | { readonly kind: 'fail'; readonly code: ArcCode; readonly reason: string; readonly failedInstance?: number; readonly highest: number; readonly sets: readonly ArcSetInfo[] }
  /** sets[k - 1] is instance k. */
  | { readonly kind: 'ok'; readonly sets: readonly ArcSet[]; readonly info: readonly ArcSetInfo[] };

type InstanceRead = { kind: 'ok'; instance: number } | { kind: 'error'; reason: string };

/** position = 1*2DIGIT, 1..50 (section 3.9 of the draft, 4.2.1 of the RFC). */
function readPosition(value: string | undefined, what: string): InstanceRead {
  if (value === undefined) return { kind: 'error', reason: `${what} has no i= tag` };
  if (!/^\d{1,2}$/.test(value)) return { kind: 'error', reason: `${what} has an invalid i=${preview(value)}` };
  const n = Number(value);
  if (n < 1 || n > MAX_INSTANCE) return { kind: 'error', reason: `${what} has i=${n}, outside 1..${MAX_INSTANCE}` };
  return { kind: 'ok', instance: n };
}

function preview(s: string): string {
  return JSON.stringify(s.length > 20 ? `${s.slice(0, 20)}...` : s);
}

/** Skips CFWS (RFC 5322 section 3.2.2): folding whitespace and nested comments. Returns the new position. */
function skipCfws(s: string, pos: number): number {
  for (;;) {
    while (pos < s.length && ' \t\r\n'.includes(s[pos] as string)) pos++;
    if (s[pos] !== '(') return pos;
    let depth = 0;
    while (pos < s.length) {
      const c = s[pos++];
      if (c === '\\') pos++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
  }
}

/** arc-info = instance [CFWS] ";" authres-payload, instance = [CFWS] %s"i" [CFWS] "=" [CFWS] position. */
function readResultsInstance(value: string): InstanceRead & { payload?: string } {
  let pos = skipCfws(value, 0);
  if (value[pos] !== 'i') return { kind: 'error', reason: 'ARC-Authentication-Results does not start with i=' };
  pos = skipCfws(value, pos + 1);
  if (value[pos] !== '=') return { kind: 'error', reason: 'ARC-Authentication-Results does not start with i=' };
  pos = skipCfws(value, pos + 1);
  const digits = /^\d*/.exec(value.slice(pos))?.[0] ?? '';
  const read = readPosition(digits, 'ARC-Authentication-Results');
  if (read.kind === 'error') return read;
  pos = skipCfws(value, pos + digits.length);
  if (value[pos] !== ';') return { kind: 'error', reason: 'ARC-Authentication-Results: no ";" after i=' };
  return { ...read, payload: value.slice(pos + 1).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') };
}

/**
 * A tag-list read strictly (RFC 6376 section 3.2): protocol/dkim's reader, which forgives ";;" because key records
 * in the wild have it, plus the rule that only the last tag-spec may be empty (a final ";"). The suite's
 * as_format_tags_sc re-signs a seal with ";;" and expects it to fail.
 */
function strictTagList(value: string): TagListResult {
  const segments = value.split(';');
  for (let i = 0; i < segments.length - 1; i++) {
    if (/^[ \t\r\n]*$/.test(segments[i] as string)) return { kind: 'error', reason: 'empty tag-spec (";;" or a leading ";")' };
  }
  return parseTagList(value);
}

/** The i= of a tag-list that does not parse, found loosely so that the field can still be placed in its set. */
function looseInstance(value: string): string | undefined {
  return /(?:^|;)[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([^; \t\r\n]*)[ \t\r\n]*(?:;|$)/.exec(value)?.[1];
}

/**
 * Reads one header field if it is an ARC field: its kind, tags and instance. Returns null for other fields.
 * An instance that cannot be read makes the whole chain fail, so it is returned as an error.
 */
function readField(field: Field, index: number): { arc: ArcField; instance: InstanceRead } | null {
  const kind = KINDS[field.lower];
  if (!kind) return null;
  const colon = field.raw.indexOf(':');
  const value = colon < 0 ? '' : field.raw.slice(colon + 1);
  if (kind === 'results') {
    const read = readResultsInstance(value);
    const arc: ArcField = read.payload === undefined ? { kind, index, field, tags: null } : { kind, index, field, tags: null, payload: read.payload };
    return { arc, instance: read };
  }
  const parsed = strictTagList(value);
  if (parsed.kind === 'error') {
    return { arc: { kind, index, field, tags: null, tagError: parsed.reason }, instance: readPosition(looseInstance(value), NAMES[kind]) };
  }
  return { arc: { kind, index, field, tags: parsed.tags }, instance: readPosition(parsed.tags.get('i'), NAMES[kind]) };
}

/** What can be read of each instance 1..highest, whatever the state of the chain. */
function describe(slots: ReadonlyMap<number, Slot>, highest: number): ArcSetInfo[] {
  const out: ArcSetInfo[] = [];
  for (let i = 1; i <= highest; i++) {
    const slot = slots.get(i);
    const info: { -readonly [K in keyof ArcSetInfo]: ArcSetInfo[K] } = { instance: i };
    const seal = slot?.seal.length === 1 ? slot.seal[0] : undefined;
    const sig = slot?.signature.length === 1 ? slot.signature[0] : undefined;
    const aar = slot?.results.length === 1 ? slot.results[0] : undefined;
    if (seal?.tags) {
      const d = normalizeDomain(seal.tags.get('d') ?? '');
      const s = normalizeSelector(seal.tags.get('s') ?? '');
      const cv = seal.tags.get('cv');
      if (d) info.sealDomain = d;
      if (s) info.sealSelector = s;
      if (cv !== undefined) info.cv = asciiLower(cv);
    }
    if (sig?.tags) {
      const d = normalizeDomain(sig.tags.get('d') ?? '');
      const s = normalizeSelector(sig.tags.get('s') ?? '');
      if (d) info.signatureDomain = d;
      if (s) info.signatureSelector = s;
    }
    if (aar?.payload !== undefined) info.results = Buffer.from(aar.payload.replace(/\r?\n(?=[ \t])/g, '').replace(/[ \t]+/g, ' '), 'latin1').toString('utf8');
    out.push(info);
  }
  return out;
}

/** The ARC fields of a message, each placed in the slot of its instance. */
export interface Collected {
  /** ARC fields seen (any instance, readable or not). */
  readonly count: number;
  readonly slots: ReadonlyMap<number, Slot>;
  /** Highest instance read (0 when none). */
  readonly highest: number;
  /** The first field whose instance could not be read. */
  readonly instanceError?: string;
}

export function collect(fields: readonly Field[]): Collected {
  let count = 0;
  for (const f of fields) if (KINDS[f.lower]) count++;
  if (count > MAX_ARC_FIELDS) return { count, slots: new Map(), highest: 0 };
  const slots = new Map<number, Slot>();
  let highest = 0;
  let instanceError: string | undefined;
  fields.forEach((field, index) => {
    const read = readField(field, index);
    if (!read) return;
    if (read.instance.kind === 'error') {
      instanceError ??= read.instance.reason;
      return;
    }
    const n = read.instance.instance;
    let slot = slots.get(n);
    if (!slot) {
      slot = { seal: [], signature: [], results: [] };
      slots.set(n, slot);
    }
    slot[read.arc.kind].push(read.arc);
    if (n > highest) highest = n;
  });
  return instanceError === undefined ? { count, slots, highest } : { count, slots, highest, instanceError };
}

/**
 * RFC 8617 section 5.2, steps 1 to 3: no ARC field is "none"; otherwise every instance 1..N must have exactly
 * one field of each kind, the newest seal must not say cv=fail, i=1 must say cv=none and the others cv=pass.
 * Where the fields sit in the header does not matter: sets are ordered by i=.
 */
export function checkChain(fields: readonly Field[]): ChainCheck {
  const c = collect(fields);
  const fail = (code: ArcCode, reason: string, failedInstance?: number): ChainCheck => {
    const sets = describe(c.slots, c.highest);
    const base = { kind: 'fail' as const, code, reason, highest: c.highest, sets };
    return failedInstance === undefined ? base : { ...base, failedInstance };
  };
  if (c.count === 0) return { kind: 'none' };
  if (c.count > MAX_ARC_FIELDS) return fail('too_many_fields', `${c.count} ARC header fields (at most ${MAX_ARC_FIELDS})`);
  if (c.instanceError !== undefined) return fail('instance', c.instanceError);

  for (const [n, slot] of c.slots) {
    for (const kind of ['seal', 'signature', 'results'] as const) {
      if (slot[kind].length > 1) return fail('duplicate', `${slot[kind].length} ${NAMES[kind]} fields with i=${n}`, n);
    }
  }
  const top = c.slots.get(c.highest)?.seal[0];
  if (top?.tags && asciiLower(top.tags.get('cv') ?? '') === 'fail') {
    return fail('chain_failed', `the newest ARC-Seal (i=${c.highest}) says cv=fail`, c.highest);
  }
  const sets: ArcSet[] = [];
  for (let n = 1; n <= c.highest; n++) {
    const slot = c.slots.get(n);
    if (!slot) return fail('missing', `no ARC Set with i=${n} (highest is ${c.highest})`, n);
    const seal = slot.seal[0];
    const signature = slot.signature[0];
    const results = slot.results[0];
    if (!seal || !signature || !results) {
      const absent = (['seal', 'signature', 'results'] as const).filter((k) => slot[k].length === 0).map((k) => NAMES[k]);
      return fail('missing', `ARC Set i=${n} has no ${absent.join(' and no ')}`, n);
    }
    sets.push({ instance: n, seal, signature, results });
  }
  for (const set of sets) {
    const tags = set.seal.tags;
    if (!tags) return fail('seal_syntax', `ARC-Seal i=${set.instance}: ${set.seal.tagError ?? 'unreadable'}`, set.instance);
    const cv = tags.get('cv');
    if (cv === undefined) return fail('seal_syntax', `ARC-Seal i=${set.instance} has no cv= tag`, set.instance);
    const want = set.instance === 1 ? 'none' : 'pass';
    if (asciiLower(cv) !== want) return fail('cv', `ARC-Seal i=${set.instance} says cv=${preview(cv)}, not cv=${want}`, set.instance);
  }
  return { kind: 'ok', sets, info: describe(c.slots, c.highest) };
}
