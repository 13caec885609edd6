// Bounds how long a commit may wait for its sync (spool_commit_timeout), with one timer for every commit in flight.

/** A commit that was not on disk within spool_commit_timeout. */
export class CommitTimeoutError extends Error {
  readonly code = 'SPOOL_COMMIT_TIMEOUT';
  constructor(ms: number) {
    super(`not on disk within ${ms} ms (spool_commit_timeout)`);
    this.name = 'CommitTimeoutError';
  }
}

interface Watch {
  readonly due: number;
  readonly ms: number;
  readonly reject: (e: Error) => void;
  settled: boolean;
}

/**
 * Commits are watched in the order they start. Those settled at the head of the queue are dropped
 * as they settle, so the queue holds little more than what is in flight, and one timer, armed for
 * the earliest due time, serves them all; under steady load it fires about once per timeout.
 * A session's wait for its commit is bounded here rather than by a timer of its own (decision
 * 0002): one timer per connection's message cost the session actor about 11 us.
 */
export class CommitDeadline {
  #ms: number;
  readonly #now: () => number;
  #queue: Watch[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;

  constructor(ms: number, now: () => number = () => performance.now()) {
    this.#ms = ms;
    this.#now = now;
  }

  /** The timeout for commits that start from now on (a reload changes it). */
  set timeoutMs(ms: number) {
    this.#ms = ms;
  }

  /** Commits being waited for (settled ones at the head are dropped as they settle). */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** `p`, or a CommitTimeoutError if it has not settled within the timeout. */
  watch<T>(p: PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Watch = { due: this.#now() + this.#ms, ms: this.#ms, reject, settled: false };
      this.#queue.push(w);
      // After a reload that shortened the timeout, a new watch can be due before the one timed.
      if (!this.#timer || w.due < this.#timerDue) this.#arm(w.due);
      // Whichever comes first, the commit or the expiry, settles the watch; the other is ignored.
      const settle = (done: () => void): void => {
        if (w.settled) return;
        w.settled = true;
        this.#trim();
        done();
      };
      p.then(
        (v) => settle(() => resolve(v)),
        (e: unknown) => settle(() => reject(e instanceof Error ? e : new Error(String(e)))),
      );
    });
  }

  /** (Re)arm the one timer for the due time `due`. */
  #arm(due: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = due;
    // Unreferenced: a commit still in flight keeps LMDB's own work going; this timer need not.
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, due - this.#now()));
    this.#timer.unref();
  }

  /** Drop settled watches from the head, so that the queue holds only what may still expire. */
  #trim(): void {
    const q = this.#queue;
    while (this.#head < q.length && (q[this.#head] as Watch).settled) this.#head++;
    if (this.#head === q.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Fail every watch past its due time; arm the timer for the earliest one left. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerDue = Infinity;
    const now = this.#now();
    const q = this.#queue;
    for (let i = this.#head; i < q.length; i++) {
      const w = q[i] as Watch;
      if (!w.settled && w.due <= now) {
        w.settled = true;
        w.reject(new CommitTimeoutError(w.ms));
      }
    }
    this.#trim();
    // Arm for the earliest due time still pending (only what is in flight is scanned).
    let earliest = Infinity;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const w = this.#queue[i] as Watch;
      if (!w.settled && w.due < earliest) earliest = w.due;
    }
    if (earliest !== Infinity) this.#arm(earliest);
  }

  /** Stop the timer (the spool is closing); watches still pending settle with their commits. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Infinity;
  }
}
