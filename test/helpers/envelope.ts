// Test helper: an envelope draft with plain defaults, for the spool tests that store messages directly.
import type { EnvelopeDraft } from '../../store/writer.js';

/** alice@client.example to bob@example.net over ESMTP from 192.0.2.1, received at a fixed time; `over` replaces fields. */
export function testDraft(over: Partial<EnvelopeDraft> = {}): EnvelopeDraft {
  return {
    sender: 'alice@client.example',
    recipients: [{ address: 'bob@example.net', state: 'pending' }],
    smtputf8: false,
    client: { ip: '192.0.2.1', port: 40000, helo: 'client.example' },
    server: { ip: '127.0.0.1', port: 2525 },
    protocol: 'esmtp',
    receivedAt: 1_700_000_000_000,
    headerEnd: 0,
    headerSeparator: false,
    addedHeaders: [],
    ...over,
  };
}
