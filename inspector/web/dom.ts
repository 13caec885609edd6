// Small helpers of the inspector page: building elements (text only, never HTML from data),
// fetching the API, and reading state values.
import type { StateValue } from '../wire.js';

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (on* values are listeners) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export class ApiError extends Error {
  readonly code = 'INSPECTOR_API';
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** GET a JSON document of the inspector's API (same origin). */
export async function api<T>(path: string): Promise<T> {
  const r = await fetch(`/inspector/api/${path}`, { headers: { accept: 'application/json' } });
  if (!r.ok) throw new ApiError(r.status, `${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** A state value as text: "idle", "a.b", "p: (x, y)". */
export function stateText(v: StateValue | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  const parts = Object.entries(v).map(([k, sub]) => (typeof sub === 'string' ? `${k}.${sub}` : `${k}.(${stateText(sub)})`));
  return parts.length === 1 ? (parts[0] as string) : parts.join(', ');
}

/** The ids of the atomic states a value is in, for a machine whose root has this id. */
export function leafIds(root: string, v: StateValue | null | undefined): string[] {
  if (v === null || v === undefined || v === '') return [];
  if (typeof v === 'string') return [`${root}.${v}`];
  return Object.entries(v).flatMap(([k, sub]) => leafIds(`${root}.${k}`, sub));
}

/** Milliseconds as "+1.234 s" from a start. */
export function since(t: number, start: number): string {
  const ms = t - start;
  return ms < 1000 ? `+${ms} ms` : `+${(ms / 1000).toFixed(3)} s`;
}

export function clock(t: number): string {
  const d = new Date(t);
  return `${d.toLocaleTimeString()}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A value in one line (objects as compact JSON). */
export function show(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}
