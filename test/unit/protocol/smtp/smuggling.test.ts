// SMTP smuggling conformance for protocol/smtp/data.ts (RFC 5321 section 4.1.1.4): the scanners' fake
// end-of-data sequences, read from the shared conformance data at test time, must never end DATA.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataDecoder } from '../../../../protocol/smtp/data.js';
import type { BareNewlinePolicy } from '../../../../protocol/smtp/data.js';

/** The repository root: the nearest directory above this file whose package.json is Petrel's. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'petrel-mta') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the petrel-mta repository root');
    dir = up;
  }
}

// shared/ is a sibling of the checkout.
const DATA_FILE = resolve(repoRoot(), '..', 'shared', 'conformance', 'smtp-smuggling', 'eod-sequences.json');

interface EodFile {
  hannob_smtpsmug: { sequences: Record<string, string> };
  sec_consult_the_login: { inbound_eod_sequences: string[]; outbound_eod_sequences: string[] };
}

function sequences(): { name: string; seq: string }[] {
  const data = JSON.parse(readFileSync(DATA_FILE, 'utf8')) as EodFile;
  const out: { name: string; seq: string }[] = [];
  for (const [name, seq] of Object.entries(data.hannob_smtpsmug.sequences)) out.push({ name: `hannob/${name}`, seq });
  data.sec_consult_the_login.inbound_eod_sequences.forEach((seq, i) => out.push({ name: `sec-consult/inbound[${i}]`, seq }));
  data.sec_consult_the_login.outbound_eod_sequences.forEach((seq, i) => out.push({ name: `sec-consult/outbound[${i}]`, seq }));
  return out;
}

const HEAD = 'Subject: x\r\n\r\nhello';
const SMUGGLED = 'MAIL FROM:<smuggled@evil>\r\nRCPT TO:<victim@x>\r\nDATA\r\nsmuggled\r\n';
const END = '\r\n.\r\n';

/** A CR not followed by LF, or an LF not preceded by CR. */
const hasBare = (s: string): boolean => /\r(?!\n)|(?<!\r)\n/.test(s);

test('the conformance file is there and lists the scanners\' sequences', () => {
  const all = sequences();
  // 10 from hannob/smtpsmug, 7 inbound and 9 outbound from SEC Consult's scanner.
  assert.equal(all.length, 26);
  assert.ok(all.some((s) => s.seq === '\n.\n'));
  assert.ok(all.some((s) => s.seq === '\r\n\0.\r\n'));
});

for (const policy of ['reject', 'normalize'] as const satisfies readonly BareNewlinePolicy[]) {
  test(`smuggling sequences never end DATA; only the final <CRLF>.<CRLF> does (${policy})`, () => {
    for (const { name, seq } of sequences()) {
      const body = Buffer.from(HEAD + seq + SMUGGLED + END, 'latin1');

      // One shot: ends, with nothing left over, and the smuggled commands are message content.
      const d = new DataDecoder({ bareNewline: policy, maxLineLength: 998 });
      const r = d.feed(body);
      assert.equal(r.end, true, `${name}: must end at the final marker`);
      assert.equal(r.rest.length, 0, `${name}: nothing after the real end`);
      const content = Buffer.concat(r.out).toString('latin1');
      assert.ok(content.includes('MAIL FROM:<smuggled@evil>\r\nRCPT TO:<victim@x>\r\nDATA\r\nsmuggled\r\n'), `${name}: smuggled text is content`);
      assert.ok(content.startsWith(HEAD), name);
      assert.ok(content.endsWith('smuggled\r\n\r\n'), name);
      if (policy === 'reject') {
        assert.equal(d.flags.bareNewline, hasBare(seq), `${name}: bareNewline flag`);
      } else {
        assert.equal(hasBare(content), false, `${name}: normalized content has CRLF line endings only`);
      }

      // Without its last byte the body does not end at all.
      const short = new DataDecoder({ bareNewline: policy, maxLineLength: 998 });
      assert.equal(short.feed(body.subarray(0, body.length - 1)).end, false, `${name}: no earlier end`);

      // Byte by byte: end is reported on the very last byte only, with the same content and flags.
      const bytewise = new DataDecoder({ bareNewline: policy, maxLineLength: 998 });
      const out: Buffer[] = [];
      for (let i = 0; i < body.length; i++) {
        const step = bytewise.feed(body.subarray(i, i + 1));
        out.push(...step.out);
        assert.equal(step.end, i === body.length - 1, `${name}: byte ${i} of ${body.length}`);
        assert.equal(step.rest.length, 0, `${name}: byte ${i}`);
      }
      assert.equal(Buffer.concat(out).toString('latin1'), content, `${name}: byte-by-byte content`);
      assert.deepEqual(bytewise.flags, d.flags, `${name}: byte-by-byte flags`);
      assert.equal(bytewise.size, d.size, `${name}: byte-by-byte size`);
    }
  });
}

test('sequences with a bare CR or LF are flagged under reject; the NUL variants are not', () => {
  const flagged: string[] = [];
  const clean: string[] = [];
  for (const { name, seq } of sequences()) {
    const d = new DataDecoder({ bareNewline: 'reject', maxLineLength: 998 });
    d.feed(Buffer.from(HEAD + seq + SMUGGLED + END, 'latin1'));
    (d.flags.bareNewline ? flagged : clean).push(name);
  }
  assert.deepEqual(clean.sort(), ['hannob/nullafter', 'hannob/nullbefore', 'sec-consult/inbound[6]', 'sec-consult/outbound[8]']);
  assert.equal(flagged.length, 22);
});
