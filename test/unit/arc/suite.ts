// The ValiMail ARC suites (draft-ietf-dmarc-arc-protocol-18 test data) read from ../shared/conformance/arc-valimail,
// following ../shared/conformance/README.md ("ARC YAML"): messages in CRLF, txt-records with p= compacted.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { createFixtureResolver } from '../../../net/dns/resolver.js';
import type { DnsFixture } from '../../../net/dns/resolver.js';
import type { DkimResolver } from '../../../protocol/dkim/index.js';

/** The repository root: the nearest directory above this file holding package.json (works from src and dist). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export function suitePath(file: string): string {
  return resolve(repoRoot(), '..', 'shared', 'conformance', 'arc-valimail', file);
}

/**
 * The suite's YAML. Four validation test names appear twice in one scenario (as_fields_b_head_case,
 * as_fields_b_head_unfold, as_fields_b_eol_wsp, as_fields_b_inl_wsp); PyYAML, which the upstream harness uses,
 * keeps the later one, and so does js-yaml's `json` mode: that gives the 171 tests SOURCES.md counts.
 */
function load(file: string): Record<string, unknown>[] {
  const docs = loadAll(readFileSync(suitePath(file), 'utf8'), null, { json: true });
  return docs.filter((d): d is Record<string, unknown> => d !== null && typeof d === 'object');
}

/** Earlier copies of the duplicated names, so that they can be checked too (same expectation). */
export function duplicatedValidationTests(): { name: string; message: Buffer; cv: string }[] {
  const text = readFileSync(suitePath('arc-draft-validation-tests.yml'), 'utf8');
  const out: { name: string; message: Buffer; cv: string }[] = [];
  const seen = new Set<string>();
  const re = /^ {2}([a-z0-9_]+):\n((?: {4}.*\n|\n)+?)(?= {2}[a-z0-9_]+:\n|[a-z])/gm;
  for (const m of text.matchAll(re)) {
    const name = m[1] as string;
    if (seen.has(name)) {
      const parsed = loadAll(`x:\n${m[2]}`, null, { json: true })[0] as { x: { message: string; cv: string } };
      out.push({ name: `${name} (first copy)`, message: crlf(parsed.x.message), cv: parsed.x.cv });
    }
    seen.add(name);
  }
  return out;
}

export const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

/** One TXT record per name, p= with its whitespace removed, cut into 255-octet character-strings. */
export function txtFixture(records: Record<string, unknown>): DnsFixture {
  const fixture: DnsFixture = {};
  for (const [name, value] of Object.entries(records)) {
    const text = String(value)
      .replace(/p=([^;]*)/, (_m, p: string) => `p=${p.replace(/\s+/g, '')}`)
      .trim();
    const strings: string[] = [];
    for (let i = 0; i < text.length; i += 255) strings.push(text.slice(i, i + 255));
    fixture[name.toLowerCase()] = { TXT: [strings] };
  }
  return fixture;
}

export interface ValidationCase {
  readonly scenario: string;
  readonly name: string;
  readonly description: string;
  readonly message: Buffer;
  /** Pass, Fail, None, or '' (three tests). */
  readonly cv: string;
  readonly fixture: DnsFixture;
  readonly dns: DkimResolver;
}

export function validationCases(): ValidationCase[] {
  const out: ValidationCase[] = [];
  for (const doc of load('arc-draft-validation-tests.yml')) {
    const fixture = txtFixture((doc['txt-records'] ?? {}) as Record<string, unknown>);
    const dns = createFixtureResolver(fixture);
    for (const [name, t] of Object.entries(doc.tests as Record<string, Record<string, unknown>>)) {
      out.push({
        scenario: String(doc.description ?? ''),
        name,
        description: String(t.description ?? ''),
        message: crlf(String(t.message ?? '')),
        cv: String(t.cv ?? '').trim(),
        fixture,
        dns,
      });
    }
  }
  return out;
}

export interface SigningCase {
  readonly scenario: string;
  readonly name: string;
  readonly description: string;
  readonly message: Buffer;
  /** Seconds since the epoch for t=. */
  readonly t: number;
  readonly headers: readonly string[];
  readonly srvId: string;
  readonly domain: string;
  readonly selector: string;
  readonly privateKey: string;
  readonly fixture: DnsFixture;
  /** Expected values ('' when no set must be added). */
  readonly as: string;
  readonly ams: string;
  readonly aar: string;
}

export function signingCases(): SigningCase[] {
  const out: SigningCase[] = [];
  for (const doc of load('arc-draft-sign-tests.yml')) {
    const fixture = txtFixture((doc['txt-records'] ?? {}) as Record<string, unknown>);
    for (const [name, t] of Object.entries(doc.tests as Record<string, Record<string, unknown>>)) {
      out.push({
        scenario: String(doc.description ?? ''),
        name,
        description: String(t.description ?? ''),
        message: crlf(String(t.message ?? '')),
        t: Number(t.t),
        headers: String(t['sig-headers'] ?? '').split(':'),
        srvId: String(t['srv-id'] ?? ''),
        domain: String(doc.domain),
        selector: String(doc.sel),
        privateKey: String(doc.privatekey),
        fixture,
        as: String(t.AS ?? '').trim(),
        ams: String(t.AMS ?? '').trim(),
        aar: String(t.AAR ?? '').trim(),
      });
    }
  }
  return out;
}

/** The README.upstream.md normalization the harness compares by: every whitespace character removed. */
export function squeeze(value: string): string {
  return value.replace(/\s+/g, '');
}
