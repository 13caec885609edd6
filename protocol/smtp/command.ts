// SMTP command line parsing (RFC 5321 section 4.1): one line of bytes in, one tagged command out.
import type { Reply } from './reply.js';
import { R, reply } from './reply.js';

export type Verb =
  | 'HELO' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA' | 'RSET' | 'NOOP' | 'QUIT'
  | 'VRFY' | 'EXPN' | 'HELP' | 'STARTTLS' | 'AUTH';

/** A command as read off the wire; arguments are still text, checked by the sequencer. */
export type Command =
  | { kind: 'command'; verb: Verb; arg: string; line: string }
  | { kind: 'unknown'; word: string; line: string }
  | { kind: 'invalid'; reply: Reply; line: string };

const VERBS: ReadonlySet<string> = new Set<Verb>([
  'HELO', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True when the bytes are plain printable ASCII (the common, fast case). */
function isPrintableAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * Parse one command line (without its line ending). NUL and other control bytes are refused;
 * 8-bit bytes must be UTF-8 and are left for MAIL and RCPT to judge (RFC 6531 addresses).
 */
export function parseCommand(bytes: Uint8Array): Command {
  let line: string;
  if (isPrintableAscii(bytes)) {
    line = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  } else {
    try {
      line = utf8.decode(bytes);
    } catch {
      return { kind: 'invalid', reply: R.badChars, line: '' };
    }
    if (hasControl(line)) return { kind: 'invalid', reply: R.badChars, line: printable(line) };
  }
  const sp = line.indexOf(' ');
  // Upper-case ASCII letters only: toUpperCase() turns "ı" into "I" and "ſ" into "S", which would
  // let a non-ASCII word pass for a verb ("maıl") that other software reads differently.
  const word = (sp < 0 ? line : line.slice(0, sp)).replace(/[a-z]+/g, (m) => m.toUpperCase());
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  if (!VERBS.has(word)) return { kind: 'unknown', word: printable(word), line: printable(line) };
  const verb = word as Verb;
  if (verb !== 'MAIL' && verb !== 'RCPT' && /[^\x20-\x7e]/.test(line)) {
    return { kind: 'invalid', reply: R.badChars, line: printable(line) };
  }
  if (verb === 'MAIL' || verb === 'RCPT') {
    const want = verb === 'MAIL' ? 'FROM:' : 'TO:';
    if (rest.slice(0, want.length).toUpperCase() !== want) {
      return {
        kind: 'invalid',
        line,
        reply: reply(501, '5.5.2', `Syntax: ${verb} ${want}<address>`),
      };
    }
    return { kind: 'command', verb, arg: rest.slice(want.length), line };
  }
  return { kind: 'command', verb, arg: rest.trim(), line };
}

/** Text safe to put into a log line: controls shown as "?", length bounded. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\x00-\x1f\x7f]/g, '?');
  return t.length > 200 ? t.slice(0, 200) + '...' : t;
}
