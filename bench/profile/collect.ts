// The CPU profiles a profiled daemon left (bench --profile): read, summarized, and drawn as flame graphs beside them.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { summarize, type CpuProfile, type ProfileSummary } from './cpuprofile.js';
import { flameGraph } from './flame.js';

/** One thread's profile in a run's report. */
export interface ThreadProfile {
  /** main thread, delivery thread, worker thread N. */
  readonly thread: string;
  /** Which start of the daemon in the run (outbound-drain starts it twice: to fill, then to deliver). */
  readonly daemon: number;
  readonly file: string;
  readonly flameFile?: string;
  readonly summary: ProfileSummary;
  /** The flame graph as SVG text (for the HTML report; not written into the JSON). */
  readonly flame?: string;
}

/** Node names its profiles CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile; thread 0 is the main one. */
export function threadIdOf(file: string): number | undefined {
  const m = /\.(\d+)\.(\d+)\.(\d+)\.cpuprofile$/.exec(basename(file));
  return m ? Number(m[2]) : undefined;
}

/** What a thread was, told by its code: the main one, the delivery thread (it runs the delivery actors), or another worker. */
export function threadLabel(file: string, p: CpuProfile): string {
  const tid = threadIdOf(file);
  if (tid === 0) return 'main thread';
  if (p.nodes.some((n) => n.callFrame.url.includes('/actors/delivery/thread/'))) return 'delivery thread';
  return `worker thread ${tid ?? '?'}`;
}

/**
 * Reads every profile in `dirs` (one directory per start of the daemon, in order), writes a flame graph
 * beside each (.svg), and returns them busiest first within each start. Threads that hardly ran (less
 * than 50 ms busy, e.g. a worker pool thread kept ready) are left out. Unreadable files are skipped.
 */
export async function collectProfiles(dirs: readonly string[], title: string): Promise<ThreadProfile[]> {
  const out: ThreadProfile[] = [];
  for (const [i, dir] of dirs.entries()) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile')).sort();
    } catch {
      continue;
    }
    const mine: ThreadProfile[] = [];
    for (const name of names) {
      const file = join(dir, name);
      let p: CpuProfile;
      try {
        p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
      } catch {
        continue;
      }
      if (!Array.isArray(p.nodes)) continue;
      const summary = summarize(p);
      if (summary.busyMs < 50) continue;
      const thread = threadLabel(file, p);
      const flame = flameGraph(p, { title: `${title}: ${thread}${dirs.length > 1 ? ` (daemon start ${i + 1})` : ''}, ${Math.round(summary.busyMs)} ms busy` });
      const flameFile = file.replace(/\.cpuprofile$/, '.svg');
      let written = true;
      await writeFile(flameFile, flame).catch(() => (written = false));
      mine.push({ thread, daemon: i + 1, file, ...(written ? { flameFile } : {}), summary, flame });
    }
    out.push(...mine.sort((a, b) => b.summary.busyMs - a.summary.busyMs));
  }
  return out;
}
