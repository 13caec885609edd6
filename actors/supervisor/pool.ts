// The crypto worker pool (piscina): signatures run off the main thread, batched per key, and a task
// lost to a crashed worker is tried once more before its callers hear of the failure.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { SignTask } from '../../workers/sign.js';

export class PoolError extends Error {
  readonly code = 'POOL_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoolError';
  }
}

interface Pending {
  readonly input: Uint8Array;
  resolve(signature: string): void;
  reject(e: Error): void;
}

/** Requests for one key and hash collected during one turn of the event loop. */
interface Batch {
  readonly keyPem: string;
  readonly hash: SignTask['hash'];
  readonly items: Pending[];
}

// Dispatch costs about 100 us (DESIGN.md): an Ed25519 signature (~50 us) is worth sending only
// in company. A batch is sent at the end of the turn, or at once when it is this big.
const BATCH_MAX = 32;

export class CryptoPool {
  readonly #pool: Piscina;
  readonly #batches = new Map<string, Batch>();
  #scheduled = false;
  #tasks = 0;
  #failures = 0;

  constructor(opts: { threads?: number } = {}) {
    const threads = Math.max(1, opts.threads ?? availableParallelism());
    this.#pool = new Piscina({
      filename: new URL('../../workers/sign.js', import.meta.url).href,
      minThreads: 1,
      maxThreads: threads,
      idleTimeout: 30_000,
    });
  }

  /** Sign `input` with the key; resolves with the base64 signature. */
  sign(keyPem: string, hash: SignTask['hash'], input: Uint8Array): Promise<string> {
    return new Promise((resolve, reject) => {
      const id = `${hash ?? 'eddsa'}\n${keyPem}`;
      let b = this.#batches.get(id);
      if (!b) {
        b = { keyPem, hash, items: [] };
        this.#batches.set(id, b);
      }
      b.items.push({ input, resolve, reject });
      if (b.items.length >= BATCH_MAX) {
        this.#batches.delete(id);
        void this.#run(b, 0);
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batches = [...this.#batches.values()];
    this.#batches.clear();
    for (const b of batches) void this.#run(b, 0);
  }

  async #run(b: Batch, attempt: number): Promise<void> {
    this.#tasks++;
    try {
      const task: SignTask = { keyPem: b.keyPem, hash: b.hash, inputs: b.items.map((i) => i.input) };
      const out = (await this.#pool.run(task)) as string[];
      b.items.forEach((item, i) => item.resolve(out[i] as string));
    } catch (e) {
      this.#failures++;
      // A bad key fails the same way every time; a worker that died may not. One more try.
      if (attempt === 0 && !isKeyError(e)) return this.#run(b, 1);
      const err = new PoolError(`signing failed: ${(e as Error).message}`, { cause: e });
      for (const item of b.items) item.reject(err);
    }
  }

  /** For metrics: tasks run, failures, and how busy the threads are (0..1). */
  stats(): { tasks: number; failures: number; threads: number; utilization: number; queued: number } {
    return { tasks: this.#tasks, failures: this.#failures, threads: this.#pool.threads.length, utilization: this.#pool.utilization, queued: this.#pool.queueSize };
  }

  async stop(): Promise<void> {
    await this.#pool.destroy();
  }
}

function isKeyError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('ERR_OSSL') || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE' || /key/i.test((e as Error).message ?? '');
}
