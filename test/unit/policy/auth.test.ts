// Unit tests for the authentication side of the ACLs: policy/auth-facts.ts (the $spf_*, $dkim_*, $arc_*, $dmarc_*
// variables), policy/auth-conditions.ts (spf, spf_helo, dkim_signers, dkim_status, dmarc_status, verify = arc),
// policy/authresults.ts (${authresults{id}}) and the DKIM ACL of policy/acl-eval.ts (runDataStage).
import test from 'node:test';
import assert from 'node:assert/strict';
import { AclSyntaxError, CONTROLS, parseAcl } from '../../../policy/acl-parse.js';
import { runAcl, tryAcl } from '../../../policy/acl-eval.js';
import { dkimSignerList, runDataStage } from '../../../policy/acl-data.js';
import { validateAcl } from '../../../policy/acl-validate.js';
import type { AclInput, AclPorts, AclResult } from '../../../policy/acl-eval.js';
import type { SpfQuery } from '../../../policy/acl-types.js';
import { matchWords } from '../../../policy/auth-conditions.js';
import { authVars, dkimSigners, overallDkimStatus } from '../../../policy/auth-facts.js';
import type { ArcFacts, AuthFacts, DkimSigner, DmarcFacts } from '../../../policy/auth-facts.js';
import type { NamedLists } from '../../../policy/lists.js';
import { eximStatus } from '../../../protocol/dkim/index.js';
import type { DkimCode, DkimResult, DkimStatus } from '../../../protocol/dkim/index.js';
import type { DmarcStatus } from '../../../protocol/dmarc/index.js';
import type { SpfIdentity, SpfResult, SpfResultKind } from '../../../protocol/spf/index.js';

// ---------------------------------------------------------------- builders

const CLIENT_IP = '203.0.113.5';
const HELO = 'client.sender.test';

/** An SPF result as protocol/spf's checkHost returns it for alice@sender.test (or the HELO name) from CLIENT_IP. */
function spf(kind: SpfResultKind, identity: SpfIdentity = 'mailfrom'): SpfResult {
  const helo = identity === 'helo';
  const base = {
    kind,
    domain: helo ? HELO : 'sender.test',
    checked: { ip: CLIENT_IP, sender: helo ? `postmaster@${HELO}` : 'alice@sender.test', helo: HELO, receiver: 'mx.example', identity },
  };
  switch (kind) {
    case 'pass':
      return { ...base, mechanism: 'ip4:203.0.113.0/24' };
    case 'fail':
      return { ...base, mechanism: '-all', explanation: `sender.test does not designate ${CLIENT_IP} as permitted sender of alice@sender.test` };
    case 'softfail':
      return { ...base, mechanism: '~all' };
    case 'neutral':
      return { ...base, mechanism: '?all' };
    case 'none':
      return { ...base, reason: 'no SPF record' };
    case 'permerror':
      return { ...base, reason: 'more than 10 DNS lookups' };
    case 'temperror':
      return { ...base, reason: 'DNS timeout for sender.test' };
  }
}

interface SigOptions {
  status?: DkimStatus;
  code?: DkimCode;
  reason?: string;
  identity?: string;
  selector?: string;
  fieldIndex?: number;
  b?: string;
}

/** A DKIM signature result shaped as protocol/dkim's verifyMessage makes it. */
function sig(domain: string, o: SigOptions = {}): DkimResult {
  const status = o.status ?? 'pass';
  const code = o.code ?? (status === 'pass' ? 'ok' : 'bodyhash_mismatch');
  return {
    status,
    code,
    reason: o.reason ?? (status === 'pass' ? 'signature verified' : 'body hash does not match bh='),
    fieldIndex: o.fieldIndex ?? 1,
    domain,
    selector: o.selector ?? 's2024',
    algorithm: 'rsa-sha256',
    keyType: 'rsa',
    hash: 'sha256',
    keyLength: 2048,
    canonHeaders: 'relaxed',
    canonBody: 'relaxed',
    identity: o.identity ?? `@${domain}`,
    headersSigned: ['from', 'to', 'subject', 'date', 'message-id'],
    timestamp: 1_700_000_000,
    b: o.b ?? `${domain.replace(/\W/g, '')}QmFzZTY0U2lnbmF0dXJlVmFsdWU=`,
    exim: eximStatus(status, code),
  };
}

const NEWS = sig('news.example', { selector: 'sel1', fieldIndex: 1, b: 'AbCdEfGh1234news' });
const BULK = sig('bulk.example', { status: 'fail', code: 'bodyhash_mismatch', selector: 'sel2', fieldIndex: 2, b: 'ZyXwVuTs9876bulk' });

function dmarc(status: DmarcStatus, over: Partial<DmarcFacts> = {}): DmarcFacts {
  const authResult = status === 'accept' ? 'pass' : status === 'reject' || status === 'quarantine' ? 'fail' : status === 'temperror' ? 'temperror' : 'none';
  return {
    status,
    statusText: status === 'accept' ? 'Accept' : status === 'reject' ? 'Reject' : status,
    authResult,
    fromDomain: 'news.example',
    usedDomain: 'news.example',
    domainPolicy: status === 'reject' ? 'reject' : status === 'quarantine' ? 'quarantine' : status === 'norecord' || status === 'nofrom' ? '' : 'none',
    disposition: status === 'reject' ? 'reject' : status === 'quarantine' ? 'quarantine' : 'none',
    spfAligned: false,
    dkimAligned: status === 'accept',
    ...over,
  };
}

function arc(state: ArcFacts['state']): ArcFacts {
  if (state === 'none') return { state, code: 'no_chain', reason: 'no ARC header fields', instances: 0, domains: [], sets: [] };
  if (state === 'fail') {
    return {
      state, code: 'chain_failed', reason: 'ARC-Seal i=2 says cv=fail', instances: 2, domains: ['lists.example', 'fwd.example'],
      failedInstance: 2, sets: [{ instance: 1, sealDomain: 'lists.example', cv: 'none' }, { instance: 2, sealDomain: 'fwd.example', cv: 'fail' }],
    };
  }
  return {
    state, code: 'ok', reason: 'chain verified', instances: 2, domains: ['lists.example', 'fwd.example'], oldestPass: 2,
    sets: [{ instance: 1, sealDomain: 'lists.example', cv: 'none' }, { instance: 2, sealDomain: 'fwd.example', cv: 'pass' }],
  };
}

type SpfAnswer = SpfResult | Promise<SpfResult> | Error;

interface SpfHarness {
  calls: { identity: SpfIdentity; query: SpfQuery }[];
  ports: AclPorts;
}

/** Ports whose SPF check answers with `answer` (a plain function: the evaluator may call it synchronously). */
function spfHarness(answer: (identity: SpfIdentity) => SpfAnswer = (identity) => spf('pass', identity)): SpfHarness {
  const h: SpfHarness = {
    calls: [],
    ports: {
      verifyRecipient: () => ({ ok: true }),
      sleep: async () => undefined,
      spf: (identity, query) => {
        h.calls.push({ identity, query });
        const a = answer(identity);
        if (a instanceof Error) throw a;
        return a;
      },
    },
  };
  return h;
}

const named: NamedLists = { domains: new Map(), hosts: new Map(), addresses: new Map(), localParts: new Map() };

function input(over: Partial<AclInput> = {}, h: SpfHarness = spfHarness()): AclInput {
  return {
    stage: 'mail',
    clientIp: CLIENT_IP,
    helo: HELO,
    sender: { local: 'alice', domain: 'sender.test' },
    recipients: [],
    vars: {},
    named,
    primaryHostname: 'mx.example',
    acls: new Map(),
    ports: h.ports,
    ...over,
  };
}

/** The data stage's input: the message arrived, its facts verified. */
function dataInput(auth: AuthFacts | undefined, over: Partial<AclInput> = {}, h?: SpfHarness): AclInput {
  return input({
    stage: 'data',
    recipients: [{ local: 'bob', domain: 'mx.example' }],
    headers: [{ name: 'From', value: 'News <news@news.example>' }, { name: 'Subject', value: 'Weekly' }],
    ...(auth ? { auth } : {}),
    ...over,
  }, h);
}

function run(text: string, over: Partial<AclInput> = {}, h?: SpfHarness): Promise<AclResult> {
  return runAcl(parseAcl(text), input(over, h));
}

function runData(text: string, auth: AuthFacts | undefined, over: Partial<AclInput> = {}): Promise<AclResult> {
  return runAcl(parseAcl(text), dataInput(auth, over));
}

/** The problems validateAcl finds in an ACL text. */
function problems(text: string): string[] {
  return validateAcl(parseAcl(text), named, new Set<string>());
}

// ---------------------------------------------------------------- matchWords

test('matchWords: colon lists, white space around items and letter case do not matter', () => {
  assert.equal(matchWords('pass', 'pass'), true);
  assert.equal(matchWords('pass', 'fail:pass'), true);
  assert.equal(matchWords('pass', ' fail : pass '), true);
  assert.equal(matchWords('PASS', 'softfail : pass'), true);
  assert.equal(matchWords('pass', 'Fail : PaSs'), true);
  assert.equal(matchWords('neutral', 'fail : softfail : pass'), false);
  // Whole words only: no prefix, suffix or substring matches.
  assert.equal(matchWords('fail', 'softfail'), false);
  assert.equal(matchWords('softfail', 'fail'), false);
  assert.equal(matchWords('pass', 'passed'), false);
  // A custom separator (Exim's `<;`) splits the same way.
  assert.equal(matchWords('none', '<; pass ; none'), true);
  assert.equal(matchWords('pass:none', '<; pass:none'), true);
});

test('matchWords: an empty list matches nothing', () => {
  assert.equal(matchWords('pass', ''), false);
  assert.equal(matchWords('', ''), false);
  assert.equal(matchWords('none', '   '), false);
  assert.equal(matchWords('none', ' : : '), false);
});

test('matchWords: a `!` item inside the list is Exim list negation; the leading `!` of a condition is not in the list', () => {
  assert.equal(matchWords('fail', '!fail'), false);
  // A list ending with a negated item matches what it does not name.
  assert.equal(matchWords('pass', '!fail'), true);
  assert.equal(matchWords('pass', '!fail : pass'), true);
  assert.equal(matchWords('none', '!fail : pass'), false);
  assert.equal(matchWords('fail', '! fail : fail'), false, 'first match decides');
  // `!spf = fail` negates the condition: the parser keeps the `!` out of the value that matchWords sees.
  const item = parseAcl('deny !spf = fail').statements[0]?.items[0];
  assert.equal(item?.negated, true);
  assert.equal(item?.value, 'fail');
  const plain = parseAcl('deny spf = !fail').statements[0]?.items[0];
  assert.equal(plain?.negated, false);
  assert.equal(plain?.value, '!fail');
});

// ---------------------------------------------------------------- spf and spf_helo

test('spf = pass at MAIL asks the port once about the MAIL FROM identity and accepts', async () => {
  const h = spfHarness();
  const r = await run('accept spf = pass\ndeny message = not reached', {}, h);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.line, 1);
  assert.deepEqual(h.calls, [{ identity: 'mailfrom', query: { ip: CLIENT_IP, helo: HELO, sender: 'alice@sender.test' } }]);
  assert.deepEqual(r.found, { spf: spf('pass') }, 'the result is handed back for the session to keep');
});

test('spf = pass is false for other results; !spf = fail is true for everything but fail', async () => {
  const acl = 'accept spf = pass\ndeny message = SPF: $spf_result';
  const soft = await run(acl, {}, spfHarness(() => spf('softfail')));
  assert.equal(soft.verdict, 'deny');
  assert.equal(soft.message, 'SPF: softfail');

  const negated = 'accept !spf = fail\ndeny message = $spf_smtp_comment';
  for (const kind of ['pass', 'softfail', 'neutral', 'none', 'permerror', 'temperror'] as const) {
    assert.equal((await run(negated, {}, spfHarness(() => spf(kind)))).verdict, 'accept', kind);
  }
  const fail = await run(negated, {}, spfHarness(() => spf('fail')));
  assert.equal(fail.verdict, 'deny');
  assert.equal(fail.message, `sender.test does not designate ${CLIENT_IP} as permitted sender of alice@sender.test`, 'the exp= text');
});

test('spf lists: several results, and the Exim names err_perm and err_temp for the errors', async () => {
  const acl = 'defer spf = err_temp\ndeny spf = fail : err_perm\naccept';
  assert.equal((await run(acl, {}, spfHarness(() => spf('temperror')))).verdict, 'defer');
  assert.equal((await run(acl, {}, spfHarness(() => spf('permerror')))).verdict, 'deny');
  assert.equal((await run(acl, {}, spfHarness(() => spf('fail')))).verdict, 'deny');
  assert.equal((await run(acl, {}, spfHarness(() => spf('softfail')))).verdict, 'accept');
  // The RFC names work as well.
  assert.equal((await run('deny spf = permerror\naccept', {}, spfHarness(() => spf('permerror')))).verdict, 'deny');
});

test('spf is not asked when an earlier condition of the statement is false', async () => {
  const h = spfHarness(() => spf('fail'));
  const r = await run('deny hosts = 10.0.0.0/8\n     spf = fail\naccept', {}, h);
  assert.equal(r.verdict, 'accept');
  assert.equal(h.calls.length, 0);
  assert.deepEqual(r.found, {});
  // The same statement from a matching host does ask.
  const h2 = spfHarness(() => spf('fail'));
  assert.equal((await run('deny hosts = 203.0.113.0/24\n     spf = fail\naccept', {}, h2)).verdict, 'deny');
  assert.equal(h2.calls.length, 1);
});

test('the SPF result is kept for later statements: the port is called once', async () => {
  const h = spfHarness(() => spf('softfail'));
  const r = await run(`
    warn   spf = softfail
           add_header = X-SPF-Warning: softfail for $sender_address
    deny   spf = fail
    accept spf = softfail : pass
           set acl_m_spf = $spf_result
  `, {}, h);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.line, 5);
  assert.equal(h.calls.length, 1);
  assert.deepEqual(r.addHeaders, ['X-SPF-Warning: softfail for alice@sender.test']);
  assert.equal(r.set.acl_m_spf, 'softfail');
});

test('an SPF result known from an earlier stage is used without asking the port', async () => {
  const h = spfHarness(() => spf('pass'));
  const r = await run('deny spf = fail\naccept', { stage: 'rcpt', recipient: { local: 'bob', domain: 'mx.example' }, auth: { spf: spf('fail') } }, h);
  assert.equal(r.verdict, 'deny');
  assert.equal(h.calls.length, 0);
  assert.deepEqual(r.found, {}, 'nothing new found');
});

test('$spf_* variables are empty before the spf condition and filled after it', async () => {
  const r = await run(`
    warn   set acl_m_before = [$spf_result][$spf_received]
    accept spf = pass
           set acl_m_result = $spf_result
           set acl_m_received = $spf_received
           set acl_m_comment = $spf_header_comment
           set acl_m_smtp = $spf_smtp_comment
           set acl_m_domain = $spf_used_domain
  `);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.set.acl_m_before, '[][]');
  assert.equal(r.set.acl_m_result, 'pass');
  assert.equal(r.set.acl_m_comment, `mx.example: domain of alice@sender.test designates ${CLIENT_IP} as permitted sender`);
  assert.equal(r.set.acl_m_smtp, `domain of alice@sender.test designates ${CLIENT_IP} as permitted sender`);
  assert.equal(r.set.acl_m_domain, 'sender.test');
  // The whole header field of RFC 7208 section 9.1, folded, without a final line end: ready for add_header.
  const received = r.set.acl_m_received ?? '';
  assert.ok(!/[\r\n]$/.test(received), 'no final line end');
  assert.ok(received.split('\r\n').slice(1).every((l) => l.startsWith(' ')), 'continuation lines start with white space');
  assert.equal(received.replace(/\r\n(?=[ \t])/g, ''), `Received-SPF: pass (mx.example: domain of alice@sender.test designates ${CLIENT_IP} as permitted sender)`
    + ` client-ip=${CLIENT_IP}; envelope-from="alice@sender.test"; helo=${HELO}; receiver=mx.example; identity=mailfrom;`
    + ' mechanism="ip4:203.0.113.0/24";');
});

test('spf_helo checks the HELO identity, and keeps it apart from the MAIL FROM one', async () => {
  const h = spfHarness((identity) => spf(identity === 'helo' ? 'pass' : 'fail', identity));
  const r = await run('accept spf_helo = pass', { stage: 'helo', sender: undefined }, h);
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(h.calls, [{ identity: 'helo', query: { ip: CLIENT_IP, helo: HELO, sender: '' } }]);
  assert.deepEqual(r.found, { spfHelo: spf('pass', 'helo') });

  // At MAIL both identities are asked about separately.
  const h2 = spfHarness((identity) => spf(identity === 'helo' ? 'pass' : 'fail', identity));
  const both = await run('deny spf = fail\n     spf_helo = pass\n     message = forged\naccept', {}, h2);
  assert.equal(both.verdict, 'deny');
  assert.equal(both.message, 'forged');
  assert.deepEqual(h2.calls.map((c) => c.identity), ['mailfrom', 'helo']);
  assert.equal(both.found.spf?.kind, 'fail');
  assert.equal(both.found.spfHelo?.kind, 'pass');
});

test('spf_helo without a HELO name defers', async () => {
  const h = spfHarness();
  const r = await run('accept spf_helo = pass', { stage: 'connect', sender: undefined, helo: '' }, h);
  assert.equal(r.verdict, 'defer');
  assert.equal(r.logMessage, 'line 1: spf_helo: needs a HELO or EHLO name');
  assert.equal(h.calls.length, 0);
});

test('a failing SPF port defers (temporary), synchronously or asynchronously', async () => {
  const sync = await run('deny spf = fail\naccept', {}, spfHarness(() => new Error('resolver unavailable')));
  assert.equal(sync.verdict, 'defer');
  assert.equal(sync.line, 1);
  assert.equal(sync.logMessage, 'line 1: spf: SPF check failed: resolver unavailable');
  assert.deepEqual(sync.found, {}, 'no result to keep');

  const rejected = await run('deny spf = fail\naccept', {}, spfHarness(() => Promise.reject(new Error('socket closed'))));
  assert.equal(rejected.verdict, 'defer');
  assert.equal(rejected.logMessage, 'line 1: spf: SPF check failed: socket closed');

  // In a warn statement the failure skips the statement, as with any condition that cannot finish.
  const warned = await run('warn spf = fail\n  add_header = X-Never: 1\naccept', {}, spfHarness(() => new Error('boom')));
  assert.equal(warned.verdict, 'accept');
  assert.deepEqual(warned.addHeaders, []);
  assert.deepEqual(warned.logwrites, ['warn statement at line 1 skipped: line 1: spf: SPF check failed: boom']);
});

test('spf before MAIL (no sender yet) defers with a message saying where it works', async () => {
  for (const stage of ['connect', 'helo'] as const) {
    const h = spfHarness();
    const r = await run('accept spf = pass', { stage, sender: undefined }, h);
    assert.equal(r.verdict, 'defer', stage);
    assert.equal(r.logMessage, 'line 1: spf: needs a sender: use it at MAIL or later', stage);
    assert.equal(h.calls.length, 0, stage);
  }
  // Without an SPF port (SPF not configured) the condition cannot work anywhere.
  const noPort = await run('accept spf = pass', { ports: { verifyRecipient: () => ({ ok: true }), sleep: async () => undefined } });
  assert.equal(noPort.verdict, 'defer');
  assert.equal(noPort.logMessage, 'line 1: spf: SPF checking is not available here');
});

test('the null sender is checked with an empty sender (the port uses postmaster@helo)', async () => {
  const h = spfHarness();
  assert.equal((await run('accept spf = pass', { sender: null }, h)).verdict, 'accept');
  assert.deepEqual(h.calls, [{ identity: 'mailfrom', query: { ip: CLIENT_IP, helo: HELO, sender: '' } }]);
});

test('tryAcl decides at once with a port that answers at once, and gives up for one that waits', async () => {
  const acl = parseAcl('accept spf = pass');
  const now = tryAcl(acl, input({}, spfHarness()));
  assert.equal(now?.verdict, 'accept');
  const h = spfHarness(() => Promise.resolve(spf('pass')));
  assert.equal(tryAcl(acl, input({}, h)), undefined);
  assert.equal((await runAcl(acl, input({}, h))).verdict, 'accept');
});

// ---------------------------------------------------------------- DKIM facts and the DKIM ACL

const TWO_SIGNED: AuthFacts = { dkim: { signatures: [NEWS, BULK], skipped: 0 } };

test('$dkim_signers: each domain and explicit identity once; overall status prefers a pass', () => {
  const withId = sig('news.example', { identity: 'newsletter@news.example' });
  assert.deepEqual(dkimSigners({ signatures: [NEWS, BULK, withId], skipped: 0 }), ['news.example', 'bulk.example', 'newsletter@news.example']);
  assert.deepEqual(dkimSigners(undefined), []);
  assert.deepEqual(overallDkimStatus({ signatures: [BULK, NEWS], skipped: 0 }), { status: 'pass', reason: '' });
  const invalid = sig('gone.example', { status: 'permerror', code: 'key_unavailable', reason: 'no key record' });
  assert.deepEqual(overallDkimStatus({ signatures: [invalid, BULK], skipped: 0 }), { status: 'invalid', reason: 'pubkey_unavailable' });
  assert.deepEqual(overallDkimStatus({ signatures: [], skipped: 0 }), { status: 'none', reason: '' });
  assert.equal(authVars(TWO_SIGNED).dkim_signers, 'news.example:bulk.example');
  assert.equal(authVars(TWO_SIGNED).dkim_verify_status, 'pass');
  assert.equal(authVars(undefined).dkim_verify_status, 'none');
});

test('dkimSignerList: dkim_verify_signers names signers by d= or i=; a name without a signature runs with none', () => {
  const i = dataInput(TWO_SIGNED);
  const list = dkimSignerList('$dkim_signers : bank.example', i);
  assert.equal(list.kind, 'ok');
  const signers = list.kind === 'ok' ? list.signers : [];
  assert.deepEqual(signers.map((s) => [s.name, s.signature?.domain]), [['news.example', 'news.example'], ['bulk.example', 'bulk.example'], ['bank.example', undefined]]);

  // Names are compared without regard to case, and repeated names run once.
  const again = dkimSignerList('NEWS.Example : news.example', i);
  assert.deepEqual(again.kind === 'ok' ? again.signers.map((s) => [s.name, s.signature === NEWS]) : [], [['news.example', true]]);

  // By identity.
  const withId = sig('news.example', { identity: 'newsletter@news.example' });
  const byId = dkimSignerList('newsletter@news.example', dataInput({ dkim: { signatures: [BULK, withId], skipped: 0 } }));
  assert.deepEqual(byId.kind === 'ok' ? byId.signers.map((s) => s.signature) : [], [withId]);

  const bad = dkimSignerList('$no_such_variable', i);
  assert.equal(bad.kind, 'error');
  assert.match(bad.kind === 'error' ? bad.reason : '', /dkim_verify_signers: cannot expand: unknown variable "\$no_such_variable"/);
});

function signersOf(spec: string, auth: AuthFacts): DkimSigner[] {
  const list = dkimSignerList(spec, dataInput(auth));
  assert.equal(list.kind, 'ok');
  return list.kind === 'ok' ? list.signers : [];
}

const DKIM_LOG_ACL = `
  warn logwrite = $dkim_cur_signer status=$dkim_verify_status reason=$dkim_verify_reason d=$dkim_domain s=$dkim_selector a=$dkim_algo bits=$dkim_key_length
  accept
`;

test('the DKIM ACL runs once per signer with $dkim_cur_signer and that signature\'s variables', async () => {
  const signers = signersOf('$dkim_signers:bank.example', TWO_SIGNED);
  const r = await runDataStage({ dkim: { acl: parseAcl(DKIM_LOG_ACL), signers }, data: parseAcl('accept logwrite = data ACL ran') }, dataInput(TWO_SIGNED));
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.logwrites, [
    'news.example status=pass reason= d=news.example s=sel1 a=rsa-sha256 bits=2048',
    'bulk.example status=fail reason=bodyhash_mismatch d=bulk.example s=sel2 a=rsa-sha256 bits=2048',
    'bank.example status=none reason= d= s= a= bits=',
    'data ACL ran',
  ]);
});

test('dkim_signers and dkim_status in the DKIM ACL test the current signer', async () => {
  const acl = parseAcl(`
    deny   dkim_signers = bank.example : paypal.example
           dkim_status = none : invalid : fail
           message = $dkim_cur_signer mail must carry a valid signature
    warn   dkim_status = fail
           set acl_m_bad = $acl_m_bad $dkim_cur_signer/$dkim_verify_reason
    accept
  `);
  const data = parseAcl('accept set acl_m_data = ran after [$acl_m_bad ]');
  // bank.example is listed but did not sign: the DKIM ACL refuses for it, and the DATA ACL does not run.
  const refused = await runDataStage({ dkim: { acl, signers: signersOf('$dkim_signers:bank.example', TWO_SIGNED) }, data }, dataInput(TWO_SIGNED));
  assert.equal(refused.verdict, 'deny');
  assert.equal(refused.message, 'bank.example mail must carry a valid signature');
  assert.equal(refused.line, 2);
  assert.equal(refused.set.acl_m_data, undefined, 'the DATA ACL did not run');
  assert.equal(refused.set.acl_m_bad, ' bulk.example/bodyhash_mismatch', 'the earlier signers\' runs count');

  // Without it, every signer is accepted and the DATA ACL runs, seeing what the DKIM runs set.
  const accepted = await runDataStage({ dkim: { acl, signers: signersOf('$dkim_signers', TWO_SIGNED) }, data }, dataInput(TWO_SIGNED));
  assert.equal(accepted.verdict, 'accept');
  assert.equal(accepted.set.acl_m_data, 'ran after [ bulk.example/bodyhash_mismatch ]');

  // A signer that signed but failed is refused by the same statement.
  const failed = await runDataStage({ dkim: { acl, signers: signersOf('bulk.example', TWO_SIGNED) }, data }, dataInput(TWO_SIGNED));
  assert.equal(failed.verdict, 'accept', 'bulk.example is not in the dkim_signers list of the deny statement');
  const strict = parseAcl('deny dkim_status = fail\n  message = bad signature from $dkim_cur_signer ($dkim_verify_reason)\naccept');
  const denied = await runDataStage({ dkim: { acl: strict, signers: signersOf('$dkim_signers', TWO_SIGNED) }, data }, dataInput(TWO_SIGNED));
  assert.equal(denied.verdict, 'deny');
  assert.equal(denied.message, 'bad signature from bulk.example (bodyhash_mismatch)');
});

test('a DKIM ACL that does not accept decides for the message: defer and discard too', async () => {
  const signers = signersOf('$dkim_signers', TWO_SIGNED);
  const data = parseAcl('deny message = the DATA ACL ran');
  const deferred = await runDataStage({ dkim: { acl: parseAcl('defer dkim_signers = news.example\naccept'), signers }, data }, dataInput(TWO_SIGNED));
  assert.equal(deferred.verdict, 'defer');
  assert.equal(deferred.line, 1);
  const implicit = await runDataStage({ dkim: { acl: parseAcl('accept dkim_status = pass'), signers }, data }, dataInput(TWO_SIGNED));
  assert.equal(implicit.verdict, 'deny', 'bulk.example fails: the implicit deny at the end');
  assert.equal(implicit.message, undefined);
  const discarded = await runDataStage({ dkim: { acl: parseAcl('discard dkim_signers = bulk.example\naccept'), signers }, data }, dataInput(TWO_SIGNED));
  assert.equal(discarded.verdict, 'discard');
  const ok = await runDataStage({ dkim: { acl: parseAcl('accept'), signers }, data }, dataInput(TWO_SIGNED));
  assert.equal(ok.verdict, 'deny');
  assert.equal(ok.message, 'the DATA ACL ran');
});

// One SPF check per message: what one DKIM ACL run found is known to the next runs and to the DATA ACL (otherwise
// N+1 checks, each up to 10 DNS lookups, whose answers could differ).
test('an SPF result found in one DKIM ACL run is kept for the next runs and the DATA ACL', async () => {
  const h = spfHarness(() => spf('pass'));
  const signers = signersOf('$dkim_signers', TWO_SIGNED);
  const r = await runDataStage({
    dkim: { acl: parseAcl('accept spf = pass'), signers },
    data: parseAcl('accept spf = pass'),
  }, dataInput(TWO_SIGNED, {}, h));
  assert.equal(r.verdict, 'accept');
  assert.equal(h.calls.length, 1, `the SPF port was asked ${h.calls.length} times for one message`);
});

test('dkim_signers outside the DKIM ACL, and dkim_status before DATA, defer with a clear message', async () => {
  const inData = await runData('accept dkim_signers = news.example', TWO_SIGNED);
  assert.equal(inData.verdict, 'defer');
  assert.equal(inData.logMessage, 'line 1: dkim_signers: works only in the DKIM ACL (acl_smtp_dkim)');
  const atRcpt = await run('deny dkim_status = fail\naccept', { stage: 'rcpt', recipient: { local: 'bob', domain: 'mx.example' } });
  assert.equal(atRcpt.verdict, 'defer');
  assert.equal(atRcpt.logMessage, 'line 1: dkim_status: works only in the DKIM and DATA ACLs');
});

// ---------------------------------------------------------------- the DATA ACL

test('dkim_status in the DATA ACL is true when any signature has a listed status', async () => {
  const acl = (status: string): string => `accept dkim_status = ${status}\ndeny`;
  assert.equal((await runData(acl('pass'), TWO_SIGNED)).verdict, 'accept');
  assert.equal((await runData(acl('fail'), TWO_SIGNED)).verdict, 'accept');
  assert.equal((await runData(acl('invalid : none'), TWO_SIGNED)).verdict, 'deny');
  const onlyFail: AuthFacts = { dkim: { signatures: [BULK], skipped: 0 } };
  assert.equal((await runData(acl('pass'), onlyFail)).verdict, 'deny');
  assert.equal((await runData('deny !dkim_status = pass\naccept', onlyFail)).verdict, 'deny');
  // An unsigned message (and one whose DKIM was not verified) has status none.
  const unsigned: AuthFacts = { dkim: { signatures: [], skipped: 0 } };
  assert.equal((await runData(acl('none'), unsigned)).verdict, 'accept');
  assert.equal((await runData(acl('pass : fail : invalid'), unsigned)).verdict, 'deny');
  assert.equal((await runData(acl('none'), undefined)).verdict, 'accept');
  // $dkim_verify_status outside the DKIM ACL is the message-level status.
  const vars = await runData('accept set acl_m_s = $dkim_verify_status/$dkim_signers/[$dkim_cur_signer]', TWO_SIGNED);
  assert.equal(vars.set.acl_m_s, 'pass/news.example:bulk.example/[]');
});

test('dmarc_status matches each DMARC outcome, and off when DMARC was not evaluated', async () => {
  const statuses: DmarcStatus[] = ['accept', 'reject', 'quarantine', 'none', 'norecord', 'nofrom', 'temperror'];
  for (const status of statuses) {
    const facts: AuthFacts = { dmarc: dmarc(status) };
    const r = await runData(`accept dmarc_status = ${status}\n  set acl_m_d = $dmarc_status\ndeny message = no match`, facts);
    assert.equal(r.verdict, 'accept', status);
    assert.equal(r.set.acl_m_d, status);
    for (const other of statuses.filter((s) => s !== status)) {
      assert.equal((await runData(`accept dmarc_status = ${other} : off\ndeny`, facts)).verdict, 'deny', `${status} is not ${other}`);
    }
  }
  const off = await runData('accept dmarc_status = off\n  set acl_m_d = [$dmarc_status]\ndeny', undefined);
  assert.equal(off.verdict, 'accept');
  assert.equal(off.set.acl_m_d, '[]', '$dmarc_status is empty when not evaluated');
  assert.equal((await runData('accept dmarc_status = none : norecord\ndeny', undefined)).verdict, 'deny');
  // The usual policy statement.
  const typical = 'deny dmarc_status = reject\n  message = Rejected by DMARC policy of $dmarc_used_domain (p=$dmarc_domain_policy)\naccept';
  const rejected = await runData(typical, { dmarc: dmarc('reject') });
  assert.equal(rejected.verdict, 'deny');
  assert.equal(rejected.message, 'Rejected by DMARC policy of news.example (p=reject)');
  assert.equal((await runData(typical, { dmarc: dmarc('quarantine') })).verdict, 'accept');
});

test('dmarc_status outside the DATA ACL defers with a clear message', async () => {
  const atRcpt = await run('deny dmarc_status = reject\naccept', { stage: 'rcpt', recipient: { local: 'bob', domain: 'mx.example' } });
  assert.equal(atRcpt.verdict, 'defer');
  assert.equal(atRcpt.logMessage, 'line 1: dmarc_status: works only in the DATA ACL');
  const signers = signersOf('$dkim_signers', TWO_SIGNED);
  const inDkim = await runDataStage({ dkim: { acl: parseAcl('deny dmarc_status = reject\naccept'), signers } }, dataInput({ ...TWO_SIGNED, dmarc: dmarc('reject') }));
  assert.equal(inDkim.verdict, 'defer');
  assert.equal(inDkim.logMessage, 'line 1: dmarc_status: works only in the DATA ACL');
});

test('verify = arc: default list none:pass, or an explicit list', async () => {
  const verdict = async (text: string, facts: AuthFacts | undefined): Promise<string> => (await runData(`${text}\ndeny message = no`, facts)).verdict;
  assert.equal(await verdict('accept verify = arc', { arc: arc('pass') }), 'accept');
  assert.equal(await verdict('accept verify = arc', { arc: arc('none') }), 'accept');
  assert.equal(await verdict('accept verify = arc', { arc: arc('fail') }), 'deny');
  assert.equal(await verdict('accept verify = arc', undefined), 'accept', 'not evaluated counts as no chain');
  assert.equal(await verdict('accept verify = arc/', { arc: arc('fail') }), 'deny', 'an empty list is the default list');
  assert.equal(await verdict('accept verify = arc/pass', { arc: arc('pass') }), 'accept');
  assert.equal(await verdict('accept verify = arc/pass', { arc: arc('none') }), 'deny');
  assert.equal(await verdict('accept verify = arc/fail : none', { arc: arc('fail') }), 'accept');
  assert.equal(await verdict('accept verify = arc/FAIL', { arc: arc('fail') }), 'accept');
  assert.equal(await verdict('accept !verify = arc/fail', { arc: arc('fail') }), 'deny');
  assert.equal(await verdict('accept !verify = arc/fail', { arc: arc('pass') }), 'accept');
  // The list is expanded.
  const expanded = (ok: string): Promise<AclResult> => runData('accept verify = arc/$acl_m_ok\ndeny', { arc: arc('none') }, { vars: { acl_m_ok: ok } });
  assert.equal((await expanded('pass')).verdict, 'deny');
  assert.equal((await expanded('none : pass')).verdict, 'accept');

  const vars = await runData('accept set acl_m_a = $arc_state|$arc_state_reason|$arc_domains|$arc_oldest_pass', { arc: arc('fail') });
  assert.equal(vars.set.acl_m_a, 'fail|ARC-Seal i=2 says cv=fail|lists.example:fwd.example|0');
  const passVars = await runData('accept set acl_m_a = $arc_state|$arc_state_reason|$arc_domains|$arc_oldest_pass', { arc: arc('pass') });
  assert.equal(passVars.set.acl_m_a, 'pass||lists.example:fwd.example|2');

  const atRcpt = await run('accept verify = arc', { stage: 'rcpt', recipient: { local: 'bob', domain: 'mx.example' } });
  assert.equal(atRcpt.verdict, 'defer');
  assert.equal(atRcpt.logMessage, 'line 1: verify: "verify = arc" works only in the DATA ACL');
});

// ---------------------------------------------------------------- ${authresults{...}}

const ALL_FACTS: AuthFacts = {
  spf: spf('pass'),
  dkim: { signatures: [NEWS, BULK], skipped: 0 },
  dmarc: dmarc('accept'),
  arc: arc('pass'),
};

async function authresults(facts: AuthFacts | undefined, over: Partial<AclInput> = {}, statement = 'accept'): Promise<string> {
  const r = await runData(`${statement}\n  set acl_m_ar = \${authresults{mx.example}}`, facts, over);
  assert.equal(r.verdict, 'accept', r.logMessage);
  return r.set.acl_m_ar ?? '';
}

test('${authresults{id}}: spf, one dkim per signature, dmarc and arc, one resinfo per line', async () => {
  const text = await authresults(ALL_FACTS);
  assert.equal(text, [
    'Authentication-Results: mx.example;',
    '\tspf=pass smtp.mailfrom=sender.test;',
    '\tdkim=pass (2048-bit key) header.d=news.example header.i=@news.example',
    '\t  header.s=sel1 header.a=rsa-sha256 header.b=AbCdEfGh;',
    '\tdkim=fail (2048-bit key) reason="body hash does not match bh="',
    '\t  header.d=bulk.example header.i=@bulk.example header.s=sel2',
    '\t  header.a=rsa-sha256 header.b=ZyXwVuTs;',
    '\tdmarc=pass (p=none dis=none) header.from=news.example;',
    `\tarc=pass (i=2) header.oldest-pass=2 smtp.remote-ip=${CLIENT_IP}`,
  ].join('\r\n'));
});

test('${authresults{id}}: the auth resinfo comes first when the client authenticated', async () => {
  const text = await authresults({ spf: spf('softfail') }, { authenticatedId: 'alice' });
  assert.equal(text, [
    'Authentication-Results: mx.example;',
    '\tauth=pass smtp.auth=alice;',
    '\tspf=softfail smtp.mailfrom=sender.test',
  ].join('\r\n'));
  assert.ok(!(await authresults({ spf: spf('softfail') })).includes('auth='), 'not authenticated: no auth resinfo');
});

test('${authresults{id}}: what was not evaluated is left out; failures carry their reason', async () => {
  assert.equal(await authresults(undefined), 'Authentication-Results: mx.example; none');
  // An unsigned message is dkim=none; DMARC turned off is not reported.
  const unsigned = await authresults({ dkim: { signatures: [], skipped: 0 }, dmarc: { ...dmarc('none'), status: 'off', authResult: 'off' } });
  assert.equal(unsigned, 'Authentication-Results: mx.example;\r\n\tdkim=none');
  // DMARC fail with the policy and disposition; ARC fail with its reason.
  const failing = await authresults({ dmarc: dmarc('reject'), arc: arc('fail') });
  assert.equal(failing, [
    'Authentication-Results: mx.example;',
    '\tdmarc=fail (p=reject dis=reject) header.from=news.example;',
    `\tarc=fail (i=2) reason="ARC-Seal i=2 says cv=fail" smtp.remote-ip=${CLIENT_IP}`,
  ].join('\r\n'));
});

test('${authresults{id}}: SPF of the HELO identity, of the null sender, and from a check made in the same ACL', async () => {
  // The HELO identity only (no MAIL FROM check): smtp.helo.
  assert.equal(await authresults({ spfHelo: spf('pass', 'helo') }), `Authentication-Results: mx.example;\r\n\tspf=pass smtp.helo=${HELO}`);
  // The null reverse-path: SPF checked postmaster@helo, reported as smtp.helo.
  assert.equal(await authresults({ spf: spf('none') }, { sender: null }), `Authentication-Results: mx.example;\r\n\tspf=none smtp.helo=${HELO}`);
  // An spf condition earlier in the statement makes its result part of the header.
  const h = spfHarness(() => spf('fail'));
  const r = await runAcl(parseAcl('accept spf = fail\n  add_header = ${authresults{mx.example}}'), dataInput(undefined, {}, h));
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.addHeaders, ['Authentication-Results: mx.example;\r\n\tspf=fail smtp.mailfrom=sender.test']);
  assert.equal(h.calls.length, 1);
});

test('${authresults{}} without an authserv-id cannot be expanded', async () => {
  const r = await runData('accept set acl_m_ar = ${authresults{ }}', ALL_FACTS);
  assert.equal(r.verdict, 'defer');
  assert.equal(r.logMessage, 'line 1: set: cannot expand: authresults needs an authserv-id');
});

// ---------------------------------------------------------------- load-time checks

test('validateAcl refuses unknown result words, naming the word and the condition', () => {
  assert.deepEqual(problems('deny dmarc_status = rejected'), [
    'line 1: dmarc_status: unknown result "rejected" (expected one of accept, reject, quarantine, none, norecord, nofrom, temperror, off)',
  ]);
  assert.deepEqual(problems('accept spf = passed'), [
    'line 1: spf: unknown result "passed" (expected one of pass, fail, softfail, neutral, none, permerror, temperror, err_perm, err_temp)',
  ]);
  assert.deepEqual(problems('accept dkim_status = good'), ['line 1: dkim_status: unknown result "good" (expected one of none, invalid, fail, pass)']);
  assert.deepEqual(problems('accept verify = arc/passed'), ['line 1: verify: unknown result "passed" (expected one of none, fail, pass)']);
  // The bad word is found in a list, after a negation, and in any statement of the ACL.
  assert.match(problems('accept\n\ndeny spf_helo = pass : !softfailed')[0] ?? '', /^line 3: spf_helo: unknown result "softfailed"/);
  assert.match(problems('accept dkim_status = pass : failed')[0] ?? '', /unknown result "failed"/);
  assert.deepEqual(problems('deny dmarc_status = reject\n  !spf = fail\naccept verify = arc/quarantine').length, 1);
});

test('validateAcl accepts the known words, negated items, aliases, and values it cannot know before the message', () => {
  assert.deepEqual(problems(`
    deny   spf = fail : err_perm : !pass
    deny   spf_helo = softfail : err_temp : neutral : none : permerror : temperror
    deny   dkim_status = none : invalid : fail
    deny   dmarc_status = reject : quarantine : accept : none : norecord : nofrom : temperror : off
    warn   verify = arc
    warn   verify = arc/none : pass : FAIL
    accept dkim_status = $acl_m_wanted
  `), []);
});

test('unknown controls are refused when the ACL is read, naming the control', () => {
  for (const known of CONTROLS) assert.doesNotThrow(() => parseAcl(`warn control = ${known}`), known);
  assert.deepEqual([...CONTROLS], ['dkim_disable_verify', 'dmarc_disable_verify', 'dmarc_enable_forensic', 'freeze', 'queue_only']);
  assert.throws(() => parseAcl('accept hosts = *\n  control = dkim_disable_verfy'), (e: unknown) => {
    assert.ok(e instanceof AclSyntaxError);
    assert.equal(e.line, 2);
    assert.match(e.message, /^line 2: unknown control "dkim_disable_verfy" \(Petrel knows dkim_disable_verify, /);
    return true;
  });
  assert.throws(() => parseAcl('warn control = no_mbox_unspool'), /unknown control "no_mbox_unspool"/);
  assert.throws(() => parseAcl('warn verify = arcs'), /unknown verify "arcs"/);
});

test('controls are collected in order, also from the DKIM ACL runs', async () => {
  const signers = signersOf('$dkim_signers', TWO_SIGNED);
  const r = await runDataStage({
    dkim: { acl: parseAcl('accept dkim_status = fail\n  control = freeze\naccept'), signers },
    data: parseAcl('accept control = queue_only'),
  }, dataInput(TWO_SIGNED));
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.controls, ['freeze', 'queue_only']);
});
