// Worker task (piscina): sign prepared inputs with one private key (RSA PKCS#1 v1.5 or Ed25519),
// a batch at a time. Pure: structured-cloneable data in, base64 signatures out.
import { createPrivateKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export interface SignTask {
  /** The private key, PEM (PKCS#8 or PKCS#1 for RSA). */
  readonly keyPem: string;
  /** The digest for RSA (sha256, or sha1 for old verifiers' tests); null for Ed25519 (RFC 8032). */
  readonly hash: 'sha256' | 'sha1' | null;
  /** The exact bytes to sign, one per signature. */
  readonly inputs: readonly Uint8Array[];
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

export default function run(task: SignTask): string[] {
  const key = keyOf(task.keyPem);
  return task.inputs.map((input) => sign(task.hash, input, key).toString('base64'));
}
