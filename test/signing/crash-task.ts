// A task file for the pool tests: workers/sign.ts, except that the worker dies (process.exit in a worker thread
// ends the thread) before answering: once (the first task to see no marker file writes it and exits), or
// always, as SIGN_CRASH in the environment says ("once:<marker file>" or "always").
import { existsSync, writeFileSync } from 'node:fs';
import run, { seal } from '../../workers/sign.js';
import type { SealTask, SignTask } from '../../workers/sign.js';

function maybeCrash(): void {
  const mode = process.env.SIGN_CRASH ?? '';
  if (mode === 'always') process.exit(3);
  if (mode.startsWith('once:')) {
    const marker = mode.slice('once:'.length);
    if (!existsSync(marker)) {
      writeFileSync(marker, 'crashed once\n');
      process.exit(3);
    }
  }
}

export default function crashing(task: SignTask): string[] {
  maybeCrash();
  return run(task);
}

export function sealCrashing(task: SealTask): ReturnType<typeof seal> {
  maybeCrash();
  return seal(task);
}

export { sealCrashing as seal };
