// The tests behind ACL conditions other than `acl`: lists, verify, condition (Exim spec, "ACL conditions").
import { parseMailbox } from '../protocol/smtp/address.js';
import type { Item } from './acl-parse.js';
import { isPromise } from './acl-types.js';
import type { AclAddress, AclInput, FoundFacts, Steps } from './acl-types.js';
import { expand } from './expand.js';
import type { HeaderLookup, ItemLookup, VarLookup } from './expand.js';
import { AUTH_CONDITIONS, authCondition, verifyArc } from './auth-conditions.js';
import { ListError, matchAddress, matchDomain, matchHost, matchLocalPart, splitList } from './lists.js';
import type { MatchContext } from './lists.js';

/**
 * What a condition found. `message` is a default reply text (from a failed
 * verification or a refusing nested ACL) used if the statement then refuses
 * without a `message` of its own.
 */
export type CondOutcome =
  | { kind: 'bool'; value: boolean; message?: string }
  | { kind: 'defer'; reason: string; message?: string };

export { isPromise } from './acl-types.js';
export type { Steps } from './acl-types.js';

export interface CondEnv {
  readonly input: AclInput;
  readonly vars: VarLookup;
  readonly headers: HeaderLookup;
  readonly items?: ItemLookup;
  /** Where SPF checks made by this run are kept. */
  readonly found?: FoundFacts;
}

const yes: CondOutcome = { kind: 'bool', value: true };

function defer(item: Item, reason: string, message?: string): CondOutcome {
  const out: CondOutcome = { kind: 'defer', reason: `line ${item.line}: ${item.name}: ${reason}` };
  return message === undefined ? out : { ...out, message };
}

/** Evaluates one condition (not negated here: the caller applies `!`). `acl` is not handled here. */
export function* evalCondition(item: Item, env: CondEnv): Steps<CondOutcome> {
  switch (item.name) {
    case 'verify':
      if (item.value === 'arc' || item.value.startsWith('arc/')) {
        const list = expand(item.value.slice(4), env.vars, env.headers, env.items);
        if (list.kind === 'error') return defer(item, `cannot expand: ${list.reason}`);
        return verifyArc(item, item.value === 'arc' ? undefined : list.value, env.input);
      }
      return yield* verify(item, env.input);
    case 'condition': {
      const ex = expand(item.value, env.vars, env.headers, env.items);
      if (ex.kind === 'error') return defer(item, `cannot expand: ${ex.reason}`);
      return { kind: 'bool', value: truthy(ex.value) };
    }
    default:
      if (AUTH_CONDITIONS.has(item.name)) {
        const ex = expand(item.value, env.vars, env.headers, env.items);
        if (ex.kind === 'error') return defer(item, `cannot expand: ${ex.reason}`);
        return yield* authCondition(item, ex.value, env.input, env.found ?? {});
      }
      return listCondition(item, env);
  }
}

/** Exim's false words; anything else that is not empty counts as true. */
function truthy(text: string): boolean {
  const t = text.trim().toLowerCase();
  return !(t === '' || t === '0' || t === 'no' || t === 'false');
}

function listCondition(item: Item, env: CondEnv): CondOutcome {
  const ex = expand(item.value, env.vars, env.headers);
  if (ex.kind === 'error') return defer(item, `cannot expand: ${ex.reason}`);
  const list = splitList(ex.value);
  const { input } = env;
  const ctx: MatchContext = { named: input.named, primaryHostname: input.primaryHostname };
  try {
    return { kind: 'bool', value: testList(item.name, list, input, ctx) };
  } catch (err) {
    if (err instanceof ListError) return defer(item, err.message);
    throw err;
  }
}

function testList(name: string, list: string[], input: AclInput, ctx: MatchContext): boolean {
  // domains and local_parts describe the recipient, which exists only at RCPT
  // (Exim sets $domain and $local_part there alone); elsewhere they are false.
  const rcpt = input.stage === 'rcpt' ? input.recipient : undefined;
  switch (name) {
    case 'hosts':
      return matchHost(input.clientIp, list, ctx);
    case 'domains':
      return rcpt !== undefined && matchDomain(rcpt.domain, list, ctx);
    case 'local_parts':
      return rcpt !== undefined && matchLocalPart(rcpt.local, list, ctx);
    case 'senders':
      return input.sender !== undefined && matchAddress(input.sender, list, ctx);
    case 'sender_domains':
      return input.sender !== undefined && input.sender !== null && matchDomain(input.sender.domain, list, ctx);
    case 'recipients':
      if (input.stage === 'rcpt') return rcpt !== undefined && matchAddress(rcpt, list, ctx);
      if (input.stage === 'predata' || input.stage === 'data' || input.stage === 'dkim') {
        return input.recipients.some((r) => matchAddress(r, list, ctx));
      }
      return false;
    case 'authenticated': {
      const id = input.authenticatedId;
      return id !== undefined && id !== '' && matchLocalPart(id, list, ctx);
    }
    default:
      throw new Error(`internal: "${name}" is not a list condition`);
  }
}

function* verify(item: Item, input: AclInput): Steps<CondOutcome> {
  switch (item.value) {
    case 'recipient': {
      if (input.stage !== 'rcpt' || input.recipient === undefined) {
        return defer(item, '"verify = recipient" works only in the rcpt ACL');
      }
      let r: Awaited<ReturnType<AclInput['ports']['verifyRecipient']>>;
      try {
        const got = input.ports.verifyRecipient(input.recipient);
        r = isPromise(got) ? ((yield got) as typeof r) : got;
      } catch (err) {
        return defer(item, `recipient verification failed: ${(err as Error).message}`);
      }
      if (r.ok) return yes;
      if (r.temporary) return defer(item, `recipient verification deferred: ${r.message}`, r.message);
      return { kind: 'bool', value: false, message: r.message };
    }
    case 'sender':
      return verifySender(item, input.sender);
    case 'header_syntax': {
      if (input.stage !== 'data') return defer(item, '"verify = header_syntax" works only in the data ACL');
      const problem = addressHeaderProblem(input.headers ?? []);
      return problem === null ? yes : { kind: 'bool', value: false, message: problem };
    }
    default:
      return defer(item, `unknown verify "${item.value}"`);
  }
}

/**
 * Until Petrel has a DNS client, sender verification is a syntax check of the
 * envelope sender only (no MX/A lookup, no callout). The null sender verifies.
 */
function verifySender(item: Item, sender: AclAddress | null | undefined): CondOutcome {
  if (sender === undefined) return defer(item, '"verify = sender" needs a sender (use it at MAIL or later)');
  if (sender === null) return yes;
  const parsed = parseMailbox(`${sender.local}@${sender.domain}`, true);
  if (parsed.kind === 'ok') return yes;
  return { kind: 'bool', value: false, message: `Sender verify failed: ${parsed.reason}` };
}

// Headers whose bodies are address lists (RFC 5322 section 3.6.2 and 3.6.3).
const ADDRESS_HEADERS = new Set(['from', 'sender', 'reply-to', 'to', 'cc', 'bcc']);

/**
 * A loose check, in the spirit of Exim's header_syntax: every address header
 * must split (outside quotes, comments, angle brackets and literals) into
 * entries that each contain something@something. Groups may be empty
 * (`undisclosed-recipients:;`), and so may Bcc. Returns the reply text for
 * the first bad header, or null.
 */
export function addressHeaderProblem(headers: readonly { readonly name: string; readonly value: string }[]): string | null {
  for (const h of headers) {
    const lname = h.name.toLowerCase();
    if (!ADDRESS_HEADERS.has(lname)) continue;
    if (!addressListLooksValid(h.value, lname === 'bcc')) {
      return `There is a syntax error in the "${h.name}:" header: it does not contain a valid address`;
    }
  }
  return null;
}

function addressListLooksValid(value: string, mayBeEmpty: boolean): boolean {
  const entries: string[] = [];
  let cur = '';
  let quoted = false;
  let comment = 0;
  let angle = false;
  let literal = false;
  let groups = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted) {
      cur += c;
      if (c === '\\') cur += value[++i] ?? '';
      else if (c === '"') quoted = false;
      continue;
    }
    if (comment > 0) {
      if (c === '\\') i++;
      else if (c === '(') comment++;
      else if (c === ')') comment--;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(') { comment = 1; cur += ' '; continue; }
    else if (c === '[') literal = true;
    else if (c === ']') literal = false;
    else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (!angle && !literal && (c === ',' || c === ';')) { entries.push(cur); cur = ''; continue; }
    else if (!angle && !literal && c === ':') { groups++; cur = ''; continue; } // a group's display name
    cur += c;
  }
  entries.push(cur);
  if (quoted || comment > 0 || angle || literal) return false;
  const present = entries.map((e) => e.trim()).filter((e) => e !== '');
  if (present.length === 0) return mayBeEmpty || groups > 0;
  return present.every(entryHasAddress);
}

function entryHasAddress(entry: string): boolean {
  const lt = entry.indexOf('<');
  const spec = lt >= 0 ? entry.slice(lt + 1, entry.indexOf('>', lt)).trim() : entry;
  const at = spec.lastIndexOf('@');
  if (at <= 0 || at === spec.length - 1) return false;
  return !/\s/.test(spec.slice(at + 1));
}
