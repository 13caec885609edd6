// Runs a parsed ACL with Exim's semantics (Exim spec, "Access control lists": verbs, modifiers, processing order).
import { evalCondition } from './acl-conditions.js';
import type { CondEnv, CondOutcome, Steps } from './acl-conditions.js';
import { ACL_VAR_NAME, parseEximTime, splitSetValue } from './acl-parse.js';
import type { Acl, Item, Statement } from './acl-parse.js';
import type { AclInput, AclResult, AclVerdict, FoundFacts } from './acl-types.js';
import { isIP } from 'node:net';
import { expand, lookupCalls } from './expand.js';
import type { ExpandResult, HeaderLookup, ItemLookup, VarLookup } from './expand.js';
import { authVars } from './auth-facts.js';
import type { AuthFacts } from './auth-facts.js';
import { authResultsHeader } from './authresults.js';

export type { AclAddress, AclInput, AclPorts, AclResult, AclStage, AclVerdict } from './acl-types.js';

// Exim's own limit on nested `acl` conditions; it also stops an ACL calling itself forever.
const MAX_DEPTH = 20;

/** What a run has done so far; nested ACLs share it, so their sets and headers count. */
interface RunState {
  readonly set: Record<string, string>;
  readonly addHeaders: string[];
  readonly logwrites: string[];
  readonly controls: string[];
  readonly found: FoundFacts;
  /** ${lookup{key}spf{ip}} answers, resolved before the expansion that uses them. */
  readonly lookups: Map<string, ExpandResult>;
  delayedMs: number;
}

/** How an ACL (or one statement of it) ended. */
interface Decision {
  readonly verdict: AclVerdict;
  readonly message?: string;
  readonly logMessage?: string;
  readonly line?: number;
}

interface Run {
  readonly input: AclInput;
  readonly state: RunState;
  readonly standard: Readonly<Record<string, string>>;
  readonly headers: HeaderLookup;
  readonly items: ItemLookup;
}

/** Evaluates `acl` for one SMTP event. Never throws for policy reasons: problems become `defer`. */
export function runAcl(acl: Acl, input: AclInput): Promise<AclResult> {
  return drive(evaluate(acl, input));
}

/**
 * Evaluates `acl` if it can finish without waiting (no delay, no verification that has to go
 * out), so that the session can decide at once; undefined when it would have to wait.
 */
export function tryAcl(acl: Acl, input: AclInput): AclResult | undefined {
  return tryDrive(evaluate(acl, input));
}

/** Runs an evaluation to the end, waiting for what it yields. */
export function drive(steps: Steps<AclResult>): Promise<AclResult> {
  return new Promise((resolve, reject) => {
    const advance = (next: () => IteratorResult<Promise<unknown>, AclResult>): void => {
      let r: IteratorResult<Promise<unknown>, AclResult>;
      try {
        r = next();
      } catch (e) {
        reject(e);
        return;
      }
      if (r.done) resolve(r.value);
      else r.value.then((v) => advance(() => steps.next(v)), (e: unknown) => advance(() => steps.throw(e)));
    };
    advance(() => steps.next());
  });
}

/** The result if the evaluation finishes without waiting; undefined otherwise. */
export function tryDrive(steps: Steps<AclResult>): AclResult | undefined {
  const r = steps.next();
  if (r.done) return r.value;
  // Abandoned: the caller runs the ACL again with the waiting form.
  r.value.catch(() => undefined);
  return undefined;
}

/** One run of an ACL to its result (the data stage runs several: acl-data.ts). */
export function* evaluate(acl: Acl, input: AclInput): Steps<AclResult> {
  const state: RunState = { set: {}, addHeaders: [], logwrites: [], controls: [], found: {}, lookups: new Map(), delayedMs: 0 };
  const run: Run = { input, state, standard: standardVars(input), headers: headerLookup(input), items: itemLookup(input, state) };
  const d = yield* runStatements(acl, run, 0);
  return {
    verdict: d.verdict,
    ...(d.message === undefined ? {} : { message: d.message }),
    ...(d.logMessage === undefined ? {} : { logMessage: d.logMessage }),
    ...(d.line === undefined ? {} : { line: d.line }),
    addHeaders: state.addHeaders,
    set: { ...state.set },
    logwrites: state.logwrites,
    controls: state.controls,
    found: state.found,
    delayedMs: state.delayedMs,
  };
}

/** The Exim variables Petrel can fill from the input; empty where they do not apply yet. */
export function standardVars(input: AclInput): Record<string, string> {
  const s = input.sender;
  const r = input.stage === 'rcpt' ? input.recipient : undefined;
  return {
    sender_host_address: input.clientIp,
    sender_address: s ? `${s.local}@${s.domain}` : '',
    sender_address_local_part: s ? s.local : '',
    sender_address_domain: s ? s.domain : '',
    local_part: r ? r.local : '',
    domain: r ? r.domain : '',
    authenticated_id: input.authenticatedId ?? '',
    primary_hostname: input.primaryHostname,
    recipients_count: String(input.recipients.length),
  };
}

/** The facts known now: the session's, with what this run's own SPF checks found. */
function currentFacts(input: AclInput, state: RunState): AuthFacts | undefined {
  const f = state.found;
  if (f.spf === undefined && f.spfHelo === undefined) return input.auth;
  // Object.assign: a spread of a non-empty object followed by new keys is slow on Node 20.
  return Object.assign({}, input.auth, f.spf ? { spf: f.spf } : undefined, f.spfHelo ? { spfHelo: f.spfHelo } : undefined);
}

const lookupKey = (key: string, arg: string): string => `${key}\u0000${arg}`;

/**
 * ${authresults{authserv-id}}: the Authentication-Results header for what has been verified so far.
 * ${lookup{address}spf{ip}}: the SPF result for that sender and client address (resolved beforehand).
 */
function itemLookup(input: AclInput, state: RunState): ItemLookup {
  return (name, arg, extra) => {
    if (name === 'lookup:spf') {
      return state.lookups.get(lookupKey(arg.trim(), (extra ?? '').trim()))
        ?? { kind: 'error', reason: 'lookup spf: not available here' };
    }
    if (name !== 'authresults') return undefined;
    const id = arg.trim();
    if (id === '') return { kind: 'error', reason: 'authresults needs an authserv-id' };
    const s = input.sender;
    return {
      kind: 'ok',
      value: authResultsHeader(id, currentFacts(input, state), {
        clientIp: input.clientIp, helo: input.helo ?? '', senderDomain: s ? s.domain : '',
        ...(input.authenticatedId !== undefined ? { authenticatedId: input.authenticatedId } : {}),
      }),
    };
  };
}

export const AUTH_VAR = /^(?:spf|dkim|dmarc|arc)_/;

function headerLookup(input: AclInput): HeaderLookup {
  return (name) => {
    const lname = name.toLowerCase();
    return input.headers?.find((h) => h.name.toLowerCase() === lname)?.value;
  };
}

/** Variables seen by expansions: this run's sets, then the caller's, then the standard ones. */
function varLookup(run: Run, verifyMessage?: string): VarLookup {
  return (name) => {
    if (Object.hasOwn(run.state.set, name)) return run.state.set[name];
    if (Object.hasOwn(run.input.vars, name)) return run.input.vars[name];
    if (Object.hasOwn(run.standard, name)) return run.standard[name];
    if (name === 'acl_verify_message') return verifyMessage ?? '';
    if (AUTH_VAR.test(name)) return authVars(currentFacts(run.input, run.state), run.input.dkimSigner)[name];
    // Exim's default (strict_acl_vars off): an ACL variable never set is empty.
    if (ACL_VAR_NAME.test(name)) return '';
    return undefined;
  };
}

function* runStatements(acl: Acl, run: Run, depth: number): Steps<Decision> {
  for (const stmt of acl.statements) {
    const d = yield* runStatement(stmt, run, depth);
    if (d !== null) return d;
  }
  return { verdict: 'deny' };
}

/** Runs one statement; null means "go on with the next statement". */
function* runStatement(stmt: Statement, run: Run, depth: number): Steps<Decision | null> {
  let message: string | undefined;
  let logMessage: string | undefined;
  let endpass = false;
  let fallback: string | undefined; // reply text from a failed verify or a refusing nested ACL
  let allTrue = true;

  for (const item of stmt.items) {
    yield* resolveLookups(item.value, run);
    let outcome: CondOutcome | Decision | null;
    if (item.kind === 'modifier') {
      if (item.name === 'message') { message = item.value; continue; }
      if (item.name === 'log_message') { logMessage = item.value; continue; }
      if (item.name === 'endpass') { endpass = true; continue; }
      outcome = yield* applyModifier(item, run);
      if (outcome === null) continue;
    } else if (item.name === 'acl') {
      outcome = yield* callAcl(item, run, depth);
    } else {
      const env: CondEnv = { input: run.input, vars: varLookup(run), headers: run.headers, items: run.items, found: run.state.found };
      outcome = yield* evalCondition(item, env);
    }

    if ('verdict' in outcome) return outcome; // drop or discard from a nested ACL
    if (outcome.kind === 'defer') {
      // Exim skips a warn statement whose test cannot finish, and carries on.
      if (stmt.verb === 'warn') {
        run.state.logwrites.push(`warn statement at line ${stmt.line} skipped: ${outcome.reason}`);
        return null;
      }
      return { verdict: 'defer', logMessage: outcome.reason, line: stmt.line, ...(outcome.message === undefined ? {} : { message: outcome.message }) };
    }
    if (outcome.message !== undefined) fallback = outcome.message;
    if (outcome.value === item.negated) {
      allTrue = false;
      break;
    }
  }

  const decide = (verdict: AclVerdict, useFallback: boolean): Decision => {
    const msg = expandMessage(message, run, fallback, stmt, 'message');
    const log = expandMessage(logMessage, run, fallback, stmt, 'log_message');
    const text = msg ?? (useFallback ? fallback : undefined);
    return { verdict, line: stmt.line, ...(text === undefined ? {} : { message: text }), ...(log === undefined ? {} : { logMessage: log }) };
  };

  if (allTrue) {
    switch (stmt.verb) {
      case 'accept':
      case 'discard':
        // With endpass, `message` is the refusal text, not the acceptance text (Exim keeps this for compatibility).
        if (endpass) message = undefined;
        return decide(stmt.verb, false);
      case 'deny':
      case 'defer':
      case 'drop':
        return decide(stmt.verb, true);
      case 'require':
        return null;
      case 'warn': {
        const log = expandMessage(logMessage, run, fallback, stmt, 'log_message');
        if (log !== undefined) run.state.logwrites.push(log);
        return null;
      }
    }
  }
  if (stmt.verb === 'require' || ((stmt.verb === 'accept' || stmt.verb === 'discard') && endpass)) {
    return decide('deny', true);
  }
  return null;
}

/**
 * Runs the SPF lookups a value's expansion will ask for (Exim's `${lookup{address}spf{ip}}`), so that the expansion
 * itself stays synchronous. Keys and arguments that do not expand are left for the expansion to report.
 */
function* resolveLookups(text: string, run: Run): Steps<void> {
  if (!text.includes('${lookup')) return;
  for (const call of lookupCalls(text)) {
    if (call.type !== 'spf') continue;
    const key = expand(call.key, varLookup(run), run.headers, run.items);
    const arg = expand(call.arg, varLookup(run), run.headers, run.items);
    if (key.kind === 'error' || arg.kind === 'error') continue;
    const sender = key.value.trim();
    const ip = arg.value.trim();
    const id = lookupKey(sender, ip);
    if (run.state.lookups.has(id)) continue;
    const port = run.input.ports.spf;
    let r: ExpandResult;
    if (!port) r = { kind: 'error', reason: 'lookup spf: SPF checking is not available here' };
    else if (isIP(ip) === 0) r = { kind: 'error', reason: `lookup spf: "${ip}" is not an IP address` };
    else {
      try {
        // A bare domain is checked as postmaster@domain (RFC 7208 section 4.3).
        const got = port('mailfrom', { ip, helo: run.input.helo ?? '', sender: sender.includes('@') ? sender : `postmaster@${sender}` });
        const res = got instanceof Promise ? ((yield got) as Awaited<typeof got>) : got;
        r = { kind: 'ok', value: res.kind };
      } catch (err) {
        r = { kind: 'error', reason: `lookup spf: ${(err as Error).message}` };
      }
    }
    run.state.lookups.set(id, r);
  }
}

/**
 * Expands `message` or `log_message` when the statement decides (so it can
 * use $acl_verify_message). Like Exim, a failed or empty expansion is
 * ignored rather than turning the verdict into an error; the failure is logged.
 */
function expandMessage(text: string | undefined, run: Run, fallback: string | undefined, stmt: Statement, what: string): string | undefined {
  if (text === undefined) return undefined;
  const ex = expand(text, varLookup(run, fallback), run.headers, run.items);
  if (ex.kind === 'error') {
    run.state.logwrites.push(`line ${stmt.line}: ${what} not used, cannot expand it: ${ex.reason}`);
    return undefined;
  }
  return ex.value === '' ? undefined : ex.value;
}

/** Applies a modifier that acts when reached; a defer outcome if its value cannot be expanded. */
function* applyModifier(item: Item, run: Run): Steps<CondOutcome | null> {
  const { state } = run;
  let source = item.value;
  let setName: string | undefined;
  if (item.name === 'set') {
    const parts = splitSetValue(item.value);
    if (parts === null) return { kind: 'defer', reason: `line ${item.line}: set: malformed "${item.value}"` };
    setName = parts.name;
    source = parts.text;
  }
  const ex = expand(source, varLookup(run), run.headers, run.items);
  if (ex.kind === 'error') return { kind: 'defer', reason: `line ${item.line}: ${item.name}: cannot expand: ${ex.reason}` };
  const value = ex.value;
  switch (item.name) {
    case 'set':
      state.set[setName as string] = value;
      return null;
    case 'add_header': {
      // Exim drops leading and trailing newlines; what remains may be several header lines.
      const text = value.replace(/^[\r\n]+|[\r\n]+$/g, '');
      if (text !== '') state.addHeaders.push(text);
      return null;
    }
    case 'logwrite':
      state.logwrites.push(value);
      return null;
    case 'control':
      state.controls.push(value.trim());
      return null;
    case 'delay': {
      const ms = parseEximTime(value);
      if (ms === null) return { kind: 'defer', reason: `line ${item.line}: delay: bad time "${value}"` };
      yield run.input.ports.sleep(ms);
      state.delayedMs += ms;
      return null;
    }
    default:
      throw new Error(`internal: modifier "${item.name}" not handled`);
  }
}

/**
 * The `acl` condition: accept is true, deny is false (its message becomes the
 * default reply), defer defers, and drop or discard end the calling ACL too.
 */
function* callAcl(item: Item, run: Run, depth: number): Steps<CondOutcome | Decision> {
  const ex = expand(item.value, varLookup(run), run.headers);
  if (ex.kind === 'error') return { kind: 'defer', reason: `line ${item.line}: acl: cannot expand: ${ex.reason}` };
  const name = ex.value.trim();
  const nested = run.input.acls.get(name);
  if (nested === undefined) return { kind: 'defer', reason: `line ${item.line}: acl: unknown ACL "${name}"` };
  if (depth + 1 >= MAX_DEPTH) {
    return { kind: 'defer', reason: `line ${item.line}: acl: ACLs nested more than ${MAX_DEPTH} deep (does "${name}" call itself?)` };
  }
  const d = yield* runStatements(nested, run, depth + 1);
  switch (d.verdict) {
    case 'accept':
      return { kind: 'bool', value: true };
    case 'deny':
      return { kind: 'bool', value: false, ...(d.message === undefined ? {} : { message: d.message }) };
    case 'defer':
      return {
        kind: 'defer',
        reason: `line ${item.line}: acl "${name}" deferred${d.logMessage === undefined ? '' : `: ${d.logMessage}`}`,
        ...(d.message === undefined ? {} : { message: d.message }),
      };
    default:
      return d;
  }
}
