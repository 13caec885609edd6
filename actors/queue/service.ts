// The queue's driver: reads due messages from the spool index, routes their recipients, hands jobs
// to delivery actors (one per connection) and local deliveries, and records every outcome durably.
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import type { Envelope, RecipientRecord } from '../../store/envelope.js';
import type { Metrics } from '../../net/admin/metrics.js';
import type { InspectionHub } from '../inspection.js';
import { inspectOption } from '../inspection.js';
import type { Spool } from '../../store/spool.js';
import type { Route } from '../../routing/routers.js';
import { route } from '../../routing/routers.js';
import type { DeliveryJob, Destination, JobRecipient, RecipientResult } from '../delivery/types.js';
import { destinationKey } from '../delivery/types.js';
import { RECORD_ATTEMPTS, recordOnce } from './record.js';
import type { Recorded, Work } from './record.js';
import { queueMachine } from './machine.js';
import type { QueueEmitted } from './machine.js';
import type { DeliveryRunnerFactory, IdleConnection, LocalDelivery, QueueSettings } from './ports.js';

interface DestState {
  readonly dest: Destination;
  readonly jobs: DeliveryJob[];
  runners: number;
  /** Connections open to this destination with nothing to send (counted in runners). */
  readonly idle: Set<IdleConnection>;
}

/** Messages looked at per pass of the index. */
const SCAN_BATCH = 1000;

const splitAddress = (a: string): { local: string; domain: string } => {
  const at = a.lastIndexOf('@');
  return { local: a.slice(0, at), domain: a.slice(at + 1) };
};

export class QueueService {
  readonly #spool: Spool;
  readonly #log: Logger;
  readonly #settings: () => QueueSettings;
  readonly #runners: DeliveryRunnerFactory;
  readonly #local: LocalDelivery;
  readonly #newId: () => string;
  readonly #metrics: Metrics | undefined;
  readonly #inspection: InspectionHub | undefined;
  readonly #work = new Map<string, Work>();
  readonly #dests = new Map<string, DestState>();
  readonly #held = new Set<string>();
  #actor: Actor<typeof queueMachine> | undefined;
  #cursor: [number, string] | undefined;
  #stopping = false;

  constructor(opts: { spool: Spool; logger: Logger; settings: () => QueueSettings; runners: DeliveryRunnerFactory; local: LocalDelivery; newId: () => string; metrics?: Metrics; inspection?: InspectionHub }) {
    this.#metrics = opts.metrics;
    this.#inspection = opts.inspection;
    this.#spool = opts.spool;
    this.#log = opts.logger;
    this.#settings = opts.settings;
    this.#runners = opts.runners;
    this.#local = opts.local;
    this.#newId = opts.newId;
  }

  start(): void {
    const s = this.#settings();
    const actor = createActor(queueMachine, {
      input: { maxTotal: s.maxTotal, maxPerHost: s.maxPerHost, interval: s.interval },
      ...inspectOption(this.#inspection, 'queue', () => ({ inFlight: this.#work.size })),
    });
    this.#actor = actor;
    actor.on('*', (e) => this.#perform(e as QueueEmitted));
    actor.start();
  }

  /**
   * A message was just accepted: deliver it now rather than at the next look at the index. The
   * envelope as just committed, with the edit mark read at that commit (MessageSink.editMark), saves
   * reading it back unless an edit came in between.
   */
  submit(id: string, envelope?: Envelope, editMark?: number): void {
    if (this.#stopping || this.#settings().queueOnly) return;
    void this.#take(id, envelope, editMark);
  }

  /** Something changed in the index (a retry forced, a message thawed): look now. */
  kick(): void {
    this.#actor?.send({ type: 'QUEUE.KICK' });
  }

  get inFlight(): number {
    return this.#work.size;
  }

  /** The work in hand (for /metrics): messages, jobs waiting for a connection, connections open and idle. */
  figures(): { inFlight: number; waiting: number; connections: number; idle: number } {
    let waiting = 0;
    let connections = 0;
    let idle = 0;
    for (const st of this.#dests.values()) {
      waiting += st.jobs.length;
      connections += st.runners;
      idle += st.idle.size;
    }
    return { inFlight: this.#work.size, waiting, connections, idle };
  }

  /** Stop taking work; wait (up to the deadline) for what is in flight to be recorded. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    this.#releaseIdle(true);
    this.#actor?.send({ type: 'QUEUE.STOP' });
    const until = Date.now() + deadlineMs;
    while (this.#work.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.#actor?.stop();
  }

  /** Whether a destination other than `except`, held for want of a slot, still has jobs waiting. */
  #heldWithWork(except: string): boolean {
    for (const dest of this.#held) if (dest !== except && (this.#dests.get(dest)?.jobs.length ?? 0) > 0) return true;
    return false;
  }

  /** Idle connections give their slots up: every one (stopping), or one, idle longest in its destination (a slot is wanted). */
  #releaseIdle(all: boolean): void {
    for (const st of this.#dests.values()) {
      for (const w of [...st.idle]) {
        st.idle.delete(w);
        if (w.release() && !all) return;
      }
    }
  }

  #perform(e: QueueEmitted): void {
    switch (e.type) {
      case 'scan':
        queueMicrotask(() => this.#scan());
        return;
      case 'spawn':
        this.#spawn(e.dest);
        return;
      case 'hold':
        this.#held.add(e.dest);
        // A connection idling elsewhere gives its slot to the destination that has work.
        this.#releaseIdle(false);
        return;
      case 'slot':
        // A connection ended: destinations that were held get another chance.
        for (const dest of [...this.#held]) {
          this.#held.delete(dest);
          const st = this.#dests.get(dest);
          if (st && st.jobs.length > 0) queueMicrotask(() => this.#want(dest));
        }
        return;
    }
  }

  /** One pass over the due part of the index, continuing where the last one stopped. */
  #scan(): void {
    if (this.#stopping) return;
    const now = Date.now();
    let ids: string[];
    try {
      ids = this.#spool.dueIdsAfter(this.#cursor, now, SCAN_BATCH);
    } catch (e) {
      this.#log.error({ event: 'queue-error', err: (e as Error).message }, `queue scan failed: ${(e as Error).message}`);
      this.#actor?.send({ type: 'QUEUE.SCANNED', nextDueIn: 5000 });
      return;
    }
    this.#cursor = ids.length === SCAN_BATCH ? this.#spool.dueKeyOf(ids[ids.length - 1] as string) : undefined;
    for (const id of ids) void this.#take(id);
    const next = this.#cursor ? 0 : this.#spool.nextDueAfter(now);
    this.#actor?.send({ type: 'QUEUE.SCANNED', more: this.#cursor !== undefined, ...(next === undefined ? {} : { nextDueIn: Math.max(0, next - now) }) });
  }

  /** Start work on a message: route its due recipients and hand them out. */
  async #take(id: string, known?: Envelope, knownMark?: number): Promise<void> {
    if (this.#work.has(id) || this.#stopping) return;
    // The mark first: an edit after this read moves it, so the envelope is read again before results are recorded.
    const mark = this.#spool.editMark();
    // A just-committed envelope is the spool's unless the mark moved since its commit (petrel queue
    // froze or deleted the message in between): then, as without one, the spool's is read.
    const env = known && knownMark === mark ? known : this.#spool.envelope(id);
    if (!env || env.frozen) return;
    const work: Work = { env, mark, open: new Set(), chain: Promise.resolve(), routes: new Map() };
    this.#work.set(id, work);
    try {
      await this.#route(work, false);
    } catch (e) {
      this.#log.error({ event: 'queue-error', id, err: (e as Error).stack }, `${id} routing failed: ${(e as Error).message}`);
      this.#work.delete(id);
    }
  }

  async #route(work: Work, forced: boolean): Promise<void> {
    const s = this.#settings();
    const rs = s.routing();
    const now = Date.now();
    let env = work.env;
    const immediate: RecipientResult[] = [];
    const remote = new Map<string, { dest: Destination; recipients: JobRecipient[] }>();
    const local: { index: number; localPart: string }[] = [];
    // Recipients that are due; a redirect appends its targets, which are routed in the same pass.
    for (let i = 0; i < env.recipients.length; i++) {
      const rec = env.recipients[i] as RecipientRecord;
      if (rec.state !== 'pending' && rec.state !== 'deferred') continue;
      if (rec.state === 'deferred' && !forced && (rec.nextAttempt ?? 0) > now) continue;
      const r: Route = await route(splitAddress(rec.address), rs, rec.parent !== undefined);
      switch (r.kind) {
        case 'expand': {
          const children: RecipientRecord[] = r.addresses.map((a) => ({
            address: `${a.local}@${a.domain}`, state: 'pending', parent: rec.address,
            ...(rec.notify ? { notify: rec.notify } : {}), ...(rec.orcpt ? { orcpt: rec.orcpt } : {}),
          }));
          const recipients = env.recipients.slice();
          recipients[i] = { ...rec, state: 'expanded' };
          env = { ...env, recipients: [...recipients, ...children] };
          this.#log.info({ event: 'expanded', id: env.id }, `${env.id} ${rec.address} R=redirect expanded to ${children.map((c) => c.address).join(', ')}`);
          continue;
        }
        case 'fail':
          work.routes.set(i, { router: r.router, transport: '' });
          immediate.push({ index: i, outcome: { kind: 'failed', status: r.status, reason: r.reason } });
          continue;
        case 'defer':
          work.routes.set(i, { router: r.router, transport: '' });
          immediate.push({ index: i, outcome: { kind: 'deferred', reason: r.reason } });
          continue;
        case 'local':
          work.routes.set(i, { router: r.router, transport: 'maildir' });
          local.push({ index: i, localPart: r.localPart });
          continue;
        case 'remote': {
          work.routes.set(i, { router: r.router, transport: 'smtp' });
          const key = destinationKey(r.hosts);
          const group = remote.get(key) ?? { dest: { key, hosts: r.hosts }, recipients: [] };
          group.recipients.push({ index: i, address: rec.address, ...(rec.notify ? { notify: rec.notify } : {}), ...(rec.orcpt ? { orcpt: rec.orcpt } : {}) });
          remote.set(key, group);
          continue;
        }
      }
    }
    work.env = env;
    const jobs: { dest: Destination; job: DeliveryJob }[] = [];
    for (const { dest, recipients } of remote.values()) {
      for (let i = 0; i < recipients.length; i += Math.max(1, s.maxRcpt)) {
        jobs.push({ dest, job: this.#job(env, recipients.slice(i, i + Math.max(1, s.maxRcpt))) });
      }
    }
    for (const r of immediate) work.open.add(r.index);
    for (const l of local) work.open.add(l.index);
    for (const { job } of jobs) for (const r of job.recipients) work.open.add(r.index);
    if (work.open.size === 0) {
      // Nothing was due after all (or everything expanded into nothing): record and release.
      this.#record(work, []);
      return;
    }
    if (immediate.length > 0) this.#record(work, immediate);
    for (const l of local) {
      const rec = env.recipients[l.index] as RecipientRecord;
      this.#local.deliver(env, rec, l.index, l.localPart).then(
        (res) => this.#record(work, [res]),
        (e: unknown) => this.#record(work, [{ index: l.index, outcome: { kind: 'deferred', reason: `local delivery failed: ${(e as Error).message}` } }]),
      );
    }
    for (const { dest, job } of jobs) this.#enqueue(dest, job);
  }

  #job(env: Envelope, recipients: JobRecipient[]): DeliveryJob {
    const added = env.addedHeaders.reduce((n, h) => n + Buffer.byteLength(h) + 2, 0);
    return {
      messageId: env.id, sender: env.sender, recipients, size: env.size + added, smtputf8: env.smtputf8, envelope: env,
      ...(env.body ? { body: env.body } : {}), ...(env.ret ? { ret: env.ret } : {}), ...(env.envid ? { envid: env.envid } : {}),
    };
  }

  #enqueue(dest: Destination, job: DeliveryJob): void {
    let st = this.#dests.get(dest.key);
    if (!st) {
      st = { dest, jobs: [], runners: 0, idle: new Set() };
      this.#dests.set(dest.key, st);
    }
    st.jobs.push(job);
    // An idle connection to the destination takes it first (no new connect, banner and EHLO).
    for (const w of st.idle) {
      st.idle.delete(w);
      if (w.wake()) break;
    }
    // A new connection only when the ones open cannot keep up with the jobs waiting. A destination held
    // for want of a slot would be held again (nothing is freed until a connection ends, and that takes
    // it off the held list): it only asks once more for an idle connection elsewhere to give its slot
    // up, as a hold does, without a step of the queue actor for each job of a held-up queue.
    if (this.#held.has(dest.key)) this.#releaseIdle(false);
    else if (st.runners < st.jobs.length) this.#want(dest.key);
  }

  #want(key: string): void {
    this.#actor?.send({ type: 'DELIVERY.WANTED', dest: key });
  }

  #spawn(key: string): void {
    const st = this.#dests.get(key);
    const first = st?.jobs.shift();
    if (!st || !first) {
      this.#actor?.send({ type: 'DELIVERY.ENDED', dest: key });
      return;
    }
    st.runners++;
    this.#runners.start(st.dest, first, {
      results: (job, results) => this.#jobDone(job, results),
      nextJob: () => (this.#stopping ? undefined : st.jobs.shift()),
      giveBack: (job) => {
        // Once the destination's last connection has ended its state may be gone: queue the job anew.
        if (this.#dests.get(key) === st) st.jobs.unshift(job);
        else this.#enqueue(st.dest, job);
      },
      idle: (w) => {
        if (this.#stopping) {
          queueMicrotask(() => w.release());
          return () => undefined;
        }
        st.idle.add(w);
        // While the connection was on its way to idle (a message away, in the delivery thread), a job may have
        // come for its destination: it takes that job now, or the job would wait for the next one to be queued.
        // Or another destination was held for want of a slot, and the release it asked for found no idle
        // connection: this one gives its slot up now.
        if (st.jobs.length > 0 || this.#held.size > 0) {
          queueMicrotask(() => {
            if (st.jobs.length > 0) {
              if (st.idle.delete(w)) w.wake();
            } else if (this.#heldWithWork(key) && st.idle.delete(w)) w.release();
          });
        }
        return () => st.idle.delete(w);
      },
      ended: () => {
        st.runners--;
        this.#actor?.send({ type: 'DELIVERY.ENDED', dest: key });
        if (st.runners === 0 && st.jobs.length === 0) this.#dests.delete(key);
        else if (st.jobs.length > 0) this.#want(key);
      },
    });
  }

  #jobDone(job: DeliveryJob, results: readonly RecipientResult[]): void {
    const work = this.#work.get(job.messageId);
    if (work) this.#record(work, results);
  }

  /** Record results of one job (or of routing) durably, then release the message when all are in. */
  #record(work: Work, results: readonly RecipientResult[]): void {
    work.chain = work.chain.then(async () => {
      for (const r of results) work.open.delete(r.index);
      const last = work.open.size === 0;
      let recorded: Recorded | undefined;
      const deps = { spool: this.#spool, settings: this.#settings(), newId: this.#newId, log: this.#log };
      for (let attempt = 1; !recorded; attempt++) {
        // After a few edits in a row have each come first, the last attempt writes without the condition.
        recorded = await recordOnce(deps, work, results, last, attempt < RECORD_ATTEMPTS);
      }
      const { env, applied, changes } = recorded;
      work.env = env;
      for (const l of applied.logs) {
        this.#log[l.level](l.fields, l.msg);
        const ev = l.fields.event;
        if (ev === 'delivered' || ev === 'deferred') this.#metrics?.recipients.inc({ outcome: ev });
        else if (ev === 'failed') this.#metrics?.recipients.inc({ outcome: 'bounced' });
      }
      for (const c of changes) if (c.kind === 'insert') this.submit(c.envelope.id);
      if (last) {
        this.#work.delete(env.id);
        // The last pass stopped at its batch size: look further once half of this batch is done.
        if (this.#cursor && this.#work.size < SCAN_BATCH / 2) this.kick();
      }
    });
  }
}

export const randomUnit = (): number => randomInt(0, 2 ** 31) / 2 ** 31;
