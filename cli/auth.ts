// `petrel auth spf` and `petrel auth report`: run Petrel's SPF, DKIM, DMARC and ARC verifiers on the command line
// (issue 5 item 7, issue 6 item 7), with DNS from a fixture file (--dns-cache) or the network.
import { isIP } from 'node:net';
import type { Resolver } from '../net/dns/resolver.js';
import { arcAuthResult, arcBodyHashSpecs, sealMessage, validateChain } from '../protocol/arc/index.js';
import type { ArcValidation, SealResult } from '../protocol/arc/index.js';
import { buildAuthResults, dkimAuthResults, isAuthResultsName, isOurs } from '../protocol/authres/index.js';
import type { AuthResult } from '../protocol/authres/index.js';
import { bodyHashSpecs, hashBody, splitHeaderFields, splitMessage, verifyMessage } from '../protocol/dkim/index.js';
import type { DkimResult, RawField } from '../protocol/dkim/index.js';
import { evaluateDmarc, fromDomain } from '../protocol/dmarc/index.js';
import type { DmarcInput, DmarcResult, DmarcUri, SpfOutcome } from '../protocol/dmarc/index.js';
import { headerValue, parseHeaders } from '../protocol/message/headers.js';
import { checkHost, checkIdentities, headerComment, receivedSpf } from '../protocol/spf/index.js';
import type { SpfPorts, SpfResult } from '../protocol/spf/index.js';
import { CliError, clockMs, EX_DATAERR, guarded, hostName, printJson, readInput, resolverFor, wireForm } from './auth-io.js';

type Out = NodeJS.WritableStream;

// ---------------------------------------------------------------------------------------------------------------
// SPF

function checkIp(ip: string): string {
  const bare = ip.trim();
  if (isIP(bare) === 0) throw new CliError(`--ip/--client-ip wants an IPv4 or IPv6 address, not ${JSON.stringify(ip)}`);
  return bare;
}

/** One SPF result as JSON: what `petrel auth spf` prints and the `spf` member of `petrel auth report`. */
function spfJson(r: SpfResult): Record<string, unknown> {
  return {
    result: r.kind,
    explanation: r.explanation ?? null,
    domain: r.domain,
    mechanism: r.mechanism ?? null,
    reason: r.reason ?? null,
    identity: r.checked.identity,
    sender: r.checked.sender,
    ip: r.checked.ip,
    helo: r.checked.helo,
    comment: headerComment(r),
    receivedSpf: receivedSpf(r, { unfolded: true }),
  };
}

function spfPorts(dns: Resolver, now: number, receiver: string): SpfPorts {
  return { dns, now: () => now, receiver };
}

export interface SpfOptions {
  readonly ip: string;
  readonly helo: string;
  readonly sender?: string;
  readonly dnsCache?: string;
  readonly dnsServer?: string;
  readonly receiver?: string;
  readonly now?: string;
}

/**
 * `petrel auth spf --ip IP --helo NAME [--sender ADDR]`: check_host() for the MAIL FROM identity, or for the HELO
 * identity (postmaster@<helo>) when the sender is empty (RFC 7208 sections 2.3, 2.4).
 */
export function authSpf(o: SpfOptions, out: Out, err: Out): Promise<number> {
  return guarded(err, async () => {
    const ip = checkIp(o.ip);
    const now = clockMs(o.now);
    const dns = await resolverFor(o.dnsCache, o.dnsServer);
    const ports = spfPorts(dns, now, o.receiver ?? hostName());
    const sender = (o.sender ?? '').trim().replace(/^<(.*)>$/, '$1');
    const helo = o.helo.trim();
    const result = sender === ''
      ? await checkHost({ ip, domain: helo, sender: `postmaster@${helo}`, helo, identity: 'helo' }, ports)
      : await checkHost({ ip, domain: sender.slice(sender.lastIndexOf('@') + 1), sender, helo, identity: 'mailfrom' }, ports);
    printJson(out, spfJson(result));
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The report

export interface ReportOptions {
  readonly dnsCache?: string;
  readonly dnsServer?: string;
  readonly clientIp?: string;
  readonly helo?: string;
  readonly sender?: string;
  readonly now?: string;
  readonly authservId?: string;
  readonly seal?: string;
}

function dkimJson(r: DkimResult): Record<string, unknown> {
  return {
    status: r.status,
    code: r.code,
    reason: r.reason,
    d: r.domain,
    s: r.selector,
    a: r.algorithm,
    i: r.identity,
    keyType: r.keyType,
    keyLength: r.keyLength,
    canon: r.canonHeaders !== undefined && r.canonBody !== undefined ? `${r.canonHeaders}/${r.canonBody}` : undefined,
    h: r.headersSigned,
    t: r.timestamp,
    x: r.expiration,
    l: r.bodyLength,
    unsignedTrailingContent: r.unsignedTrailingContent,
    weak: r.weak,
    testing: r.testing,
    b: r.b,
    exim: r.exim,
  };
}

const uriText = (u: DmarcUri): string => (u.maxSize === undefined ? u.uri : `${u.uri}!${u.maxSize}`);

function dmarcJson(r: DmarcResult, from: ReturnType<typeof fromDomain>): Record<string, unknown> {
  const rec = r.record;
  return {
    status: r.status,
    statusText: r.statusText,
    result: r.authResult,
    fromDomain: r.fromDomain,
    fromAddress: from.kind === 'ok' ? from.address : null,
    orgDomain: r.orgDomain,
    usedDomain: r.usedDomain,
    policy: r.domainPolicy === '' ? null : r.domainPolicy,
    policySource: r.policySource ?? null,
    disposition: r.disposition,
    pct: r.pct,
    sampledOut: r.sampledOut,
    spfAligned: r.spfAligned,
    dkimAligned: r.dkimAligned,
    alignedDkim: r.alignedDkim.map((d) => d.domain),
    record: rec === undefined ? null : {
      text: rec.text, p: rec.p, sp: rec.sp ?? null, np: rec.np ?? null, adkim: rec.adkim, aspf: rec.aspf, pct: rec.pct,
      fo: rec.fo, ri: rec.ri, warnings: rec.warnings,
    },
    rua: r.rua.map(uriText),
    ruf: r.ruf.map(uriText),
    reason: r.reason ?? null,
  };
}

function arcJson(v: ArcValidation): Record<string, unknown> {
  return {
    state: v.state,
    code: v.code,
    reason: v.reason,
    instances: v.instances,
    domains: v.domains,
    oldestPass: v.state === 'pass' ? v.oldestPass : 0,
    failedInstance: v.state === 'fail' ? v.failedInstance ?? null : null,
    sets: v.sets,
  };
}

/**
 * The spf= entry of our Authentication-Results (RFC 8601 section 2.7.2), written as the session writes it
 * (policy/authresults.ts): smtp.mailfrom with the MAIL FROM domain, or smtp.helo for the HELO identity.
 */
function spfAuthResult(r: SpfResult): AuthResult {
  const property = r.checked.identity === 'helo'
    ? { ptype: 'smtp', property: 'helo', value: r.checked.helo || r.domain }
    : { ptype: 'smtp', property: 'mailfrom', value: r.domain };
  return { method: 'spf', result: r.kind, properties: [property] };
}

/** The dmarc= entry, as protocol/dmarc's dmarcAuthResults writes it: the policy and disposition in a comment. */
function dmarcAuthResult(r: DmarcResult): AuthResult {
  return {
    method: 'dmarc',
    result: r.authResult,
    ...(r.domainPolicy !== '' ? { comment: `p=${r.domainPolicy} dis=${r.disposition}` } : {}),
    ...(r.fromDomain !== '' ? { properties: [{ ptype: 'header', property: 'from', value: r.fromDomain }] } : {}),
  };
}

interface SealSpec {
  readonly admd: string;
  readonly selector: string;
  readonly keyFile: string;
  readonly timestamps: boolean;
  readonly expiresIn?: number;
  readonly expiresAt?: number;
}

/** Exim's arc_sign = <admd> : <selector> : <key file> [: <options>]; options: timestamps, expire[=N|+N] (comma list). */
export function parseSealSpec(spec: string): SealSpec {
  const parts = spec.split(':');
  const [admd, selector, keyFile, options, ...extra] = parts.map((p) => p.trim());
  if (!admd || !selector || !keyFile || extra.length > 0) {
    throw new CliError(`--seal wants ADMD:SELECTOR:KEYFILE[:OPTIONS], not ${JSON.stringify(spec)}`);
  }
  let timestamps = false;
  let expiresIn: number | undefined;
  let expiresAt: number | undefined;
  for (const opt of (options ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^expire(?:=(\+?)(\d+))?$/.exec(opt);
    if (opt === 'timestamps') timestamps = true;
    else if (m && m[2] === undefined) expiresIn = 30 * 24 * 3600;
    else if (m && m[1] === '+') expiresIn = Number(m[2]);
    else if (m) expiresAt = Number(m[2]);
    else throw new CliError(`--seal: unknown option ${JSON.stringify(opt)} (timestamps, expire, expire=TIME, expire=+SECONDS)`);
  }
  return { admd, selector, keyFile, timestamps, ...(expiresIn !== undefined ? { expiresIn } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** Text after the field name's colon. */
function fieldValue(f: RawField): string {
  const raw = typeof f.raw === 'string' ? f.raw : f.raw.toString('utf8');
  return raw.slice(raw.indexOf(':') + 1);
}

/**
 * `petrel auth report FILE.eml`: what Petrel's verifiers say about a message: SPF (with --client-ip), every DKIM
 * signature, DMARC (From, SPF and DKIM results), the ARC chain, the Authentication-Results field Petrel would add,
 * and with --seal the ARC set it would add when relaying the message.
 */
export function authReport(file: string, o: ReportOptions, out: Out, err: Out): Promise<number> {
  return guarded(err, async () => {
    const seal = o.seal === undefined ? undefined : parseSealSpec(o.seal);
    const clientIp = o.clientIp === undefined ? undefined : checkIp(o.clientIp);
    const now = clockMs(o.now);
    const authservId = (o.authservId ?? hostName()).trim();
    // eslint-disable-next-line no-control-regex
    if (authservId === '' || /[\x00-\x20\x7f;()"\\]/.test(authservId)) throw new CliError(`--authserv-id: ${JSON.stringify(authservId)} is not usable`);
    const message = wireForm(await readInput(file, 'message'));
    const keyText = seal === undefined ? undefined : await readInput(seal.keyFile, 'private key');
    const dns = await resolverFor(o.dnsCache, o.dnsServer);

    const { header, body } = splitMessage(message);
    const fields = splitHeaderFields(header);
    const parsed = parseHeaders(header);

    // SPF, as at MAIL: the HELO identity and the MAIL FROM identity (RFC 7208 sections 2.3 and 2.4).
    let spf: { helo: SpfResult; mailFrom: SpfResult } | undefined;
    if (clientIp !== undefined) {
      const returnPath = headerValue(parsed, 'return-path')?.trim().replace(/^<(.*)>$/, '$1');
      const mailFrom = (o.sender ?? returnPath ?? '').trim().replace(/^<(.*)>$/, '$1');
      spf = await checkIdentities({ ip: clientIp, helo: (o.helo ?? '').trim(), mailFrom }, spfPorts(dns, now, authservId));
    }

    // DKIM and ARC share one pass over the body: one hasher per distinct (canonicalization, hash, l=).
    const hashes = hashBody(body, [...bodyHashSpecs(fields), ...arcBodyHashSpecs(fields)]);
    const ports = { dns, now: () => now };
    const [dkim, arc] = await Promise.all([verifyMessage(fields, hashes, ports), validateChain(fields, hashes, ports)]);

    // DMARC on the From domain with the SPF result (the MAIL FROM identity, the HELO one for a null sender) and
    // every DKIM signature's result.
    const from = fromDomain(parsed);
    const spfOutcome: SpfOutcome | undefined = spf === undefined ? undefined : {
      domain: spf.mailFrom.domain, result: spf.mailFrom.kind, scope: spf.mailFrom.checked.identity === 'helo' ? 'helo' : 'mfrom',
    };
    const input: DmarcInput = {
      from,
      ...(spfOutcome !== undefined ? { spf: spfOutcome } : {}),
      dkim: dkim.signatures.filter((s) => s.domain !== undefined).map((s) => ({
        domain: s.domain as string, result: s.status, ...(s.selector !== undefined ? { selector: s.selector } : {}),
      })),
    };
    const dmarc = await evaluateDmarc(input, { dns, random: Math.random });

    const results: AuthResult[] = [
      ...(spf !== undefined ? [spfAuthResult(spf.mailFrom)] : []),
      ...dkimAuthResults(dkim),
      dmarcAuthResult(dmarc),
      arcAuthResult(arc, clientIp !== undefined ? { remoteIp: clientIp } : {}),
    ];
    const authres = buildAuthResults(authservId, results);
    // Arriving fields that claim our authserv-id are removed (RFC 8601 section 5) once DKIM has been verified.
    const claimed = fields.filter((f) => isAuthResultsName(f.name) && isOurs(fieldValue(f), authservId));

    let sealed: SealResult | undefined;
    if (seal !== undefined && keyText !== undefined) {
      // The message as it would leave: our Authentication-Results on top, claimed ones gone (RFC 8617 section 5.1).
      const leaving: RawField[] = [
        { name: 'Authentication-Results', raw: `Authentication-Results: ${authres}` },
        ...fields.filter((f) => !claimed.includes(f)),
      ];
      const [relaxed] = hashBody(body, [{ canon: 'relaxed', hash: 'sha256' }]);
      sealed = sealMessage(leaving, relaxed as (typeof hashes)[number], {
        authservId, domain: seal.admd, selector: seal.selector, privateKey: keyText, chainState: arc.state, now,
        timestamps: seal.timestamps,
        ...(seal.expiresIn !== undefined ? { expiresIn: seal.expiresIn } : {}),
        ...(seal.expiresAt !== undefined ? { expiresAt: seal.expiresAt } : {}),
      });
      if (sealed.kind === 'error') throw new CliError(`--seal: ${sealed.reason}`, EX_DATAERR);
    }

    printJson(out, {
      file,
      authservId,
      spf: spf === undefined ? null : { ...spfJson(spf.mailFrom), heloIdentity: spfJson(spf.helo) },
      dkim: { signatures: dkim.signatures.map(dkimJson), skipped: dkim.skipped },
      dmarc: dmarcJson(dmarc, from),
      arc: arcJson(arc),
      authenticationResults: authres,
      removedAuthenticationResults: claimed.length,
      ...(sealed === undefined ? {} : {
        arcSeal: sealed.kind === 'ok'
          ? { instance: sealed.set.instance, cv: sealed.set.cv, headers: sealed.set.headers }
          : { skipped: sealed.code, reason: sealed.reason },
      }),
    });
    return 0;
  });
}
