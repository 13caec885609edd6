// A small MIME reader for the DSN tests: header fields, multipart bodies (RFC 2046 section 5.1.1),
// quoted-printable (RFC 2045 section 6.7). Written independently of the code under test.

export interface Field {
  readonly name: string;
  readonly value: string;
}

/** Fields of a header section, in order, unfolded (CRLF before whitespace removed). */
export function fields(section: string): Field[] {
  const out: Field[] = [];
  const unfolded = section.replace(/\r\n(?=[ \t])/g, '');
  for (const line of unfolded.split('\r\n')) {
    if (line === '') continue;
    const m = /^([\x21-\x39\x3b-\x7e]+):[ \t]*(.*)$/.exec(line);
    if (!m) throw new Error(`not a header field: ${JSON.stringify(line)}`);
    out.push({ name: m[1] as string, value: (m[2] as string).trim() });
  }
  return out;
}

export function get(fs: readonly Field[], name: string): string | undefined {
  return fs.find((f) => f.name.toLowerCase() === name.toLowerCase())?.value;
}

export function getAll(fs: readonly Field[], name: string): string[] {
  return fs.filter((f) => f.name.toLowerCase() === name.toLowerCase()).map((f) => f.value);
}

/** An entity: its header section (text, with final CRLF) and its body. */
export interface Entity {
  readonly header: string;
  readonly fields: Field[];
  readonly body: string;
}

export function entity(raw: string): Entity {
  if (raw.startsWith('\r\n')) return { header: '', fields: [], body: raw.slice(2) };
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no blank line after the header section');
  const header = raw.slice(0, end + 2);
  return { header, fields: fields(header), body: raw.slice(end + 4) };
}

/** A parameter of a structured value such as Content-Type (quoted or token). */
export function param(value: string, name: string): string | undefined {
  const re = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i');
  const m = re.exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Split a multipart body at its delimiter lines; the CRLF before a delimiter belongs to it. */
export function multipart(body: string, boundary: string): { preamble: string; parts: string[]; closed: boolean; epilogue: string } {
  const lines = body.split('\r\n');
  const delim = `--${boundary}`;
  const sections: string[][] = [[]];
  let closed = false;
  let epilogue: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/[ \t]+$/, '');
    if (line === `${delim}--`) {
      closed = true;
      epilogue = lines.slice(i + 1);
      break;
    }
    if (line === delim) {
      sections.push([]);
      continue;
    }
    (sections[sections.length - 1] as string[]).push(lines[i] as string);
  }
  const [pre, ...parts] = sections.map((s) => s.join('\r\n'));
  return { preamble: pre ?? '', parts, closed, epilogue: epilogue.join('\r\n') };
}

export function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=\r\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i] as string;
    if (c === '=') {
      out.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(joined.charCodeAt(i));
    }
  }
  return Buffer.from(out);
}
