// Authentication-Results (RFC 8601): the entry point. Import from here; the other files are its parts.
export { AuthResError, authResultsField, buildAuthResults, encodeComment, encodePvalue, encodeValue, quoteString } from './build.js';
export type { AuthResult, AuthResultProperty, BuildOptions } from './build.js';
export { isAuthResultsName, isOurs, parseAuthResults } from './parse.js';
export type { AuthResParse, ParsedAuthResults, ParsedProperty, ParsedResult } from './parse.js';
export { dkimAuthResults } from './dkim.js';
