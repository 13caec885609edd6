// The ARC-Authentication-Results a sealer adds (RFC 8617 section 4.1.1): every result of its own ADMD's
// Authentication-Results fields (RFC 8601), consolidated in order under one authserv-id, and the arc= result
// among them (the chain validation status the seal's cv= reports).
import { asciiLower } from '../dkim/index.js';
import type { Field } from '../dkim/index.js';
import { parseAuthResults } from '../authres/index.js';
import type { ArcState } from './types.js';

const LINE = 78;

function normId(id: string): string {
  return id.trim().toLowerCase().replace(/\.$/, '');
}

/** Splits text at ";" outside quoted strings and comments (RFC 5322 section 3.2). */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && (quoted || depth > 0)) i++;
    else if (quoted) {
      if (c === '"') quoted = false;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0 && c === '"') quoted = true;
    else if (depth === 0 && c === ';') {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** The text after "authserv-id [version] ;", or null when there is no ";" (an id alone carries no result). */
function afterId(value: string): string | null {
  const parts = splitTopLevel(value);
  return parts.length < 2 ? null : parts.slice(1).join(';');
}

/** Folding and runs of whitespace become one space: what relaxed canonicalization would see anyway. */
function compact(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[ \t]+/g, ' ').trim();
}

export interface OurResults {
  /** Authentication-Results fields carrying our authserv-id. */
  readonly fields: number;
  /** Their resinfo texts in order (comments kept, whitespace compacted), "none" entries dropped. */
  readonly results: readonly string[];
}

/**
 * The results of our ADMD: every Authentication-Results field whose authserv-id is ours (as RFC 8601 reads it:
 * any case, a trailing dot, comments skipped), top to bottom. Fields claiming our id that arrived from outside
 * must have been removed on reception (RFC 8601 section 5), or they would be sealed as ours.
 */
export function ourResults(fields: readonly Field[], authservId: string): OurResults {
  const want = normId(authservId);
  let count = 0;
  const results: string[] = [];
  for (const f of fields) {
    if (f.lower !== 'authentication-results') continue;
    const value = f.raw.slice(f.raw.indexOf(':') + 1);
    const parsed = parseAuthResults(value);
    const id = parsed.kind === 'ok' ? parsed.value.authservId : parsed.authservId;
    if (id === undefined || normId(id) !== want) continue;
    count++;
    const rest = afterId(value);
    if (rest === null) continue;
    for (const piece of splitTopLevel(rest)) {
      const text = compact(piece);
      if (text !== '' && asciiLower(text) !== 'none') results.push(text);
    }
  }
  return { fields: count, results };
}

/**
 * The chain validation status our results record (method "arc"), or undefined when none does. More than one
 * arc= result is contradictory and reads as fail, as dkimpy reads it.
 */
export function arcStateIn(results: readonly string[]): ArcState | undefined {
  const found: string[] = [];
  for (const text of results) {
    const parsed = parseAuthResults(`x; ${text}`);
    const r = parsed.kind === 'ok' ? parsed.value.results[0] : undefined;
    if (r?.method === 'arc') found.push(r.result);
  }
  if (found.length === 0) return undefined;
  if (found.length > 1) return 'fail';
  const state = found[0];
  return state === 'pass' || state === 'none' ? state : 'fail';
}

/** Folds one result onto lines of at most 78 octets where it has spaces (relaxed canonicalization undoes it). */
function foldResult(text: string, first: string): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(' ')) {
    if (line.trim() === '' || line.length + 1 + word.length <= LINE) line += line.trim() === '' ? word : ` ${word}`;
    else {
      lines.push(line);
      line = `\t  ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/**
 * The ARC-Authentication-Results field (without its final CRLF): "i=N; authserv-id;" then one result per line,
 * or "authserv-id; none" when there is none. Its relaxed form is "i=N; id; r1; r2; ...", which is what the
 * suite's README expects of a consolidated AAR.
 */
export function buildResultsField(instance: number, authservId: string, results: readonly string[]): string {
  // authservId comes encoded (a token, or a quoted-string when it is not one).
  const head = `ARC-Authentication-Results: i=${instance}; ${authservId}`;
  if (results.length === 0) return `${head}; none`;
  const lines = [`${head};`];
  results.forEach((r, i) => lines.push(...foldResult(i === results.length - 1 ? r : `${r};`, '\t')));
  return lines.join('\r\n');
}
