// Unit tests for policy/acl-eval.ts: Exim verb semantics, modifiers, conditions, nested ACLs and validation.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseAcl } from '../../../policy/acl-parse.js';
import type { Acl } from '../../../policy/acl-parse.js';
import { runAcl } from '../../../policy/acl-eval.js';
import { validateAcl } from '../../../policy/acl-validate.js';
import type { AclInput, AclPorts } from '../../../policy/acl-eval.js';
import type { ListSpec, NamedLists } from '../../../policy/lists.js';

type VerifyAnswer = Awaited<ReturnType<AclPorts['verifyRecipient']>>;

interface Harness {
  sleeps: number[];
  verified: string[];
  ports: AclPorts;
}

function harness(answer: (addr: { local: string; domain: string }) => VerifyAnswer = () => ({ ok: true })): Harness {
  const h: Harness = {
    sleeps: [],
    verified: [],
    ports: {
      verifyRecipient: async (addr) => {
        h.verified.push(`${addr.local}@${addr.domain}`);
        return answer(addr);
      },
      sleep: async (ms) => {
        h.sleeps.push(ms);
      },
    },
  };
  return h;
}

const named: NamedLists = {
  domains: new Map<string, ListSpec>([['local_domains', 'example.com : example.org'], ['relay_to_domains', ['partner.test']]]),
  hosts: new Map<string, ListSpec>([['relay_from_hosts', ['127.0.0.1', '::1', '192.168.0.0/16']]]),
  addresses: new Map<string, ListSpec>([['blocked', 'spammer@bad.test : *@worse.test']]),
  localParts: new Map<string, ListSpec>([['role', 'postmaster : abuse']]),
};

function input(over: Partial<AclInput> = {}, h: Harness = harness()): AclInput {
  return {
    stage: 'rcpt',
    clientIp: '203.0.113.5',
    sender: { local: 'alice', domain: 'sender.test' },
    recipient: { local: 'bob', domain: 'example.com' },
    recipients: [],
    vars: {},
    named,
    primaryHostname: 'mx.example.net',
    acls: new Map(),
    ports: h.ports,
    ...over,
  };
}

async function run(text: string, over: Partial<AclInput> = {}, h?: Harness) {
  return runAcl(parseAcl(text), input(over, h));
}

const RCPT_ACL = `
  accept  hosts = +relay_from_hosts
  deny    message = relay not permitted
          !domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept
`;

test('typical rcpt ACL: relay host accepted, foreign domain denied, local domain verified', async () => {
  const relay = await run(RCPT_ACL, { clientIp: '192.168.1.9', recipient: { local: 'x', domain: 'far.test' } });
  assert.equal(relay.verdict, 'accept');
  assert.equal(relay.line, 2);

  const foreign = await run(RCPT_ACL, { recipient: { local: 'x', domain: 'far.test' } });
  assert.equal(foreign.verdict, 'deny');
  assert.equal(foreign.message, 'relay not permitted');
  assert.equal(foreign.line, 3);

  const h = harness();
  const local = await run(RCPT_ACL, {}, h);
  assert.equal(local.verdict, 'accept');
  assert.deepEqual(h.verified, ['bob@example.com']);
});

test('each verb when its conditions are true', async () => {
  for (const verb of ['accept', 'deny', 'defer', 'discard', 'drop'] as const) {
    const r = await run(`${verb} hosts = 203.0.113.0/24\naccept`);
    assert.equal(r.verdict, verb, verb);
    assert.equal(r.line, 1);
  }
  assert.equal((await run('require hosts = *\ndeny message = second')).message, 'second');
  assert.equal((await run('warn hosts = *\ndeny message = after warn')).message, 'after warn');
});

test('each verb when a condition is false', async () => {
  for (const verb of ['accept', 'deny', 'defer', 'discard', 'drop', 'warn'] as const) {
    const r = await run(`${verb} hosts = 10.0.0.0/8\naccept message = fell through`);
    assert.equal(r.verdict, 'accept', verb);
    assert.equal(r.message, 'fell through', verb);
  }
  const req = await run('require message = not from here\n  hosts = 10.0.0.0/8\naccept');
  assert.equal(req.verdict, 'deny');
  assert.equal(req.message, 'not from here');
});

test('implicit deny at the end, without a message', async () => {
  const r = await run('accept hosts = 10.0.0.1');
  assert.equal(r.verdict, 'deny');
  assert.equal(r.message, undefined);
  assert.equal(r.line, undefined);
  assert.equal((await runAcl({ statements: [] }, input())).verdict, 'deny');
});

test('negation of conditions', async () => {
  assert.equal((await run('deny !hosts = 203.0.113.5\naccept')).verdict, 'accept');
  assert.equal((await run('deny !hosts = 10.0.0.1\naccept')).verdict, 'deny');
  assert.equal((await run('accept !senders = +blocked', { sender: { local: 'x', domain: 'worse.test' } })).verdict, 'deny');
  assert.equal((await run('accept !senders = +blocked')).verdict, 'accept');
});

test('require: the message in force when a condition fails is used (Exim ordering)', async () => {
  const text = `require message = cannot verify sender
        verify = sender
        message = not ours
        domains = +local_domains
        message = never used
accept`;
  assert.equal((await run(text, { recipient: { local: 'a', domain: 'far.test' } })).message, 'not ours');
  const bad = await run(text, { sender: { local: 'a b', domain: 'x..test' } });
  assert.equal(bad.message, 'cannot verify sender');
  assert.equal((await run(text)).verdict, 'accept');
});

test('verify = recipient: the verifier message is the default reply; message overrides it', async () => {
  const h = harness(() => ({ ok: false, message: 'Unrouteable address', temporary: false }));
  const r = await run('require verify = recipient\naccept', {}, h);
  assert.deepEqual([r.verdict, r.message], ['deny', 'Unrouteable address']);
  const withMsg = await run('require message = no such user ($acl_verify_message)\n verify = recipient\naccept', {}, h);
  assert.equal(withMsg.message, 'no such user (Unrouteable address)');
  const negated = await run('deny !verify = recipient\naccept', {}, h);
  assert.deepEqual([negated.verdict, negated.message], ['deny', 'Unrouteable address']);
  const accepted = await run('accept verify = recipient\ndeny message = plain', {}, h);
  assert.equal(accepted.message, 'plain');
});

test('verify temporary failure makes the ACL defer', async () => {
  const h = harness(() => ({ ok: false, message: 'try later', temporary: true }));
  const r = await run('require verify = recipient\naccept', {}, h);
  assert.equal(r.verdict, 'defer');
  assert.equal(r.message, 'try later');
  assert.match(r.logMessage ?? '', /line 1: verify: recipient verification deferred: try later/);
  assert.equal((await run('deny !verify = recipient\naccept', {}, h)).verdict, 'defer');
});

test('a deferring warn statement is skipped and logged (Exim)', async () => {
  const h = harness(() => ({ ok: false, message: 'try later', temporary: true }));
  const r = await run('warn verify = recipient\n  log_message = never\naccept', {}, h);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.logwrites.length, 1);
  assert.match(r.logwrites[0] ?? '', /warn statement at line 1 skipped/);
});

test('warn can log a failed verification through $acl_verify_message', async () => {
  const h = harness(() => ({ ok: false, message: 'No such mailbox', temporary: false }));
  const r = await run('warn !verify = recipient\n  log_message = recipient failed: $acl_verify_message\naccept', {}, h);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.message, undefined);
  assert.deepEqual(r.logwrites, ['recipient failed: No such mailbox']);
});

test('endpass: a failure after it denies instead of moving on', async () => {
  const h = harness(() => ({ ok: false, message: 'Unknown user', temporary: false }));
  const text = `accept domains = +local_domains
       endpass
       message = local user unknown
       verify = recipient
accept`;
  const r = await run(text, {}, h);
  assert.deepEqual([r.verdict, r.message], ['deny', 'local user unknown']);
  const before = await run(text, { recipient: { local: 'x', domain: 'far.test' } }, h);
  assert.equal(before.verdict, 'accept');
  assert.equal(before.line, 5);
  const okh = harness();
  const passed = await run(text, {}, okh);
  assert.deepEqual([passed.verdict, passed.message], ['accept', undefined]);
});

test('set: visible to later items and statements, applied even when a later condition fails', async () => {
  const r = await run(`warn set acl_m_seen = yes
     hosts = 10.0.0.1
     set acl_m_never = 1
warn set acl_c_count = $acl_m_seen-2
deny condition = $acl_m_seen
     message = seen=$acl_m_seen count=$acl_c_count unset=[$acl_m_unset]`);
  assert.equal(r.verdict, 'deny');
  assert.equal(r.message, 'seen=yes count=yes-2 unset=[]');
  assert.deepEqual(r.set, { acl_m_seen: 'yes', acl_c_count: 'yes-2' });
});

test('set overrides input vars; input vars and standard vars are visible', async () => {
  const r = await run(`warn set acl_c_x = new
deny message = $acl_c_x $acl_c_keep $sender_address $local_part@$domain $sender_host_address`, {
    vars: { acl_c_x: 'old', acl_c_keep: 'kept' },
  });
  assert.equal(r.message, 'new kept alice@sender.test bob@example.com 203.0.113.5');
});

test('warn: log_message and add_header when true; nothing after a false condition', async () => {
  const r = await run(`warn add_header = X-Stage: rcpt
     log_message = saw $local_part
warn hosts = 10.0.0.1
     add_header = X-Never: 1
     log_message = never
warn add_header = X-Two: a\\nX-Three: b
     logwrite = immediate
     hosts = 10.0.0.1
accept`);
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.addHeaders, ['X-Stage: rcpt', 'X-Two: a\nX-Three: b']);
  assert.deepEqual(r.logwrites, ['saw bob', 'immediate']);
});

test('log_message on deny; message and controls on accept', async () => {
  const d = await run('deny message = go away\n log_message = blocked $sender_address');
  assert.deepEqual([d.message, d.logMessage], ['go away', 'blocked alice@sender.test']);
  const a = await run('accept control = queue_only\n control = dmarc_enable_forensic\n message = 250 OK then');
  assert.deepEqual(a.controls, ['queue_only', 'dmarc_enable_forensic']);
  assert.equal(a.message, '250 OK then');
});

test('delay calls ports.sleep with the right time', async () => {
  const h = harness();
  const r = await run('warn delay = 2s\ndeny delay = 500ms\n  hosts = 10.0.0.1\ndeny delay = 1m', {}, h);
  assert.deepEqual(h.sleeps, [2000, 500, 60_000]);
  assert.equal(r.delayedMs, 62_500);
  assert.equal(r.verdict, 'deny');
  const bad = await run('deny delay = $acl_c_d', { vars: { acl_c_d: 'soon' } }, h);
  assert.equal(bad.verdict, 'defer');
});

test('an expansion error defers with the reason in logMessage', async () => {
  const r = await run('deny hosts = $nosuch\naccept');
  assert.equal(r.verdict, 'defer');
  assert.equal(r.message, undefined);
  assert.match(r.logMessage ?? '', /line 1: hosts: cannot expand: unknown variable "\$nosuch"/);
  // A message that cannot be expanded is ignored, not fatal (Exim).
  const m = await run('deny message = $nosuch');
  assert.equal(m.verdict, 'deny');
  assert.equal(m.message, undefined);
  assert.match(m.logwrites[0] ?? '', /message not used/);
});

test('condition truthiness', async () => {
  for (const [v, expected] of [['', false], ['0', false], ['No', false], ['FALSE', false], ['yes', true], ['1', true], ['x', true]] as const) {
    const r = await run('deny condition = $acl_m_v\naccept', { vars: { acl_m_v: v } });
    assert.equal(r.verdict, expected ? 'deny' : 'accept', v);
  }
});

test('domains, local_parts, senders, sender_domains, recipients, authenticated', async () => {
  assert.equal((await run('accept local_parts = +role', { recipient: { local: 'Abuse', domain: 'example.com' } })).verdict, 'accept');
  assert.equal((await run('accept domains = *', { stage: 'mail', recipient: undefined })).verdict, 'deny');
  assert.equal((await run('accept senders = <>', { sender: null })).verdict, 'accept');
  assert.equal((await run('accept senders = *', { sender: null })).verdict, 'deny');
  assert.equal((await run('accept sender_domains = *', { sender: null })).verdict, 'deny');
  assert.equal((await run('accept sender_domains = sender.test')).verdict, 'accept');
  assert.equal((await run('accept recipients = bob@example.com')).verdict, 'accept');
  const pre = { stage: 'predata' as const, recipient: undefined, recipients: [{ local: 'a', domain: 'x.test' }, { local: 'b', domain: 'y.test' }] };
  assert.equal((await run('accept recipients = *@y.test', pre)).verdict, 'accept');
  assert.equal((await run('accept recipients = *@z.test', pre)).verdict, 'deny');
  assert.equal((await run('accept authenticated = *')).verdict, 'deny');
  assert.equal((await run('accept authenticated = *', { authenticatedId: 'carol' })).verdict, 'accept');
  assert.equal((await run('accept authenticated = dave', { authenticatedId: 'carol' })).verdict, 'deny');
});

test('hosts with IPv6 and a mapped client', async () => {
  assert.equal((await run('accept hosts = <; ::1 ; 2001:db8::/32', { clientIp: '2001:db8::25' })).verdict, 'accept');
  assert.equal((await run('accept hosts = 192.168.0.0/16', { clientIp: '::ffff:192.168.3.3' })).verdict, 'accept');
});

test('a bad list item at run time defers', async () => {
  const r = await run('accept hosts = localhost');
  assert.equal(r.verdict, 'defer');
  assert.match(r.logMessage ?? '', /host names in host lists are not supported yet/);
});

test('verify = sender and header_syntax', async () => {
  assert.equal((await run('require verify = sender\naccept', { sender: null })).verdict, 'accept');
  assert.equal((await run('require verify = sender\naccept', { sender: undefined, stage: 'helo' })).verdict, 'defer');
  const headers = [{ name: 'From', value: 'Alice <alice@sender.test>' }, { name: 'To', value: 'undisclosed-recipients:;' }];
  const data = { stage: 'data' as const, recipient: undefined, headers };
  assert.equal((await run('require verify = header_syntax\naccept', data)).verdict, 'accept');
  const bad = await run('require verify = header_syntax\naccept', { ...data, headers: [{ name: 'To', value: 'just some words' }] });
  assert.equal(bad.verdict, 'deny');
  assert.match(bad.message ?? '', /"To:" header/);
  assert.equal((await run('require verify = header_syntax\naccept')).verdict, 'defer');
});

test('data stage: headers in expansions', async () => {
  const r = await run('deny condition = $h_X-Spam-Flag:\n  message = spam: $h_subject:', {
    stage: 'data', headers: [{ name: 'Subject', value: ' Buy now' }, { name: 'X-Spam-Flag', value: 'YES' }],
  });
  assert.deepEqual([r.verdict, r.message], ['deny', 'spam: Buy now']);
});

test('acl condition: accept is true, deny is false, drop propagates; sets are shared', async () => {
  const acls = new Map<string, Acl>([
    ['is_relay', parseAcl('accept hosts = +relay_from_hosts\n  set acl_m_relay = yes')],
    ['refuse', parseAcl('deny message = nested says no')],
    ['kill', parseAcl('drop message = bye')],
    ['self', parseAcl('accept acl = self')],
  ]);
  const yes = await run('accept acl = is_relay\n  message = relay $acl_m_relay', { clientIp: '127.0.0.1', acls });
  assert.deepEqual([yes.verdict, yes.message, yes.set.acl_m_relay], ['accept', 'relay yes', 'yes']);
  assert.equal((await run('accept acl = is_relay', { acls })).verdict, 'deny');
  assert.equal((await run('accept !acl = is_relay', { acls })).verdict, 'accept');
  const req = await run('require acl = refuse\naccept', { acls });
  assert.deepEqual([req.verdict, req.message], ['deny', 'nested says no']);
  const drop = await run('accept acl = kill\naccept', { acls });
  assert.deepEqual([drop.verdict, drop.message], ['drop', 'bye']);
  const loop = await run('accept acl = self', { acls });
  assert.equal(loop.verdict, 'defer');
  assert.match(loop.logMessage ?? '', /nested more than 20/);
  assert.equal((await run('accept acl = missing', { acls })).verdict, 'defer');
});

test('validateAcl reports unknown named lists, bad host items and unknown ACLs with lines', () => {
  const acl = parseAcl(`accept hosts = +relay_from_hosts
deny   hosts = localhost
       domains = +nosuch
require acl = other
accept acl = ghost
accept senders = $acl_m_dynamic
accept local_parts = +role : ^ok$`);
  const problems = validateAcl(acl, named, new Set(['other']));
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0] ?? '', /^line 2: hosts: .*host names in host lists are not supported yet/);
  assert.match(problems[1] ?? '', /^line 3: domains: unknown named domain list "\+nosuch"/);
  assert.match(problems[2] ?? '', /^line 5: acl: unknown ACL "ghost"/);
  assert.deepEqual(validateAcl(parseAcl(RCPT_ACL), named, new Map()), []);
});
