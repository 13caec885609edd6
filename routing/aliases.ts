// The redirect router's alias file (the classic /etc/aliases format of sendmail, as Exim's redirect
// router reads it with an lsearch lookup): parsing, and expansion with loop detection.
import { isDomain } from '../protocol/smtp/address.js';

export interface AliasAddress {
  readonly local: string;
  readonly domain: string;
}

export interface AliasTarget {
  readonly local: string;
  /** null for a bare local part: it takes the domain of the address being expanded. */
  readonly domain: string | null;
  /** Written with a leading backslash ("\root"): delivered as it is, never expanded again. */
  readonly noExpand: boolean;
}

export interface AliasEntry {
  /** The alias name as written. */
  readonly name: string;
  readonly line: number;
  readonly targets: readonly AliasTarget[];
}

export interface Aliases {
  readonly file: string;
  /** Keyed by the lower-cased alias name. */
  readonly entries: ReadonlyMap<string, AliasEntry>;
}

export type Expansion =
  | { kind: 'ok'; addresses: AliasAddress[] }
  | { kind: 'loop'; chain: string[] }
  | { kind: 'none' };

export class AliasError extends Error {
  readonly code = 'ALIAS_SYNTAX';
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, reason: string) {
    super(`${file} line ${line}: ${reason}`);
    this.name = 'AliasError';
    this.file = file;
    this.line = line;
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
/** A local part as an alias name: no space, no "@", no ":", no quotes, no controls. */
const NAME = /^[^\s@:"<>,\\]+$/;

/** A logical line: an entry line joined with its continuation lines. */
interface Logical {
  readonly line: number;
  text: string;
}

function logicalLines(text: string, file: string): Logical[] {
  const out: Logical[] = [];
  const raw = text.split(/\r?\n/);
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i] as string;
    const n = i + 1;
    const trimmed = line.trim();
    // Blank lines and comments are skipped and do not end an entry (as Postfix reads aliases).
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (line[0] === ' ' || line[0] === '\t') {
      const last = out[out.length - 1];
      if (last === undefined) throw new AliasError(file, n, 'continuation line with no alias before it');
      last.text += ' ' + trimmed;
    } else {
      out.push({ line: n, text: line });
    }
  }
  return out;
}

/** Split a target list at commas outside double quotes. */
function splitTargets(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && quoted && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      cur += c;
    } else if (c === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur.trim());
  return out;
}

/** A local part: dot-atom-like text without space or specials, or a quoted string. */
function validLocal(s: string): boolean {
  if (s === '' || CONTROL.test(s)) return false;
  if (s.startsWith('"')) return /^"(?:[^"\\]|\\.)*"$/.test(s);
  return /^[^\s"(),:;<>@[\\\]]+$/.test(s) && !s.startsWith('.') && !s.endsWith('.') && !s.includes('..');
}

function parseTarget(item: string, file: string, line: number): AliasTarget {
  let t = item;
  if (t === '') throw new AliasError(file, line, 'empty target (two commas, or a comma at the end)');
  const lower = t.toLowerCase();
  if (lower.startsWith(':include:')) {
    throw new AliasError(file, line, `":include:" lists are not supported (${t})`);
  }
  if (/^:[a-z]+:/.test(lower)) throw new AliasError(file, line, `special item ${t} is not supported`);
  const unquoted = t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t;
  if (unquoted.startsWith('|')) {
    throw new AliasError(file, line, `pipe targets are not supported: delivery to a command (${t})`);
  }
  if (unquoted.startsWith('/')) {
    throw new AliasError(file, line, `file targets are not supported: delivery to a file (${t})`);
  }
  let noExpand = false;
  if (t.startsWith('\\')) {
    noExpand = true;
    t = t.slice(1);
  }
  if (t.startsWith('<') && t.endsWith('>')) t = t.slice(1, -1).trim();
  const at = t.lastIndexOf('@');
  const quotedLocal = t.startsWith('"');
  if (at < 0 || (quotedLocal && at < t.lastIndexOf('"'))) {
    if (!validLocal(t)) throw new AliasError(file, line, `bad target address "${item}"`);
    return { local: t, domain: null, noExpand };
  }
  const local = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (!validLocal(local) || !isDomain(domain, true)) {
    throw new AliasError(file, line, `bad target address "${item}"`);
  }
  return { local, domain, noExpand };
}

/**
 * Parse an alias file: "name: target, target" per entry; lines starting with whitespace continue
 * the entry above; "#" starts a comment line. A target is local@domain, or a bare local part
 * meaning the domain of the address being expanded; a leading backslash stops further expansion.
 * Pipes, files, :include: and other special items are refused (Petrel's local delivery is Maildir
 * only), as are duplicates. Throws AliasError naming the line.
 */
export function parseAliases(text: string, file: string): Aliases {
  const entries = new Map<string, AliasEntry>();
  for (const l of logicalLines(text, file)) {
    const colon = l.text.indexOf(':');
    if (colon < 0) throw new AliasError(file, l.line, 'expected "alias: target, ..." (no colon)');
    const name = l.text.slice(0, colon).trim();
    if (name === '') throw new AliasError(file, l.line, 'missing alias name before the colon');
    if (name.startsWith('"') || !NAME.test(name)) {
      throw new AliasError(file, l.line, `bad alias name "${name}": it must be a plain local part`);
    }
    const key = name.toLowerCase();
    const previous = entries.get(key);
    if (previous !== undefined) {
      throw new AliasError(file, l.line, `duplicate alias "${name}" (first defined at line ${previous.line})`);
    }
    const rest = l.text.slice(colon + 1).trim();
    if (rest === '') throw new AliasError(file, l.line, `alias "${name}" has no targets`);
    const targets = splitTargets(rest).map((item) => parseTarget(item, file, l.line));
    entries.set(key, { name, line: l.line, targets });
  }
  return { file, entries };
}

const keyOf = (a: AliasAddress): string => `${a.local.toLowerCase()}@${a.domain.toLowerCase()}`;

/**
 * Expand an address through the aliases, recursively, until only addresses that are not aliases
 * (or not in a local domain) remain. Aliases apply to every local domain alike; a bare target
 * keeps the domain of the address it came from. Duplicates are removed (first spelling kept).
 *
 * An alias that names itself ("root: root, admin") means delivery to that address itself, as in
 * sendmail. A longer cycle (a -> b -> a) is a loop; so is a chain deeper than maxDepth. The result
 * is final: its addresses need no further alias expansion.
 */
export function expandAliases(
  aliases: Aliases,
  address: AliasAddress,
  isLocal: (domain: string) => boolean,
  maxDepth = 10,
): Expansion {
  const entryOf = (a: AliasAddress): AliasEntry | undefined =>
    isLocal(a.domain) ? aliases.entries.get(a.local.toLowerCase()) : undefined;
  if (entryOf(address) === undefined) return { kind: 'none' };

  // Fully expanded aliases, by address: a name reached twice is expanded once. Safe with the
  // loop check: a finished expansion never reached any name on the current chain.
  const done = new Map<string, AliasAddress[]>();
  const chain: string[] = [];

  const expand = (addr: AliasAddress, entry: AliasEntry): AliasAddress[] | { loop: string[] } => {
    const key = keyOf(addr);
    const known = done.get(key);
    if (known !== undefined) return known;
    chain.push(entry.name.toLowerCase());
    const out: AliasAddress[] = [];
    for (const t of entry.targets) {
      const next: AliasAddress = { local: t.local, domain: t.domain ?? addr.domain };
      const nextEntry = t.noExpand ? undefined : entryOf(next);
      if (nextEntry === undefined || nextEntry === entry) {
        out.push(next); // not an alias, or the alias itself: delivered to as it is
        continue;
      }
      const name = nextEntry.name.toLowerCase();
      if (chain.includes(name) || chain.length >= maxDepth) return { loop: [...chain, name] };
      const sub = expand(next, nextEntry);
      if (!Array.isArray(sub)) return sub;
      out.push(...sub);
    }
    chain.pop();
    done.set(key, out);
    return out;
  };

  const result = expand(address, entryOf(address) as AliasEntry);
  if (!Array.isArray(result)) return { kind: 'loop', chain: result.loop };
  const seen = new Set<string>();
  const addresses: AliasAddress[] = [];
  for (const a of result) {
    const k = keyOf(a);
    if (seen.has(k)) continue;
    seen.add(k);
    addresses.push(a);
  }
  return { kind: 'ok', addresses };
}
