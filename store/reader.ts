// A queued message as it is to be delivered: stored octets with the ACL-added headers placed at
// the end of the header section (Exim's add_header default).
import type { Envelope } from './envelope.js';
import type { Spool } from './spool.js';

/**
 * The message's octets in order, chunk by chunk (never the whole message at once).
 * Added headers go before the blank line that ends the header section, or at the end of the
 * header section when the message had no body separator.
 */
export function* messageChunks(spool: Spool, env: Envelope): Generator<Buffer> {
  const added = env.addedHeaders.length === 0
    ? undefined
    : Buffer.from(env.addedHeaders.map((h) => h.replace(/\r?\n/g, '\r\n') + (h.endsWith('\n') ? '' : '\r\n')).join(''));
  if (!added) {
    yield* spool.data(env.id);
    return;
  }
  // Where the added headers go: before the CRLF of the separator line, or at the body start.
  const insertAt = env.headerSeparator ? env.headerEnd - 2 : env.headerEnd;
  let offset = 0;
  let inserted = false;
  for (const chunk of spool.data(env.id)) {
    const end = offset + chunk.length;
    if (!inserted && insertAt >= offset && insertAt <= end) {
      const at = insertAt - offset;
      if (at > 0) yield chunk.subarray(0, at);
      yield added;
      // A message without a separator gets one, so the first body line is not read as a header.
      if (!env.headerSeparator && env.headerEnd < env.size) yield Buffer.from('\r\n');
      if (at < chunk.length) yield chunk.subarray(at);
      inserted = true;
    } else {
      yield chunk;
    }
    offset = end;
  }
  if (!inserted) yield added;
}

/** The header section as it will be delivered (stored headers plus added ones), without the blank line. */
export function deliveredHeaders(spool: Spool, env: Envelope): Buffer {
  return spool.headerSection(env.id) ?? Buffer.alloc(0);
}
