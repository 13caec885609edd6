// ARC's public shapes (RFC 8617 sections 4.4, 5.2 and 6): chain validation status, results, stable codes.

/** Chain Validation Status (RFC 8617 section 4.4). */
export type ArcState = 'pass' | 'fail' | 'none';

/** The cv= values of an ARC-Seal (section 4.1.3, "chain-status"). */
export type ChainStatus = ArcState;

/** The most ARC Sets a message may carry (section 4.2.1). */
export const MAX_INSTANCE = 50;

/** Stable machine-readable causes; `reason` carries the human text. */
export type ArcCode =
  | 'ok'
  | 'no_chain' // no ARC header field at all
  | 'too_many_fields' // more ARC header fields than 50 complete sets could hold
  | 'instance' // i= missing, malformed, 0 or above 50
  | 'duplicate' // two fields of one kind for one instance
  | 'chain_failed' // the newest ARC-Seal says cv=fail (section 5.2 step 2)
  | 'missing' // a set lacks a field, or an instance between 1 and N is absent
  | 'cv' // i=1 without cv=none, a later set without cv=pass
  | 'seal_syntax' // an ARC-Seal that cannot be read (tags, a=, h= present...)
  | 'signature_syntax' // the newest ARC-Message-Signature cannot be read
  | 'expired' // the newest AMS has x= in the past
  | 'no_body_hash' // the body hash the AMS needs was not computed
  | 'body_length' // l= beyond the body
  | 'bodyhash_mismatch'
  | 'signature_incorrect' // the newest AMS does not verify
  | 'seal_incorrect' // an ARC-Seal does not verify
  | 'key'; // no usable key (absent, malformed, revoked, too small, lookup failed: all permanent, section 5.2.1)

/** What could be read of one ARC Set, for logs, Authentication-Results and DMARC reports (section 7.2.2). */
export interface ArcSetInfo {
  readonly instance: number;
  /** The ARC-Seal's d= and s= (lower case), when readable. */
  readonly sealDomain?: string;
  readonly sealSelector?: string;
  /** cv= of the ARC-Seal, lower case, as written. */
  readonly cv?: string;
  /** The ARC-Message-Signature's d= and s=, when readable. */
  readonly signatureDomain?: string;
  readonly signatureSelector?: string;
  /** The ARC-Authentication-Results value after "i=N;", unfolded, runs of whitespace as one space: the authres-payload. */
  readonly results?: string;
}

interface ArcValidationBase {
  readonly code: ArcCode;
  readonly reason: string;
  /** The highest instance found (1..50); 0 without a chain. */
  readonly instances: number;
  /**
   * For instances 1..N in chain order, the sealing domain (the ARC-Seal's d=), or '' for a set whose seal is
   * missing or unreadable (Exim's $arc_domains, joined with ':').
   */
  readonly domains: readonly string[];
  /** Per instance 1..N, what could be read. */
  readonly sets: readonly ArcSetInfo[];
}

/** The outcome of validating a message's Authenticated Received Chain (RFC 8617 section 5.2). */
export type ArcValidation =
  | (ArcValidationBase & { readonly state: 'none' })
  | (ArcValidationBase & {
      readonly state: 'pass';
      /**
       * The lowest instance whose ARC-Message-Signature still verifies, counting down from N without a gap
       * (Exim's $arc_oldest_pass; N when only the newest verifies, 1 when all do). Authentication-Results
       * write 0 for "all" (section 6): see arcAuthResult.
       */
      readonly oldestPass: number;
    })
  | (ArcValidationBase & {
      readonly state: 'fail';
      /** The instance whose set, signature or seal made the chain fail, when one can be named. */
      readonly failedInstance?: number;
    });

/** Knobs for validateChain. */
export interface ArcValidateOptions {
  /** RSA keys below this fail (RFC 8301: 1024). */
  readonly minRsaBits?: number;
}
