// The inputs and outputs of ACL evaluation, shared by the evaluator and its condition tests.
import type { Acl } from './acl-parse.js';
import type { NamedLists } from './lists.js';
import type { SpfResult } from '../protocol/spf/index.js';
import type { AuthFacts, DkimSigner } from './auth-facts.js';

/** `dkim` is Exim's acl_smtp_dkim: run once per signer after the message arrived, before the DATA ACL. */
export type AclStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'predata' | 'data' | 'dkim';

/** SPF results an ACL run found (through the spf port) for the session to keep. */
export interface FoundFacts {
  spf?: SpfResult;
  spfHelo?: SpfResult;
}

/** The SMTP facts an SPF check needs; `sender` is "" for the null reverse-path. */
export interface SpfQuery {
  readonly ip: string;
  readonly helo: string;
  readonly sender: string;
}

export interface AclAddress {
  readonly local: string;
  readonly domain: string;
}

export type VerifyResult = { ok: true } | { ok: false; message: string; temporary: boolean };

/** The only I/O an ACL does, passed in so evaluation stays testable. A port may answer at once. */
export interface AclPorts {
  /**
   * Checks that a recipient can be delivered to. `message` is shown to the
   * client (as the default reply text when the ACL then refuses), so it must
   * not leak internals.
   */
  verifyRecipient(address: AclAddress): VerifyResult | Promise<VerifyResult>;
  sleep(ms: number): Promise<void>;
  /** Runs an SPF check (RFC 7208) for the MAIL FROM or HELO identity; absent where SPF is not available. */
  spf?(identity: 'mailfrom' | 'helo', query: SpfQuery): SpfResult | Promise<SpfResult>;
}

export interface AclInput {
  readonly stage: AclStage;
  readonly clientIp: string;
  /** undefined before MAIL; null is the null sender <>. */
  readonly sender?: AclAddress | null;
  /** rcpt stage: the recipient being tested. */
  readonly recipient?: AclAddress;
  /** Recipients accepted so far (what predata and data test). */
  readonly recipients: readonly AclAddress[];
  readonly authenticatedId?: string;
  /** The HELO/EHLO name ('' before one was given). */
  readonly helo?: string;
  /** Authentication results known so far (SPF from earlier stages; DKIM, ARC, DMARC at the end of data). */
  readonly auth?: AuthFacts;
  /** dkim stage: the signer this run is for. */
  readonly dkimSigner?: DkimSigner;
  /** Expansion variables, including the current acl_c and acl_m values. */
  readonly vars: Readonly<Record<string, string>>;
  /** data stage: the message's header fields, in order. */
  readonly headers?: readonly { readonly name: string; readonly value: string }[];
  readonly named: NamedLists;
  readonly primaryHostname: string;
  /** ACLs that the `acl` condition may call, by name. */
  readonly acls: ReadonlyMap<string, Acl>;
  readonly ports: AclPorts;
}

export type AclVerdict = 'accept' | 'deny' | 'defer' | 'discard' | 'drop';

export interface AclResult {
  readonly verdict: AclVerdict;
  /** Reply text for the client (expanded `message`, or a verification failure's message). */
  readonly message?: string;
  /** Text for the log: the expanded `log_message`, or why the ACL deferred. */
  readonly logMessage?: string;
  /**
   * Header lines from `add_header`, one entry per modifier (an entry may hold
   * several lines separated by "\n"). Collected whatever the verdict, as Exim
   * does; they matter only if the message is finally accepted.
   */
  readonly addHeaders: string[];
  /** acl_c and acl_m assignments made by this run; later ones win. */
  readonly set: Record<string, string>;
  /** Texts from `logwrite`, true `warn` statements' `log_message`, and skipped-statement notes. */
  readonly logwrites: string[];
  readonly controls: string[];
  /** SPF checks this run made, for the session to keep for later stages. */
  readonly found: FoundFacts;
  /** Total time spent in `delay` modifiers. */
  readonly delayedMs: number;
  /** Line of the statement that decided; absent for the implicit deny at the end. */
  readonly line?: number;
}

/**
 * ACL evaluation is written as generators so that one evaluator serves two callers: a run that
 * never needs to wait finishes synchronously (the session decides inline), and a run that does
 * (a delay, a verification over the network) yields the promise it waits for and resumes.
 */
export type Steps<T> = Generator<Promise<unknown>, T, unknown>;

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
