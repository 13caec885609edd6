// Questions sent to another thread or process and answered by message: each gets a number, and an answer that
// does not come within the time given resolves to a fallback instead.
export class Asks<T> {
  readonly #waiting = new Map<number, (answer: T) => void>();
  #seq = 1;

  /** Send the question (with its number); resolves with the answer, or `fallback` after `timeoutMs`. */
  ask(send: (seq: number) => void, timeoutMs: number, fallback: T): Promise<T> {
    return new Promise((resolve) => {
      const seq = this.#seq++;
      const timer = setTimeout(() => {
        this.#waiting.delete(seq);
        resolve(fallback);
      }, timeoutMs);
      this.#waiting.set(seq, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      send(seq);
    });
  }

  /** The answer to question `seq` came (a late or unknown one is ignored). */
  answer(seq: number, value: T): void {
    const waiter = this.#waiting.get(seq);
    this.#waiting.delete(seq);
    waiter?.(value);
  }
}
