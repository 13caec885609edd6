// Worker tasks (piscina): sign prepared inputs with one private key (RSA PKCS#1 v1.5 or Ed25519, RFC 6376,
// RFC 8463), a batch at a time; and seal an ARC set (RFC 8617 section 5.1: the AMS, then the AS over it) in
// one task. Pure: structured-cloneable data in, base64 signatures or finished fields out.
import { createPrivateKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { signSeal } from '../protocol/arc/index.js';
import type { PreparedSeal, SealedSet } from '../protocol/arc/index.js';

export interface SignTask {
  /** The private key, PEM (PKCS#8 or PKCS#1 for RSA). */
  readonly keyPem: string;
  /** The digest for RSA (sha256, or sha1 for old verifiers' tests); null for Ed25519 (RFC 8032). */
  readonly hash: 'sha256' | 'sha1' | null;
  /** The exact bytes to sign, one per signature. */
  readonly inputs: readonly Uint8Array[];
}

export interface SealTask {
  readonly keyPem: string;
  /** From protocol/arc prepareSeal; its algorithm must match the key. */
  readonly prepared: PreparedSeal;
}

// Parsing a PEM key costs more than an Ed25519 signature: each worker keeps what it parsed.
const keys = new Map<string, KeyObject>();
const KEYS_MAX = 64;

function keyOf(pem: string): KeyObject {
  let k = keys.get(pem);
  if (!k) {
    k = createPrivateKey(pem);
    if (keys.size >= KEYS_MAX) keys.clear();
    keys.set(pem, k);
  }
  return k;
}

/**
 * What the task itself refused (an unusable key, a bad input) fails the same way every time: its message
 * starts with this, so that the pool does not try it again (a worker that died is another matter).
 */
export const TASK_ERROR_PREFIX = 'sign task: ';

function refused(e: unknown): Error {
  return new Error(`${TASK_ERROR_PREFIX}${e instanceof Error ? e.message : String(e)}`);
}

export default function run(task: SignTask): string[] {
  try {
    const key = keyOf(task.keyPem);
    return task.inputs.map((input) => sign(task.hash, input, key).toString('base64'));
  } catch (e) {
    throw refused(e);
  }
}

/** Both private-key operations of an ARC set, in one dispatch (the AS covers the finished AMS). */
export function seal(task: SealTask): SealedSet {
  try {
    return signSeal(task.prepared, keyOf(task.keyPem));
  } catch (e) {
    throw refused(e);
  }
}
