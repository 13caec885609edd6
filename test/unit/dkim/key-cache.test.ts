// Unit test of the key-record cache a caller may pass to DKIM verification (DkimPorts.keyCache): a record is
// parsed once per text, a changed record is parsed again, and a cached parse gives the same verdicts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { KeyRecordCache } from '../../../protocol/dkim/index.js';
import { keyFixture, KEYS, MESSAGES, petrelSign, petrelVerify, tamperBody } from './common.js';

function countingCache(): KeyRecordCache & { gets: number; sets: number; hits: number } {
  const m = new Map<string, unknown>();
  const c = {
    gets: 0,
    sets: 0,
    hits: 0,
    get(record: string) {
      c.gets++;
      const v = m.get(record);
      if (v !== undefined) c.hits++;
      return v;
    },
    set(record: string, parsed: unknown) {
      c.sets++;
      m.set(record, parsed);
    },
  };
  return c;
}

test('a key record is parsed once per text; the cached key verifies pass and fail alike', async () => {
  const cache = countingCache();
  const signed = petrelSign(MESSAGES.plain as Buffer, { key: KEYS.rsa });
  const ports = { dns: createFixtureResolver(keyFixture([KEYS.rsa, KEYS.ed])), now: Date.now, keyCache: cache };
  for (let i = 0; i < 3; i++) {
    const v = await petrelVerify(signed, ports);
    assert.deepEqual(v.signatures.map((s) => s.status), ['pass']);
  }
  assert.equal(cache.sets, 1, 'parsed once');
  assert.equal(cache.hits, 2, 'then taken from the cache');
  const bad = await petrelVerify(tamperBody(signed), ports);
  assert.deepEqual(bad.signatures.map((s) => s.status), ['fail']);
  assert.equal(cache.sets, 1);

  // The selector now publishes another key: its text differs, so it is parsed, and the old signature fails.
  const other = { ...KEYS.rsa, txt: KEYS.ed.txt };
  const changed = { dns: createFixtureResolver(keyFixture([other])), now: Date.now, keyCache: cache };
  const v = await petrelVerify(signed, changed);
  assert.notEqual(v.signatures[0]?.status, 'pass');
  assert.equal(cache.sets, 2);
});
