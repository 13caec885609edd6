// DMARC (RFC 7489) for Petrel: the entry point other layers import; the other files of this folder are its parts.
export type {
  AlignmentMode, DkimOutcome, DkimResultKind, DmarcAuthResult, DmarcDnsResult, DmarcDnsType, DmarcInput, DmarcPolicy,
  DmarcPorts, DmarcRecord, DmarcRecordTypes, DmarcResolver, DmarcResult, DmarcStatus, DmarcUri, FailureOption,
  FromDomain, SpfOutcome, SpfResultKind, SuffixList,
} from './types.js';
export { DMARC_POLICIES } from './types.js';
export { normalizeDomain, orgDomain, parsePublicSuffixList, PublicSuffixList, sameOrganization } from './psl.js';
export type { PslSections } from './psl.js';
export { formatDmarcRecord, isDmarcRecord, parseDmarcRecord, parseDmarcUri, reportingUris } from './record.js';
export type { RecordParse } from './record.js';
export { fromDomain, parseFromValue } from './from.js';
export type { FromHeaderField } from './from.js';
export { discoverPolicy, externalReportAuthorized } from './evaluate.js';
export type { Discovery, ExternalCheck } from './evaluate.js';
export { aligned, alignment, dmarcAuthResults, evaluateDmarc, failureReportWanted } from './evaluate.js';
export { dmarcVerdict, formatHistory, historyRecord, parseHistory } from './history.js';
export type { ArcSummary, DmarcVerdict, OverrideReason, OverrideType, VerdictFacts } from './history.js';
export {
  aggregateReportMail, aggregateReportName, aggregateReportSubject, aggregateReportXml, DmarcReportError, fitsSizeLimit,
  groupByPolicyDomain, xmlText,
} from './aggregate.js';
export type { AggregateMail, AggregateMailInput, Reporter, ReportPeriod } from './aggregate.js';
export { failureReport } from './failure.js';
export type { FailureReport, FailureReportInput } from './failure.js';
