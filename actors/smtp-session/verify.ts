// A session's message verification (DKIM, ARC, DMARC; RFC 6376, 8617, 7489): ask the verifier about what the
// receiver collected, answer the session actor, and hand a DMARC verdict on for its history and reports.
import { authResultsHeader } from '../../policy/authresults.js';
import type { SessionEvent, VerifyAsk } from '../events.js';
import type { ConnectionAuth } from './deps.js';
import type { Receiver } from './receiver.js';

/** Answers the actor with VERIFY.DONE or VERIFY.FAILED for request `seq` (never synchronously). */
export function verifyReceived(
  rx: Receiver | undefined, auth: ConnectionAuth | undefined, clientIp: string, seq: number, ask: VerifyAsk, send: (e: SessionEvent) => void,
): void {
  if (!rx || !auth) {
    queueMicrotask(() => send({ type: 'VERIFY.FAILED', seq, error: rx ? 'message verification is not configured' : 'no message is being received' }));
    return;
  }
  const material = rx.verifyMaterial() ?? { headers: [], bodyHashes: [] };
  auth.verify({
    ...material, clientIp, helo: ask.helo, sender: ask.sender, ...(ask.spf ? { spf: ask.spf } : {}),
    dkimDisabled: ask.dkimDisabled, dmarcDisabled: ask.dmarcDisabled, authenticated: ask.authenticated,
  }).then(
    (v) => {
      send({ type: 'VERIFY.DONE', seq, facts: v.facts });
      if (!v.dmarc) return;
      const at = ask.sender.lastIndexOf('@');
      const ar = authResultsHeader(auth.authservId, v.facts, { clientIp, helo: ask.helo, senderDomain: at < 0 ? '' : ask.sender.slice(at + 1) });
      auth.dmarc({
        messageId: ask.messageId, received: ask.receivedAt, clientIp, sender: ask.sender, helo: ask.helo, recipients: ask.recipients,
        input: v.dmarc.input, result: v.dmarc.result, ...(v.facts.arc ? { arc: v.facts.arc } : {}), headers: material.headers,
        authResults: ar.replace(/^Authentication-Results:\s*/i, ''), forensic: ask.forensic,
      });
    },
    (err: unknown) => send({ type: 'VERIFY.FAILED', seq, error: err instanceof Error ? err.message : String(err) }),
  );
}
