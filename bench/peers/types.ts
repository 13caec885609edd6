// What the runner knows about a system under test: how to start it, and whether its 250 is durable.

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
}

export interface StartOptions {
  /** Loopback port to listen on; a free one is chosen when absent. */
  readonly port?: number;
}

/** A system the bench can stand up on 127.0.0.1. */
export interface PeerTarget extends PeerInfo {
  start(opts?: StartOptions): Promise<RunningPeer>;
}
