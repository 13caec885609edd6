// Check of issue 3: with `smarthost` pointing at a local sink (the smtp-server package, an
// independent SMTP implementation), 5,000 messages sent into the daemon by Postfix's smtp-source
// all arrive at the sink exactly once, and the spool is empty after. Run with deliveries in the
// delivery thread (the default) and on the main thread.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DeliveryDaemon, SmtpServerSink } from '../helpers/delivery.js';
import { assertAlive, deliveryFigures, queueCount, startDeliveryDaemon, startSmtpServerSink, tally, waitQueueEmpty, smtpSource } from '../helpers/delivery.js';
import { queueList, until } from '../helpers/integration.js';
import { deliverySteps } from '../helpers/delivery.js';

const MESSAGES = 5000;

for (const thread of [true, false]) {
  describe(thread ? 'deliveries in the delivery thread' : 'deliveries on the main thread', () => {
    let sink: SmtpServerSink;
    let d: DeliveryDaemon;

    before(async () => {
      sink = await startSmtpServerSink();
      d = await startDeliveryDaemon({ smarthost: sink.hostPort, delivery_thread: thread });
    });

    after(async () => {
      await d?.stop();
      d?.cleanup();
      await sink?.close();
    });

    test('5,000 messages through the smarthost arrive at the sink exactly once; the spool is empty after', { timeout: 150_000 }, async () => {
      const src = await smtpSource(d.port, MESSAGES, 'load@client.petrel.test');
      assert.equal(src.code, 0, `smtp-source failed: ${src.stderr}`);
      // The log lines reach us through a pipe: the last ones may arrive after smtp-source has finished.
      const arrivalLines = (): typeof d.logs => d.logs.filter((l) => l.event === 'arrival');
      await until(() => arrivalLines().length >= MESSAGES, 10_000, `${MESSAGES} arrival log lines`).catch(() => undefined);
      const arrivals = arrivalLines();
      assert.equal(arrivals.length, MESSAGES, 'the daemon accepted every message');
      // The Message-IDs of what was accepted (smtp-source numbers its messages): all distinct.
      const accepted = arrivals.map((l) => /\bid=(\S+)/.exec(l.msg)?.[1]).map((m) => (m === undefined ? undefined : `<${m}>`));
      assert.equal(new Set(accepted).size, MESSAGES, 'every accepted message has its own Message-ID');

      try {
        await until(() => {
          assertAlive(d);
          return sink.messages.length >= MESSAGES;
        }, 100_000, `${MESSAGES} messages at the sink`);
      } catch (e) {
        // Say what became of the missing ones: their queue entries and every log line about them.
        const atSink = new Set(sink.messages.map((m) => m.messageId));
        const missing = arrivals.filter((l, i) => !atSink.has(accepted[i])).map((l) => String(l.id)).slice(0, 5);
        const queue = await queueList(d).catch((err: unknown) => `queue list failed: ${String(err)}`);
        const figures = await deliveryFigures(d).catch((err: unknown) => `metrics failed: ${String(err)}`);
        // Where the deliveries that hold them are: their recorded steps, the last ones (the inspector records deliveries).
        const steps = await deliverySteps(d, missing).catch((err: unknown) => `inspector failed: ${String(err)}`);
        const lines = d.logs.filter((l) => missing.some((id) => JSON.stringify(l).includes(id))).map((l) => l.msg);
        throw new Error(`${(e as Error).message} (have ${sink.messages.length})\nmissing: ${missing.join(' ')}\ndeliveries: ${JSON.stringify(figures)}\nqueue: ${JSON.stringify(queue).slice(0, 2000)}\nlog:\n${lines.join('\n')}\nsteps:\n${steps}`, { cause: e });
      }
      await waitQueueEmpty(d, 30_000);
      // A little longer: a duplicate would come now, if at all.
      await new Promise((r) => setTimeout(r, 500));

      const seen = tally(sink.messages.map((m) => m.messageId));
      assert.equal(sink.messages.length, MESSAGES, `the sink received ${sink.messages.length} messages for ${MESSAGES} sent`);
      const missing = accepted.filter((m) => m !== undefined && !seen.has(m));
      assert.deepEqual(missing, [], 'every accepted message reached the sink');
      const twice = [...seen].filter(([, n]) => n > 1);
      assert.deepEqual(twice, [], 'no message reached the sink twice');
      for (const m of sink.messages.slice(0, 50)) {
        assert.equal(m.from, 'load@client.petrel.test');
        assert.deepEqual(m.rcpts, ['sink@relay.example']);
      }
      assert.equal(await queueCount(d), 0, 'queue count is 0');
      assert.equal(d.logs.filter((l) => l.event === 'delivered').length, MESSAGES, 'one "=>" line per message');
      assert.equal(d.logs.filter((l) => l.event === 'completed').length, MESSAGES, 'one Completed line per message');
      const troubled = d.logs.filter((l) => l.event === 'deferred' || l.event === 'failed');
      assert.equal(troubled.length, 0, `nothing deferred or failed; got:\n${troubled.map((l) => l.msg).join('\n')}`);
    });
  });
}
