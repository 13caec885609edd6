// The data stage of ACLs (Exim spec, "The DKIM ACL" and "The DATA ACL"): the DKIM ACL once per signer, then the DATA ACL.
import type { Acl } from './acl-parse.js';
import type { Steps } from './acl-conditions.js';
import type { AclInput, AclResult, FoundFacts } from './acl-types.js';
import { expand } from './expand.js';
import type { VarLookup } from './expand.js';
import { authVars, signatureMatches } from './auth-facts.js';
import type { DkimSigner } from './auth-facts.js';
import { splitList } from './lists.js';
import { AUTH_VAR, drive, evaluate, standardVars, tryDrive } from './acl-eval.js';

/**
 * The data stage: Exim's DKIM ACL once per signer (see dkimSignerList), then the DATA ACL. A signer's run
 * that does not accept decides for the message. acl_m values set by the DKIM runs are seen by later runs.
 */
export interface DataStage {
  readonly dkim?: { readonly acl: Acl; readonly signers: readonly DkimSigner[] };
  readonly data?: Acl;
}

export function runDataStage(stage: DataStage, input: AclInput): Promise<AclResult> {
  return drive(evaluateData(stage, input));
}

export function tryDataStage(stage: DataStage, input: AclInput): AclResult | undefined {
  return tryDrive(evaluateData(stage, input));
}

function* evaluateData(stage: DataStage, input: AclInput): Steps<AclResult> {
  const done: AclResult[] = [];
  let vars = input.vars;
  // SPF found by one run is known to the later ones (one check per message, one answer).
  let auth = input.auth;
  const learn = (found: FoundFacts): void => {
    if (found.spf === undefined && found.spfHelo === undefined) return;
    auth = Object.assign({}, auth, found.spf ? { spf: found.spf } : undefined, found.spfHelo ? { spfHelo: found.spfHelo } : undefined);
  };
  const combined = (last: AclResult): AclResult => {
    const all = [...done, last];
    return {
      ...last,
      addHeaders: all.flatMap((r) => r.addHeaders),
      set: Object.assign({}, ...all.map((r) => r.set)) as Record<string, string>,
      logwrites: all.flatMap((r) => r.logwrites),
      controls: all.flatMap((r) => r.controls),
      found: Object.assign({}, ...all.map((r) => r.found)) as FoundFacts,
      delayedMs: all.reduce((n, r) => n + r.delayedMs, 0),
    };
  };
  for (const signer of stage.dkim?.signers ?? []) {
    const r = yield* evaluate((stage.dkim as { acl: Acl }).acl, { ...input, stage: 'dkim', dkimSigner: signer, vars, ...(auth ? { auth } : {}) });
    if (r.verdict !== 'accept') return combined(r);
    done.push(r);
    vars = { ...vars, ...r.set };
    learn(r.found);
  }
  if (!stage.data) return combined({ verdict: 'accept', addHeaders: [], set: {}, logwrites: [], controls: [], found: {}, delayedMs: 0 });
  return combined(yield* evaluate(stage.data, { ...input, vars, ...(auth ? { auth } : {}) }));
}

/**
 * Whom the DKIM ACL runs for: each name of the expanded dkim_verify_signers (default $dkim_signers), once;
 * a name matching several signatures (by d= or i=) runs once per signature, a name matching none runs once
 * with status none.
 */
export function dkimSignerList(spec: string, input: AclInput): { kind: 'ok'; signers: DkimSigner[] } | { kind: 'error'; reason: string } {
  const facts = input.auth;
  const lookup: VarLookup = (name) => {
    if (Object.hasOwn(input.vars, name)) return input.vars[name];
    if (AUTH_VAR.test(name)) return authVars(facts)[name];
    return standardVars(input)[name];
  };
  const ex = expand(spec, lookup);
  if (ex.kind === 'error') return { kind: 'error', reason: `dkim_verify_signers: cannot expand: ${ex.reason}` };
  const names = [...new Set(splitList(ex.value).map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))];
  const signatures = facts?.dkim?.signatures ?? [];
  const signers: DkimSigner[] = [];
  for (const name of names) {
    const matching = signatures.filter((s) => signatureMatches(s, name));
    if (matching.length === 0) signers.push({ name });
    for (const signature of matching) signers.push({ name, signature });
  }
  return { kind: 'ok', signers };
}
