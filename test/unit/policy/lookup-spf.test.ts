// Unit tests of Exim's `${lookup{address}spf{ip}}` expansion in ACLs (policy/acl-eval.ts, policy/expand.ts), with
// the real SPF evaluation (protocol/spf) over a fixture resolver.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseAcl } from '../../../policy/acl-parse.js';
import { runAcl } from '../../../policy/acl-eval.js';
import type { AclInput, AclPorts } from '../../../policy/acl-eval.js';
import { expand, lookupCalls } from '../../../policy/expand.js';
import { checkHost } from '../../../protocol/spf/index.js';
import { createFixtureResolver } from '../../../net/dns/fixture.js';

const dns = createFixtureResolver({
  'good.test': { TXT: [['v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all']] },
  'soft.test': { TXT: [['v=spf1 ~all']] },
});

function ports(calls: string[]): AclPorts {
  return {
    verifyRecipient: () => ({ ok: true }),
    sleep: async () => undefined,
    spf: (identity, q) => {
      calls.push(`${identity} ${q.sender} ${q.ip}`);
      const at = q.sender.lastIndexOf('@');
      return checkHost({ ip: q.ip, domain: q.sender.slice(at + 1), sender: q.sender, helo: q.helo, identity }, { dns, now: () => 0, receiver: 'mx.test' });
    },
  };
}

function input(p: AclPorts, over: Partial<AclInput> = {}): AclInput {
  return {
    stage: 'mail',
    clientIp: '203.0.113.5',
    sender: { local: 'alice', domain: 'good.test' },
    recipients: [],
    vars: {},
    named: { domains: new Map(), hosts: new Map(), addresses: new Map(), localParts: new Map() },
    primaryHostname: 'mx.test',
    acls: new Map(),
    ports: p,
    ...over,
  };
}

test('lookupCalls finds each ${lookup{key}type{arg}} with its unexpanded key and argument', () => {
  assert.deepEqual(lookupCalls('a ${lookup{$sender_address}spf{$sender_host_address}} b ${lookup {x@y.test} SPF {::1}}'), [
    { type: 'spf', key: '$sender_address', arg: '$sender_host_address' },
    { type: 'spf', key: 'x@y.test', arg: '::1' },
  ]);
  assert.deepEqual(lookupCalls('no lookups ${authresults{x}}'), []);
});

test('expand hands key and argument to the item lookup; unknown types and bad syntax are errors', () => {
  const seen: string[] = [];
  const items = (name: string, arg: string, extra?: string) => {
    seen.push(`${name}|${arg}|${extra ?? ''}`);
    return name === 'lookup:spf' ? { kind: 'ok' as const, value: 'softfail' } : undefined;
  };
  const vars = (n: string) => ({ s: 'a@b.test', ip: '192.0.2.9' } as Record<string, string>)[n];
  assert.deepEqual(expand('[${lookup{$s}spf{$ip}}]', vars, undefined, items), { kind: 'ok', value: '[softfail]' });
  assert.deepEqual(seen, ['lookup:spf|a@b.test|192.0.2.9']);
  const unknown = expand('${lookup{k}lsearch{/etc/x}}', vars, undefined, items);
  assert.equal(unknown.kind, 'error');
  assert.match(unknown.kind === 'error' ? unknown.reason : '', /unsupported lookup type "lsearch"/);
  assert.equal(expand('${lookup{k}spf}', vars, undefined, items).kind, 'error');
});

test('an ACL uses the lookup for IPv4 and IPv6 addresses; each (address, IP) is checked once per run', async () => {
  const calls: string[] = [];
  const acl = parseAcl([
    'warn    set acl_m_v4 = ${lookup{$sender_address}spf{192.0.2.7}}',
    'warn    set acl_m_v6 = ${lookup{$sender_address}spf{2001:db8::25}}',
    'warn    set acl_m_out = ${lookup{$sender_address}spf{$sender_host_address}}',
    'warn    set acl_m_again = ${lookup {$sender_address} spf {192.0.2.7}}',
    'warn    set acl_m_bare = ${lookup{soft.test}spf{192.0.2.7}}',
    'accept',
  ].join('\n'));
  const r = await runAcl(acl, input(ports(calls)));
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.set, { acl_m_v4: 'pass', acl_m_v6: 'pass', acl_m_out: 'fail', acl_m_again: 'pass', acl_m_bare: 'softfail' });
  assert.deepEqual(calls, [
    'mailfrom alice@good.test 192.0.2.7',
    'mailfrom alice@good.test 2001:db8::25',
    'mailfrom alice@good.test 203.0.113.5',
    // A bare domain is checked as postmaster@domain.
    'mailfrom postmaster@soft.test 192.0.2.7',
  ]);
});

test('a lookup that cannot run defers the statement with the reason: not an IP, no SPF port', async () => {
  const acl = parseAcl('deny    condition = ${lookup{$sender_address}spf{not-an-ip}}\n        message = x\naccept');
  const r = await runAcl(acl, input(ports([])));
  assert.equal(r.verdict, 'defer');
  assert.match(r.logMessage ?? '', /"not-an-ip" is not an IP address/);
  const noPort: AclPorts = { verifyRecipient: () => ({ ok: true }), sleep: async () => undefined };
  const r2 = await runAcl(parseAcl('deny    condition = ${lookup{a@b.test}spf{192.0.2.1}}\naccept'), input(noPort));
  assert.equal(r2.verdict, 'defer');
  assert.match(r2.logMessage ?? '', /SPF checking is not available/);
});
