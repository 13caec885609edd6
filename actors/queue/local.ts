// Local delivery for the queue: a recipient routed by the accept router goes into its Maildir.
import type { Logger } from 'pino';
import { MaildirError, deliverToMaildir } from '../../transports/maildir.js';
import type { Envelope, RecipientRecord } from '../../store/envelope.js';
import type { Spool } from '../../store/spool.js';
import { messageChunks } from '../../store/reader.js';
import type { RecipientResult } from '../delivery/types.js';
import type { LocalDelivery } from './ports.js';

export function createLocalDelivery(deps: { spool: Spool; logger: Logger; root: () => string; hostname: () => string }): LocalDelivery {
  return {
    async deliver(env: Envelope, rec: RecipientRecord, index: number, localPart: string): Promise<RecipientResult> {
      try {
        const r = await deliverToMaildir(deps.root(), localPart, messageChunks(deps.spool, env), {
          hostname: deps.hostname(),
          deliveryId: `${env.id}.${index}`,
          returnPath: env.sender,
          deliveredTo: rec.address,
        });
        return { index, outcome: { kind: 'delivered', reply: `saved to ${r.path}` } };
      } catch (e) {
        if (e instanceof MaildirError) {
          return {
            index,
            outcome: e.temporary
              ? { kind: 'deferred', reason: `local delivery failed: ${e.message}` }
              : { kind: 'failed', status: e.status, reason: `local delivery failed: ${e.message}` },
          };
        }
        throw e;
      }
    },
  };
}
