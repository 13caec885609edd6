// A queued message as it is to be delivered: stored octets with the ACL-added headers placed at the end of the
// header section (Exim's add_header default) or before everything (`:at_start:`), and the header fields the
// envelope says not to pass on left out.
import type { Envelope } from './envelope.js';
import type { Spool } from './spool.js';

const toWire = (headers: readonly string[]): Buffer =>
  Buffer.from(headers.map((h) => h.replace(/\r?\n/g, '\r\n') + (h.endsWith('\n') ? '' : '\r\n')).join(''));

/** One change to the stored octets: remove [from, to), then insert `text` at `to`. Sorted by offset. */
interface Edit {
  readonly from: number;
  readonly to: number;
  readonly text?: Buffer;
}

function editsOf(env: Envelope): Edit[] {
  const edits: Edit[] = [];
  if (env.prependedHeaders && env.prependedHeaders.length > 0) edits.push({ from: 0, to: 0, text: toWire(env.prependedHeaders) });
  for (const [from, to] of env.omit ?? []) edits.push({ from, to });
  if (env.addedHeaders.length > 0) {
    // Where the added headers go: before the CRLF of the separator line, or at the body start.
    const at = env.headerSeparator ? env.headerEnd - 2 : env.headerEnd;
    // A message without a separator gets one, so the first body line is not read as a header.
    const separator = !env.headerSeparator && env.headerEnd < env.size ? Buffer.from('\r\n') : undefined;
    const text = toWire(env.addedHeaders);
    edits.push({ from: at, to: at, text: separator ? Buffer.concat([text, separator]) : text });
  }
  return edits.sort((a, b) => a.from - b.from || a.to - b.to);
}

/** The message's octets in order, chunk by chunk (never the whole message at once). */
export function* messageChunks(spool: Spool, env: Envelope): Generator<Buffer> {
  const edits = editsOf(env);
  if (edits.length === 0) {
    yield* spool.data(env.id, env.chunks);
    return;
  }
  let e = 0;
  let offset = 0;
  for (const chunk of spool.data(env.id, env.chunks)) {
    const end = offset + chunk.length;
    let pos = offset; // next stored octet not yet handled
    while (e < edits.length && (edits[e] as Edit).from <= end) {
      const edit = edits[e] as Edit;
      if (edit.from > pos) yield chunk.subarray(pos - offset, edit.from - offset);
      pos = Math.max(pos, edit.from);
      if (edit.to > end) {
        pos = end; // the removal continues into the next chunk
        break;
      }
      pos = Math.max(pos, edit.to);
      if (edit.text) yield edit.text;
      e++;
    }
    if (pos < end) yield chunk.subarray(pos - offset);
    offset = end;
  }
  // Inserts at (or past) the end of the data, e.g. added headers of a message with no body.
  for (; e < edits.length; e++) {
    const text = (edits[e] as Edit).text;
    if (text) yield text;
  }
}

/** The header section as it will be delivered (every edit applied), without the blank line that ends it. */
export function deliveredHeaders(spool: Spool, env: Envelope): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  for (const chunk of spool.data(env.id, env.chunks)) {
    parts.push(chunk);
    have += chunk.length;
    if (have >= env.headerEnd) break;
  }
  const stored = Buffer.concat(parts).subarray(0, env.headerEnd);
  // Every edit lies inside the header section or at its end.
  const out: Buffer[] = [];
  let pos = 0;
  for (const edit of editsOf(env)) {
    if (edit.from > pos) out.push(stored.subarray(pos, edit.from));
    pos = Math.max(pos, edit.to);
    if (edit.text) out.push(edit.text);
  }
  out.push(stored.subarray(Math.min(pos, stored.length)));
  const all = Buffer.concat(out);
  // Drop the separator line: the stored one, or the one a message without it is given with added headers.
  const separated = env.headerSeparator || (env.addedHeaders.length > 0 && env.headerEnd < env.size);
  return separated ? all.subarray(0, Math.max(0, all.length - 2)) : all;
}
