// The DNS layer's entry point: the Resolver interface other layers depend on, and the two ways to get one
// (the network client, and a fixture served from memory).
export type { DnsResult, DnsType, MxRecord, RecordOf, RecordTypes, Resolver, TlsaRecord, TxtRecord } from './types.js';
export { DNS_TYPES, DnsConfigError } from './types.js';
export { createResolver, DEFAULT_CACHE_SIZE, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, MAX_CNAME_CHAIN } from './client.js';
export type { NetworkResolver, ResolverOptions } from './client.js';
export {
  createFixtureResolver,
  FIXTURE_NEGATIVE_TTL,
  FIXTURE_TTL,
  FixtureIndex,
  loadDnsFixture,
  loadDnsFixtureSync,
  parseDnsFixture,
} from './fixture.js';
export type { DnsFixture, FixtureAnswer, FixtureMx, FixtureNode, FixtureResolverOptions, FixtureTlsa } from './fixture.js';
export { lookupAddresses, lookupTxtRaw } from './lookups.js';
export type { AddressResult } from './lookups.js';
export { parseResolvConf, parseServer, parseServers, readResolvConf } from './servers.js';
export type { ServerAddress } from './servers.js';
export { normalizeName } from './names.js';
