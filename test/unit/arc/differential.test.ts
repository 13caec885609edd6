// Differential tests against mailauth 4 (an independent ARC implementation), through its documented API
// (authenticate, sealMessage) and a resolver backed by the same DNS fixture: what Petrel seals, mailauth
// validates, and the reverse, over chains of several hops mixing both; broken copies fail in both.
// RSA only: mailauth 4.13 emits no ARC-Message-Signature when sealing with ed25519, and checks Ed25519 seals
// over the unhashed input, unlike its own signer and RFC 8463.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authenticate, sealMessage as mailauthSeal } from 'mailauth';
import type { ARCSealOptions, AuthenticateOptions } from 'mailauth';
import { mailauthResolver } from '../dkim/common.js';
import { FIXTURE, hop, KEYS, MESSAGES, NOW, petrelSeal, petrelValidate, prepend, removeField, replaceField, tamperBody } from './common.js';
import type { TestKey } from './common.js';

const T = { timeout: 120_000 };
const resolver = mailauthResolver(FIXTURE);
const RSA: TestKey[] = [KEYS.list, KEYS.forwarder, KEYS.gateway];

async function mailauthArc(message: Buffer): Promise<{ result: string; comment: string }> {
  const opts: AuthenticateOptions = { resolver, ip: '192.0.2.1', helo: 'mx.example.com', sender: 'alice@example.com', mta: 'mx.test', disableDmarc: true, disableBimi: true };
  const res = await authenticate(message, opts);
  return { result: res.arc ? res.arc.status.result : 'none', comment: res.arc ? String(res.arc.status.comment ?? '') : '' };
}

/** A hop sealed by mailauth: it validates, then seals with cv from its own verdict and an A-R of its own. */
async function mailauthHop(message: Buffer, key: TestKey): Promise<Buffer> {
  const arc = await mailauthArc(message);
  const seal: ARCSealOptions & { authResults: string; cv: string } = {
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: key.pem,
    signTime: new Date(NOW),
    authResults: `mx.${key.domain}; arc=${arc.result}; spf=pass smtp.mailfrom=example.com`,
    cv: arc.result,
  };
  const headers = await mailauthSeal(message, seal);
  return Buffer.concat([headers, message]);
}

test('chains sealed by Petrel pass in mailauth and in Petrel; broken copies fail in both', T, async () => {
  for (const [name, original] of Object.entries(MESSAGES)) {
    let message = original;
    for (let n = 1; n <= 3; n++) {
      message = await hop(message, RSA[(n - 1) % RSA.length] as TestKey);
      const what = `${name}, ${n} hop(s)`;
      assert.deepEqual(await mailauthArc(message).then((r) => r.result), 'pass', `mailauth: ${what}\n${message.toString()}`);
      const mine = await petrelValidate(message);
      assert.equal(mine.state, 'pass', `petrel: ${what}: ${mine.reason}`);
      assert.equal(mine.instances, n);

      const broken: [string, Buffer][] = [
        ['body', tamperBody(message)],
        ['Subject', replaceField(message, 'Subject:', 'Subject: changed')],
        ['AAR i=1', replaceField(message, 'ARC-Authentication-Results: i=1;', (old) => old.replace('arc=none', 'arc=pass'))],
        ['no AAR i=1', removeField(message, 'ARC-Authentication-Results: i=1;')],
        ['AS i=1 cv', replaceField(message, 'ARC-Seal: i=1;', (old) => old.replace('cv=none', 'cv=pass'))],
      ];
      if (n > 1) broken.push(['no AMS i=2', removeField(message, 'ARC-Message-Signature: i=2;')]);
      for (const [how, copy] of broken) {
        assert.equal((await mailauthArc(copy)).result, 'fail', `mailauth passed ${what} with ${how} changed`);
        assert.equal((await petrelValidate(copy)).state, 'fail', `petrel passed ${what} with ${how} changed`);
      }
    }
  }
});

test('chains sealed by mailauth pass in Petrel, and mixed chains pass in both', T, async () => {
  for (const [name, original] of Object.entries(MESSAGES)) {
    // mailauth, Petrel, mailauth, Petrel: each validates what the other sealed before adding its own set.
    let message = original;
    const sealers: ((m: Buffer, k: TestKey) => Promise<Buffer>)[] = [mailauthHop, hop, mailauthHop, hop];
    for (let n = 1; n <= sealers.length; n++) {
      const seal = sealers[n - 1] as (m: Buffer, k: TestKey) => Promise<Buffer>;
      message = await seal(message, RSA[n % RSA.length] as TestKey);
      const what = `${name}, ${n} set(s), last by ${seal === hop ? 'Petrel' : 'mailauth'}`;
      const mine = await petrelValidate(message);
      assert.equal(mine.state, 'pass', `petrel: ${what}: ${mine.reason}\n${message.toString()}`);
      assert.equal(mine.instances, n);
      assert.equal(mine.state === 'pass' && mine.oldestPass, 1, what);
      assert.equal((await mailauthArc(message)).result, 'pass', `mailauth: ${what}`);
      assert.equal((await petrelValidate(tamperBody(message))).state, 'fail', what);
    }
  }
});

test('a failed chain: both seal it with cv=fail over the new set alone, and both then call it failed', T, async () => {
  const base = await hop(await hop(MESSAGES.plain as Buffer, KEYS.list), KEYS.forwarder);
  const broken = tamperBody(base);
  assert.equal((await petrelValidate(broken)).state, 'fail');
  assert.equal((await mailauthArc(broken)).result, 'fail');

  const byPetrel = await hop(broken, KEYS.gateway);
  assert.match(byPetrel.toString('latin1'), /^ARC-Seal: i=3; a=rsa-sha256; cv=fail;/);
  const byMailauth = await mailauthHop(broken, KEYS.gateway);
  assert.match(byMailauth.toString('latin1'), /^ARC-Seal: i=3;[^\r]*cv=fail/);
  for (const [who, message] of [['petrel', byPetrel], ['mailauth', byMailauth]] as const) {
    const mine = await petrelValidate(message);
    assert.equal(mine.state, 'fail', who);
    assert.equal(mine.code, 'chain_failed', who);
    assert.equal((await mailauthArc(message)).result, 'fail', who);
  }
  // Neither adds a set after cv=fail (RFC 8617 section 5.1 step 2).
  assert.throws(() => petrelSeal(prepend(byPetrel, 'Authentication-Results: mx.gw.example.com; arc=fail'), { key: KEYS.gateway, authservId: 'mx.gw.example.com' }), /ARC_SEAL_CHAIN_FAILED/);
});

test('structure: gaps, duplicates, i=0, i>50 and a missing AAR fail in both; sets out of header order pass in both', T, async () => {
  const chain = await hop(await hop(await hop(MESSAGES.plain as Buffer, KEYS.list), KEYS.forwarder), KEYS.gateway);
  const text = chain.toString('latin1');
  const fieldsOf = (i: number): string[] => {
    const out: string[] = [];
    const re = /^ARC-[A-Za-z-]+: i=(\d+);[^\r]*(?:\r\n[ \t][^\r]*)*\r\n/gm;
    for (const m of text.matchAll(re)) if (Number(m[1]) === i) out.push(m[0]);
    return out;
  };
  const without = (parts: string[]) => Buffer.from(parts.reduce((t, p) => t.replace(p, ''), text), 'latin1');
  const set2 = fieldsOf(2);
  const seal1 = fieldsOf(1)[0] as string;
  const cases: [string, Buffer, 'pass' | 'fail'][] = [
    ['gap (no set 2)', without(set2), 'fail'],
    ['duplicate ARC-Seal i=1', Buffer.from(seal1 + text, 'latin1'), 'fail'],
    ['i=0', Buffer.from(text.replace(/^ARC-Seal: i=1;/m, 'ARC-Seal: i=0;'), 'latin1'), 'fail'],
    ['i=51', Buffer.from(text.replace(/^ARC-Seal: i=3;/m, 'ARC-Seal: i=51;'), 'latin1'), 'fail'],
    ['missing AAR i=2', without([set2[set2.length - 1] as string]), 'fail'],
    ['set 2 moved above set 3', Buffer.from(set2.join('') + without(set2).toString('latin1'), 'latin1'), 'pass'],
    ['set 1 moved to the top', Buffer.from(fieldsOf(1).join('') + without(fieldsOf(1)).toString('latin1'), 'latin1'), 'pass'],
  ];
  for (const [what, message, want] of cases) {
    const mine = await petrelValidate(message);
    assert.equal(mine.state, want, `petrel: ${what}: ${mine.reason}`);
    assert.equal((await mailauthArc(message)).result, want, `mailauth: ${what}`);
  }
});
