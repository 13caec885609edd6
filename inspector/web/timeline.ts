// The selected actor: its facts, its event timeline, the chosen step (state before and after, the
// event, what it emitted, the context after) and the replay controls that walk through the steps.
import type { ActorDetail, ActorSummary, TimelineEntry } from '../wire.js';
import { clear, clock, h, show, since, stateText } from './dom.js';

export interface TimelineElements {
  readonly section: HTMLElement;
  readonly head: HTMLElement;
  readonly table: HTMLElement;
  readonly step: HTMLElement;
  readonly label: HTMLElement;
  readonly follow: HTMLInputElement;
  readonly first: HTMLButtonElement;
  readonly prev: HTMLButtonElement;
  readonly play: HTMLButtonElement;
  readonly next: HTMLButtonElement;
  readonly last: HTMLButtonElement;
}

const PLAY_MS = 700;

export class TimelineView {
  readonly #el: TimelineElements;
  #detail: ActorDetail | undefined;
  /** The chosen step (an index into the entries); undefined: the latest, following the actor. */
  #index: number | undefined;
  #timer: number | undefined;
  /** The chosen step changed (or the actor moved on while followed). */
  onStep: (entry: TimelineEntry | undefined, detail: ActorDetail) => void = () => undefined;

  constructor(el: TimelineElements) {
    this.#el = el;
    el.first.addEventListener('click', () => this.select(0));
    el.prev.addEventListener('click', () => this.select(Math.max(0, this.position - 1)));
    el.next.addEventListener('click', () => this.select(Math.min(this.count - 1, this.position + 1)));
    el.last.addEventListener('click', () => this.select(this.count - 1));
    el.play.addEventListener('click', () => this.#togglePlay());
    el.follow.addEventListener('change', () => {
      if (el.follow.checked) this.select(undefined);
    });
  }

  get actor(): string | undefined {
    return this.#detail?.summary.id;
  }

  get count(): number {
    return this.#detail?.entries.length ?? 0;
  }

  /** The index shown (the last one when following). */
  get position(): number {
    return this.#index ?? this.count - 1;
  }

  get lastSeq(): number {
    const e = this.#detail?.entries;
    return e?.length ? (e[e.length - 1] as TimelineEntry).seq : -1;
  }

  /** A new actor is selected: start at its first step when finished (replay), its latest when live. */
  set(detail: ActorDetail): void {
    this.#stop();
    this.#detail = detail;
    this.#el.section.hidden = false;
    this.#index = detail.summary.status === 'active' && this.#el.follow.checked ? undefined : 0;
    this.#render();
  }

  /** More steps of the actor shown (it is live). */
  extend(summary: ActorSummary, entries: readonly TimelineEntry[]): void {
    const d = this.#detail;
    if (!d || d.summary.id !== summary.id) return;
    const known = new Set(d.entries.map((e) => e.seq));
    this.#detail = { ...d, summary, entries: [...d.entries, ...entries.filter((e) => !known.has(e.seq))] };
    this.#render();
  }

  hide(): void {
    this.#stop();
    this.#detail = undefined;
    this.#el.section.hidden = true;
  }

  select(i: number | undefined): void {
    if (!this.#detail) return;
    if (i !== undefined && this.#el.follow.checked && i !== this.count - 1) this.#el.follow.checked = false;
    this.#index = i;
    this.#render();
  }

  #togglePlay(): void {
    if (this.#timer !== undefined) return this.#stop();
    if (this.position >= this.count - 1) this.select(0);
    this.#el.play.textContent = '⏸';
    this.#timer = window.setInterval(() => {
      if (this.position >= this.count - 1) return this.#stop();
      this.select(this.position + 1);
    }, PLAY_MS);
  }

  #stop(): void {
    if (this.#timer !== undefined) window.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#el.play.textContent = '▷';
  }

  #render(): void {
    const d = this.#detail;
    if (!d) return;
    const s = d.summary;
    const el = this.#el;
    clear(el.head);
    const facts = [...Object.entries(s.info), ...Object.entries(s.ctx)].map(([k, v]) => h('span', {}, h('b', {}, `${k} `), show(v)));
    el.head.append(
      h('div', {}, h('b', {}, s.id), ` ${s.machine} · `, h('span', { class: 'badge state', id: 'actor-state' }, stateText(s.state)), ` · ${s.status}`,
        s.outcome && s.outcome !== 'none' ? h('span', { class: `badge ${s.outcome}` }, s.outcome) : null,
        ` · started ${clock(s.started)}${s.ended ? `, ended ${clock(s.ended)}` : ''}`),
      h('div', { class: 'facts' }, ...facts),
    );
    const start = d.entries[0]?.t ?? s.started;
    const pos = this.position;
    const rows = d.entries.map((e, i) =>
      h('tr', { class: `entry${i === pos ? ' current' : ''}`, 'data-seq': e.seq, 'data-index': i, onclick: () => this.select(i) },
        h('td', {}, e.seq), h('td', {}, since(e.t, start)), h('td', {}, e.event),
        h('td', {}, `${stateText(e.from)} → ${stateText(e.to)}`), h('td', { class: 'detail' }, e.detail ? show(e.detail) : '')));
    clear(el.table);
    el.table.append(h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'time'), h('th', {}, 'event'), h('th', {}, 'state'), h('th', {}, 'payload'))), h('tbody', {}, ...rows)));
    el.table.querySelector('tr.current')?.scrollIntoView({ block: 'nearest' });
    const entry = d.entries[pos];
    el.label.textContent = this.count ? `step ${pos + 1} / ${this.count}${d.dropped ? ` (${d.dropped} older dropped)` : ''}` : 'no steps';
    el.label.setAttribute('data-step', String(pos));
    for (const b of [el.first, el.prev]) b.disabled = pos <= 0;
    for (const b of [el.next, el.last]) b.disabled = pos >= this.count - 1;
    this.#renderStep(entry, start);
    this.onStep(entry, d);
  }

  #renderStep(e: TimelineEntry | undefined, start: number): void {
    const el = this.#el.step;
    clear(el);
    if (!e) return;
    el.append(
      h('div', { class: 'change' }, h('span', { class: 'before', id: 'step-before' }, stateText(e.from)), ' → ', h('span', { class: 'after', id: 'step-after' }, stateText(e.to))),
      h('h4', {}, 'event'),
      h('div', { class: 'mono' }, `${e.event} at ${clock(e.t)} (${since(e.t, start)})`),
      e.detail ? h('div', { class: 'mono' }, show(e.detail)) : '',
      h('h4', {}, 'emitted'),
      e.out.length ? h('ul', {}, ...e.out.map((o) => h('li', {}, o))) : h('div', { class: 'empty' }, 'nothing'),
      h('h4', {}, 'context after'),
      h('dl', {}, ...Object.entries(e.ctx).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, show(v))])),
      h('h4', {}, 'transitions'),
      h('div', { class: 'mono' }, e.edges.length ? e.edges.join(' ') : 'none drawn (stayed, or a targetless transition)'),
    );
  }
}
