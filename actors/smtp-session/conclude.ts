// What a decided ACL stage does to the session: one context update and the effects to emit.
// Kept as one pure function so that each transition runs a single action (see docs/decisions,
// session performance): xstate copies the snapshot once per assign.
import { NOTHING_OFFERED } from '../../protocol/smtp/sequencer.js';
import { ehloReply, heloReply, bannerReply } from '../../protocol/smtp/greeting.js';
import { formatReply } from '../../protocol/smtp/reply.js';
import type { Reply } from '../../protocol/smtp/reply.js';
import type { SessionEmitted, SessionEvent } from '../events.js';
import {
  R, acceptReply, bannerText, decisionOf, emptyTransaction, hasControl, outcomeOf, receivedFor, refusalLog, refusalReply,
  unverifiedFacts, verdictClass, withAclSets,
} from './context.js';
import type { AclStage, SessionContext, SessionState, Transaction } from './types.js';

export interface Conclusion {
  readonly update: Partial<SessionContext>;
  readonly emits: SessionEmitted[];
}

const say = (session: SessionState, r: Reply): SessionEmitted => ({ type: 'reply', text: formatReply(r, session.greeting === 'ehlo') });

/**
 * Apply the outcome of `stage` (inline or answered by the driver) for the command in `e`:
 * acl_c/acl_m sets and added headers, the stage's own effect when accepted, the refusal reply
 * and log line when not, and every logwrite.
 */
export function conclude(c: SessionContext, e: SessionEvent, stage: AclStage): Conclusion {
  const out = outcomeOf(c, e);
  const d = decisionOf(c, e);
  const merged = withAclSets(c, out);
  let session: SessionState = merged.session;
  let tx: Transaction = merged.tx;
  // The data stage decides on the results of the message's verification: they stay with the transaction.
  // (The facts are merged with Object.assign: spreading a non-empty object and adding keys is slow on Node 20.)
  if (e.type === 'DATA.END') tx = { ...tx, data: e.summary, auth: Object.assign({}, tx.auth, unverifiedFacts(c)) };
  else if (e.type === 'VERIFY.DONE') tx = { ...tx, auth: Object.assign({}, tx.auth, e.facts) };
  const emits: SessionEmitted[] = [];
  for (const line of out.logwrites) emits.push({ type: 'log', level: 'info', msg: line, fields: { event: 'acl', stage } });
  const cls = verdictClass(out);
  if (cls === 'refuse' || cls === 'drop') {
    if (stage === 'rcpt') tx = { ...tx, rcptCommands: tx.rcptCommands + 1 };
    emits.push(refusalLog({ ...c, decision: d }, stage, out));
    emits.push(say(session, refusalReply(stage, out)));
    return { update: { decision: d, session, tx }, emits };
  }
  switch (stage) {
    case 'connect':
      emits.push(say(session, bannerReply(bannerText(c))));
      break;
    case 'helo': {
      if (d?.kind !== 'helo') break;
      const offer = d.ehlo ? c.ports.offer(session.tls !== undefined) : NOTHING_OFFERED;
      // A new HELO name is a new HELO identity: its SPF result (if an ACL found one just now) is kept, an older one is not.
      const spfHelo = session.spfHelo?.checked.helo === d.name ? session.spfHelo : undefined;
      session = { ...session, greeting: d.ehlo ? 'ehlo' : 'helo', heloName: d.name, offer, spfHelo };
      tx = emptyTransaction();
      const r = d.ehlo
        ? ehloReply(c.settings.hostname, d.name, c.conn.clientIp, offer, c.settings.messageSizeLimit)
        : heloReply(c.settings.hostname, d.name, c.conn.clientIp);
      emits.push(say(session, acceptReply(r, out)));
      break;
    }
    case 'mail':
      if (d?.kind !== 'mail') break;
      tx = { ...tx, sender: d.sender, mailParams: d.params, ...(cls === 'discard' ? { discardAll: true } : {}) };
      emits.push(say(session, acceptReply(R.senderOk, out)));
      break;
    case 'rcpt':
      if (d?.kind !== 'rcpt') break;
      if (cls === 'discard') tx = { ...tx, discarded: tx.discarded + 1, rcptCommands: tx.rcptCommands + 1 };
      else {
        // Appended in place: a transaction may have thousands of recipients.
        tx.recipients.push({ mailbox: d.recipient, params: d.params });
        tx = { ...tx, rcptCommands: tx.rcptCommands + 1 };
      }
      emits.push(say(session, acceptReply(R.rcptOk, out)));
      break;
    case 'predata': {
      const { id, time } = c.ports.newMessage();
      const discardAll = tx.discardAll === true || cls === 'discard';
      tx = { ...tx, messageId: id, receivedAt: time, ...(discardAll ? { discardAll } : {}) };
      const dkim = !hasControl({ ...c, tx }, 'dkim_disable_verify');
      emits.push({ type: 'beginData', id, header: receivedFor({ ...c, session, tx }, id, time), dkim });
      emits.push(say(session, R.startData));
      break;
    }
    case 'data':
      // Accepted content goes on to the commit (entry of `committing`); discard is answered there.
      break;
  }
  return { update: { decision: d, session, tx }, emits };
}
