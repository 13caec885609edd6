// DKIM signing (RFC 6376, RFC 8463) and ARC sealing (RFC 8617 section 5.1) of outgoing messages, once per
// message: the spool is read once (body hashed as it streams, the event loop given back between chunks),
// the signatures prepared here, the private-key operations done in the worker pool; the fields to prepend are
// kept per message id while its deliveries are under way. Exim's smtp transport semantics (dkim_*, arc_sign).
import type { Logger } from 'pino';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ArcSigner, DkimSigner, SignHeader, TransportSigning } from '../../config/signing.js';
import { createBodyHasher, prepareSignature, signInput, splitHeaderFields } from '../../protocol/dkim/index.js';
import type { BodyHasher, BodyHashResult, Canon, RawField } from '../../protocol/dkim/index.js';
import { prepareSeal, signSeal } from '../../protocol/arc/index.js';
import type { ArcState, PreparedSeal, SealedSet } from '../../protocol/arc/index.js';
import type { Envelope } from '../../store/envelope.js';
import { messageChunks } from '../../store/reader.js';
import type { Spool } from '../../store/spool.js';
import type { DeliveryJob } from './types.js';

/** Where the private-key operations go: the crypto worker pool (CryptoPool satisfies it). */
export interface SignPort {
  sign(keyPem: string, hash: 'sha256' | null, input: Uint8Array): Promise<string>;
  seal(keyPem: string, prepared: PreparedSeal): Promise<SealedSet>;
}

/**
 * signed: prepend `headers` (the ARC set on top, then the DKIM-Signature fields), CRLF-terminated.
 * unsigned: send the message as it is (nothing configured, or a failure without dkim_strict, logged).
 * defer: dkim_strict and signing failed: the job's recipients are deferred, nothing is sent.
 */
export type SignOutcome =
  | { readonly kind: 'signed'; readonly headers: Buffer }
  | { readonly kind: 'unsigned' }
  | { readonly kind: 'defer'; readonly reason: string };

export interface SignerDeps {
  readonly spool: Spool;
  readonly logger: Logger;
  /** The signing options in force (read at each message: a reload applies to what comes next). */
  settings(): TransportSigning | undefined;
  /** The pool for RSA (absent: RSA is signed inline, on the event loop). */
  pool(): SignPort | undefined;
  readonly now?: () => number;
  /** Counts outcomes per kind (dkim, arc) and result (signed, skipped, failed). */
  count?(kind: 'dkim' | 'arc', result: 'signed' | 'skipped' | 'failed'): void;
}

/** What the receiving side records of the arriving chain (RFC 8617 section 5.2), when it does. */
interface ArrivalArc {
  readonly state: ArcState;
}

// A finished outcome stays this long after its last delivery let go of it: the next job of the same
// message (another destination, the next batch of recipients) reuses it instead of signing again.
const GRACE_MS = 2_000;
const IDLE_MAX = 2_000;
// The event loop is given back after this much body has been hashed.
const YIELD_OCTETS = 256 * 1024;
// A header section this big is not what the session accepts (header_maxsize): not signed.
const HEADER_MAX = 4 * 1024 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

interface Entry {
  readonly promise: Promise<SignOutcome>;
  refs: number;
}

export class MessageSigner {
  readonly #deps: SignerDeps;
  readonly #entries = new Map<string, Entry>();
  /** Entries nobody holds, by when they were let go (oldest first). */
  readonly #idle = new Map<string, number>();

  constructor(deps: SignerDeps) {
    this.#deps = deps;
  }

  /** Whether any signing is configured (if not, deliveries go as they did: no wait, nothing added). */
  active(): boolean {
    const s = this.#deps.settings();
    return s !== undefined && (s.dkim.length > 0 || s.arc !== undefined);
  }

  /** The fields for this job's message: computed by the first caller, shared while someone holds it. */
  acquire(job: DeliveryJob): Promise<SignOutcome> {
    const now = this.#now();
    this.#sweep(now);
    let e = this.#entries.get(job.messageId);
    if (!e) {
      e = { promise: this.#sign(job).catch((err: unknown) => this.#failed(job.messageId, 'dkim', err)), refs: 0 };
      this.#entries.set(job.messageId, e);
    }
    e.refs++;
    this.#idle.delete(job.messageId);
    return e.promise;
  }

  /** One holder of this message's outcome is done with it. */
  release(messageId: string): void {
    const e = this.#entries.get(messageId);
    if (!e) return;
    e.refs = Math.max(0, e.refs - 1);
    if (e.refs === 0) {
      this.#idle.set(messageId, this.#now());
      this.#sweep(this.#now());
    }
  }

  /** Messages whose outcome is held or kept (for tests and metrics). */
  get cached(): number {
    return this.#entries.size;
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }

  #sweep(now: number): void {
    for (const [id, since] of this.#idle) {
      if (now - since < GRACE_MS && this.#idle.size <= IDLE_MAX) break;
      this.#idle.delete(id);
      if (this.#entries.get(id)?.refs === 0) this.#entries.delete(id);
    }
  }

  /** A failure: dkim_strict defers (Exim's words in the log), otherwise the message goes unsigned. */
  #failed(id: string, kind: 'dkim' | 'arc', err: unknown): SignOutcome {
    const reason = err instanceof Error ? err.message : String(err);
    this.#deps.count?.(kind, 'failed');
    const what = kind === 'dkim' ? 'DKIM' : 'ARC';
    if (this.#deps.settings()?.strict) {
      this.#deps.logger.warn({ event: 'dkim-sign', id, kind, err: reason }, `${id} ${what}: message could not be signed, and dkim_strict is set. Deferring message delivery: ${reason}`);
      return { kind: 'defer', reason: `${what} signing failed: ${reason}` };
    }
    this.#deps.logger.warn({ event: 'dkim-sign', id, kind, err: reason }, `${id} ${what}: message could not be signed (${reason}); sending it without`);
    return { kind: 'unsigned' };
  }

  async #sign(job: DeliveryJob): Promise<SignOutcome> {
    const settings = this.#deps.settings();
    if (!settings || (settings.dkim.length === 0 && !settings.arc)) return { kind: 'unsigned' };
    const env = job.envelope ?? this.#deps.spool.envelope(job.messageId);
    if (!env) return { kind: 'unsigned' };

    // One pass over the message as it will be sent: header section collected, body hashed per canon.
    const canons = new Set<Canon>(settings.dkim.map((d) => d.canon.split('/')[1] as Canon));
    if (settings.arc) canons.add('relaxed');
    const read = await readForSigning(this.#deps.spool, env, canons);
    if (read.octets === 0 && env.size > 0) return { kind: 'unsigned' }; // deleted meanwhile: the runner abandons it
    const fields = splitHeaderFields(read.header);
    const now = this.#now();

    const added: string[] = [];
    if (settings.dkim.length > 0) {
      try {
        added.push(...(await Promise.all(settings.dkim.map((d) => this.#dkim(d, fields, read.hashes, now)))));
        this.#deps.count?.('dkim', 'signed');
        this.#deps.logger.debug({ event: 'dkim-sign', id: env.id, signatures: settings.dkim.map((d) => `d=${d.domain} s=${d.selector}`) }, `${env.id} DKIM: signed (${settings.dkim.map((d) => `d=${d.domain} s=${d.selector}`).join(', ')})`);
      } catch (err) {
        const out = this.#failed(env.id, 'dkim', err);
        if (out.kind === 'defer') return out;
      }
    }
    if (settings.arc) {
      const withDkim: RawField[] = [...added.map((raw) => ({ name: 'DKIM-Signature', raw })), ...fields];
      try {
        const set = await this.#seal(settings.arc, withDkim, read.hashes.get('relaxed') as BodyHashResult, arrivalArc(env), now, env.id);
        if (set) added.unshift(...set.headers);
      } catch (err) {
        const out = this.#failed(env.id, 'arc', err);
        if (out.kind === 'defer') return out;
      }
    }
    if (added.length === 0) return { kind: 'unsigned' };
    return { kind: 'signed', headers: Buffer.from(added.map((f) => `${f}\r\n`).join(''), 'utf8') };
  }

  async #dkim(d: DkimSigner, fields: readonly RawField[], hashes: ReadonlyMap<Canon, BodyHashResult>, now: number): Promise<string> {
    const body = hashes.get(d.canon.split('/')[1] as Canon) as BodyHashResult;
    const prepared = prepareSignature(fields, body, {
      domain: d.domain,
      selector: d.selector,
      algorithm: d.key.algorithm,
      canon: d.canon,
      headerList: eximHeaderList(d.headers, fields),
      ...(d.identity !== undefined ? { identity: d.identity } : {}),
      ...(d.timestamps !== undefined ? { now, timestamp: true, ...(d.timestamps > 0 ? { expiresIn: d.timestamps } : {}) } : { timestamp: false }),
    });
    if (prepared.kind === 'error') throw new Error(`d=${d.domain} s=${d.selector}: ${prepared.reason}`);
    const { input } = prepared.prepared;
    const pool = this.#deps.pool();
    // Both go to the pool: batched per key, an Ed25519 signature costs the event loop ~3 us there against ~36 us
    // signed here (bench/micro/sign-pool.ts); the prepared Ed25519 input is already the SHA-256 (RFC 8463).
    const b64 = !pool ? signInput(d.key.algorithm, input, d.key.object)
      : await pool.sign(d.key.pem, d.key.algorithm === 'ed25519-sha256' ? null : 'sha256', input);
    return prepared.header(b64);
  }

  async #seal(arc: ArcSigner, fields: readonly RawField[], body: BodyHashResult, arrival: ArrivalArc | undefined, now: number, id: string): Promise<SealedSet | undefined> {
    const prepared = prepareSeal(fields, body, {
      authservId: arc.admd,
      domain: arc.admd,
      selector: arc.selector,
      algorithm: arc.key.algorithm,
      ...(arrival ? { chainState: arrival.state } : {}),
      timestamps: arc.timestamps,
      now,
      ...(arc.expire && 'in' in arc.expire ? { expiresIn: arc.expire.in } : {}),
      ...(arc.expire && 'at' in arc.expire ? { expiresAt: arc.expire.at } : {}),
    });
    if (prepared.kind === 'skip') {
      this.#deps.count?.('arc', 'skipped');
      this.#deps.logger.info({ event: 'arc-sign', id, code: prepared.code }, `${id} ARC: not sealed: ${prepared.reason}`);
      return undefined;
    }
    if (prepared.kind === 'error') throw new Error(`${prepared.code}: ${prepared.reason}`);
    const pool = this.#deps.pool();
    const set = !pool ? signSeal(prepared.prepared, arc.key.object) : await pool.seal(arc.key.pem, prepared.prepared);
    this.#deps.count?.('arc', 'signed');
    this.#deps.logger.debug({ event: 'arc-sign', id, instance: set.instance, cv: set.cv }, `${id} ARC: sealed i=${set.instance} cv=${set.cv} d=${arc.admd} s=${arc.selector}`);
    return set;
  }
}

/** The arrival verdict the receiving side stores in the envelope (`envelope.arc`), when it is there and sane. */
function arrivalArc(env: Envelope): ArrivalArc | undefined {
  const arc = (env as Envelope & { arc?: { state?: unknown } }).arc;
  const state = arc?.state;
  return state === 'pass' || state === 'fail' || state === 'none' ? { state } : undefined;
}

/**
 * h= by Exim's rules (pdkim): a name signs one instance (the bottom-most) or, absent, its absence; "=name"
 * every instance present; "+name" every instance and one more (oversigning: none can be added).
 */
export function eximHeaderList(spec: readonly SignHeader[], fields: readonly RawField[]): string[] {
  const count = new Map<string, number>();
  for (const f of fields) {
    const n = f.name.toLowerCase();
    count.set(n, (count.get(n) ?? 0) + 1);
  }
  const out: string[] = [];
  for (const h of spec) {
    const present = count.get(h.name.toLowerCase()) ?? 0;
    const times = h.mode === 'once' ? 1 : h.mode === 'all' ? present : present + 1;
    for (let i = 0; i < times; i++) out.push(h.name);
  }
  return out;
}

/**
 * Reads the message as it will be delivered (stored octets, ACL-added headers in place) once: the header
 * section up to the first empty line, as a receiver splits it, and the body through one hasher per canon.
 */
export async function readForSigning(spool: Spool, env: Envelope, canons: ReadonlySet<Canon>): Promise<{ header: Buffer; hashes: Map<Canon, BodyHashResult>; octets: number }> {
  const hashers = new Map<Canon, BodyHasher>([...canons].map((c) => [c, createBodyHasher(c, 'sha256')]));
  const split = new HeaderSplitter();
  let octets = 0;
  let sinceYield = 0;
  for (const chunk of messageChunks(spool, env)) {
    octets += chunk.length;
    const body = split.push(chunk);
    if (body.length > 0) for (const h of hashers.values()) h.update(body);
    sinceYield += body.length;
    if (sinceYield >= YIELD_OCTETS) {
      sinceYield = 0;
      await nextTurn();
    }
  }
  return { header: split.header(), hashes: new Map([...hashers].map(([c, h]) => [c, h.digest()])), octets };
}

/** Cuts a message stream at the end of its header section: the first empty line (RFC 5322 section 2.1). */
export class HeaderSplitter {
  readonly #head: Buffer[] = [];
  #headSize = 0;
  // A line end before the first octet: a message that starts with an empty line has no header fields.
  #carry = Buffer.from('\r\n');
  #end = -1;

  /** Feeds the next chunk; returns the part of it that is body (empty while the header section lasts). */
  push(chunk: Buffer): Buffer {
    if (this.#end >= 0) return chunk;
    const joined = Buffer.concat([this.#carry, chunk]);
    const at = joined.indexOf(CRLF2);
    if (at < 0) {
      this.#head.push(chunk);
      this.#headSize += chunk.length;
      if (this.#headSize > HEADER_MAX) throw new Error(`the header section is larger than ${HEADER_MAX} octets`);
      this.#carry = joined.subarray(Math.max(0, joined.length - 3));
      return Buffer.alloc(0);
    }
    // The header section keeps the CRLF of its last field; the empty line's CRLF belongs to neither.
    this.#end = this.#headSize + at + 2 - this.#carry.length;
    this.#head.push(chunk);
    this.#headSize += chunk.length;
    return chunk.subarray(at + 4 - this.#carry.length);
  }

  /** The header section (all of the message when it has no empty line). */
  header(): Buffer {
    const all = Buffer.concat(this.#head);
    return this.#end >= 0 ? all.subarray(0, Math.max(0, this.#end)) : all;
  }
}
