// Text forms used in reports: header fields folded safely (RFC 5322 sections 2.1.1 and 2.2.3),
// addresses typed rfc822 or utf-8 (RFC 3464 section 2.1.2, RFC 6533 section 3), quoted-printable
// (RFC 2045 section 6.7) and word wrapping for the human-readable part.

/** Folding aims at this line length; no line ever reaches the 998-octet limit. */
const SOFT = 78;
/** A word longer than this (octets) is cut into pieces on lines of their own. */
const PIECE = 900;

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x1f\x7f]+/g;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

const bytes = (s: string): number => Buffer.byteLength(s);

/**
 * A value made safe to put in a header field or a report field: CR, LF, tabs and other controls
 * become single spaces, so no value can end its field early and start another (header injection).
 */
export function oneLine(value: string): string {
  return value.replace(CONTROLS, ' ').replace(/ {2,}/g, ' ').trim();
}

export function hasNonAscii(s: string): boolean {
  return NON_ASCII.test(s);
}

/** Non-ASCII characters replaced by "?": for 7-bit parts that must not carry raw UTF-8. */
export function asciiOnly(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[^\x00-\x7f]/gu, '?');
}

/** Cut a word into pieces of at most `max` octets without splitting a UTF-8 character. */
function pieces(word: string, max: number): string[] {
  const out: string[] = [];
  let cur = '';
  let n = 0;
  for (const ch of word) {
    const b = bytes(ch);
    if (n + b > max && cur !== '') {
      out.push(cur);
      cur = '';
      n = 0;
    }
    cur += ch;
    n += b;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/**
 * One header field, "Name: value" and its CRLF, folded at spaces to keep lines near 78 octets.
 * The value goes through oneLine() first. A single word too long for any line is cut into
 * pieces on lines of their own (unfolding then shows a space inside it): long diagnostics are
 * kept rather than dropped, and no line can exceed the limit of RFC 5322 section 2.1.1.
 */
export function field(name: string, value: string): string {
  const words = oneLine(value).split(' ').flatMap((w) => (bytes(w) > PIECE ? pieces(w, PIECE) : [w]));
  let out = `${name}:`;
  let line = bytes(out);
  let first = true;
  for (const w of words) {
    if (w === '') continue;
    const n = bytes(w) + 1;
    if (!first && line + n > SOFT) {
      out += '\r\n';
      line = 0;
    }
    out += ' ' + w;
    line += n;
    first = false;
  }
  return out + '\r\n';
}

/** RFC 6533 EmbeddedUnicodeChar: \x{HEX}, upper-case hex. */
const embedded = (cp: number): string => `\\x{${cp.toString(16).toUpperCase()}}`;

/**
 * utf-8-addr-xtext (RFC 6533 section 3): QCHARs as they are, everything else as \x{HEX}.
 * 7-bit, so it fits a message/delivery-status part. Controls are dropped first: they have no
 * valid encoding and no place in an address.
 */
export function utf8AddrXtext(address: string): string {
  let out = '';
  for (const ch of address.replace(CONTROLS, '')) {
    const cp = ch.codePointAt(0) as number;
    const qchar = cp >= 0x21 && cp <= 0x7e && cp !== 0x2b && cp !== 0x3d && cp !== 0x5c;
    out += qchar ? ch : embedded(cp);
  }
  return out;
}

/** Undo \x{HEX} escapes (utf-8-addr-xtext or utf-8-addr-unitext) to get the address itself. */
export function decodeEmbedded(s: string): string {
  return s.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (all, hex: string) => {
    const cp = parseInt(hex, 16);
    return cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : all;
  });
}

/**
 * An address with its type for Final-Recipient and Original-Recipient. An ASCII address keeps
 * its type; a non-ASCII one is of type utf-8: the address itself (utf-8-address) in a global
 * report, which may carry UTF-8, and utf-8-addr-xtext in a plain one, which must stay 7-bit.
 */
export function typedAddress(type: string, address: string, global: boolean): string {
  const t = oneLine(type).replace(/[\s;]/g, '') || 'rfc822';
  const raw = t.toLowerCase() === 'utf-8' ? decodeEmbedded(address) : address;
  const clean = oneLine(raw);
  if (!hasNonAscii(clean)) return `${t};${clean}`;
  return global ? `utf-8;${clean}` : `utf-8;${utf8AddrXtext(clean)}`;
}

/**
 * Quoted-printable encoding of UTF-8 text whose lines are separated by "\n". Encoded lines stay
 * within 76 characters (soft line breaks), trailing spaces are encoded, output lines end in CRLF.
 */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const data = Buffer.from(line, 'utf8');
    let cur = '';
    for (let i = 0; i < data.length; i++) {
      const b = data[i] as number;
      const last = i === data.length - 1;
      const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
      const tok = literal ? String.fromCharCode(b) : '=' + b.toString(16).toUpperCase().padStart(2, '0');
      // Keep room for the "=" of a soft break; a multi-octet character's escapes may be split
      // across lines, which is allowed: quoted-printable encodes octets.
      if (cur.length + tok.length > 75) {
        out.push(cur + '=');
        cur = '';
      }
      cur += tok;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

/**
 * Wrap text at spaces to lines of at most `width` characters. A longer word stands alone on its
 * line, cut into pieces when it would pass the 998-octet line limit.
 */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of oneLine(text).split(' ').flatMap((x) => (bytes(x) > PIECE ? pieces(x, PIECE) : [x]))) {
    if (w === '') continue;
    if (cur !== '' && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else {
      cur = cur === '' ? w : `${cur} ${w}`;
    }
  }
  if (cur !== '') lines.push(cur);
  return lines;
}
