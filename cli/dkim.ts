// `petrel dkim sign` and `petrel dkim keygen` (issue 5 item 7): sign a message file with protocol/dkim as the smtp
// transport would, and make a key pair with the DNS TXT record that publishes its public half.
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { hashBody, MAX_RSA_BITS, MIN_RSA_BITS, normalizeDomain, normalizeSelector, signMessage, splitHeaderFields, splitMessage } from '../protocol/dkim/index.js';
import type { Canon, SigningAlgorithm } from '../protocol/dkim/index.js';
import { CliError, clockMs, EX_CANTCREAT, EX_DATAERR, guarded, hasCrlf, positiveInt, readInput, wireForm } from './auth-io.js';

type Out = NodeJS.WritableStream;

export interface SignCliOptions {
  readonly domain: string;
  readonly selector: string;
  readonly key: string;
  readonly headers?: string;
  readonly headerList?: string;
  readonly now?: string;
  readonly timestamp?: boolean;
  readonly expire?: string;
  readonly canon?: string;
  readonly algorithm?: string;
  readonly identity?: string;
  readonly queryMethod?: boolean;
  readonly spacedHeaderList?: boolean;
}

/** A header name list as Exim writes it (colon-separated); commas and spaces are accepted too. */
function nameList(text: string, option: string): string[] {
  const names = text.split(/[\s:,]+/).filter((n) => n !== '');
  if (names.length === 0) throw new CliError(`${option} is empty`);
  for (const n of names) {
    if (!/^\+?[\x21-\x39\x3b-\x7e]+$/.test(n)) throw new CliError(`${option}: ${JSON.stringify(n)} is not a header field name`);
  }
  return names;
}

const CANONS = ['relaxed/relaxed', 'relaxed/simple', 'simple/relaxed', 'simple/simple'] as const;

function canonOf(text: string | undefined): `${Canon}/${Canon}` {
  const c = (text ?? 'relaxed/relaxed').trim().toLowerCase();
  // One word is both, as Exim's dkim_canon has it ("relaxed" signs relaxed/relaxed).
  const full = c.includes('/') ? c : `${c}/${c}`;
  const found = CANONS.find((k) => k === full);
  if (!found) throw new CliError(`--canon wants relaxed, simple or header/body (relaxed/simple...), not ${JSON.stringify(text)}`);
  return found;
}

function algorithmOf(text: string | undefined): SigningAlgorithm | undefined {
  if (text === undefined) return undefined;
  const a = text.trim().toLowerCase();
  if (a === 'rsa-sha256' || a === 'ed25519-sha256') return a;
  throw new CliError(`--algorithm wants rsa-sha256 or ed25519-sha256, not ${JSON.stringify(text)}`);
}

/**
 * `petrel dkim sign ... FILE.eml`: the message on stdout with a DKIM-Signature field on top. The signature is made
 * over the message's CRLF form; the output keeps the file's own line ends (a CRLF file stays CRLF octet for octet,
 * a file with Unix line ends gets the new field with LF too).
 */
export function dkimSign(file: string, o: SignCliOptions, out: Out, err: Out): Promise<number> {
  return guarded(err, async () => {
    const canon = canonOf(o.canon);
    const algorithm = algorithmOf(o.algorithm);
    const now = clockMs(o.now);
    const expiresIn = positiveInt(o.expire, '--expire');
    let headers: string[] | undefined;
    let oversign: string[] | undefined;
    if (o.headers !== undefined) {
      const names = nameList(o.headers, '--headers');
      headers = names.map((n) => n.replace(/^\+/, ''));
      oversign = names.filter((n) => n.startsWith('+')).map((n) => n.slice(1));
    }
    const headerList = o.headerList === undefined ? undefined : nameList(o.headerList, '--header-list');
    if (headerList?.some((n) => n.startsWith('+'))) throw new CliError('--header-list is exact: no "+" prefixes');
    const original = await readInput(file, 'message');
    const privateKey = await readInput(o.key, 'private key');

    const message = wireForm(original);
    const { header, body } = splitMessage(message);
    const [bodyHash] = hashBody(body, [{ canon: canon.split('/')[1] as Canon, hash: 'sha256' }]);
    if (bodyHash === undefined) throw new Error('no body hash');
    const signed = signMessage(splitHeaderFields(header), bodyHash, {
      domain: o.domain,
      selector: o.selector,
      privateKey,
      canon,
      now,
      timestamp: o.timestamp !== false,
      ...(algorithm !== undefined ? { algorithm } : {}),
      ...(expiresIn !== undefined ? { expiresIn } : {}),
      ...(o.identity !== undefined ? { identity: o.identity } : {}),
      ...(headers !== undefined ? { headers, oversign: oversign ?? [] } : {}),
      ...(headerList !== undefined ? { headerList } : {}),
      ...(o.queryMethod ? { queryMethod: true } : {}),
      ...(o.spacedHeaderList ? { spacedHeaderList: true } : {}),
    });
    if (signed.kind === 'error') throw new CliError(signed.reason, signed.code === 'DKIM_SIGN_KEY' ? EX_DATAERR : 64);
    const field = hasCrlf(original) ? `${signed.header}\r\n` : `${signed.header.replace(/\r\n/g, '\n')}\n`;
    out.write(Buffer.concat([Buffer.from(field, 'latin1'), original]));
    return 0;
  });
}

export interface KeygenOptions {
  readonly type: string;
  readonly domain: string;
  readonly selector: string;
  readonly bits?: string;
  readonly out?: string;
  readonly force?: boolean;
}

/** A TXT record's text cut into character-strings of at most 255 octets (RFC 1035 3.3.14, RFC 6376 3.6.2.2). */
export function txtStrings(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 255) out.push(text.slice(i, i + 255));
  return out;
}

/** The p= value: the SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1), the bare 32-octet key for Ed25519 (RFC 8463 4). */
function publicKeyData(publicKey: KeyObject, type: 'rsa' | 'ed25519'): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return (type === 'ed25519' ? spki.subarray(spki.length - 32) : spki).toString('base64');
}

/**
 * `petrel dkim keygen --type rsa|ed25519 --domain D --selector S`: writes the private key (PKCS#8 PEM, mode 0600;
 * never over an existing file unless --force) and prints the TXT record for the zone file on stdout.
 */
export function dkimKeygen(o: KeygenOptions, out: Out, err: Out): Promise<number> {
  return guarded(err, async () => {
    const type = o.type.trim().toLowerCase();
    if (type !== 'rsa' && type !== 'ed25519') throw new CliError(`--type wants rsa or ed25519, not ${JSON.stringify(o.type)}`);
    const domain = normalizeDomain(o.domain);
    if (!domain) throw new CliError(`--domain: ${JSON.stringify(o.domain)} is not a domain name`);
    const selector = normalizeSelector(o.selector);
    if (!selector) throw new CliError(`--selector: ${JSON.stringify(o.selector)} is not a selector`);
    if (type === 'ed25519' && o.bits !== undefined) throw new CliError('--bits is for RSA keys');
    const bits = positiveInt(o.bits, '--bits', MIN_RSA_BITS, MAX_RSA_BITS) ?? 2048;
    const path = o.out ?? `${selector}._domainkey.${domain}.key`;

    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits }) : generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' });
    try {
      writeFileSync(path, pem, { mode: 0o600, flag: o.force ? 'w' : 'wx' });
      chmodSync(path, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CliError(code === 'EEXIST' ? `${path} exists (use --force to replace it)` : `cannot write ${path}: ${code ?? (e as Error).message}`, EX_CANTCREAT);
    }
    const record = `v=DKIM1; k=${type}; p=${publicKeyData(pair.publicKey, type)}`;
    const strings = txtStrings(record).map((s) => `"${s}"`).join(' ');
    out.write(`${selector}._domainkey.${domain}. IN TXT ${strings}\n`);
    err.write(`petrel: ${type === 'rsa' ? `RSA-${bits}` : 'Ed25519'} private key written to ${path} (mode 0600)\n`);
    return 0;
  });
}
