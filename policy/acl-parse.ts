// Parses the text of one Exim-style ACL into statements (Exim spec, "Access control lists", "Format of an ACL").

export const VERBS = ['accept', 'defer', 'deny', 'discard', 'drop', 'require', 'warn'] as const;
export type Verb = (typeof VERBS)[number];

export const CONDITIONS = [
  'hosts', 'domains', 'local_parts', 'senders', 'sender_domains', 'recipients',
  'authenticated', 'verify', 'condition', 'acl',
  'spf', 'spf_helo', 'dkim_signers', 'dkim_status', 'dmarc_status',
] as const;
export type ConditionName = (typeof CONDITIONS)[number];

export const MODIFIERS = [
  'message', 'log_message', 'add_header', 'set', 'delay', 'logwrite', 'control', 'endpass',
] as const;
export type ModifierName = (typeof MODIFIERS)[number];

export interface Item {
  readonly kind: 'condition' | 'modifier';
  readonly name: ConditionName | ModifierName;
  /** Text after `=`, trimmed; for `set` it is `acl_x_name = text`; empty for `endpass`. */
  readonly value: string;
  readonly negated: boolean;
  /** 1-based line within the ACL text where the item starts. */
  readonly line: number;
}

export interface Statement {
  readonly verb: Verb;
  readonly line: number;
  readonly items: readonly Item[];
}

export interface Acl {
  readonly statements: readonly Statement[];
}

/** An ACL that cannot be parsed; `line` is 1-based within the ACL text. */
export class AclSyntaxError extends Error {
  readonly code = 'ACL_SYNTAX';
  readonly line: number;
  constructor(line: number, detail: string) {
    super(`line ${line}: ${detail}`);
    this.name = 'AclSyntaxError';
    this.line = line;
  }
}

// Exim conditions and modifiers that exist but that Petrel has not built yet:
// saying so beats "unknown", which suggests a typo.
const NOT_YET = new Set([
  'dnslists', 'encrypted', 'ratelimit', 'regex', 'mime_regex', 'malware', 'spam', 'spf_guess', 'decode', 'demime', 'seen', 'queue', 'remove_header',
  'continue', 'udpsend', 'log_reject_target', 'csa', 'sender_host_address', 'prvscheck', 'wellknown',
]);

const VERIFY_VALUES = new Set(['recipient', 'sender', 'header_syntax', 'arc']);
const VERIFY_NOT_YET = new Set(['not_blind', 'helo', 'reverse_host_lookup', 'csa', 'certificate', 'header_sender', 'header_names_ascii']);

/**
 * The controls Petrel acts on (Exim's names). dkim_disable_verify, dmarc_disable_verify and
 * dmarc_enable_forensic must be set before the message arrives: in an ACL before DATA. freeze
 * and queue_only apply to the message being received (freeze: held until `petrel queue thaw`;
 * queue_only: no delivery at once, the next queue run takes it).
 */
export const CONTROLS = ['dkim_disable_verify', 'dmarc_disable_verify', 'dmarc_enable_forensic', 'freeze', 'queue_only'] as const;
export type ControlName = (typeof CONTROLS)[number];

/** ACL variable names, as Exim has them: acl_c or acl_m, then a digit or `_`, then name characters. */
export const ACL_VAR_NAME = /^acl_[cm][0-9_][0-9A-Za-z_]*$/;
const SET_VALUE = /^(acl_[cm][0-9_][0-9A-Za-z_]*)\s*=\s*([\s\S]*)$/;

/** Splits a `set` value (`acl_m_x = text`) into name and text; null if malformed. */
export function splitSetValue(value: string): { name: string; text: string } | null {
  const m = SET_VALUE.exec(value);
  if (m === null) return null;
  return { name: m[1] as string, text: (m[2] as string).trim() };
}

const TIME_PART = /(\d+)(ms|w|d|h|m|s)/y;
const TIME_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Exim time (`30s`, `2m`, `1h30m`, `500ms`, plain seconds) in milliseconds; null if malformed. */
export function parseEximTime(text: string): number | null {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (s === '') return null;
  let total = 0;
  TIME_PART.lastIndex = 0;
  while (TIME_PART.lastIndex < s.length) {
    const start = TIME_PART.lastIndex;
    const m = TIME_PART.exec(s);
    if (m === null || m.index !== start) return null;
    total += Number(m[1]) * (TIME_MS[m[2] as string] as number);
  }
  return total;
}

interface LogicalLine {
  readonly text: string;
  readonly line: number;
}

/**
 * Joins backslash continuations the way Exim's configuration reader does:
 * the backslash goes, the next line loses its leading white space, and
 * comment lines inside a continued sequence are skipped.
 */
function logicalLines(text: string): LogicalLine[] {
  const physical = text.split(/\r?\n/);
  const out: LogicalLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const first = (physical[i] as string).trim();
    if (first === '' || first.startsWith('#')) continue;
    const line = i + 1;
    let acc = first;
    while (acc.endsWith('\\') && i + 1 < physical.length) {
      acc = acc.slice(0, -1);
      i++;
      const next = (physical[i] as string).trim();
      if (next.startsWith('#')) {
        acc += '\\';
        continue;
      }
      acc += next;
    }
    if (acc.endsWith('\\')) acc = acc.slice(0, -1);
    out.push({ text: acc, line });
  }
  return out;
}

function isVerb(word: string): word is Verb {
  return (VERBS as readonly string[]).includes(word);
}

function parseItem(text: string, line: number, verb: Verb): Item {
  let rest = text;
  let negated = false;
  if (rest.startsWith('!')) {
    negated = true;
    rest = rest.slice(1).trimStart();
  }
  const m = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
  if (m === null) throw new AclSyntaxError(line, `expected a condition or modifier, found "${text}"`);
  const name = m[1] as string;
  rest = rest.slice(name.length);

  const isCondition = (CONDITIONS as readonly string[]).includes(name);
  const isModifier = (MODIFIERS as readonly string[]).includes(name);
  if (!isCondition && !isModifier) {
    if (NOT_YET.has(name)) throw new AclSyntaxError(line, `"${name}" is an Exim condition or modifier that Petrel does not support yet`);
    throw new AclSyntaxError(line, `unknown condition or modifier "${name}"`);
  }
  if (isModifier && negated) throw new AclSyntaxError(line, `"${name}" is a modifier and cannot be negated`);

  let value: string;
  if (name === 'endpass') {
    if (rest.trim() !== '') throw new AclSyntaxError(line, '"endpass" takes no value');
    if (verb !== 'accept' && verb !== 'discard') {
      throw new AclSyntaxError(line, `"endpass" is only allowed with accept or discard, not ${verb}`);
    }
    value = '';
  } else if (name === 'set') {
    // `set` names its variable before the `=`: set acl_m_x = value
    value = rest.trim();
    if (splitSetValue(value) === null) {
      throw new AclSyntaxError(line, `"set" needs "acl_cNAME = value" or "acl_mNAME = value" (NAME starts with a digit or "_"), found "${value}"`);
    }
  } else {
    const eq = /^\s*=/.exec(rest);
    if (eq === null) throw new AclSyntaxError(line, `expected "=" after "${name}"`);
    value = rest.slice(eq[0].length).trim();
  }
  const item: Item = { kind: isCondition ? 'condition' : 'modifier', name: name as ConditionName | ModifierName, value, negated, line };
  checkValue(item);
  return item;
}

/** Checks values that can be judged without the named lists or other ACLs. */
function checkValue(item: Item): void {
  const { name, value, line } = item;
  const literal = !value.includes('$');
  switch (name) {
    case 'verify': {
      // verify = arc/<acceptable states> (experimental-spec, "ARC support"); the list is checked with the ACL.
      if (value === 'arc' || value.startsWith('arc/')) return;
      if (value.includes('/')) throw new AclSyntaxError(line, `verify options ("${value}") are not supported yet`);
      if (VERIFY_NOT_YET.has(value)) throw new AclSyntaxError(line, `"verify = ${value}" is not supported yet`);
      if (!VERIFY_VALUES.has(value)) {
        throw new AclSyntaxError(line, `unknown verify "${value}" (expected recipient, sender, header_syntax or arc)`);
      }
      return;
    }
    case 'delay':
      if (literal && parseEximTime(value) === null) {
        throw new AclSyntaxError(line, `bad time "${value}" for delay (examples: 30s, 2m, 1h, 500ms)`);
      }
      return;
    case 'acl':
      if (value === '') throw new AclSyntaxError(line, '"acl" needs the name of an ACL');
      if (literal && /\s/.test(value)) throw new AclSyntaxError(line, `arguments to "acl" are not supported ("${value}")`);
      return;
    case 'control':
      if (value === '') throw new AclSyntaxError(line, '"control" needs a value');
      if (literal && !(CONTROLS as readonly string[]).includes(value)) {
        throw new AclSyntaxError(line, `unknown control "${value}" (Petrel knows ${CONTROLS.join(', ')})`);
      }
      return;
    default:
      return;
  }
}

/** Parses one ACL body. Throws AclSyntaxError with a 1-based line number. */
export function parseAcl(text: string): Acl {
  const statements: { verb: Verb; line: number; items: Item[] }[] = [];
  for (const { text: lt, line } of logicalLines(text)) {
    const word = /^\S+/.exec(lt)?.[0] ?? '';
    const current = statements[statements.length - 1];
    if (isVerb(word)) {
      const stmt = { verb: word, line, items: [] as Item[] };
      statements.push(stmt);
      const rest = lt.slice(word.length).trim();
      if (rest !== '') stmt.items.push(parseItem(rest, line, word));
      continue;
    }
    if (current === undefined) {
      throw new AclSyntaxError(line, `expected a verb (${VERBS.join(', ')})`);
    }
    current.items.push(parseItem(lt, line, current.verb));
  }
  return { statements };
}
