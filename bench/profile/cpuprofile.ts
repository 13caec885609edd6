// Reading V8 CPU profiles (what `node --cpu-prof` writes): where one thread's time went, by layer and by function.

/** The parts of a .cpuprofile file this reads. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  /** Microseconds before each sample; the first is from startTime. */
  readonly timeDeltas?: readonly number[];
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

export interface Share {
  readonly name: string;
  readonly ms: number;
  /** Of the busy time (0..1). */
  readonly share: number;
}

export interface FunctionShare extends Share {
  /** file:line (1-based); empty for V8's markers and native functions. */
  readonly where: string;
  readonly group: string;
}

export interface ProfileSummary {
  /** Time the profile covers. */
  readonly totalMs: number;
  /** The part spent running (total less V8's "(idle)"). */
  readonly busyMs: number;
  /** Own time by layer, largest first: a package, a Petrel folder, a Node module, the collector. */
  readonly groups: readonly Share[];
  /** Own time by function, largest first. */
  readonly top: readonly FunctionShare[];
}

/** The marker V8 gives to samples taken while the thread waited for work. */
export const IDLE = '(idle)';

/**
 * The layer a frame belongs to: an npm package by name, a Petrel top-level folder as petrel:<folder>
 * (from the compiled dist/ tree), a Node module as node:<name>, V8's own markers as they are
 * ("(garbage collector)"), and other frames without a script as "native".
 */
export function groupOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return (parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0]) ?? url;
  }
  if (url.startsWith('node:')) {
    const name = url.slice(5).split('/')[0] ?? '';
    return `node:${name}`;
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return `petrel:${url.slice(dist + 6).split('/')[0] ?? ''}`;
  return url.split('/').pop() ?? url;
}

/** Own time per node id, in microseconds, from the samples and their time deltas. */
export function selfTimes(p: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // A sample's delta is the time since the one before: that time is charged to the sample after it,
  // as Chrome's DevTools do.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    const next = deltas[i + 1] ?? 0;
    if (next > 0) self.set(id, (self.get(id) ?? 0) + next);
  }
  return self;
}

const fileOf = (url: string): string => url.split('/').pop() ?? url;

/** Where a profile's time went; `top` is how many functions to list (default 25). */
export function summarize(p: CpuProfile, top = 25): ProfileSummary {
  const self = selfTimes(p);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; group: string; us: number }>();
  let idle = 0;
  let sampled = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    sampled += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === IDLE && url === '') {
      idle += us;
      continue;
    }
    const group = groupOf(url, functionName);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const name = functionName || '(anonymous)';
    const where = url === '' ? '' : `${fileOf(url)}:${lineNumber + 1}`;
    const key = `${name}\u0000${where}`;
    const f = fns.get(key);
    if (f) f.us += us;
    else fns.set(key, { name, where, group, us });
  }
  const busyUs = Math.max(0, sampled - idle);
  const share = (us: number): number => (busyUs > 0 ? us / busyUs : 0);
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    totalMs: ms(Math.max(sampled, p.endTime - p.startTime)),
    busyMs: ms(busyUs),
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: ms(us), share: share(us) })),
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, group: f.group, ms: ms(f.us), share: share(f.us) })),
  };
}

/** "xstate 27%, petrel:actors 13%, ...": the largest layers of a summary, for a one-line note. */
export function groupsLine(s: ProfileSummary, count = 6): string {
  return s.groups
    .slice(0, count)
    .map((g) => `${g.name} ${Math.round(g.share * 100)}%`)
    .join(', ');
}
