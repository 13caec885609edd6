// Differential tests against mailauth 4 (an independent DKIM implementation): what Petrel signs, mailauth
// verifies, and the reverse; tampered copies (body octet, signed header, extra From) fail in both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import { addFrom, keyFixture, KEYS, mailauthResolver, MESSAGES, petrelSign, petrelVerify, tamperBody, tamperSubject } from './common.js';
import type { TestKey } from './common.js';

const T = { timeout: 60_000 };
const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const fixture = keyFixture([KEYS.rsa, KEYS.ed]);
const ports = { dns: createFixtureResolver(fixture), now: () => NOW };
const resolver = mailauthResolver(fixture);

async function mailauthStatuses(message: Buffer): Promise<string[]> {
  const res = await dkimVerify(message, { resolver, curTime: new Date(NOW) });
  return res.results.map((r) => r.status.result);
}

async function petrelStatuses(message: Buffer): Promise<string[]> {
  return (await petrelVerify(message, ports)).signatures.map((r) => r.status);
}

const CANONS = ['relaxed/relaxed', 'simple/simple', 'relaxed/simple', 'simple/relaxed'] as const;
const SIGNERS: [string, TestKey][] = [['rsa-2048', KEYS.rsa], ['ed25519', KEYS.ed]];

test('messages signed by Petrel pass in mailauth and in Petrel; tampered copies fail in both', T, async () => {
  for (const [keyName, key] of SIGNERS) {
    for (const canon of CANONS) {
      for (const oversign of [false, true]) {
        for (const [msgName, message] of Object.entries(MESSAGES)) {
          const what = `${keyName} ${canon} oversign=${oversign} ${msgName}`;
          const signed = petrelSign(message, { key, canon, oversign, now: NOW, expiresIn: 86400, identity: `alice@mail.${'example.org'}` });
          assert.deepEqual(await mailauthStatuses(signed), ['pass'], `mailauth: ${what}\n${signed.toString()}`);
          assert.deepEqual(await petrelStatuses(signed), ['pass'], `petrel: ${what}`);

          const tampered: [string, Buffer][] = [['body', tamperBody(signed)], ['subject', tamperSubject(signed)], ['From at the bottom', addFrom(signed, 'bottom')]];
          if (oversign) tampered.push(['From at the top', addFrom(signed, 'top')]);
          for (const [how, copy] of tampered) {
            const ma = await mailauthStatuses(copy);
            const pe = await petrelStatuses(copy);
            assert.notEqual(ma[0], 'pass', `mailauth passed a copy with ${how} changed: ${what}`);
            assert.equal(pe[0], 'fail', `petrel did not fail a copy with ${how} changed: ${what}`);
          }
          if (!oversign) {
            // Without oversigning a From added above the signed one is not covered: both implementations agree.
            const copy = addFrom(signed, 'top');
            assert.deepEqual(await mailauthStatuses(copy), ['pass'], what);
            assert.deepEqual(await petrelStatuses(copy), ['pass'], what);
          }
        }
      }
    }
  }
});

test('messages signed by mailauth pass in Petrel; tampered copies fail in both', T, async () => {
  for (const [keyName, key] of SIGNERS) {
    for (const canon of CANONS) {
      for (const [msgName, message] of Object.entries(MESSAGES)) {
        const what = `${keyName} ${canon} ${msgName}`;
        const res = await dkimSign(message, {
          canonicalization: canon,
          algorithm: keyName === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256',
          signTime: new Date(NOW),
          signatureData: [{ signingDomain: 'example.org', selector: key.selector, privateKey: key.pem, algorithm: keyName === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256' }],
        } as Parameters<typeof dkimSign>[1]);
        assert.deepEqual(res.errors, [], what);
        const signed = Buffer.concat([Buffer.from(res.signatures, 'latin1'), message]);
        assert.deepEqual(await mailauthStatuses(signed), ['pass'], `mailauth self-check: ${what}`);
        const out = await petrelVerify(signed, ports);
        assert.deepEqual(out.signatures.map((r) => `${r.status} ${r.reason}`), ['pass signature verified'], `petrel: ${what}\n${signed.toString()}`);
        assert.equal(out.signatures[0]?.canonHeaders, canon.split('/')[0]);

        for (const [how, copy] of [['body', tamperBody(signed)], ['subject', tamperSubject(signed)], ['From at the bottom', addFrom(signed, 'bottom')]] as const) {
          const ma = await mailauthStatuses(copy);
          const pe = await petrelStatuses(copy);
          assert.notEqual(ma[0], 'pass', `mailauth passed a copy with ${how} changed: ${what}`);
          assert.equal(pe[0], 'fail', `petrel did not fail a copy with ${how} changed: ${what}`);
        }
      }
    }
  }
});

test('a body length limit (l=) signed by mailauth: Petrel passes it and reports the unsigned tail', T, async () => {
  const message = MESSAGES.plain as Buffer;
  const res = await dkimSign(message, {
    signTime: new Date(NOW),
    signatureData: [{ signingDomain: 'example.org', selector: KEYS.rsa.selector, privateKey: KEYS.rsa.pem, maxBodyLength: 5 }],
  } as Parameters<typeof dkimSign>[1]);
  const signed = Buffer.concat([Buffer.from(res.signatures, 'latin1'), message, Buffer.from('Appended by a list\r\n')]);
  const out = await petrelVerify(signed, ports);
  assert.equal(out.signatures[0]?.status, 'pass', out.signatures[0]?.reason);
  assert.equal(out.signatures[0]?.bodyLength, 5);
  assert.equal(out.signatures[0]?.unsignedTrailingContent, true);
  assert.deepEqual(await mailauthStatuses(signed), ['pass']);
});
