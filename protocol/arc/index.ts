// ARC (RFC 8617): the entry point. Import from here; the other files are its parts.
export type { ArcCode, ArcSetInfo, ArcState, ArcValidateOptions, ArcValidation, ChainStatus } from './types.js';
export { MAX_INSTANCE } from './types.js';
export { arcBodyHashSpecs, validateChain, validateWholeMessage } from './validate.js';
export type { ArcBodyHashOptions } from './validate.js';
export {
  ARC_SIGNED_HEADERS,
  DEFAULT_EXPIRE_SECONDS,
  finishSeal,
  prepareSeal,
  sealInput,
  sealMessage,
  signSeal,
} from './seal.js';
export type { PreparedSeal, SealedSet, SealError, SealOptions, SealPrepareResult, SealResult, SealSkip } from './seal.js';
export { arcAuthResult } from './authres.js';
export type { ArcAuthResultOptions } from './authres.js';
