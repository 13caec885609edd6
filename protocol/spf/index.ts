// SPF (RFC 7208): the entry point. Import from here; the other files are its parts.
export { checkHost, checkIdentities, splitSender, MAX_EXPLANATION_TEXT } from './check.js';
export type { SpfIdentityResults, SpfSession } from './check.js';
export { headerComment, receivedSpf, smtpComment } from './header.js';
export type { ReceivedSpfOptions } from './header.js';
export { isSpfRecord, parseRecord, selectRecord } from './record.js';
export type { Directive, Mechanism, Qualifier, RecordParse, RecordSelection, SpfRecord } from './record.js';
export { expandMacroString, parseDomainSpec, parseMacroString, transform, urlEscape } from './macro.js';
export type { MacroContext, MacroLetter, MacroParse, MacroPart, MacroString, MacroUse } from './macro.js';
export { parseClientIp, parseIp4, parseIp6 } from './address.js';
export type { IpAddress } from './address.js';
export { DEFAULT_EXPLANATION, DEFAULT_SPF_LIMITS, SPF_RESULT_KINDS } from './types.js';
export type {
  SpfChecked,
  SpfDnsResult,
  SpfDnsType,
  SpfIdentity,
  SpfInput,
  SpfLimits,
  SpfPorts,
  SpfRecordTypes,
  SpfResolver,
  SpfResult,
  SpfResultKind,
} from './types.js';
