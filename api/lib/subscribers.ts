/**
 * @layer usecase
 * Subscribers: the subscribe / notify / settled the backup, restore and maintenance runners
 * share, and `retryChanged` for their compare-and-set loops (cancel).
 *
 * `subscribe(id, fn)` calls `fn` with the row at every change this instance makes (`notify`) and,
 * through the ChangeFeed, at every change another instance on the same database publishes (the
 * row is then read again with `load`, one read at a time per subscription, so rows arrive in
 * order). `settled(id)` resolves with the row once it has ended, wherever it runs.
 */
import type { ChangeFeed } from '../../db/changes.ts';

export interface SubscribersOptions<T> {
  /** the feed topic prefix: `job`, `restore`, `maintenance` */
  kind: string;
  feed?: ChangeFeed;
  load: (id: string) => Promise<T | undefined>;
  ended: (row: T) => boolean;
  notFound: (id: string) => Error;
  log?: (msg: string) => void;
}

export class Subscribers<T extends { id: string }> {
  private readonly listeners = new Map<string, Set<(row: T) => void>>();

  constructor(private readonly o: SubscribersOptions<T>) {}

  subscribe(id: string, fn: (row: T) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(fn);
    let reading: Promise<void> = Promise.resolve();
    let off = false;
    const unfeed = this.o.feed?.subscribe(`${this.o.kind}:${id}`, () => {
      reading = reading.then(async () => {
        if (off) return;
        const row = await this.o.load(id).catch(() => undefined);
        if (row && !off) this.call(fn, row);
      });
    });
    return () => {
      off = true;
      unfeed?.();
      set!.delete(fn);
      if (set!.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  /** a change this instance made: to the local subscribers (and, when `publish`, to the other instances) */
  notify(row: T, publish = true): void {
    for (const fn of [...(this.listeners.get(row.id) ?? [])]) this.call(fn, row);
    if (publish) void this.o.feed?.publish(`${this.o.kind}:${row.id}`);
  }

  /** tells the other instances only (a change written without a row at hand) */
  publish(id: string): void {
    void this.o.feed?.publish(`${this.o.kind}:${id}`);
  }

  /** Resolves with the row once it has ended (at once when it has). */
  settled(id: string, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.subscribe(id, (r) => { if (this.o.ended(r)) { off(); resolve(r); } });
      signal?.addEventListener('abort', () => { off(); reject(signal.reason); }, { once: true });
      this.o.load(id).then((r) => {
        if (!r) { off(); reject(this.o.notFound(id)); } else if (this.o.ended(r)) { off(); resolve(r); }
      }, (e: unknown) => { off(); reject(e); });
    });
  }

  private call(fn: (row: T) => void, row: T): void {
    try { fn(row); } catch (e) { this.o.log?.(`listener of ${this.o.kind} ${row.id} threw: ${(e as Error).message}`); }
  }
}

/**
 * A compare-and-set step tried again while the row changed under it: `step` returns the result,
 * or undefined when its expected state no longer held; after `attempts` tries, `tooOften()`.
 */
export async function retryChanged<T>(step: () => Promise<T | undefined>, tooOften: () => Error, attempts = 5): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const r = await step();
    if (r !== undefined) return r;
  }
  throw tooOften();
}
