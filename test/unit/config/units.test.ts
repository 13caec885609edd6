// Unit tests for config/units.ts: Exim-style times ("5m") and sizes ("50M"), and listen addresses.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseHostPort, parseSize, parseTime } from '../../../config/units.js';

test('parseTime: units, combinations and bare numbers of seconds, in milliseconds', () => {
  const cases: [string | number, number][] = [
    ['5m', 300_000],
    ['30s', 30_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['5m500ms', 300_500],
    ['1.5s', 1500],
    ['0.5m', 30_000],
    ['90', 90_000],
    ['0', 0],
    [' 5m ', 300_000],
    [45, 45_000],
    [0.25, 250],
    [0, 0],
  ];
  for (const [input, ms] of cases) assert.equal(parseTime(input), ms, JSON.stringify(input));
});

test('parseTime: malformed values are null', () => {
  for (const bad of ['', ' ', 'm', '5x', '5 m', '5M', '5mm', '-5s', '5s-', '1h 30m', 'ms', '5m30', '1e3', 'five minutes']) {
    assert.equal(parseTime(bad), null, JSON.stringify(bad));
  }
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseTime(bad), null, String(bad));
});

test('parseSize: K, M, G are powers of 1024, optional B, any case', () => {
  const cases: [string | number, number][] = [
    ['50M', 52_428_800],
    ['64K', 65_536],
    ['1G', 1_073_741_824],
    ['100', 100],
    ['0', 0],
    ['1.5M', 1_572_864],
    ['50m', 52_428_800],
    ['50MB', 52_428_800],
    ['64kb', 65_536],
    ['10B', 10],
    ['50 M', 52_428_800],
    [' 1K ', 1024],
    [1000, 1000],
    [0, 0],
  ];
  for (const [input, octets] of cases) assert.equal(parseSize(input), octets, JSON.stringify(input));
});

test('parseSize: malformed values are null', () => {
  for (const bad of ['', 'M', '50T', '50KiB', '-1', '1e6', '5 0M', 'fifty', '50MM']) {
    assert.equal(parseSize(bad), null, JSON.stringify(bad));
  }
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseSize(bad), null, String(bad));
});

test('parseHostPort: IPv4, names, bracketed IPv6, port range', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:2525'), { host: '127.0.0.1', port: 2525 });
  assert.deepEqual(parseHostPort('mx.example.net:25'), { host: 'mx.example.net', port: 25 });
  assert.deepEqual(parseHostPort('[::1]:587'), { host: '::1', port: 587 });
  assert.deepEqual(parseHostPort('[2001:db8::25]:465'), { host: '2001:db8::25', port: 465 });
  assert.deepEqual(parseHostPort('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseHostPort('localhost:65535'), { host: 'localhost', port: 65535 });
  for (const bad of ['127.0.0.1', '::1:25', ':25', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:123456', '[::1]25', 'host:port', '[]:25']) {
    assert.equal(parseHostPort(bad), null, bad);
  }
});
