// Live progress of a bench run on a terminal: a bar with the current rate per scenario and system, plain lines otherwise.
import type { ScenarioEvent } from './scenarios/index.js';
import { formatKb, formatMs, formatRate, formatSeconds } from './report.js';

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressPrinter {
  onEvent(e: ScenarioEvent): void;
  /** A free-form line (setup steps such as package installs). */
  note(text: string): void;
  /** Clears a pending live line so that what follows starts on a clean line. */
  finish(): void;
}

/** "[#########...........]  45%": a fraction as a bar of `width` cells. */
export function progressBar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

export function progressPrinter(stream: ProgressStream): ProgressPrinter {
  const tty = stream.isTTY === true;
  let live = false;
  const clear = (): void => {
    if (live) stream.write('\r\x1b[K');
    live = false;
  };
  const line = (text: string): void => {
    clear();
    stream.write(`${text}\n`);
  };
  return {
    onEvent(e) {
      if (e.kind === 'phase') {
        if (e.phase === 'start') line(`${e.scenario} ${e.system}: starting`);
        else if (tty) {
          clear();
          stream.write(`${e.scenario} ${e.system}: ${e.phase}`);
          live = true;
        }
      } else if (e.kind === 'progress') {
        if (!tty) return;
        const p = e.progress;
        const of = e.total > 0 ? `/${e.total}` : '';
        clear();
        stream.write(
          `${e.scenario} ${e.system} ${e.total > 0 ? `${progressBar(p.ok / e.total)} ` : ''}${formatRate(p.currentRate)}/s now, ${p.ok}${of} done, ` +
            `${p.failed} failed${p.elapsedMs > 0 ? `, ${(p.elapsedMs / 1000).toFixed(1)} s` : ''}`,
        );
        live = true;
      } else if (e.kind === 'delivery') {
        if (!tty) return;
        const p = e.progress;
        clear();
        stream.write(
          `${e.scenario} ${e.system} ${progressBar(p.expected > 0 ? p.delivered / p.expected : 0)} ${formatRate(p.currentRate)} delivered/s now, ` +
            `${p.delivered}/${p.expected} at the sink, ${(p.elapsedMs / 1000).toFixed(1)} s`,
        );
        live = true;
      } else {
        const r = e.run.result;
        const d = e.run.delivery;
        let text: string;
        const idle = e.run.idle;
        const qs = e.run.queueScale;
        if (idle) {
          text = `${idle.opened} sessions open, ${formatKb(idle.rssPerSessionKb)} KB RSS per session` +
            (idle.probeDuring?.sessionMs ? `, new session p99 ${formatMs(idle.probeDuring.sessionMs.p99)} ms` : '') +
            (e.run.error ? ` (${e.run.error})` : '');
        } else if (qs && qs.length > 0) {
          text = qs.map((q) => `${q.queued} queued: ${q.result ? `${formatRate(q.result.rate)} msg/s` : (q.error ?? 'no result')}, ready in ${formatSeconds(q.readyMs)} s`).join('; ') +
            (e.run.error ? ` (${e.run.error})` : '');
        } else if (d && !e.run.error) {
          text = `${formatRate(d.rate)} delivered/s, ${d.delivered}/${d.expected} at the sink, queue empty after ${formatSeconds(d.emptyMs)} s`;
        } else if (r) text = `${formatRate(r.rate)} msg/s, ${r.sent} sent, ${r.failed} failed`;
        else text = e.run.error ?? 'no result';
        line(`${e.scenario} ${e.run.system}: ${text}`);
      }
    },
    note: line,
    finish: clear,
  };
}
