// DKIM (RFC 6376, RFC 8463 ed25519-sha256, RFC 8301 algorithm and key-size updates): the entry point.
// Import from here; the other files are its parts.
export type {
  BodyHashResult,
  BodyHashSpec,
  Canon,
  DkimAlgorithm,
  DkimCode,
  DkimDnsResult,
  DkimHash,
  DkimPorts,
  KeyRecordCache,
  DkimResolver,
  DkimResult,
  DkimStatus,
  DkimVerification,
  EximDkimStatus,
  KeyType,
  RawField,
  SigningAlgorithm,
} from './types.js';
export { eximStatus } from './types.js';
export { BodyHashSet, bodyHashKey, createBodyHasher, hashBody } from './body.js';
export type { BodyHasher } from './body.js';
// Building blocks shared with ARC (RFC 8617 reuses DKIM's canonicalization, h= selection and b= removal).
export { canonField, FieldIndex, headerHashInput, relaxedField, splitHeaderFields, splitMessage, stripSignatureValue, toField } from './fields.js';
export type { Field } from './fields.js';
export { parseSignature, MAX_SIGNED_HEADERS } from './signature.js';
export type { DkimSignature, SignatureParse } from './signature.js';
export { joinTxt, keyRefusal, MAX_RSA_BITS, MIN_RSA_BITS, parseKeyRecord } from './key.js';
export type { DkimKey, KeyParse } from './key.js';
export { asciiLower, colonList, decodeBase64, normalizeDomain, normalizeSelector, parseTagList } from './tags.js';
export type { TagList, TagListResult } from './tags.js';
export { bodyHashSpecs, fetchKey, verifyMessage, verifySignatureValue, verifyWholeMessage } from './verify.js';
export type { KeyFetch, VerifyOptions } from './verify.js';
export {
  DEFAULT_OVERSIGNED,
  DEFAULT_SIGNED_HEADERS,
  finishSignature,
  loadPrivateKey,
  prepareSignature,
  signInput,
  signMessage,
} from './sign.js';
export type { PreparedSignature, PrepareResult, SignError, SignOptions, SignResult } from './sign.js';
