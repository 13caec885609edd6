// The side bar: the supervisor tree, live actors grouped by kind, failed and deferred deliveries,
// finished actors; every list passes the filters (message id, client IP, domain, state).
import type { ActorSummary, Kind } from '../wire.js';
import { clear, h, show, stateText } from './dom.js';

export interface Filters {
  readonly message: string;
  readonly ip: string;
  readonly domain: string;
  readonly state: string;
}

const GROUPS: readonly [Kind, string][] = [
  ['session', 'sessions'],
  ['verifier', 'verifiers'],
  ['delivery', 'deliveries'],
  ['queue', 'queue scheduler'],
  ['listener', 'listener'],
  ['supervisor', 'supervisor'],
];

/** Shown per group at most; the filters find the others. */
const LIMIT = 150;

const lower = (s: unknown): string => (typeof s === 'string' ? s.toLowerCase() : '');

export function matches(a: ActorSummary, f: Filters): boolean {
  const keys = a.keys.map(lower);
  const info = Object.values(a.info).map(lower);
  if (f.message) {
    const q = f.message.toLowerCase();
    if (![lower(a.ctx.id), lower(a.ctx.messageId), ...keys].some((k) => k.includes(q))) return false;
  }
  if (f.ip) {
    const q = f.ip.toLowerCase();
    if (![...info, ...keys].some((k) => k.includes(q))) return false;
  }
  if (f.domain) {
    const q = f.domain.toLowerCase().replace(/^@/, '');
    if (!keys.some((k) => k === q || k.endsWith(`.${q}`) || k.endsWith(`@${q}`) || k.includes(` ${q}`) || k.startsWith(`${q} `))) return false;
  }
  if (f.state && !stateText(a.state).toLowerCase().includes(f.state.toLowerCase())) return false;
  return true;
}

/** The line that says which actor this is. */
export function who(a: ActorSummary): string {
  const i = a.info;
  const c = a.ctx;
  switch (a.kind) {
    case 'session':
      return `${show(i.client)}${c.helo ? ` ${show(c.helo)}` : ''}`;
    case 'delivery':
      return `${show(c.target ?? i.destination)}`;
    case 'verifier':
      return `${show(i.verifier)} ${show(i.sender ?? '')} [${show(i.client)}]`;
    case 'listener':
      return show(i.listen);
    case 'supervisor':
      return `pid ${show(i.pid)}`;
    default:
      return a.id;
  }
}

/** The line under it: the transaction or job in hand. */
export function what(a: ActorSummary): string {
  const c = a.ctx;
  const parts: string[] = [];
  if (c.id) parts.push(`id=${show(c.id)}`);
  if (c.from) parts.push(`from=${show(c.from)}`);
  if (c.rcpt) parts.push(`rcpt=${show(c.rcpt)}${typeof c.rcpts === 'number' && c.rcpts > 1 ? ` (+${c.rcpts - 1})` : ''}`);
  if (a.kind === 'session' && typeof c.messages === 'number' && c.messages > 0) parts.push(`msgs=${c.messages}`);
  if (parts.length === 0) for (const [k, v] of Object.entries(c).slice(0, 4)) parts.push(`${k}=${show(v)}`);
  return parts.join(' ');
}

export function actorItem(a: ActorSummary, selected: string | undefined, onSelect: (id: string) => void): HTMLLIElement {
  const state = stateText(a.state);
  return h('li', {
    class: `actor${a.id === selected ? ' selected' : ''}`,
    'data-actor-id': a.id,
    'data-kind': a.kind,
    'data-state': state,
    'data-status': a.status,
    ...(a.outcome ? { 'data-outcome': a.outcome } : {}),
    title: `${a.id} (${a.machine})`,
    onclick: () => onSelect(a.id),
  },
  h('div', { class: 'main' },
    h('span', { class: 'badge state' }, state),
    a.outcome && a.outcome !== 'none' ? h('span', { class: `badge ${a.outcome}` }, a.outcome) : null,
    h('span', { class: 'who' }, who(a))),
  h('div', { class: 'sub' }, what(a) || a.id));
}

/** Actors grouped by kind, newest first. */
export function renderGroups(el: HTMLElement, actors: readonly ActorSummary[], selected: string | undefined, onSelect: (id: string) => void, empty: string): void {
  clear(el);
  if (actors.length === 0) {
    el.append(h('div', { class: 'empty' }, empty));
    return;
  }
  for (const [kind, title] of GROUPS) {
    const mine = actors.filter((a) => a.kind === kind).sort((x, y) => (y.ended ?? y.started) - (x.ended ?? x.started));
    if (mine.length === 0) continue;
    const ul = h('ul', { class: 'actors', 'data-group': kind });
    for (const a of mine.slice(0, LIMIT)) ul.append(actorItem(a, selected, onSelect));
    el.append(h('h3', {}, `${title} (${mine.length})`), ul);
    if (mine.length > LIMIT) el.append(h('div', { class: 'more' }, `… ${mine.length - LIMIT} more: narrow with the filters`));
  }
}

/** The supervisor tree: the daemon's long-lived actors, and how many of each short-lived kind run under them. */
export function renderTree(el: HTMLElement, live: readonly ActorSummary[], onSelect: (id: string) => void, onKind: (k: Kind) => void): void {
  clear(el);
  const one = (k: Kind): ActorSummary | undefined => live.find((a) => a.kind === k);
  const count = (k: Kind): number => live.filter((a) => a.kind === k).length;
  const node = (label: string, a: ActorSummary | undefined, ...children: HTMLElement[]): HTMLLIElement =>
    h('li', { 'data-tree': label, onclick: (e: Event) => { e.stopPropagation(); if (a) onSelect(a.id); } },
      h('span', {}, label), ' ', a ? h('span', { class: 'badge state' }, stateText(a.state)) : h('span', { class: 'badge' }, 'not running'),
      children.length ? h('ul', {}, ...children) : null);
  const group = (k: Kind, label: string): HTMLLIElement =>
    h('li', { 'data-tree': k, onclick: (e: Event) => { e.stopPropagation(); onKind(k); } }, `${label}: `, h('b', {}, count(k)), ' live');
  el.append(
    node('supervisor', one('supervisor'),
      node('listener', one('listener'), group('session', 'sessions'), group('verifier', 'verifiers')),
      node('queue', one('queue'), group('delivery', 'deliveries'))),
  );
}
