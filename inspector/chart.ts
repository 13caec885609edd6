// A machine's definition as a chart: states (nested, parallel, final), pseudo-states, and edges
// labelled with events, guards and delays, read from the xstate v5 machine object itself.
import type { ChartEdge, ChartModel, ChartNode, Kind, NodeType } from './wire.js';

// The parts of xstate's StateNode and TransitionDefinition the chart reads (xstate's own types
// are generic over the machine; the chart works on any machine).
interface Action {
  readonly type?: string;
  readonly name?: string;
  readonly params?: unknown;
  readonly event?: unknown;
}
type ActionRef = string | Action | ((...a: unknown[]) => unknown);
type GuardRef = string | { readonly type: string; readonly params?: unknown } | ((...a: unknown[]) => unknown);

export interface TransitionLike {
  readonly target?: readonly NodeLike[];
  readonly source: NodeLike;
  readonly guard?: GuardRef;
  readonly actions: readonly ActionRef[];
  readonly eventType: string | null;
  readonly reenter: boolean;
}

export interface NodeLike {
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly states: Readonly<Record<string, NodeLike>>;
  readonly parent?: NodeLike;
  readonly initial?: { readonly target: readonly NodeLike[] };
  readonly tags: readonly string[];
  readonly entry: readonly ActionRef[];
  readonly exit: readonly ActionRef[];
  readonly invoke: readonly { readonly src: unknown; readonly id: string }[];
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[];
  readonly after: readonly { readonly delay: string | number; readonly eventType: string }[];
}

export interface MachineLike {
  readonly id: string;
  readonly root: unknown;
  readonly events: readonly string[];
}

/** A chart and, for the capture, which drawn edges each transition object of the machine is. */
export interface BuiltChart {
  readonly model: ChartModel;
  readonly edgesOf: WeakMap<object, readonly string[]>;
}

/** A transition set with this many targets or more, all behind one guard, is drawn through a choice. */
const DISPATCH_TARGETS = 6;
const WRAP = 46;

function paramText(p: unknown): string {
  if (p === undefined) return '';
  if (typeof p === 'function') return '…';
  if (typeof p !== 'object' || p === null) return String(p);
  const values: string[] = [];
  for (const v of Object.values(p)) {
    const s = typeof v === 'object' && v !== null ? '…' : typeof v === 'function' ? '…' : String(v);
    if (values[values.length - 1] !== s) values.push(s);
  }
  return values.join(',');
}

/** A guard as written: name(params), and(a, not(b)). */
export function guardText(g: GuardRef | undefined): string {
  if (g === undefined) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    const hi = g as unknown as { guards?: readonly GuardRef[]; name?: string };
    if (hi.guards) return `${hi.name ?? 'guard'}(${hi.guards.map(guardText).join(', ')})`;
    return hi.name || 'guard';
  }
  const p = paramText(g.params);
  return p ? `${g.type}(${p})` : g.type;
}

function guardType(g: GuardRef | undefined): string {
  if (g === undefined) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'function') return (g as { name?: string }).name || 'guard';
  return g.type;
}

/** An action as written: conclude(rcpt), emit(scan), assign. */
export function actionText(a: ActionRef): string {
  if (typeof a === 'string') return a;
  if (typeof a === 'function') {
    const f = a as unknown as Action;
    const type = (f.type ?? f.name ?? 'inline').replace(/^xstate\./, '');
    const ev = f.event;
    if (type === 'emit' || type === 'raise') {
      const t = typeof ev === 'object' && ev !== null ? (ev as { type?: unknown }).type : undefined;
      return typeof t === 'string' ? `${type}(${t})` : type;
    }
    return type;
  }
  const p = paramText(a.params);
  const type = (a.type ?? 'action').replace(/^xstate\./, '');
  return p ? `${type}(${p})` : type;
}

/** The event of a transition as a reader knows it: "after aclTimeout", "done(start)", "always". */
function eventText(node: NodeLike, eventType: string | null): string {
  if (eventType === null || eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) {
    const delay = node.after.find((a) => a.eventType === eventType)?.delay;
    return `after ${typeof delay === 'number' ? `${delay}ms` : (delay ?? eventType.split('.')[2])}`;
  }
  for (const [prefix, word] of [['xstate.done.actor.', 'done'], ['xstate.error.actor.', 'error']] as const) {
    if (eventType.startsWith(prefix)) {
      const id = eventType.slice(prefix.length);
      const inv = node.invoke.find((i) => i.id === id);
      return `${word}(${typeof inv?.src === 'string' ? inv.src : id})`;
    }
  }
  return eventType;
}

/** Actions worth showing: the raise/cancel pairs xstate adds to implement `after` are not. */
function visibleActions(actions: readonly ActionRef[]): string[] {
  return actions.map(actionText).filter((a) => !a.startsWith('raise(xstate.after.') && a !== 'cancel');
}

/** Events of one edge: ones that share a prefix with every machine event of that prefix become "NET.*". */
function eventsText(events: readonly string[], all: readonly string[]): string {
  const byPrefix = new Map<string, string[]>();
  const out: string[] = [];
  for (const e of events) {
    const dot = e.indexOf('.');
    const prefix = dot > 0 && !e.startsWith('after ') ? e.slice(0, dot) : '';
    if (!prefix) {
      out.push(e);
      continue;
    }
    if (!byPrefix.has(prefix)) {
      byPrefix.set(prefix, []);
      out.push(`\0${prefix}`);
    }
    byPrefix.get(prefix)?.push(e);
  }
  return out
    .map((e) => {
      if (!e.startsWith('\0')) return e;
      const prefix = e.slice(1);
      const mine = byPrefix.get(prefix) ?? [];
      const family = all.filter((a) => a.startsWith(`${prefix}.`));
      if (mine.length >= 2 && mine.length === family.length) return `${prefix}.*`;
      return mine.join(', ');
    })
    .join(', ');
}

/** Cut a label into lines of about WRAP characters, at " | " or ", " boundaries. */
export function wrap(text: string, width = WRAP): string[] {
  if (text.length <= width) return [text];
  const parts = text.split(/(?<=\||,) /);
  const lines: string[] = [];
  let cur = '';
  for (const p of parts) {
    if (cur && cur.length + p.length + 1 > width) {
      lines.push(cur);
      cur = `  ${p}`;
    } else cur = cur ? `${cur} ${p}` : p;
  }
  if (cur) lines.push(cur);
  return lines;
}

interface Pending {
  readonly source: string;
  readonly target: string;
  kind: ChartEdge['kind'];
  /** event text -> guard texts ('' for none) */
  readonly events: Map<string, string[]>;
  readonly transitions: TransitionLike[];
  readonly detail: string[];
}

function nodeType(n: NodeLike): NodeType {
  return n.type;
}

/** Build the chart of a machine. */
export function buildChart(machine: MachineLike, kind: Kind): BuiltChart {
  const root = machine.root as NodeLike;
  const nodes: ChartNode[] = [];
  const pending = new Map<string, Pending>();
  const edgesOf = new WeakMap<object, readonly string[]>();
  const choiceEdges = new Map<TransitionLike, [string, string]>();

  const add = (source: string, target: string, kindOf: ChartEdge['kind'], event: string, guard: string, t?: TransitionLike, about?: string): string => {
    // One edge per pair of states: an event and a timeout between the same two share it.
    const key = `${source}\u0001${target}`;
    let p = pending.get(key);
    if (!p) {
      p = { source, target, kind: kindOf, events: new Map(), transitions: [], detail: [] };
      pending.set(key, p);
    } else if (p.kind !== kindOf && kindOf === 'event') {
      p.kind = 'event';
    }
    if (about && !p.detail.includes(about)) p.detail.push(about);
    const gs = p.events.get(event) ?? [];
    if (!gs.includes(guard)) gs.push(guard);
    p.events.set(event, gs);
    if (t) p.transitions.push(t);
    return key;
  };

  const visit = (n: NodeLike): void => {
    const lines: string[] = [];
    const detail: string[] = [];
    const entry = visibleActions(n.entry);
    const exit = visibleActions(n.exit);
    if (entry.length) lines.push(...wrap(`entry / ${entry.join(', ')}`));
    if (exit.length) lines.push(...wrap(`exit / ${exit.join(', ')}`));
    for (const inv of n.invoke) lines.push(`invoke ${typeof inv.src === 'string' ? inv.src : inv.id}`);
    const internal = new Map<string, string[]>();
    const all: [string | null, readonly TransitionLike[]][] = [...n.transitions.entries()];
    if (n.always?.length) all.push([null, n.always]);
    for (const [eventType, ts] of all) {
      const event = eventText(n, eventType);
      const kindOf: ChartEdge['kind'] = eventType === null ? 'always' : eventType.startsWith('xstate.after.') ? 'after' : 'event';
      const targets = new Set(ts.map((t) => t.target?.[0]?.id ?? ''));
      const types = new Set(ts.map((t) => guardType(t.guard)));
      const dispatch = targets.size >= DISPATCH_TARGETS && types.size === 1 && !types.has('');
      if (dispatch) {
        const gt = [...types][0] as string;
        const choice = `${n.parent?.id ?? root.id}#choice:${gt}`;
        for (const t of ts) {
          const into = add(n.id, choice, 'event', event, '', t, `${event} [${guardText(t.guard)}]`);
          const out = t.target?.length ? add(choice, (t.target[0] as NodeLike).id, 'choice', '', '', t) : undefined;
          choiceEdges.set(t, [into, out ?? '']);
        }
        continue;
      }
      // An unguarded transition after guarded ones for the same event is their "else".
      const guarded = ts.some((t) => t.guard !== undefined);
      for (const t of ts) {
        const guard = guardText(t.guard) || (guarded ? 'else' : '');
        const acts = visibleActions(t.actions).join(', ');
        if (!t.target?.length) {
          internal.set(event, [...(internal.get(event) ?? []), guard]);
          detail.push(`${event}${guard ? ` [${guard}]` : ''}${acts ? ` / ${acts}` : ''}`);
          continue;
        }
        for (const target of t.target) add(n.id, target.id, kindOf, event, guard, t, `${event}${guard ? ` [${guard}]` : ''}${acts ? ` / ${acts}` : ''}`);
      }
    }
    for (const [event, gs] of internal) lines.push(...wrap(gs.every((g) => g === '') ? event : `${event} [${gs.map((g) => g || 'else').join(' | ')}]`));
    nodes.push({
      id: n.id,
      ...(n.parent ? { parent: n.parent.id } : {}),
      label: n.parent ? n.key : machine.id,
      type: nodeType(n),
      tags: [...n.tags],
      lines,
      detail,
    });
    const children = Object.values(n.states);
    const init = n.initial?.target?.[0];
    if (init && n.type === 'compound') {
      const id = `${n.id}#init`;
      nodes.push({ id, parent: n.id, label: '', type: 'initial', tags: [], lines: [], detail: [] });
      add(id, init.id, 'initial', '', '');
    }
    for (const c of children) visit(c);
  };
  visit(root);

  // Choice pseudo-states found above.
  const choices = new Set<string>();
  for (const p of pending.values()) if (p.target.includes('#choice:')) choices.add(p.target);
  for (const id of choices) {
    const hash = id.indexOf('#choice:');
    const stays = [...pending.values()].some((p) => p.target === id && p.transitions.some((t) => !t.target?.length));
    nodes.push({ id, parent: id.slice(0, hash), label: id.slice(hash + 8), type: 'choice', tags: [], lines: stays ? ['or stay'] : [], detail: ['the guard is asked for each target in turn; the first that holds is taken'] });
  }

  const edges: ChartEdge[] = [];
  const idOf = new Map<string, string>();
  for (const [key, p] of pending) {
    const id = `e${edges.length}`;
    idOf.set(key, id);
    const label: string[] = [];
    if (p.kind === 'choice' || p.kind === 'initial') {
      // Unlabelled: the choice's guard is its own label; the initial edge needs none.
    } else if ([...p.events.values()].every((gs) => gs.length === 1 && gs[0] === '')) {
      label.push(...wrap(eventsText([...p.events.keys()], machine.events)));
    } else {
      for (const [event, gs] of p.events) {
        label.push(...wrap(gs.length === 1 && gs[0] === '' ? event : `${event} [${gs.map((g) => g || 'else').join(' | ')}]`));
      }
    }
    edges.push({ id, source: p.source, target: p.target, label, detail: p.detail, kind: p.kind });
    for (const t of p.transitions) if (!choiceEdges.has(t)) edgesOf.set(t, [...(edgesOf.get(t) ?? []), id]);
  }
  for (const [t, [into, out]] of choiceEdges) {
    edgesOf.set(t, [idOf.get(into) ?? '', ...(out ? [idOf.get(out) ?? ''] : [])].filter(Boolean));
  }
  return { model: { machine: machine.id, kind, root: root.id, nodes, edges }, edgesOf };
}

/** States (not pseudo-states) and drawn edges of a chart, for listings. */
export function chartCounts(m: ChartModel): { states: number; transitions: number } {
  return {
    states: m.nodes.filter((n) => n.type !== 'initial' && n.type !== 'choice').length,
    transitions: m.edges.filter((e) => e.kind !== 'initial').length,
  };
}
