// Unit tests for store/ids.ts: time-sortable message ids (Crockford base32, 48-bit ms + 30-bit tail).
import test from 'node:test';
import assert from 'node:assert/strict';
import { ID_PATTERN, createIdGenerator, idTime } from '../../../store/ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A clock that returns the given times in turn, then the last one forever. */
function clock(...times: number[]): () => number {
  let i = 0;
  return () => times[Math.min(i++, times.length - 1)] as number;
}

function assertIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok((ids[i - 1] as string) < (ids[i] as string), `id ${i - 1} ${ids[i - 1]} !< ${ids[i]}`);
  }
}

test('ids are 16 characters of the Crockford alphabet', () => {
  const next = createIdGenerator(() => Date.UTC(2025, 0, 1), () => 0xffffffff);
  for (let i = 0; i < 100; i++) {
    const id = next();
    assert.equal(id.length, 16);
    for (const ch of id) assert.ok(ALPHABET.includes(ch), `${ch} in ${id}`);
    assert.match(id, ID_PATTERN);
  }
  // The pattern excludes I, L, O and U, and lower case.
  for (const bad of ['0000000000000000I', '000000000000000I', '000000000000000L', '000000000000000O', '000000000000000U', '000000000000000a', '000000000000000']) {
    assert.doesNotMatch(bad, ID_PATTERN, bad);
  }
});

test('known encoding: time in the first 10 characters, tail in the last 6', () => {
  const next = createIdGenerator(() => 0, () => 0);
  assert.equal(next(), '0000000000000000');
  assert.equal(next(), '0000000000000001', 'same millisecond: the tail counts up');
  const later = createIdGenerator(() => 32, () => 33);
  assert.equal(later(), '0000000010000011');
  assert.equal(idTime('0000000010000011'), 32);
  // The largest 48-bit time.
  const max = 2 ** 48 - 1;
  const big = createIdGenerator(() => max, () => 0)();
  assert.equal(big.slice(0, 10), '7ZZZZZZZZZ');
  assert.equal(idTime(big), max);
});

test('ids strictly increase within one millisecond', () => {
  const next = createIdGenerator(() => 1_700_000_000_000, () => 123_456_789);
  const ids = Array.from({ length: 10_000 }, () => next());
  assertIncreasing(ids);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.equal(idTime(id), 1_700_000_000_000);
});

test('ids strictly increase across milliseconds, whatever the random tail', () => {
  // The tail of a later millisecond may start lower than the last tail of the earlier one.
  const randoms = [0x1fffffff, 0, 0x0fffffff, 1];
  let r = 0;
  const next = createIdGenerator(clock(1000, 1000, 1000, 1001, 1002, 1002, 1003), () => randoms[r++ % randoms.length] as number);
  const ids = Array.from({ length: 7 }, () => next());
  assertIncreasing(ids);
  assert.deepEqual(ids.map(idTime), [1000, 1000, 1000, 1001, 1002, 1002, 1003]);
});

test('a clock that steps back does not break the order', () => {
  const next = createIdGenerator(clock(5000, 4000, 3000, 5001), () => 7);
  const ids = [next(), next(), next(), next()];
  assertIncreasing(ids);
  assert.deepEqual(ids.map(idTime), [5000, 5000, 5000, 5001]);
});

test('idTime round trip for real times', () => {
  for (const ms of [0, 1, 31, 32, 1_000_000, Date.UTC(2000, 0, 1), Date.UTC(2024, 1, 29, 12, 0, 0, 123), Date.UTC(9999, 11, 31)]) {
    const id = createIdGenerator(() => ms, () => 987_654_321)();
    assert.equal(idTime(id), ms, `${ms} -> ${id}`);
  }
});

test('ids sort like their times: string order is time order', () => {
  const times = [Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 1) + 1, Date.UTC(2024, 0, 2), Date.UTC(2030, 5, 5)];
  const ids = times.map((t) => createIdGenerator(() => t, () => 0x3fffffff)());
  assertIncreasing(ids);
});

test('processes with different slots never make the same id, even with the same clock and randomness', () => {
  // The worst case for random starts: every process draws the same number in the same millisecond.
  const gens = [0, 1, 2, 63].map((slot) => createIdGenerator(clock(7000, 7000, 7000, 7001), () => 12345, slot));
  const seen = new Set<string>();
  for (let round = 0; round < 4; round++) {
    for (const next of gens) {
      const id = next();
      assert.ok(!seen.has(id), `duplicate ${id}`);
      seen.add(id);
      assert.match(id, ID_PATTERN);
    }
  }
  // Without slots, the same inputs do collide: that is what slots are for.
  const a = createIdGenerator(() => 7000, () => 12345)();
  const b = createIdGenerator(() => 7000, () => 12345)();
  assert.equal(a, b);
});

test('a slot keeps ids time-ordered and inside its own share of the tail', () => {
  const space = 2 ** 30 / 2 ** 6;
  const tailOf = (id: string): number => {
    let v = 0;
    for (const ch of id.slice(10)) v = v * 32 + ALPHABET.indexOf(ch);
    return v;
  };
  const next = createIdGenerator(() => 9000, () => 0xffffffff, 5);
  const ids = [next(), next(), next()];
  assertIncreasing(ids);
  for (const id of ids) {
    assert.equal(idTime(id), 9000);
    assert.ok(tailOf(id) >= 5 * space && tailOf(id) < 6 * space, `${id}: tail ${tailOf(id)} outside slot 5`);
  }
});
