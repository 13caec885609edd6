// Turns config into the message verifiers' settings: accepted DKIM hashes and key types, ARC, DMARC and its PSL.
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import { splitList } from '../../policy/lists.js';
import type { DkimHash, KeyType } from '../../protocol/dkim/index.js';
import { parsePublicSuffixList } from '../../protocol/dmarc/index.js';
import type { SuffixList } from '../../protocol/dmarc/index.js';
import type { AuthSettings } from '../auth-verifier/service.js';

const HASHES = new Set(['sha256', 'sha512', 'sha1']);
const KEY_TYPES = new Set(['ed25519', 'rsa']);

/** The verification settings; throws ConfigError naming each bad key. */
export function compileAuth(c: Config): AuthSettings {
  const problems: string[] = [];
  const words = (key: 'dkim_verify_hashes' | 'dkim_verify_keytypes', allowed: Set<string>): string[] => {
    const list = splitList(c[key]).map((w) => w.trim().toLowerCase());
    for (const w of list) if (!allowed.has(w)) problems.push(`${key}: unknown value "${w}" (expected ${[...allowed].join(', ')})`);
    return list;
  };
  // sha512 is a word Exim accepts; no DKIM signing algorithm uses it, so it selects nothing.
  const hashes = words('dkim_verify_hashes', HASHES).filter((h): h is DkimHash => h === 'sha256' || h === 'sha1');
  const keyTypes = words('dkim_verify_keytypes', KEY_TYPES) as KeyType[];
  let psl: SuffixList | undefined;
  if (c.dmarc_tld_file !== undefined) {
    try {
      psl = parsePublicSuffixList(readFileSync(c.dmarc_tld_file, 'utf8'));
    } catch (e) {
      problems.push(`dmarc_tld_file: cannot read ${c.dmarc_tld_file}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, c.source.startsWith('(') ? undefined : c.source);
  const dmarcOn = c.dmarc_verify || c.dmarc_tld_file !== undefined;
  return {
    receiver: c.primary_hostname,
    dkim: { hashes, keyTypes, minimal: c.dkim_verify_minimal },
    arc: c.arc_verify,
    dmarc: dmarcOn ? (psl ? { psl } : {}) : false,
    timeoutMs: c.auth_timeout,
  };
}
