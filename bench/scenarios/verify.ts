// inbound-verify: inbound-reuse against Petrel without message authentication and with SPF, DKIM, ARC and DMARC verified (DKIM-signed messages, a DNS server on loopback).

// The verifying daemon asks a DNS server run by the bench (dns-fixture-server.ts) for the sender
// domain's SPF record, DKIM key and DMARC policy; SPF is evaluated at MAIL (acl_smtp_mail), DKIM,
// ARC and DMARC at the end of DATA, and the data ACL adds their Authentication-Results. Every
// message is one DKIM-signed message (RSA-2048, relaxed/relaxed), signed once before the run. After
// the run, messages from the queue are sampled: without dkim, spf and dmarc=pass the run fails.

import { generateKeyPairSync } from 'node:crypto';
import { BenchError } from '../errors.js';
import { queryCounts, startDnsServer, txtStrings, type DnsFixture, type TestDnsServer } from '../dns-fixture-server.js';
import { LOAD_DEFAULTS } from '../loadgen/index.js';
import { envelope, MessageFactory } from '../loadgen/message.js';
import type { PeerTarget, RunningPeer } from '../peers/types.js';
import { createBodyHasher, signMessage, splitHeaderFields, splitMessage } from '../../protocol/dkim/index.js';
import type { InboundProbe, ScenarioHooks, ScenarioLoad, ScenarioReport, ScenarioSpec } from './types.js';
import { costPercent, petrelOf, rateOf, runPetrelVariants, variantRunCount, withChecks, type InboundVariant } from './variants.js';

/** Our ADMD: the authserv-id of the Authentication-Results the data ACL adds. */
export const AUTHSERV_ID = 'bench.petrel.test';
/** The load generator's sender domain: MAIL FROM, From: and the signing domain (d=) all use it. */
export const SIGNING_DOMAIN = LOAD_DEFAULTS.senderDomain;
export const SELECTOR = 'bench2048';

/** The daemon keys of the verifying variant. */
export function verifyConfig(dnsServer: string): Record<string, unknown> {
  return {
    dns_servers: [dnsServer],
    dmarc_verify: true,
    arc_verify: true,
    // `warn spf = pass` makes the SPF check happen at MAIL, whatever its result.
    acl_smtp_mail: 'warn spf = pass\naccept',
    acl_smtp_data: `warn add_header = :at_start:\${authresults{${AUTHSERV_ID}}}\naccept`,
  };
}

/** SPF, the DKIM key and DMARC p=reject of the signing domain. */
export function verifyFixture(publicKeyBase64: string): DnsFixture {
  return {
    [SIGNING_DOMAIN]: { TXT: [['v=spf1 ip4:127.0.0.1 -all']] },
    [`${SELECTOR}._domainkey.${SIGNING_DOMAIN}`]: { TXT: [txtStrings(`v=DKIM1; k=rsa; p=${publicKeyBase64}`)] },
    [`_dmarc.${SIGNING_DOMAIN}`]: { TXT: [['v=DMARC1; p=reject']] },
  };
}

/** `message` with a DKIM-Signature (rsa-sha256, relaxed/relaxed, d= the signing domain) on top. */
export function dkimSigned(message: Buffer, privateKeyPem: string): Buffer {
  const { header, body } = splitMessage(message);
  const hasher = createBodyHasher('relaxed', 'sha256');
  hasher.update(body);
  const signed = signMessage(splitHeaderFields(header), hasher.digest(), {
    domain: SIGNING_DOMAIN,
    selector: SELECTOR,
    privateKey: privateKeyPem,
    canon: 'relaxed/relaxed',
  });
  if (signed.kind !== 'ok') throw new BenchError('ERR_BENCH_CHECK', `cannot sign the bench message: ${signed.code}: ${signed.reason}`);
  return Buffer.concat([Buffer.from(`${signed.header}\r\n`, 'latin1'), message]);
}

/**
 * The one message every session sends: a load generator message (the same header fields as the
 * generated ones, From: at the signing domain) signed once, `size` octets with its signature when
 * the size allows. Returned as latin1 text, the form of LoadOptions.message.
 */
export function signedBenchMessage(size: number, privateKeyPem: string): string {
  const env = envelope(SIGNING_DOMAIN, LOAD_DEFAULTS.recipientDomain, 1);
  const build = (octets: number): Buffer => {
    const f = new MessageFactory({ size: Math.max(1, octets), sender: env.sender, recipients: env.recipients, worker: 0, hostname: LOAD_DEFAULTS.ehloName });
    return Buffer.concat([Buffer.from(f.headers(0), 'latin1'), f.body]);
  };
  // The signature's length depends on the header fields only (b= and bh= have fixed lengths):
  // sign once to learn it, then build the message that leaves room for it.
  const first = dkimSigned(build(size), privateKeyPem);
  const signatureLength = first.length - size;
  return dkimSigned(build(size - signatureLength), privateKeyPem).toString('latin1');
}

/** The Authentication-Results fields of `petrel queue show` output, unfolded. */
export function authResultsOf(showOutput: string): string[] {
  const out: string[] = [];
  const lines = showOutput.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (!/^Authentication-Results:/i.test(lines[i] ?? '')) continue;
    let field = lines[i] ?? '';
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1] ?? '')) field += ` ${(lines[++i] ?? '').trim()}`;
    out.push(field.replace(/\s+/g, ' ').trim());
  }
  return out;
}

/** What a sample must show: our authserv-id, and pass for each method. */
export function authProblem(fields: readonly string[]): string | undefined {
  const ours = fields.find((f) => f.toLowerCase().startsWith(`authentication-results: ${AUTHSERV_ID};`));
  if (!ours) return fields.length === 0 ? 'no Authentication-Results field' : `no Authentication-Results of ${AUTHSERV_ID} (${fields.join(' | ')})`;
  const missing = ['dkim', 'spf', 'dmarc'].filter((m) => !new RegExp(`\\b${m}=pass\\b`, 'i').test(ours));
  return missing.length > 0 ? `no ${missing.map((m) => `${m}=pass`).join(', ')} in "${ours}"` : undefined;
}

/** Queue ids from `petrel queue list --json` output as it streams (one message per line). */
class IdCollector {
  readonly ids: string[] = [];
  #rest = '';

  push(chunk: string): void {
    const text = this.#rest + chunk;
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^,?\{"id":"([^"]+)"/.exec(line);
      if (m?.[1]) this.ids.push(m[1]);
    }
  }
}

/**
 * After the run, before the daemon stops: lists its queue and looks at a few messages (first, middle,
 * last). Throws ERR_BENCH_CHECK unless each has our Authentication-Results with dkim, spf and dmarc=pass.
 */
export async function checkQueuedAuth(peer: RunningPeer, system: string, dns?: TestDnsServer): Promise<string[]> {
  const fail = (why: string): never => {
    throw new BenchError('ERR_BENCH_CHECK', `${system} did not verify the bench messages: ${why}`);
  };
  if (!peer.command) return fail('it cannot show its queue');
  const collector = new IdCollector();
  const listed = await peer.command(['queue', 'list', '--json'], (c) => collector.push(c));
  if (listed.code !== 0) fail(`petrel queue list exited ${listed.code}: ${listed.stderr.trim().slice(-300)}`);
  const ids = collector.ids;
  if (ids.length === 0) fail('its queue is empty');
  const samples = [...new Set([ids[0], ids[Math.floor(ids.length / 2)], ids[ids.length - 1]])].filter((id): id is string => id !== undefined);
  let example = '';
  for (const id of samples) {
    const shown = await peer.command(['queue', 'show', id]);
    if (shown.code !== 0) fail(`petrel queue show ${id} exited ${shown.code}: ${shown.stderr.trim().slice(-300)}`);
    const fields = authResultsOf(shown.stdout);
    const problem = authProblem(fields);
    if (problem) fail(`message ${id} of ${ids.length} queued: ${problem}`);
    example ||= fields[0] ?? '';
  }
  const lines = [`${samples.length} of ${ids.length} queued messages sampled, each with spf, dkim and dmarc=pass: ${example}`];
  if (dns) {
    const asked = [...queryCounts(dns).entries()].map(([q, n]) => `${q} x${n}`).join(', ');
    lines.push(`DNS server on ${dns.server} answered ${dns.queries.length} queries (${asked})`);
  }
  return lines;
}

async function runVerifyScenario(spec: ScenarioSpec, load: ScenarioLoad, targets: readonly PeerTarget[], hooks: ScenarioHooks): Promise<ScenarioReport> {
  const report = { name: spec.name, kind: spec.kind, description: spec.description, load };
  const petrel = petrelOf(targets);
  if (!petrel) return { ...report, runs: [] };
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const message = signedBenchMessage(load.size, pem);
  const dns = await startDnsServer(verifyFixture(publicKey.export({ format: 'der', type: 'spki' }).toString('base64')));
  try {
    const name = `${petrel.name}+verify`;
    const probe = async (peer: RunningPeer): Promise<InboundProbe> => ({ finish: () => checkQueuedAuth(peer, name, dns) });
    const variants: InboundVariant[] = [
      { suffix: '', description: 'no message authentication (no DMARC, no ACLs), unsigned messages' },
      {
        suffix: '+verify',
        description: 'SPF at MAIL, DKIM, ARC and DMARC at end of DATA, Authentication-Results added; DKIM-signed messages (RSA-2048)',
        config: verifyConfig(dns.server),
        extras: { message, probe },
      },
    ];
    // Verifying first: the ratio column then reads verifying/plain.
    const runs = await runPetrelVariants(spec, load, petrel, hooks, variants, [1, 0]);
    const [on, off] = runs;
    const onRate = rateOf(on);
    const offRate = rateOf(off);
    if (on && onRate !== undefined && offRate !== undefined) {
      runs[0] = withChecks(on, [`signed message of ${Buffer.byteLength(message, 'latin1')} octets; verifying costs ${costPercent(onRate, offRate)} of the rate without it`]);
    }
    return { ...report, runs };
  } finally {
    await dns.close();
  }
}

export const VERIFY_SCENARIOS: Readonly<Record<string, ScenarioSpec>> = {
  'inbound-verify': {
    name: 'inbound-verify',
    kind: 'inbound',
    description:
      'inbound-reuse by Petrel without message authentication (unsigned messages) and with SPF (at MAIL), DKIM, ARC and DMARC verified ' +
      '(DKIM-signed RSA-2048 messages, DMARC p=reject, records from a DNS server on loopback), Authentication-Results added; ' +
      'a size mix is not used (the one signed message has the mean size)',
    messagesPerConnection: 100,
    size: 2048,
    concurrency: 20,
    recipients: 1,
    run: runVerifyScenario,
    runCount: variantRunCount(2),
  },
};
