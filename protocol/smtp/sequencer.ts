// Command sequencing and argument checks of an SMTP server session (RFC 5321 sections 4.1.1 and 4.1.4).
// Pure: the session actor asks "what does this command mean here?" and acts on the answer.
import type { Mailbox } from './address.js';
import { isAddressLiteral, isDomain, parsePath } from './address.js';
import type { Command } from './command.js';
import type { MailParams, Offered, RcptParams } from './params.js';
import { parseMailParams, parseRcptParams } from './params.js';
import type { Reply } from './reply.js';
import { R, reply } from './reply.js';

/** What the server offered after EHLO, beyond the parameters of MAIL and RCPT. */
export interface Offer extends Offered {
  readonly pipelining: boolean;
  readonly starttls: boolean;
  readonly authMechanisms: readonly string[];
}

export const NOTHING_OFFERED: Offer = {
  size: false, eightBitMime: false, smtpUtf8: false, dsn: false, auth: false,
  pipelining: false, starttls: false, authMechanisms: [],
};

/** The facts about a session that decide what a command may do. */
export interface SessionFacts {
  readonly greeting: 'none' | 'helo' | 'ehlo';
  readonly offer: Offer;
  readonly tls: boolean;
  readonly authenticated: boolean;
  readonly mailGiven: boolean;
  readonly smtputf8: boolean;
  readonly recipients: number;
  readonly rcptCommands: number;
  readonly messageSizeLimit: number;
  readonly recipientsMax: number;
  /** Our primary host name: an unqualified <Postmaster> is postmaster at this host. */
  readonly hostname: string;
}

export type Decision =
  | { kind: 'reply'; reply: Reply; error: 'syntax' | 'unknown' | null }
  | { kind: 'quit' }
  | { kind: 'helo'; ehlo: boolean; name: string }
  | { kind: 'mail'; sender: Mailbox | null; params: MailParams }
  | { kind: 'rcpt'; recipient: Mailbox; params: RcptParams }
  | { kind: 'data' }
  | { kind: 'rset' }
  | { kind: 'starttls' }
  | { kind: 'auth'; mechanism: string; initial: string | null };

// RFC 5321 section 4.5.3.1.4: 512 octets per command line, raised by extensions that add
// parameters to MAIL and RCPT (SIZE, BODY, SMTPUTF8, DSN's RET/ENVID/NOTIFY/ORCPT, AUTH).
export const COMMAND_LINE_MAX = 512;
export const PARAMETER_ALLOWANCE = 1000;

const syntax = (r: Reply): Decision => ({ kind: 'reply', reply: r, error: 'syntax' });
const protocolError = syntax;
const ok = (r: Reply): Decision => ({ kind: 'reply', reply: r, error: null });

/** A HELO/EHLO argument: a domain (underscores tolerated, as deployed) or an address literal. */
function validHeloName(name: string): boolean {
  if (name.startsWith('[')) return isAddressLiteral(name);
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return isDomain(n.replace(/_/g, 'x'));
}

export function decide(cmd: Command, f: SessionFacts, lineOctets: number): Decision {
  if (cmd.kind === 'invalid') return syntax(cmd.reply);
  if (cmd.kind === 'unknown') return { kind: 'reply', reply: R.unknown, error: 'unknown' };
  const verb = cmd.verb;
  const limit = verb === 'MAIL' || verb === 'RCPT' ? COMMAND_LINE_MAX + PARAMETER_ALLOWANCE : COMMAND_LINE_MAX;
  if (lineOctets > limit) return syntax(R.lineTooLong);
  const arg = cmd.arg;
  switch (verb) {
    case 'HELO':
    case 'EHLO': {
      if (arg === '' || arg.includes(' ') && verb === 'HELO') return syntax(reply(501, '5.5.4', `Syntax: ${verb} hostname`));
      const name = arg.split(' ')[0] as string;
      if (!validHeloName(name)) return syntax(reply(501, '5.5.4', `Invalid ${verb} argument: not a domain name or address literal`));
      return { kind: 'helo', ehlo: verb === 'EHLO', name };
    }
    case 'MAIL': {
      if (f.greeting === 'none') return protocolError(R.heloFirst);
      if (f.mailGiven) return protocolError(R.nestedMail);
      const path = parsePath(cmd.arg, { allowNull: true, utf8: f.offer.smtpUtf8 });
      if (path.kind === 'error') return syntax(reply(501, '5.1.7', `Bad sender address syntax: ${path.reason}`));
      const p = parseMailParams(path.rest, f.greeting === 'ehlo' ? f.offer : NOTHING_OFFERED);
      if (p.kind === 'error') return syntax(p.reply);
      if (path.mailbox?.utf8 && !p.params.smtputf8) {
        return syntax(reply(553, '5.6.7', 'Non-ASCII sender address requires the SMTPUTF8 parameter'));
      }
      if (p.params.size !== undefined && p.params.size > f.messageSizeLimit) return ok(R.tooBig);
      return { kind: 'mail', sender: path.mailbox, params: p.params };
    }
    case 'RCPT': {
      if (!f.mailGiven) return protocolError(R.needMail);
      const path = parsePath(cmd.arg, { allowNull: false, utf8: f.smtputf8, allowPostmaster: true });
      if (path.kind === 'error') {
        const code = /non-ASCII/.test(path.reason) ? reply(553, '5.6.7', 'Non-ASCII recipient requires SMTPUTF8 on MAIL') : reply(501, '5.1.3', `Bad recipient address syntax: ${path.reason}`);
        return syntax(code);
      }
      const p = parseRcptParams(path.rest, f.greeting === 'ehlo' ? f.offer : NOTHING_OFFERED);
      if (p.kind === 'error') return syntax(p.reply);
      if (f.recipients >= f.recipientsMax) return ok(R.tooManyRcpt);
      let recipient = path.mailbox as Mailbox;
      if (recipient.domain === '') recipient = { ...recipient, local: 'postmaster', domain: f.hostname };
      return { kind: 'rcpt', recipient, params: p.params };
    }
    case 'DATA':
      if (arg !== '') return syntax(reply(501, '5.5.4', 'DATA takes no arguments'));
      if (!f.mailGiven) return protocolError(R.needMail);
      if (f.recipients === 0) return protocolError(f.rcptCommands > 0 ? R.noValidRcpt : R.needRcpt);
      return { kind: 'data' };
    case 'RSET':
      if (arg !== '') return syntax(reply(501, '5.5.4', 'RSET takes no arguments'));
      return { kind: 'rset' };
    case 'NOOP':
      return ok(R.ok);
    case 'QUIT':
      return { kind: 'quit' };
    case 'VRFY':
      if (arg === '') return syntax(reply(501, '5.5.4', 'Syntax: VRFY address'));
      return ok(R.vrfy);
    case 'EXPN':
      return ok(R.expn);
    case 'HELP':
      return ok(R.help);
    case 'STARTTLS':
      if (arg !== '') return syntax(reply(501, '5.5.4', 'STARTTLS takes no arguments'));
      if (f.tls) return protocolError(R.tlsAlready);
      if (!f.offer.starttls) return protocolError(R.tlsNotAvailable);
      return { kind: 'starttls' };
    case 'AUTH': {
      if (!f.offer.auth) return protocolError(reply(503, '5.5.1', 'AUTH not available'));
      if (f.authenticated) return protocolError(reply(503, '5.5.1', 'Already authenticated'));
      if (f.mailGiven) return protocolError(reply(503, '5.5.1', 'AUTH not allowed during a mail transaction'));
      const [mech = '', initial, extra] = arg.split(' ');
      if (mech === '' || extra !== undefined) return syntax(reply(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]'));
      const mechanism = mech.toUpperCase();
      if (!f.offer.authMechanisms.includes(mechanism)) return syntax(reply(504, '5.5.4', 'Unrecognized authentication mechanism'));
      return { kind: 'auth', mechanism, initial: initial ?? null };
    }
  }
}
