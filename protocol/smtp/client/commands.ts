// Command lines the SMTP client sends (RFC 5321 section 4.1), with the MAIL and RCPT parameters of
// SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and DSN (RFC 3461), each only when offered.
import { parseMailbox } from '../address.js';
import type { Notify } from '../params.js';
import { encodeXtext } from '../params.js';
import type { Capabilities } from './ehlo.js';

/** A value that cannot go into a command line: it would break or forge the line, or is malformed. */
export class SmtpClientError extends Error {
  readonly code = 'SMTP_CLIENT_BAD_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'SmtpClientError';
  }
}

export interface MailFromParams {
  /** Size of the message as it will be sent, in octets (RFC 1870). */
  readonly size?: number;
  readonly body?: '8BITMIME' | '7BIT';
  /** The envelope or the message needs SMTPUTF8 (RFC 6531 section 3.4). */
  readonly smtputf8?: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  /** The envelope id, unencoded; xtext-encoded here (RFC 3461 section 4.4). */
  readonly envid?: string;
}

export interface RcptToParams {
  readonly notify?: Notify;
  /** The original recipient, unencoded; the address is xtext-encoded here (RFC 3461 section 4.2). */
  readonly orcpt?: { readonly type: string; readonly address: string };
}

/** The part of the EHLO capabilities the parameter choices depend on. */
export type ParamCaps = Pick<Capabilities, 'size' | 'eightBitMime' | 'smtpUtf8' | 'dsn'>;

// Longest reverse-path or forward-path, brackets included (RFC 5321 section 4.5.3.1.3).
const PATH_MAX = 256;
// Longest ENVID (RFC 3461 section 4.4) and ORCPT address (section 4.2, with room for the type).
const ENVID_MAX = 100;
const ORCPT_MAX = 500;

function bad(message: string): never {
  throw new SmtpClientError(message);
}

// CR and LF would end the command early and let the rest be read as another command; NUL is cut
// off or mishandled by many servers. Checked before anything else so the message says so.
function noBreaks(what: string, value: string): void {
  if (/[\r\n\0]/.test(value)) bad(`${what} contains CR, LF or NUL`);
}

function isNull(address: string): boolean {
  return address === '' || address === '<>';
}

/*
 * Addresses already found valid, with whether they are non-ASCII. A delivery connection sends the same
 * few senders and recipients message after message, and parsing each again cost the delivery thread
 * about 5 us per message. Only valid ones are kept, so a bad address fails every time; bounded.
 */
const VALID_MAX = 1024;
const valid = new Map<string, boolean>();

/** Whether a valid address is non-ASCII; throws when it is not a valid address. */
function validUtf8(what: string, address: string): boolean {
  const known = valid.get(address);
  if (known !== undefined) return known;
  noBreaks(what, address);
  const mb = parseMailbox(address, true);
  if (mb.kind === 'error') bad(`${what} is not a valid address: ${mb.reason}`);
  if (Buffer.byteLength(address) + 2 > PATH_MAX) bad(`${what} is longer than ${PATH_MAX - 2} octets`);
  if (valid.size >= VALID_MAX) valid.clear();
  valid.set(address, mb.mailbox.utf8);
  return mb.mailbox.utf8;
}

/** Checks an envelope address; returns true when it holds non-ASCII characters. */
function checkAddress(what: string, address: string, caps: ParamCaps, postmaster: boolean): boolean {
  // RFC 5321 section 4.1.1.3: "<Postmaster>" without a domain is a valid forward-path.
  if (postmaster && address.toLowerCase() === 'postmaster') return false;
  const utf8 = validUtf8(what, address);
  // RFC 6531 section 3.2: no internationalized address to a server that did not offer SMTPUTF8.
  if (utf8 && !caps.smtpUtf8) bad(`${what} is non-ASCII but the server did not offer SMTPUTF8`);
  return utf8;
}

/**
 * "MAIL FROM:<sender> params". An empty sender (or "<>") is the null reverse-path. A non-ASCII
 * sender always carries SMTPUTF8 (RFC 6531 section 3.4). Parameters of an extension the server did
 * not offer are left out: deciding whether the message may go without them (8-bit data, UTF-8
 * headers) is the caller's, before it gets here (see pipeline.ts, smtpUtf8Problem).
 */
export function mailFrom(sender: string, p: MailFromParams, caps: ParamCaps): string {
  const utf8 = isNull(sender) ? false : checkAddress('sender', sender, caps, false);
  let line = `MAIL FROM:<${isNull(sender) ? '' : sender}>`;
  if (p.size !== undefined) {
    if (!Number.isSafeInteger(p.size) || p.size < 0) bad('SIZE must be a non-negative integer');
    if (caps.size !== undefined) line += ` SIZE=${p.size}`;
  }
  if (p.body !== undefined) {
    if (p.body !== '8BITMIME' && p.body !== '7BIT') bad('BODY must be 8BITMIME or 7BIT');
    if (caps.eightBitMime) line += ` BODY=${p.body}`;
  }
  if ((p.smtputf8 === true || utf8) && caps.smtpUtf8) line += ' SMTPUTF8';
  if (p.ret !== undefined) {
    if (p.ret !== 'FULL' && p.ret !== 'HDRS') bad('RET must be FULL or HDRS');
    if (caps.dsn) line += ` RET=${p.ret}`;
  }
  if (p.envid !== undefined) {
    // xtext encodes every octet that could break the line, so the value needs no other check.
    if (p.envid.length === 0 || p.envid.length > ENVID_MAX) bad(`ENVID must be 1 to ${ENVID_MAX} characters`);
    if (caps.dsn) line += ` ENVID=${encodeXtext(p.envid)}`;
  }
  return line + '\r\n';
}

/** "RCPT TO:<address> params"; NOTIFY and ORCPT only when the server offered DSN. */
export function rcptTo(address: string, p: RcptToParams, caps: ParamCaps): string {
  checkAddress('recipient', address, caps, true);
  let line = `RCPT TO:<${address}>`;
  if (p.notify !== undefined) {
    const notify = notifyValue(p.notify);
    if (caps.dsn) line += ` NOTIFY=${notify}`;
  }
  if (p.orcpt !== undefined) {
    const { type, address: original } = p.orcpt;
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(type)) bad('ORCPT address type must be an atom such as rfc822');
    if (original.length === 0 || original.length > ORCPT_MAX) bad(`ORCPT address must be 1 to ${ORCPT_MAX} characters`);
    if (caps.dsn) line += ` ORCPT=${type};${encodeXtext(original)}`;
  }
  return line + '\r\n';
}

/** NEVER, or a non-empty list of SUCCESS, FAILURE and DELAY (RFC 3461 section 4.1); repeats dropped. */
function notifyValue(notify: Notify): string {
  if (notify === 'NEVER') return 'NEVER';
  if (!Array.isArray(notify) || notify.length === 0) bad('NOTIFY must be NEVER or a non-empty list');
  const seen = new Set<string>();
  for (const n of notify) {
    if (n !== 'SUCCESS' && n !== 'FAILURE' && n !== 'DELAY') bad('NOTIFY values are SUCCESS, FAILURE and DELAY');
    seen.add(n);
  }
  return [...seen].join(',');
}

/**
 * The client's name for EHLO and HELO: a domain or an address literal, in ASCII (RFC 6531 section
 * 3.7.1: no U-labels before SMTPUTF8 is known). Only printable ASCII without spaces is let through.
 */
function checkName(name: string): void {
  noBreaks('client name', name);
  if (!/^[\x21-\x7e]{1,255}$/.test(name)) bad('client name must be 1 to 255 printable ASCII characters without spaces');
}

export function ehlo(name: string): string {
  checkName(name);
  return `EHLO ${name}\r\n`;
}

export function helo(name: string): string {
  checkName(name);
  return `HELO ${name}\r\n`;
}

export function data(): string {
  return 'DATA\r\n';
}

export function quit(): string {
  return 'QUIT\r\n';
}

export function rset(): string {
  return 'RSET\r\n';
}

export function starttls(): string {
  return 'STARTTLS\r\n';
}
