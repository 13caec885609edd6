// Load-time checks of a parsed ACL (Exim spec, "Access control lists"): result words, list syntax and named
// ACLs, for the values that do not depend on the message.
import { expand } from './expand.js';
import type { Acl } from './acl-parse.js';
import { resultWordProblem } from './auth-conditions.js';
import { validateList } from './lists.js';
import type { ListKind, NamedLists } from './lists.js';

/** The kind of list each list-valued condition takes. */
const LIST_KIND: Readonly<Record<string, ListKind>> = {
  hosts: 'host',
  domains: 'domain',
  local_parts: 'localPart',
  senders: 'address',
  sender_domains: 'domain',
  recipients: 'address',
  authenticated: 'localPart',
};

/**
 * A value's text when it uses no variables or headers (escapes resolved), so
 * it can be checked now; null when it depends on the message.
 */
function staticValue(value: string): string | null {
  let dynamic = false;
  const ex = expand(value, () => undefined, () => {
    dynamic = true;
    return undefined;
  });
  return ex.kind === 'ok' && !dynamic ? ex.value : null;
}

/** Returns one message per problem, each starting with "line N:". */
export function validateAcl(acl: Acl, named: NamedLists, knownAcls: { has(name: string): boolean }): string[] {
  const problems: string[] = [];
  for (const stmt of acl.statements) {
    for (const item of stmt.items) {
      if (item.kind !== 'condition') continue;
      const value = staticValue(item.value);
      if (value === null) continue;
      const words = item.name === 'verify' && value.startsWith('arc/') ? resultWordProblem('arc', value.slice(4)) : resultWordProblem(item.name, value);
      if (words !== null) problems.push(`line ${item.line}: ${item.name}: ${words}`);
      const kind = LIST_KIND[item.name];
      if (kind !== undefined) {
        const problem = validateList(kind, value, named);
        if (problem !== null) problems.push(`line ${item.line}: ${item.name}: ${problem}`);
      } else if (item.name === 'acl' && !knownAcls.has(value.trim())) {
        problems.push(`line ${item.line}: acl: unknown ACL "${value.trim()}"`);
      }
    }
  }
  return problems;
}
