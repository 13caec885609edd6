// What the runner knows about a system under test: how to start it, and whether its 250 is durable.

import type { CommandResult } from './process.js';

/** Fixed facts about a system under test. */
export interface PeerInfo {
  /** Short name used on the command line and in tables: petrel, postfix, sink. */
  readonly name: string;
  readonly description: string;
  /** True when the 250 after end of data comes only after the message is fsynced. */
  readonly durable: boolean;
  /** How it stores what it accepts, in a few words (for the report). */
  readonly durability: string;
}

/** A started system: where to send the load, and how to take it down again. */
export interface RunningPeer {
  readonly info: PeerInfo;
  readonly host: string;
  readonly port: number;
  /** Version of the software under test, when it can tell. */
  readonly version: string | undefined;
  /** Stops it and removes what start created; safe to call twice; never leaves its port bound. */
  stop(): Promise<void>;
  /** Root processes of the system (their descendants belong to it too), for CPU and RSS sampling. */
  pids?(): number[];
  /** What the report should say about how it was started (e.g. that it waited for the file system first). */
  readonly startNotes?: readonly string[];
  /** Where its Prometheus metrics are served, when it has any (Petrel's admin listener). */
  metricsUrl?(): string | undefined;
  /**
   * Runs the system's own command line on its configuration (Petrel: `petrel ARGS --config FILE`),
   * e.g. to look at what it queued; stdout goes to `onData` as it comes when given (a listing of
   * thousands of messages), else it is returned.
   */
  command?(args: readonly string[], onData?: (chunk: string) => void): Promise<CommandResult>;
}

export interface StartOptions {
  /** Loopback port to listen on; a free one is chosen when absent. */
  readonly port?: number;
  /**
   * Sessions it must hold open at once (idle-connections): connection limits, process limits and
   * file-descriptor limits are raised to allow that many and some more.
   */
  readonly maxSessions?: number;
  /** Cuts short a wait before starting (the bench was interrupted). */
  readonly signal?: AbortSignal;
}

/** How a system is started for the delivery scenarios: all mail for example.com goes to a sink. */
export interface RelayStartOptions {
  /** Loopback port of the smtp-sink that every message for example.com is relayed to. */
  readonly sinkPort: number;
  /** Accept and store mail but deliver none of it until release(). */
  readonly hold: boolean;
  /** Loopback port to listen on; a free one is chosen when absent. */
  readonly port?: number;
  /** Cuts short a wait before starting (the bench was interrupted). */
  readonly signal?: AbortSignal;
}

/** What a relaying system could tell about a run that went wrong. */
export interface RelayDiagnosis {
  /** Log lines worth reading (errors, deferrals, crashes), the most telling first; may be empty. */
  readonly lines: string[];
  /** Where its files (config, spool, log) were kept for inspection, when it has any. */
  readonly keptDir?: string;
  /** Deliveries the system itself logged as done, when its log says. */
  readonly deliveredLogged?: number;
}

/** A started system that relays to the sink: it can also release held mail and count its queue. */
export interface RunningRelay extends RunningPeer {
  /**
   * Lets held mail go (Petrel: restart without queue_only; Postfix: postsuper -H ALL, postqueue -f).
   * Resolves with the epoch ms at which the release began: the drain is timed from there.
   */
  release(): Promise<number>;
  /** Messages still in its queue (all queues, held ones included). */
  queued(): Promise<number>;
  /** A description of the problem when the run failed; keeps the system's files if it has any. */
  diagnose(): Promise<RelayDiagnosis>;
  /** A reason when the system has died (e.g. the daemon exited), else undefined. */
  dead(): string | undefined;
  /**
   * When its own log says the last message left the queue (epoch ms), for systems whose log says
   * so: more precise than a queue count taken every so often. Undefined when the log does not tell.
   */
  lastDequeuedAt?(): Promise<number | undefined>;
}

/** One step of queue-scale: a spool filled to a size, then the daemon started on it. */
export interface QueueScaleHandle {
  /** Adds messages until the spool holds `total` (or the deadline passes); the daemon must be stopped. */
  fill(total: number, opts: { deadline: number; onProgress?: (queued: number) => void }): Promise<{ queued: number; added: number; ms: number; timedOut: boolean }>;
  /** Starts the daemon on the spool; resolves once it answers with its banner, with the time that took. */
  start(): Promise<{ peer: RunningPeer; readyMs: number }>;
  /** Stops a daemon still running and removes the spool. */
  close(): Promise<void>;
}

/** A system the bench can stand up on 127.0.0.1. */
export interface PeerTarget extends PeerInfo {
  start(opts?: StartOptions): Promise<RunningPeer>;
  /** Present on systems that deliver (the delivery scenarios run only against these). */
  startRelay?(opts: RelayStartOptions): Promise<RunningRelay>;
  /**
   * False for systems that relay but keep no queue to hold (Haraka's smtp_forward relays within
   * the transaction): outbound-drain skips them.
   */
  readonly canHold?: boolean;
  /**
   * The most sessions idle-connections holds open on it, when fewer than asked: a system with a
   * process per session (Postfix: about 1.2 MB PSS each) would otherwise take the machine's memory.
   */
  readonly maxIdleSessions?: number;
  /** A spool the bench can fill and restart on (queue-scale): Petrel only. */
  openQueueScale?(): Promise<QueueScaleHandle>;
  /**
   * With profiling on (bench --profile): the directories of CPU profiles written by the daemons started
   * since the last call, in the order they started (their files are complete once those have stopped).
   */
  takeProfiles?(): string[];
}
