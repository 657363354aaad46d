/**
 * @layer logic
 * AsyncQueue: a push-based async iterable. Producers `push` values and finally `end()` (or
 * `fail(error)`); one consumer iterates with `for await`. Breaking out of the loop, or the
 * optional AbortSignal, closes the queue and calls `onClose` (the producer unsubscribes there).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter?: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };
  private done = false;
  private error: unknown;
  private closed = false;

  constructor(private readonly opts: { signal?: AbortSignal; onClose?: () => void } = {}) {
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) this.fail(signal.reason);
      else signal.addEventListener('abort', () => this.fail(signal.reason), { once: true });
    }
  }

  push(value: T): void {
    if (this.done) return;
    if (this.waiter) { const w = this.waiter; this.waiter = undefined; w.resolve({ value, done: false }); return; }
    this.items.push(value);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiter && this.items.length === 0) { const w = this.waiter; this.waiter = undefined; w.resolve({ value: undefined, done: true }); }
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.error = error ?? new Error('[queue] failed');
    this.done = true;
    this.items.length = 0; // a failure (an abort, a dropped link) ends the stream now
    if (this.waiter) { const w = this.waiter; this.waiter = undefined; w.reject(this.error); }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.done = true;
    this.opts.onClose?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.error !== undefined) { const e = this.error; this.close(); return Promise.reject(e); }
        if (this.done) { this.close(); return Promise.resolve({ value: undefined, done: true }); }
        return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
