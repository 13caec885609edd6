// Reporting SPF results: the Received-SPF header field (RFC 7208 section 9.1) and the texts Exim calls
// $spf_header_comment and $spf_smtp_comment.
import type { SpfResult } from './types.js';

/** The sentence describing a result, without the receiver's name (section 9.1's comment, Exim's wording). */
function sentence(result: SpfResult): string {
  const { ip, sender } = result.checked;
  switch (result.kind) {
    case 'pass':
      return `domain of ${sender} designates ${ip} as permitted sender`;
    case 'fail':
      return `domain of ${sender} does not designate ${ip} as permitted sender`;
    case 'softfail':
      return `domain of transitioning ${sender} does not designate ${ip} as permitted sender`;
    case 'neutral':
      return `${ip} is neither permitted nor denied by domain of ${sender}`;
    case 'none':
      return `domain of ${sender} does not designate permitted sender hosts`;
    case 'permerror':
      return `permanent error in processing domain of ${sender}` + (result.reason ? `: ${result.reason}` : '');
    case 'temperror':
      return `temporary error in processing domain of ${sender}` + (result.reason ? `: ${result.reason}` : '');
  }
}

/** Control characters (C0, DEL, C1) would break a header or a reply line; they become "?". */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/**
 * Exim's $spf_header_comment: "<receiver>: <sentence>", e.g.
 * "mx.example: domain of a@b.example designates 192.0.2.1 as permitted sender".
 */
export function headerComment(result: SpfResult): string {
  const receiver = result.checked.receiver;
  return printable((receiver === '' ? '' : `${receiver}: `) + sentence(result));
}

/**
 * Exim's $spf_smtp_comment: a text for the SMTP reply. For a fail it is the explanation (exp= or the default,
 * section 6.2); otherwise the sentence describing the result. One line, printable.
 */
export function smtpComment(result: SpfResult): string {
  if (result.kind === 'fail' && result.explanation !== undefined && result.explanation !== '') return printable(result.explanation);
  return printable(sentence(result));
}

const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const DOT_ATOM = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);

/** A key-value value: dot-atom when it is one, else a quoted-string (RFC 5322 section 3.2.4). */
function kvValue(value: string): string {
  if (DOT_ATOM.test(value)) return value;
  return '"' + printable(value).replace(/["\\]/g, (c) => '\\' + c) + '"';
}

/** A comment's text with the characters that end or escape comments quoted (RFC 5322 section 3.2.2). */
function commentText(text: string): string {
  return printable(text).replace(/[()\\]/g, (c) => '\\' + c);
}

/** Folds at spaces so that lines stay within 78 characters where possible; CRLF line ends and a final CRLF. */
function fold(line: string): string {
  const words = line.split(' ');
  const lines: string[] = [];
  let current = words[0] ?? '';
  for (const w of words.slice(1)) {
    if (current.length + 1 + w.length > 78) {
      lines.push(current);
      current = ' ' + w;
    } else current += ' ' + w;
  }
  lines.push(current);
  return lines.join('\r\n') + '\r\n';
}

export interface ReceivedSpfOptions {
  /** The envelope-from key; defaults to the checked sender (postmaster@<helo> for a HELO check). */
  readonly envelopeFrom?: string;
  /** Return one unfolded line without CRLF (for logs or APIs that fold themselves). */
  readonly unfolded?: boolean;
}

/**
 * The Received-SPF header field of section 9.1: result, comment, then the keys client-ip, envelope-from, helo,
 * receiver, identity, mechanism (the matched one, or "default"), and problem for errors. Folded with CRLF line
 * ends and a final CRLF, like the other header builders in protocol/.
 */
export function receivedSpf(result: SpfResult, options: ReceivedSpfOptions = {}): string {
  const c = result.checked;
  const pairs: [string, string][] = [
    ['client-ip', c.ip],
    ['envelope-from', options.envelopeFrom ?? c.sender],
    ['helo', c.helo],
  ];
  if (c.receiver !== '') pairs.push(['receiver', c.receiver]);
  pairs.push(['identity', c.identity]);
  const evaluated = result.kind === 'pass' || result.kind === 'fail' || result.kind === 'softfail' || result.kind === 'neutral';
  if (result.mechanism !== undefined || evaluated) pairs.push(['mechanism', result.mechanism ?? 'default']);
  if ((result.kind === 'permerror' || result.kind === 'temperror') && result.reason) pairs.push(['problem', result.reason]);
  const kv = pairs.map(([k, v]) => `${k}=${kvValue(v)};`).join(' ');
  const line = `Received-SPF: ${result.kind} (${commentText(headerComment(result))}) ${kv}`;
  return options.unfolded ? line : fold(line);
}
