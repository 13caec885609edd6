// Test helper: the loopback DNS server that serves fixture zones (it lives in bench/, which uses it too).
export { startDnsServer } from '../../bench/dns-fixture-server.js';
export type { DnsFixture, DnsQueryLog, DnsServerOptions, TestDnsServer } from '../../bench/dns-fixture-server.js';
