// The systems the bench knows by name, and the install helper for the Debian ones.

import { PeerError } from '../errors.js';
import { harakaTarget } from './haraka.js';
import { petrelTarget } from './petrel.js';
import { postfixTarget } from './postfix.js';
import { sinkTarget } from './sink.js';
import type { PeerTarget } from './types.js';

export { ensureHaraka, harakaTarget, harakaVersion } from './haraka.js';
export { ensurePeers, missingPackages, postfixVersion } from './install.js';
export { petrelConfig, petrelTarget, type PetrelBenchConfig, type PetrelTargetOptions } from './petrel.js';
export { postfixTarget, stopPostfix } from './postfix.js';
export { sinkTarget } from './sink.js';
export type { PeerInfo, PeerTarget, RunningPeer, StartOptions } from './types.js';

/** Names in the order tables list them: the system under test first, the ceiling last. */
export const PEER_NAMES = ['petrel', 'postfix', 'haraka', 'sink'] as const;

/**
 * `profileDir`: Petrel's daemons are profiled into it (bench --profile); the other systems are not Node programs.
 * `settle` false: Postfix starts without waiting for the file system to let go of deleted inodes (inode-settle.ts).
 */
export function createTarget(name: string, opts: { profileDir?: string; settle?: boolean } = {}): PeerTarget {
  switch (name) {
    case 'petrel':
      return petrelTarget(opts.profileDir ? { profileDir: opts.profileDir } : {});
    case 'postfix':
      return postfixTarget(opts.settle === false ? { windowMs: 0 } : {});
    case 'haraka':
      return harakaTarget();
    case 'sink':
      return sinkTarget();
    default:
      throw new PeerError('ERR_PEER_UNKNOWN', `unknown peer "${name}" (known: ${PEER_NAMES.join(', ')})`);
  }
}
