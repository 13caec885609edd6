// SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 2034, RFC 3463).

/** A reply before formatting: code, optional enhanced code, one or more text lines. */
export interface Reply {
  readonly code: number;
  readonly enhanced?: string;
  readonly lines: readonly string[];
}

export function reply(code: number, enhanced: string | undefined, text: string): Reply {
  return { code, enhanced, lines: text.split('\n') };
}

// Reply lines are limited to 512 octets (RFC 5321 section 4.5.3.1.5); keep text well under that.
const TEXT_MAX = 480;

function clean(text: string): string {
  // A reply line must not carry CR, LF or other controls: they would let text forge extra replies.
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/[\x00-\x1f\x7f]/g, ' ');
  return s.length > TEXT_MAX ? s.slice(0, TEXT_MAX) : s;
}

/** Wire form of a reply; enhanced codes are shown only to clients that were offered them. */
export function formatReply(r: Reply, enhanced: boolean): string {
  const code = String(r.code);
  const prefix = enhanced && r.enhanced ? `${r.enhanced} ` : '';
  const lines = r.lines.length === 0 ? [''] : r.lines;
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? ' ' : '-';
    out += `${code}${sep}${prefix}${clean(lines[i] ?? '')}\r\n`;
  }
  return out;
}

/** A reply whose class (2, 4 or 5) is taken from a text that may start with its own code. */
export function replyFromText(
  text: string,
  fallback: { code: number; enhanced: string },
): Reply {
  // An ACL message may begin with "550 5.7.1 ..." to choose its codes (as Exim allows),
  // but only within the class the verb implies: a deny cannot become a 2xx.
  const m = /^([245]\d\d)(?:[ -]([245]\.\d{1,3}\.\d{1,3}))?\s+([\s\S]*)$/.exec(text);
  if (m && m[1] && m[1][0] === String(fallback.code)[0]) {
    const code = Number(m[1]);
    const enh = m[2] && m[2][0] === m[1][0] ? m[2] : fallback.enhanced;
    return reply(code, enh, m[3] ?? '');
  }
  return reply(fallback.code, fallback.enhanced, text);
}

/** Fixed replies used throughout the session. */
export const R = {
  ok: reply(250, '2.0.0', 'OK'),
  senderOk: reply(250, '2.1.0', 'OK'),
  rcptOk: reply(250, '2.1.5', 'OK'),
  startData: reply(354, undefined, 'Enter message, ending with "." on a line by itself'),
  bye: (host: string) => reply(221, '2.0.0', `${host} closing connection`),
  vrfy: reply(252, '2.1.5', 'Cannot VRFY user, but will accept message and attempt delivery'),
  expn: reply(502, '5.5.1', 'EXPN not available'),
  help: reply(214, '2.0.0', 'Commands supported: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS'),
  unknown: reply(500, '5.5.1', 'Unrecognized command'),
  lineTooLong: reply(500, '5.5.2', 'Line too long'),
  badChars: reply(500, '5.5.2', 'Invalid characters in command'),
  bareLf: reply(500, '5.5.2', 'Bare LF or CR in command; lines must end with CRLF'),
  heloFirst: reply(503, '5.5.1', 'Send EHLO or HELO first'),
  nestedMail: reply(503, '5.5.1', 'Sender already specified'),
  needMail: reply(503, '5.5.1', 'Send MAIL first'),
  needRcpt: reply(503, '5.5.1', 'Valid RCPT command must precede DATA'),
  noValidRcpt: reply(554, '5.5.1', 'No valid recipients'),
  tooManyRcpt: reply(452, '4.5.3', 'Too many recipients'),
  syncError: reply(554, '5.5.0', 'SMTP synchronization error'),
  timeout: (host: string) => reply(421, '4.4.2', `${host} timeout, closing connection`),
  tooManyErrors: reply(421, '4.7.0', 'Too many syntax or protocol errors, closing connection'),
  tooManyUnknown: reply(421, '4.7.0', 'Too many unrecognized commands, closing connection'),
  shuttingDown: (host: string) => reply(421, '4.3.2', `${host} service shutting down, closing connection`),
  tooBig: reply(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  localError: reply(451, '4.3.0', 'Local error in processing; try again later'),
  tlsNotAvailable: reply(502, '5.5.1', 'STARTTLS not available'),
  tlsAlready: reply(503, '5.5.1', 'TLS already active'),
  tlsReady: reply(220, '2.0.0', 'Ready to start TLS'),
} as const;
