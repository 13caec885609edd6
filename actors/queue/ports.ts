// What the queue talks to: delivery connections (on this thread or another), local delivery, and its settings.
import type { Envelope, RecipientRecord } from '../../store/envelope.js';
import type { RoutingSettings } from '../../routing/routers.js';
import type { RetryRule } from '../../policy/retry.js';
import type { DeliveryJob, Destination, RecipientResult } from '../delivery/types.js';

/** Runs one delivery connection; the queue gives it jobs and hears back per job. */
export interface DeliveryRunnerFactory {
  start(dest: Destination, first: DeliveryJob, hooks: RunnerHooks): { stop(): void };
}

export interface RunnerHooks {
  /** Results of one job (every recipient of it, delivered, failed or deferred). */
  results(job: DeliveryJob, results: readonly RecipientResult[]): void;
  /** The connection is free: another job for the same destination, if there is one. */
  nextJob(): DeliveryJob | undefined;
  /** Where the queue is in another thread: the next job, asked for by message. Preferred over nextJob when present. */
  nextJobLater?(): Promise<DeliveryJob | undefined>;
  /** A job handed out that the connection ended without trying: it is queued again for the destination. */
  giveBack?(job: DeliveryJob): void;
  /**
   * The connection idles, open for the next job to its destination: the queue calls `wake` when one
   * comes (false if the connection can no longer take it) or `release` when it wants the slot back.
   * Returns the withdrawal, called when the connection stops idling.
   */
  idle?(waiter: IdleConnection): () => void;
  ended(): void;
}

export interface IdleConnection {
  /** A job came for the destination; false if the connection can no longer take it. */
  wake(): boolean;
  /** QUIT now; false if the connection had already stopped idling. */
  release(): boolean;
}

export interface LocalDelivery {
  deliver(env: Envelope, recipient: RecipientRecord, index: number, localPart: string): Promise<RecipientResult>;
}

export interface QueueSettings {
  readonly hostname: string;
  readonly dsnFrom: string;
  readonly returnLimit: number;
  readonly delayWarnings: readonly number[];
  readonly maxRcpt: number;
  readonly maxTotal: number;
  readonly maxPerHost: number;
  readonly interval: number;
  readonly queueOnly: boolean;
  rulesFor(domain: string): readonly RetryRule[];
  routing(): RoutingSettings;
}
