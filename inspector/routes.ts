// The inspector's HTTP routes on the admin listener: the page at `/`, its assets (served from the
// package, nothing from elsewhere), the chart and actor API, and the live stream.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Route } from '../net/admin/server.js';
import type { Capture } from './capture.js';
import { layoutChart } from './layout.js';
import { chartOf, machineId, machineInfos, UnknownMachineError } from './machines.js';
import { renderMermaid } from './mermaid.js';
import type { Stream } from './stream.js';
import { renderSvg } from './svg.js';
import type { ActorDetail, ActorsResponse, HelloMessage, Kind, LaidOutChart } from './wire.js';
import type { RecordingQuery } from '../actors/inspection.js';
import { KINDS } from './wire.js';

/** The page's own files, in the package: static ones beside the sources, scripts compiled into dist. */
const STATIC_DIR = fileURLToPath(new URL('../../inspector/web/', import.meta.url));
const SCRIPT_DIR = fileURLToPath(new URL('./web/', import.meta.url));

const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/inspector/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/inspector/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Everything the page loads comes from this origin; it may not even be framed elsewhere. */
const SECURITY = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const charts = new Map<string, Promise<{ laid: LaidOutChart; svg: string }>>();

/** A machine's chart laid out and drawn, once per process. */
export function drawnChart(id: string): Promise<{ laid: LaidOutChart; svg: string }> {
  let p = charts.get(id);
  if (!p) {
    p = layoutChart(chartOf(id).model).then((laid) => ({ laid, svg: renderSvg(laid) }));
    p.catch(() => charts.delete(id));
    charts.set(id, p);
  }
  return p;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): true {
  res.writeHead(status, { 'content-type': type, 'cache-control': cache, ...SECURITY }).end(body);
  return true;
}

const json = (res: ServerResponse, value: unknown, status = 200): true => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

export interface RouteDeps {
  readonly capture: Capture;
  readonly stream: Stream;
  hello(): HelloMessage;
  /** Recordings kept elsewhere (the delivery thread): undefined when there are none or no answer came. */
  remote?(q: RecordingQuery): Promise<unknown>;
}

/** This thread's list with the delivery thread's added (its ids carry a "t"). */
async function listAll(deps: RouteDeps): Promise<ActorsResponse> {
  const own = deps.capture.list();
  const other = (await deps.remote?.({ what: 'list' })) as ActorsResponse | undefined;
  if (!other) return own;
  return { live: [...own.live, ...other.live], history: [...own.history, ...other.history], failed: [...own.failed, ...other.failed], watching: own.watching };
}

function parseKinds(v: string | null): Kind[] {
  if (!v) return [...KINDS];
  return v.split(',').filter((k): k is Kind => (KINDS as readonly string[]).includes(k));
}

async function api(deps: RouteDeps, req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<boolean> {
  if (path === 'machines') return json(res, machineInfos());
  const m = /^machines\/([A-Za-z-]+)\.(svg|json|mmd)$/.exec(path);
  if (m) {
    let id: string;
    try {
      id = machineId(m[1] as string);
    } catch (e) {
      if (e instanceof UnknownMachineError) return json(res, { error: e.message, code: e.code }, 404);
      throw e;
    }
    if (m[2] === 'mmd') return send(res, 200, 'text/plain; charset=utf-8', renderMermaid(chartOf(id).model));
    const drawn = await drawnChart(id);
    return m[2] === 'svg' ? send(res, 200, 'image/svg+xml; charset=utf-8', drawn.svg, 'no-cache') : json(res, drawn.laid);
  }
  if (path === 'actors') return json(res, await listAll(deps));
  const a = /^actors\/([a-z]+-t?\d+)$/.exec(path);
  if (a) {
    const id = a[1] as string;
    const since0 = Number(url.searchParams.get('since') ?? '-1');
    const since = Number.isFinite(since0) ? since0 : -1;
    const rec = deps.capture.find(id);
    const detail = rec ? rec.detail(since) : ((await deps.remote?.({ what: 'detail', id, since })) as ActorDetail | undefined);
    if (!detail) return json(res, { error: `no actor ${id} (finished and no longer kept?)`, code: 'INSPECTOR_NO_ACTOR' }, 404);
    return json(res, detail);
  }
  if (path === 'stream') {
    const kinds = parseKinds(url.searchParams.get('kinds'));
    const leave = deps.capture.watch(kinds);
    deps.stream.open(res, kinds, deps.hello(), leave);
    req.socket.setTimeout(0);
    return true;
  }
  return json(res, { error: `no such API: ${path}`, code: 'INSPECTOR_NO_API' }, 404);
}

/** The route to mount on the admin server. */
export function inspectorRoute(deps: RouteDeps): Route {
  return async (req, res, url) => {
    const path = url.pathname;
    const isApi = path.startsWith('/inspector/api/');
    if (!isApi && !STATIC[path] && !path.startsWith('/inspector/js/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (isApi) return api(deps, req, res, path.slice('/inspector/api/'.length), url);
    const asset = STATIC[path];
    if (asset) return send(res, 200, asset.type, await readFile(STATIC_DIR + asset.file), 'no-cache');
    const js = /^\/inspector\/js\/([a-z-]+\.js(?:\.map)?)$/.exec(path);
    if (!js) return false;
    let body: Buffer;
    try {
      body = await readFile(SCRIPT_DIR + (js[1] as string));
    } catch {
      return send(res, 404, 'text/plain', 'not found\n');
    }
    return send(res, 200, js[1]?.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8', body, 'no-cache');
  };
}
