// Unit tests for protocol/smtp/client/trouble.ts: what each failure at each stage means for a delivery
// (RFC 5321 sections 3.8, 4.2.1, 4.5.3.1.10, 5.1; RFC 7505; RFC 6531; RFC 3207; RFC 1047).
import test from 'node:test';
import assert from 'node:assert/strict';
import { judge, statusOf } from '../../../../../protocol/smtp/client/trouble.js';
import type { Failure, JudgeContext, Stage, Verdict } from '../../../../../protocol/smtp/client/trouble.js';

const STAGES: readonly Stage[] = ['connect', 'banner', 'ehlo', 'helo', 'starttls', 'mail', 'rcpt', 'data', 'dot', 'quit'];

const reply = (code: number, enhanced?: string): Failure =>
  ({ kind: 'reply', reply: enhanced === undefined ? { code } : { code, enhanced } });

/** Checks the listed fields of a verdict (and that nothing else differs in kind). */
function expect(v: Verdict, want: Partial<Record<string, unknown>>, what: string): void {
  for (const [k, value] of Object.entries(want)) {
    assert.deepEqual((v as unknown as Record<string, unknown>)[k], value, `${what}: ${k} (got ${JSON.stringify(v)})`);
  }
}

/** Every verdict is well formed: a reason; a status of the class its action implies. */
function wellFormed(v: Verdict, what: string): void {
  assert.ok(v.reason.length > 0, `${what}: a reason`);
  assert.doesNotMatch(v.reason, /[\r\n\0]/, `${what}: a one-line reason`);
  if ('status' in v) {
    assert.match(v.status, /^[245]\.\d{1,3}\.\d{1,3}$/, `${what}: status syntax`);
    const cls = v.action.startsWith('fail') ? '5' : '4';
    assert.equal(v.status[0], cls, `${what}: status class of ${v.action}`);
  }
  if (v.action === 'next-host') assert.equal(v.scope, 'host');
}

// Expected action for a 421, another 4xx (450) and a 5xx (550), with more hosts left / at the last host.
type Pair = readonly [string, string];
const MATRIX: Record<Stage, { r421: Pair; r4xx: Pair; r5xx: Pair }> = {
  connect: { r421: ['next-host', 'defer-host'], r4xx: ['next-host', 'defer-host'], r5xx: ['next-host', 'defer-host'] },
  banner: { r421: ['next-host', 'defer-host'], r4xx: ['next-host', 'defer-host'], r5xx: ['next-host', 'defer-host'] },
  ehlo: { r421: ['next-host', 'defer-host'], r4xx: ['next-host', 'defer-host'], r5xx: ['try-helo', 'try-helo'] },
  helo: { r421: ['next-host', 'defer-host'], r4xx: ['next-host', 'defer-host'], r5xx: ['next-host', 'defer-host'] },
  starttls: { r421: ['next-host', 'defer-host'], r4xx: ['retry-without-tls', 'retry-without-tls'], r5xx: ['retry-without-tls', 'retry-without-tls'] },
  mail: { r421: ['defer-host', 'defer-host'], r4xx: ['defer-message', 'defer-message'], r5xx: ['fail-message', 'fail-message'] },
  rcpt: { r421: ['defer-host', 'defer-host'], r4xx: ['defer-recipient', 'defer-recipient'], r5xx: ['fail-recipient', 'fail-recipient'] },
  data: { r421: ['defer-host', 'defer-host'], r4xx: ['defer-message', 'defer-message'], r5xx: ['fail-message', 'fail-message'] },
  dot: { r421: ['defer-host', 'defer-host'], r4xx: ['defer-message', 'defer-message'], r5xx: ['fail-message', 'fail-message'] },
  quit: { r421: ['ignore', 'ignore'], r4xx: ['ignore', 'ignore'], r5xx: ['ignore', 'ignore'] },
};

test('every stage x reply class (421, 4xx, 5xx) x more hosts or the last', () => {
  for (const stage of STAGES) {
    const row = MATRIX[stage];
    for (const [failure, pair] of [[reply(421, '4.3.2'), row.r421], [reply(450, '4.2.0'), row.r4xx], [reply(550, '5.7.1'), row.r5xx]] as const) {
      for (const [i, lastHost] of [false, true].entries()) {
        const what = `${stage} ${failure.kind === 'reply' ? failure.reply.code : ''} lastHost=${lastHost}`;
        const v = judge(stage, failure, { lastHost, rcptIndex: 3 });
        assert.equal(v.action, pair[i], what);
        wellFormed(v, what);
      }
    }
  }
});

test('reply statuses: the enhanced code when there is one, X.0.0 otherwise', () => {
  expect(judge('rcpt', reply(550, '5.1.1'), { lastHost: false }), { action: 'fail-recipient', status: '5.1.1' }, 'rcpt 550 5.1.1');
  expect(judge('rcpt', reply(550), { lastHost: false }), { action: 'fail-recipient', status: '5.0.0' }, 'rcpt 550');
  expect(judge('rcpt', reply(450, '4.2.1'), { lastHost: false }), { action: 'defer-recipient', status: '4.2.1' }, 'rcpt 450');
  expect(judge('mail', reply(451), { lastHost: false }), { action: 'defer-message', status: '4.0.0' }, 'mail 451');
  expect(judge('mail', reply(553, '5.1.8'), { lastHost: false }), { action: 'fail-message', status: '5.1.8' }, 'mail 553');
  expect(judge('data', reply(554, '5.5.1'), { lastHost: false }), { action: 'fail-message', status: '5.5.1' }, 'data 554');
  expect(judge('dot', reply(554, '5.7.1'), { lastHost: false }), { action: 'fail-message', status: '5.7.1' }, 'dot 554');
  expect(judge('dot', reply(452, '4.3.1'), { lastHost: false }), { action: 'defer-message', status: '4.3.1' }, 'dot 452');
  expect(judge('dot', reply(552, '5.3.4'), { lastHost: false }), { action: 'fail-message', status: '5.3.4' }, 'dot 552 is not the RCPT case');
  expect(judge('mail', reply(552, '5.3.4'), { lastHost: false }), { action: 'fail-message', status: '5.3.4' }, 'mail 552');
});

test('421 at any stage: the server is closing; before a transaction another host is tried', () => {
  for (const stage of ['banner', 'ehlo', 'helo', 'starttls'] as const) {
    expect(judge(stage, reply(421), { lastHost: false }), { action: 'next-host', status: '4.0.0' }, stage);
    expect(judge(stage, reply(421), { lastHost: true, tlsRequired: false }), { action: 'defer-host' }, stage);
  }
  for (const stage of ['mail', 'rcpt', 'data', 'dot'] as const) {
    const v = judge(stage, reply(421, '4.4.2'), { lastHost: false, rcptIndex: 5 });
    expect(v, { action: 'defer-host', status: '4.4.2', maybeDelivered: undefined }, stage);
  }
});

test('RCPT 452 and 552: too many recipients, the rest in a new transaction (RFC 5321 section 4.5.3.1.10)', () => {
  const cases: [Failure, number | undefined, string, string][] = [
    [reply(452), 3, 'defer-rest', '4.0.0'],
    [reply(452, '4.5.3'), 3, 'defer-rest', '4.5.3'],
    [reply(552), 3, 'defer-rest', '4.0.0'],
    [reply(552, '5.5.3'), 1, 'defer-rest', '4.5.3'],
    // At the first recipient of a transaction it cannot be a recipient limit: just this one later.
    [reply(452), 0, 'defer-recipient', '4.0.0'],
    [reply(452, '4.5.3'), undefined, 'defer-recipient', '4.5.3'],
    [reply(552, '5.5.3'), 0, 'defer-recipient', '4.5.3'],
    // Other causes named by the enhanced code: this recipient later, never bounced on a 552.
    [reply(452, '4.2.2'), 3, 'defer-recipient', '4.2.2'],
    [reply(452, '4.3.1'), 3, 'defer-recipient', '4.3.1'],
    [reply(552, '5.2.2'), 3, 'defer-recipient', '4.2.2'],
    // Neighbours stay what they are.
    [reply(451, '4.5.3'), 3, 'defer-recipient', '4.5.3'],
    [reply(550, '5.5.3'), 3, 'fail-recipient', '5.5.3'],
    [reply(553, '5.1.3'), 3, 'fail-recipient', '5.1.3'],
    [reply(556, '5.1.10'), 3, 'fail-recipient', '5.1.10'],
  ];
  for (const [f, rcptIndex, action, status] of cases) {
    const what = `RCPT ${JSON.stringify(f)} at ${rcptIndex}`;
    const ctx: JudgeContext = rcptIndex === undefined ? { lastHost: false } : { lastHost: false, rcptIndex };
    const v = judge('rcpt', f, ctx);
    expect(v, { action, status }, what);
    wellFormed(v, what);
  }
});

test('5xx greeting or HELO: the next host; at the last, a bounce only if every host refused', () => {
  for (const stage of ['banner', 'helo'] as const) {
    for (const code of [554, 521, 550]) {
      expect(judge(stage, reply(code, '5.7.1'), { lastHost: false }), { action: 'next-host', status: '4.7.1' }, `${stage} ${code}`);
      expect(judge(stage, reply(code, '5.7.1'), { lastHost: true, earlierHostsRefused: true }),
        { action: 'fail-message', status: '5.7.1' }, `${stage} ${code} all refused`);
      expect(judge(stage, reply(code, '5.7.1'), { lastHost: true, earlierHostsRefused: false }),
        { action: 'defer-host', status: '4.7.1' }, `${stage} ${code} an earlier host was unreachable`);
      expect(judge(stage, reply(code), { lastHost: true }), { action: 'defer-host', status: '4.0.0' }, `${stage} ${code} not tracked`);
    }
  }
});

test('EHLO: a 5xx means HELO next; a 4xx is host trouble', () => {
  for (const code of [500, 502, 550, 554]) {
    expect(judge('ehlo', reply(code), { lastHost: true }), { action: 'try-helo' }, `ehlo ${code}`);
  }
  expect(judge('ehlo', reply(451, '4.7.1'), { lastHost: false }), { action: 'next-host', status: '4.7.1' }, 'ehlo 451');
  expect(judge('ehlo', reply(451, '4.7.1'), { lastHost: true }), { action: 'defer-host', status: '4.7.1' }, 'ehlo 451 last');
});

test('STARTTLS: opportunistic TLS falls back to clear text; required TLS tries another host', () => {
  const failures: [Failure, boolean][] = [
    [reply(454, '4.7.0'), true],
    [reply(502), true],
    [reply(554, '5.7.3'), true],
    [{ kind: 'tls', reason: 'wrong version number' }, false],
    [{ kind: 'timeout' }, false],
    [{ kind: 'closed' }, false],
    [{ kind: 'network', code: 'ECONNRESET' }, false],
    [{ kind: 'garbage', reason: 'reply line does not start with a three-digit code' }, false],
  ];
  for (const [f, sameConnection] of failures) {
    const what = `starttls ${JSON.stringify(f)}`;
    for (const lastHost of [false, true]) {
      const opportunistic = judge('starttls', f, { lastHost });
      expect(opportunistic, { action: 'retry-without-tls', sameConnection }, what);
      wellFormed(opportunistic, what);
      const required = judge('starttls', f, { lastHost, tlsRequired: true });
      expect(required, { action: lastHost ? 'defer-host' : 'next-host' }, `${what} required`);
      assert.match(required.reason, /TLS is required/);
      wellFormed(required, what);
    }
  }
  expect(judge('starttls', { kind: 'tls', reason: 'handshake failure' }, { lastHost: false }), { status: '4.7.5' }, 'tls status');
});

const LOST: readonly Failure[] = [
  { kind: 'timeout' },
  { kind: 'closed' },
  { kind: 'network', code: 'ECONNRESET' },
  { kind: 'network', code: 'ECONNREFUSED' },
  { kind: 'network', code: 'EHOSTUNREACH' },
  { kind: 'tls', reason: 'bad record mac' },
];

test('connection trouble before a transaction: the next host, then defer', () => {
  for (const stage of ['connect', 'banner', 'ehlo', 'helo'] as const) {
    for (const f of LOST) {
      const what = `${stage} ${JSON.stringify(f)}`;
      const more = judge(stage, f, { lastHost: false });
      const last = judge(stage, f, { lastHost: true });
      const status = f.kind === 'tls' ? '4.7.5' : stage === 'connect' ? '4.4.1' : '4.4.2';
      expect(more, { action: 'next-host', scope: 'host', status }, what);
      expect(last, { action: 'defer-host', status }, what);
      wellFormed(more, what);
      wellFormed(last, what);
    }
  }
  expect(judge('connect', { kind: 'network', code: 'ECONNREFUSED' }, { lastHost: false }), { reason: 'connection refused', status: '4.4.1' }, 'refused');
  expect(judge('connect', { kind: 'timeout' }, { lastHost: false }), { reason: 'connection timed out' }, 'connect timeout');
  expect(judge('banner', { kind: 'timeout' }, { lastHost: false }), { reason: 'timed out in the greeting', status: '4.4.2' }, 'banner timeout');
  expect(judge('connect', { kind: 'network', code: 'EWEIRD\r\n' }, { lastHost: false }), { reason: 'network error EWEIRD' }, 'unknown code');
});

test('connection lost within a transaction counts as a 451 for it (RFC 5321 section 3.8)', () => {
  for (const stage of ['mail', 'rcpt', 'data'] as const) {
    for (const f of LOST) {
      const what = `${stage} ${JSON.stringify(f)}`;
      for (const lastHost of [false, true]) {
        const v = judge(stage, f, { lastHost, rcptIndex: 2 });
        expect(v, { action: 'defer-message', maybeDelivered: undefined }, what);
        wellFormed(v, what);
      }
    }
  }
});

test('after the end of data, no reply means the message may have been delivered (RFC 1047)', () => {
  for (const f of LOST) {
    const what = `dot ${JSON.stringify(f)}`;
    for (const lastHost of [false, true]) {
      const v = judge('dot', f, { lastHost });
      expect(v, { action: 'defer-message', maybeDelivered: true }, what);
      assert.match(v.reason, /may have been delivered/);
      wellFormed(v, what);
    }
  }
  expect(judge('dot', { kind: 'garbage', reason: 'x' }, { lastHost: false }), { action: 'defer-host', maybeDelivered: true }, 'dot garbage');
  // A real reply settles it either way.
  expect(judge('dot', reply(451), { lastHost: false }), { action: 'defer-message', maybeDelivered: undefined }, 'dot 451');
});

test('garbage: another host before a transaction, this host deferred within one', () => {
  const g: Failure = { kind: 'garbage', reason: 'NUL in reply' };
  for (const stage of ['connect', 'banner', 'ehlo', 'helo'] as const) {
    expect(judge(stage, g, { lastHost: false }), { action: 'next-host', status: '4.5.0' }, stage);
    expect(judge(stage, g, { lastHost: true }), { action: 'defer-host', status: '4.5.0' }, stage);
  }
  for (const stage of ['mail', 'rcpt', 'data'] as const) {
    const v = judge(stage, g, { lastHost: false });
    expect(v, { action: 'defer-host', status: '4.5.0', maybeDelivered: undefined }, stage);
    assert.match(v.reason, /malformed reply after .*: NUL in reply/);
  }
  expect(judge('mail', { kind: 'garbage', reason: 'bad\r\nline' }, { lastHost: false }), { reason: 'malformed reply after MAIL FROM: bad  line' }, 'clean');
});

test('a positive reply where a failure was judged is a protocol error', () => {
  expect(judge('mail', reply(354), { lastHost: false }), { action: 'defer-host', status: '4.5.0' }, 'mail 354');
  expect(judge('banner', reply(250), { lastHost: false }), { action: 'next-host' }, 'banner 250');
  expect(judge('dot', reply(354), { lastHost: false }), { action: 'defer-host', maybeDelivered: true }, 'dot 354');
  expect(judge('starttls', reply(250), { lastHost: false }), { action: 'retry-without-tls', sameConnection: false }, 'starttls 250');
});

test('SMTPUTF8 not offered: 5.6.7, for the message or for one recipient (RFC 6531)', () => {
  for (const stage of STAGES) {
    const v = judge(stage, { kind: 'utf8-unsupported' }, { lastHost: false });
    expect(v, { action: stage === 'rcpt' ? 'fail-recipient' : 'fail-message', status: '5.6.7' }, stage);
    wellFormed(v, stage);
  }
});

test('too big for the announced SIZE: 5.3.4; null MX: 5.1.10 (RFC 7505)', () => {
  for (const stage of ['connect', 'ehlo', 'mail'] as const) {
    const big = judge(stage, { kind: 'too-big', limit: 1000 }, { lastHost: false });
    expect(big, { action: 'fail-message', status: '5.3.4' }, stage);
    assert.match(big.reason, /1000 octets/);
  }
  expect(judge('connect', { kind: 'null-mx' }, { lastHost: true }), { action: 'fail-message', status: '5.1.10' }, 'null mx');
});

test('anything after QUIT is ignored: every message was settled at its end of data', () => {
  for (const f of [...LOST, reply(421), reply(550), { kind: 'garbage', reason: 'x' } as const]) {
    const v = judge('quit', f, { lastHost: true });
    assert.equal(v.action, 'ignore');
    wellFormed(v, `quit ${JSON.stringify(f)}`);
  }
});

test('statusOf', () => {
  assert.equal(statusOf({ code: 550, enhanced: '5.1.1' }), '5.1.1');
  assert.equal(statusOf({ code: 550, enhanced: '5.01.010' }), '5.1.10');
  assert.equal(statusOf({ code: 550 }), '5.0.0');
  assert.equal(statusOf({ code: 451 }), '4.0.0');
  assert.equal(statusOf({ code: 250 }), '2.0.0');
  assert.equal(statusOf({ code: 250, enhanced: '2.1.5' }), '2.1.5');
  // An enhanced code of another class is not believed.
  assert.equal(statusOf({ code: 550, enhanced: '2.0.0' }), '5.0.0');
  assert.equal(statusOf({ code: 450, enhanced: '5.1.1' }), '4.0.0');
  assert.equal(statusOf({ code: 550, enhanced: 'junk' }), '5.0.0');
  // A 3xx has no class in RFC 3463; where judged it is a temporary protocol error.
  assert.equal(statusOf({ code: 354 }), '4.0.0');
});
