// The chart panel: one tab per machine, the machine's SVG (drawn by the server), and what is lit
// on it: the selected actor's state (or step), the state before it, the edges it took, live counts.
import type { MachineInfo } from '../wire.js';
import { api, clear, h } from './dom.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

export interface Lighting {
  /** Atomic states to light (the current state, or the state after the selected step). */
  readonly lit?: readonly string[];
  /** States before the selected step. */
  readonly before?: readonly string[];
  readonly edges?: readonly string[];
  /** Live actors per state id, shown as badges when no actor is selected. */
  readonly counts?: ReadonlyMap<string, number>;
}

export class ChartView {
  readonly #box: HTMLElement;
  readonly #tabs: HTMLElement;
  readonly #title: HTMLElement;
  readonly #svgs = new Map<string, Promise<string>>();
  #machines: MachineInfo[] = [];
  #current: string | undefined;
  #showing = 0;
  /** A tab was clicked. */
  onPick: (machine: string) => void = () => undefined;

  constructor(box: HTMLElement, tabs: HTMLElement, title: HTMLElement, zoom: HTMLSelectElement) {
    this.#box = box;
    this.#tabs = tabs;
    this.#title = title;
    const apply = (): void => {
      const z = zoom.value;
      box.classList.toggle('fit', z === 'fit');
      const svg = box.querySelector('svg');
      if (!svg) return;
      if (z === 'fit') {
        svg.removeAttribute('style');
      } else {
        const w = Number(svg.getAttribute('width'));
        svg.setAttribute('style', `width: ${Math.round(w * Number(z))}px; height: auto`);
      }
    };
    zoom.addEventListener('change', apply);
    this.#applyZoom = apply;
    box.classList.toggle('fit', zoom.value === 'fit');
  }

  readonly #applyZoom: () => void;

  get current(): string | undefined {
    return this.#current;
  }

  setMachines(list: MachineInfo[]): void {
    this.#machines = list;
    clear(this.#tabs);
    for (const m of list) {
      this.#tabs.append(h('button', { type: 'button', role: 'tab', 'data-machine': m.id, onclick: () => this.onPick(m.id) }, m.id));
    }
  }

  #svg(machine: string): Promise<string> {
    let p = this.#svgs.get(machine);
    if (!p) {
      p = fetch(`/inspector/api/machines/${encodeURIComponent(machine)}.svg`).then(async (r) => {
        if (!r.ok) throw new Error(`chart ${machine}: ${r.status}`);
        return (await r.text()).replace(/^<\?xml[^>]*>\s*/, '');
      });
      p.catch(() => this.#svgs.delete(machine));
      this.#svgs.set(machine, p);
    }
    return p;
  }

  /** Show a machine's chart (nothing happens if it is already shown). */
  async show(machine: string): Promise<void> {
    if (this.#current === machine && this.#box.querySelector('svg')) return;
    this.#current = machine;
    const ticket = ++this.#showing;
    for (const b of this.#tabs.querySelectorAll('button')) b.classList.toggle('current', b.getAttribute('data-machine') === machine);
    const info = this.#machines.find((m) => m.id === machine);
    this.#title.textContent = info ? `${machine} — ${info.kind} actor, ${info.states} states, ${info.transitions} drawn transitions` : machine;
    const text = await this.#svg(machine);
    if (ticket !== this.#showing) return;
    // The SVG is the server's own drawing of a machine definition (no actor data in it).
    this.#box.innerHTML = text;
    this.#box.setAttribute('data-machine', machine);
    this.#applyZoom();
  }

  light(l: Lighting): void {
    const svg = this.#box.querySelector('svg');
    if (!svg) return;
    for (const cls of ['lit', 'before', 'taken']) for (const el of svg.querySelectorAll(`.${cls}`)) el.classList.remove(cls);
    for (const el of svg.querySelectorAll('.count-badge')) el.remove();
    const state = (id: string): Element | null => svg.querySelector(`g.state[data-state="${CSS.escape(id)}"]`);
    for (const id of l.before ?? []) state(id)?.classList.add('before');
    for (const id of l.lit ?? []) state(id)?.classList.add('lit');
    for (const id of l.edges ?? []) svg.querySelector(`g.edge[data-edge="${CSS.escape(id)}"]`)?.classList.add('taken');
    for (const [id, n] of l.counts ?? []) {
      const g = state(id);
      const box = g?.querySelector('rect.box');
      if (!g || !box) continue;
      g.classList.add('lit');
      const x = Number(box.getAttribute('x')) + Number(box.getAttribute('width'));
      const y = Number(box.getAttribute('y'));
      const text = String(n);
      const w = 10 + text.length * 7;
      const badge = document.createElementNS(SVG_NS, 'g');
      badge.setAttribute('class', 'count-badge');
      const rect = document.createElementNS(SVG_NS, 'rect');
      for (const [k, v] of Object.entries({ class: 'count-bg', x: x - w + 4, y: y - 8, width: w, height: 16, rx: 8 })) rect.setAttribute(k, String(v));
      const t = document.createElementNS(SVG_NS, 'text');
      for (const [k, v] of Object.entries({ class: 'count', x: x - w / 2 + 4, y: y + 4, 'text-anchor': 'middle' })) t.setAttribute(k, String(v));
      t.textContent = text;
      badge.append(rect, t);
      g.append(badge);
    }
    const first = (l.lit ?? [])[0];
    const target = first ? state(first) : null;
    if (target && 'scrollIntoView' in target && !this.#box.classList.contains('fit')) {
      (target as unknown as { scrollIntoView(o: object): void }).scrollIntoView({ block: 'center', inline: 'center' });
    }
  }

  /** For tests and curious users: the machine list as the API gave it. */
  static load(): Promise<MachineInfo[]> {
    return api<MachineInfo[]>('machines');
  }
}
