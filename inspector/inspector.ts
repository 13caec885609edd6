// The inspector as the daemon uses it: the inspection hub actors ask for observers, mounted on the
// admin listener (page, API, stream), and a note in the spool directory saying where it is.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ActorKind, InspectionHub, Observer, RecordingQuery, Tape } from '../actors/inspection.js';
import type { InspectorConfig } from '../config/load.js';
import type { AdminServer } from '../net/admin/server.js';
import { Capture } from './capture.js';
import { inspectorRoute } from './routes.js';
import { Stream } from './stream.js';
import type { HelloMessage, Kind } from './wire.js';
import { KINDS } from './wire.js';

/** Where `petrel inspect` finds a running daemon's inspector: <spool_directory>/inspector.json. */
export const STATE_FILE = 'inspector.json';

export interface InspectorState {
  readonly url: string;
  readonly pid: number;
  readonly admin: { readonly host: string; readonly port: number };
}

/** The URL of the page for an admin listener's address (a wildcard address is reached on loopback). */
export function inspectorUrl(a: { host: string; port: number }): string {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/`;
}

export interface InspectorOptions {
  /** Read whenever it matters, so that a reload changes history sizes for what comes next. */
  readonly settings: () => InspectorConfig;
  readonly spoolDir: string;
  readonly logger?: Logger;
}

export class Inspector implements InspectionHub {
  readonly capture: Capture;
  readonly stream = new Stream();
  readonly #opts: InspectorOptions;
  readonly #started = Date.now();
  #version: string | undefined;
  #stateFile: string | undefined;
  /** Recordings kept in the delivery thread (delivery_thread), asked for when the page lists or opens one. */
  remote: ((q: RecordingQuery) => Promise<unknown>) | undefined;

  constructor(opts: InspectorOptions) {
    this.#opts = opts;
    this.capture = new Capture(opts.settings);
    this.capture.onChange = (rec) => this.stream.changed(rec);
  }

  observer(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Observer | undefined {
    return this.capture.observer(kind, describe);
  }

  tape(kind: ActorKind, describe: () => Readonly<Record<string, unknown>>): Tape | undefined {
    return this.capture.tape(kind, describe);
  }

  watched(kind: ActorKind): boolean {
    return this.capture.watching[kind] > 0;
  }

  #hello(): HelloMessage {
    if (this.#version === undefined) {
      try {
        const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
        this.#version = pkg.version ?? '';
      } catch {
        this.#version = '';
      }
    }
    const always = this.#opts.settings().record_always as readonly string[];
    return { pid: process.pid, version: this.#version, started: this.#started, kinds: KINDS, recordAlways: KINDS.filter((k: Kind) => always.includes(k)) };
  }

  /** Serve the page on the admin listener, and say where it is in the spool directory. */
  mount(admin: AdminServer): void {
    admin.mount(inspectorRoute({ capture: this.capture, stream: this.stream, hello: () => this.#hello(), remote: (q) => this.remote?.(q) ?? Promise.resolve(undefined) }));
    const address = admin.address;
    if (!address) return;
    const state: InspectorState = { url: inspectorUrl(address), pid: process.pid, admin: address };
    const file = join(this.#opts.spoolDir, STATE_FILE);
    try {
      writeFileSync(file, `${JSON.stringify(state)}\n`);
      this.#stateFile = file;
    } catch (e) {
      this.#opts.logger?.warn({ event: 'inspector', err: (e as Error).message }, `cannot write ${file}: petrel inspect will not find this daemon`);
    }
    this.#opts.logger?.info({ event: 'inspector', url: state.url }, `state-chart inspector on ${state.url}`);
  }

  /** End the live streams and remove the note (the daemon stops). */
  close(): void {
    this.stream.close();
    if (this.#stateFile) rmSync(this.#stateFile, { force: true });
    this.#stateFile = undefined;
  }
}
