// The inspector page: loads the machines and actors, follows the live stream (server-sent
// events), and ties the side bar, the chart and the selected actor's timeline together.
import type { ActorDetail, ActorSummary, ActorsResponse, HelloMessage, Kind, MachineInfo, TimelineEntry } from '../wire.js';
import { ChartView } from './chart-view.js';
import { api, clock, h, leafIds, stateText } from './dom.js';
import { matches, renderGroups, renderTree } from './lists.js';
import type { Filters } from './lists.js';
import { TimelineView } from './timeline.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** Kinds a viewer may choose not to watch (each one watched costs the daemon an observer per new actor). */
const WATCHABLE: readonly Kind[] = ['session', 'verifier', 'delivery'];
const ALWAYS: readonly Kind[] = ['supervisor', 'listener', 'queue'];
/** Finished actors the page keeps per kind (the daemon keeps its own last N). */
const FINISHED_KEPT = 300;

const actors = new Map<string, ActorSummary>();
const failed = new Set<string>();
const watched = new Set<Kind>(WATCHABLE);
let selected: string | undefined;
let source: EventSource | undefined;
let fetching = false;
let scheduled = false;

const chart = new ChartView($('chart'), $('machines'), $('chart-title'), $<HTMLSelectElement>('zoom'));
const timeline = new TimelineView({
  section: $('actor'), head: $('actor-head'), table: $('timeline'), step: $('step'), label: $('step-label'), follow: $<HTMLInputElement>('follow'),
  first: $<HTMLButtonElement>('replay-first'), prev: $<HTMLButtonElement>('replay-prev'), play: $<HTMLButtonElement>('replay-play'),
  next: $<HTMLButtonElement>('replay-next'), last: $<HTMLButtonElement>('replay-last'),
});

function filters(): Filters {
  const v = (id: string): string => $<HTMLInputElement>(id).value.trim();
  return { message: v('filter-message'), ip: v('filter-ip'), domain: v('filter-domain'), state: v('filter-state') };
}

function merge(list: readonly ActorSummary[]): void {
  for (const a of list) {
    actors.set(a.id, a);
    if (a.status !== 'active' && (a.outcome === 'failed' || a.outcome === 'deferred')) failed.add(a.id);
  }
}

/** Old finished actors leave the page's memory (not the selected one, not failed deliveries). */
function prune(): void {
  const finished = [...actors.values()].filter((a) => a.status !== 'active' && a.id !== selected && !failed.has(a.id));
  for (const kind of new Set(finished.map((a) => a.kind))) {
    const mine = finished.filter((a) => a.kind === kind).sort((x, y) => (y.ended ?? 0) - (x.ended ?? 0));
    for (const a of mine.slice(FINISHED_KEPT)) actors.delete(a.id);
  }
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render();
  });
}

function render(): void {
  prune();
  const f = filters();
  const all = [...actors.values()];
  const live = all.filter((a) => a.status === 'active');
  renderTree($('tree'), live, (id) => void select(id), (k) => {
    const m = all.find((a) => a.kind === k)?.machine;
    if (m) void showMachine(m);
    $('live').querySelector(`[data-group="${k}"]`)?.scrollIntoView({ block: 'nearest' });
  });
  renderGroups($('live'), live.filter((a) => matches(a, f)), selected, (id) => void select(id), 'none (that match)');
  const bad = [...failed].map((id) => actors.get(id)).filter((a): a is ActorSummary => a !== undefined && matches(a, f));
  renderGroups($('failed'), bad, selected, (id) => void select(id), 'none kept');
  renderGroups($('history'), all.filter((a) => a.status !== 'active' && matches(a, f)), selected, (id) => void select(id), 'none yet');
  if (!selected) lightCounts();
}

/** No actor chosen: the states live actors of the shown machine are in, with how many. */
function lightCounts(): void {
  const m = chart.current;
  if (!m) return;
  const counts = new Map<string, number>();
  for (const a of actors.values()) {
    if (a.status !== 'active' || a.machine !== m) continue;
    for (const id of leafIds(m, a.state)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  chart.light({ counts });
}

async function showMachine(m: string): Promise<void> {
  if (selected && actors.get(selected)?.machine !== m) {
    selected = undefined;
    timeline.hide();
  }
  await chart.show(m);
  schedule();
}

async function select(id: string): Promise<void> {
  const a = actors.get(id);
  selected = id;
  if (a) await chart.show(a.machine);
  try {
    const d = await api<ActorDetail>(`actors/${encodeURIComponent(id)}`);
    if (selected !== id) return;
    merge([d.summary]);
    await chart.show(d.summary.machine);
    timeline.set(d);
  } catch (e) {
    $('conn').title = (e as Error).message;
  }
  schedule();
}

timeline.onStep = (entry: TimelineEntry | undefined, d: ActorDetail): void => {
  const root = d.summary.machine;
  const light = (): void => chart.light({
    lit: leafIds(root, entry ? entry.to : d.summary.state),
    before: entry ? leafIds(root, entry.from) : [],
    edges: entry?.edges ?? [],
  });
  if (chart.current === root) light();
  else void chart.show(root).then(light);
};

/** The selected actor moved on: fetch its new steps. */
async function follow(a: ActorSummary): Promise<void> {
  if (fetching || timeline.actor !== a.id) return;
  fetching = true;
  try {
    const d = await api<ActorDetail>(`actors/${encodeURIComponent(a.id)}?since=${timeline.lastSeq}`);
    timeline.extend(d.summary, d.entries);
  } catch {
    // Gone from the daemon's memory: what the page has stays.
  } finally {
    fetching = false;
  }
}

async function refresh(): Promise<void> {
  const r = await api<ActorsResponse>('actors');
  actors.clear();
  failed.clear();
  merge(r.failed);
  merge(r.history);
  merge(r.live);
  schedule();
}

function connect(): void {
  source?.close();
  const kinds = [...ALWAYS, ...WATCHABLE.filter((k) => watched.has(k))];
  const es = new EventSource(`/inspector/api/stream?kinds=${kinds.join(',')}`);
  source = es;
  const conn = $('conn');
  es.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'conn on';
    document.body.dataset.live = '1';
  });
  es.addEventListener('error', () => {
    conn.textContent = 'disconnected, retrying…';
    conn.className = 'conn off';
    document.body.dataset.live = '0';
  });
  es.addEventListener('hello', (ev) => {
    const hello = JSON.parse((ev as MessageEvent<string>).data) as HelloMessage;
    $('daemon').textContent = `pid ${hello.pid} · petrel ${hello.version} · up since ${clock(hello.started)}`;
  });
  es.addEventListener('resync', () => void refresh());
  es.addEventListener('actors', (ev) => {
    const list = JSON.parse((ev as MessageEvent<string>).data) as ActorSummary[];
    merge(list);
    const mine = selected ? list.find((a) => a.id === selected) : undefined;
    if (mine && mine.steps - 1 > timeline.lastSeq) void follow(mine);
    schedule();
  });
}

function watchControls(): void {
  const el = $('watch');
  el.append('watch:');
  for (const k of WATCHABLE) {
    const box = h('input', { type: 'checkbox', id: `watch-${k}`, checked: true, onchange: (e: Event) => {
      if ((e.target as HTMLInputElement).checked) watched.add(k);
      else watched.delete(k);
      connect();
    } });
    el.append(h('label', {}, box, ` ${k === 'delivery' ? 'deliveries' : `${k}s`}`));
  }
}

async function boot(): Promise<void> {
  watchControls();
  for (const id of ['filter-message', 'filter-ip', 'filter-domain', 'filter-state']) $(id).addEventListener('input', schedule);
  $('filter-clear').addEventListener('click', () => {
    for (const id of ['filter-message', 'filter-ip', 'filter-domain', 'filter-state']) $<HTMLInputElement>(id).value = '';
    schedule();
  });
  const machines = await api<MachineInfo[]>('machines');
  chart.setMachines(machines);
  chart.onPick = (m) => void showMachine(m);
  connect();
  await refresh();
  await chart.show(machines.find((m) => m.kind === 'session')?.id ?? machines[0]?.id ?? 'supervisor');
  document.body.dataset.ready = '1';
  schedule();
}

void boot().catch((e: unknown) => {
  $('conn').textContent = `error: ${(e as Error).message}`;
  document.body.append(h('pre', {}, String((e as Error).stack ?? e)));
});

// For debugging from the console.
Object.assign(window, { petrelInspector: { actors, select, refresh, stateText } });
