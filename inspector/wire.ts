// What the inspector's server and its page say to each other: chart models, actor summaries,
// timeline entries and stream messages (JSON over HTTP and server-sent events). Types only.

/** The kinds of actor the inspector knows (actors/inspection.ts names the same ones). */
export type Kind = 'supervisor' | 'listener' | 'session' | 'queue' | 'delivery' | 'verifier';

export const KINDS: readonly Kind[] = ['supervisor', 'listener', 'queue', 'session', 'verifier', 'delivery'];

/** A state value as xstate gives it: a leaf name, or nested objects for compound/parallel states. */
export type StateValue = string | { readonly [key: string]: StateValue };

export type NodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history' | 'initial' | 'choice';

/** One node of a chart: a state, or a pseudo-state (initial dot, choice diamond). */
export interface ChartNode {
  /** xstate's state node id ("smtp-session.idle"); pseudo-states get "<parent>#init" / "#choice:<guard>". */
  readonly id: string;
  readonly parent?: string;
  readonly label: string;
  readonly type: NodeType;
  readonly tags: readonly string[];
  /** Lines shown inside the box: entry/exit actions, invoked services, targetless transitions. */
  readonly lines: readonly string[];
  /** Everything about the state, for a tooltip: targetless transitions with their actions. */
  readonly detail: readonly string[];
}

/** One drawn edge; several transitions of the definition may share it (same source, target, guard). */
export interface ChartEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** Label lines: "EVENT [guard] / actions", "after delay". */
  readonly label: readonly string[];
  /** One line per transition with its actions, for a tooltip. */
  readonly detail: readonly string[];
  readonly kind: 'event' | 'always' | 'after' | 'initial' | 'choice';
}

export interface ChartModel {
  /** The machine's id ("smtp-session"): charts are named by it. */
  readonly machine: string;
  /** The kind of actor that runs it. */
  readonly kind: Kind;
  readonly root: string;
  readonly nodes: readonly ChartNode[];
  readonly edges: readonly ChartEdge[];
}

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A chart with coordinates (absolute, from the top left of the drawing). */
export interface LaidOutChart extends ChartModel {
  readonly width: number;
  readonly height: number;
  readonly boxes: Readonly<Record<string, Box>>;
  readonly paths: Readonly<Record<string, readonly Point[]>>;
  readonly labels: Readonly<Record<string, Box>>;
}

export type ActorStatus = 'active' | 'done' | 'stopped' | 'error';

/** How a finished delivery went, from the results it reported (worst first). */
export type Outcome = 'failed' | 'deferred' | 'delivered' | 'none';

/** What the page lists about an actor. */
export interface ActorSummary {
  readonly id: string;
  readonly kind: Kind;
  readonly machine: string;
  readonly status: ActorStatus;
  readonly state: StateValue;
  /** Fixed facts from the driver (client address, destination...). */
  readonly info: Readonly<Record<string, unknown>>;
  /** Selected context after the last step (HELO, sender, message id, target...). */
  readonly ctx: Readonly<Record<string, unknown>>;
  /** Message ids, IP addresses and domains seen, for the filters. */
  readonly keys: readonly string[];
  readonly started: number;
  readonly ended?: number;
  /** Timeline entries recorded so far (including dropped ones). */
  readonly steps: number;
  readonly last?: string;
  readonly outcome?: Outcome;
}

/** One step of an actor: an event, the transitions it took, what was emitted, the state after. */
export interface TimelineEntry {
  readonly seq: number;
  readonly t: number;
  readonly event: string;
  /** The event's payload, summarised (no buffers, long texts cut). */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly from: StateValue | null;
  readonly to: StateValue;
  /** Chart edge ids the step went along. */
  readonly edges: readonly string[];
  /** What the actor emitted (replies, requests to its driver), one short line each. */
  readonly out: readonly string[];
  readonly ctx: Readonly<Record<string, unknown>>;
}

export interface ActorDetail {
  readonly summary: ActorSummary;
  /** Entries older than the first one here were dropped (events_per_actor). */
  readonly dropped: number;
  readonly entries: readonly TimelineEntry[];
}

export interface ActorsResponse {
  readonly live: readonly ActorSummary[];
  readonly history: readonly ActorSummary[];
  readonly failed: readonly ActorSummary[];
  readonly watching: Readonly<Record<string, number>>;
}

export interface MachineInfo {
  readonly id: string;
  readonly kind: Kind;
  /** Another name the CLI accepts ("session" for smtp-session). */
  readonly alias?: string;
  readonly states: number;
  readonly transitions: number;
}

export interface HelloMessage {
  readonly pid: number;
  readonly version: string;
  readonly started: number;
  readonly kinds: readonly Kind[];
  readonly recordAlways: readonly Kind[];
}
