// Laying out the tag-list of an ARC-Message-Signature or ARC-Seal (RFC 8617 sections 4.1.2-4.1.3, RFC 6376
// section 3.2): folded for the wire, or in the test suite's normalized form; b= is left for the signature.

export type Tag = [name: string, value: string];

/** A field with its b= value missing: the finished field is head + signature (folded or not) + tail. */
export interface FieldTemplate {
  readonly head: string;
  readonly tail: string;
}

const LINE = 78;

/**
 * folded: the tags in the given order with b= last, on lines of at most 78 octets where tags allow it (h= may
 * break after a colon); the caller folds the signature into the last line (protocol/dkim's finishSignature).
 * sorted: README.upstream.md's normalization, used by the suite's expected headers: tags in alphabetical order,
 * b= among them, one line, exactly one space after each ";", no final ";".
 */
export function layoutTags(name: string, tags: readonly Tag[], fold: boolean): FieldTemplate {
  if (!fold) {
    const b: Tag = ['b', ''];
    const all = [...tags, b].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const at = all.findIndex(([n]) => n === 'b');
    const before = all.slice(0, at).map(([n, v]) => `${n}=${v}; `).join('');
    const after = all.slice(at + 1).map(([n, v]) => `; ${n}=${v}`).join('');
    return { head: `${name}: ${before}b=`, tail: after };
  }
  const pieces: { text: string; glued: boolean }[] = [];
  for (const [n, v] of tags) {
    if (n !== 'h') {
      pieces.push({ text: `${n}=${v};`, glued: false });
      continue;
    }
    const names = v.split(':');
    names.forEach((h, i) => pieces.push({ text: `${i === 0 ? 'h=' : ''}${h}${i === names.length - 1 ? ';' : ':'}`, glued: i > 0 }));
  }
  pieces.push({ text: 'b=', glued: false });
  const lines: string[] = [];
  let line = `${name}:`;
  for (const { text, glued } of pieces) {
    const sep = glued ? '' : ' ';
    if (line.length + sep.length + text.length > LINE && line !== `${name}:`) {
      lines.push(line);
      line = ` ${text}`;
    } else {
      line += sep + text;
    }
  }
  lines.push(line);
  return { head: lines.join('\r\n'), tail: '' };
}
