/**
 * @layer port
 * ChangeFeed: tells the other control-plane instances on one database that a row changed, so a
 * browser's event stream (SSE) and `settled()` work whichever instance it reaches, not only on
 * the one watching the job.
 *
 * Contract (db/testing/changes.ts, run by every adapter):
 * - `publish(topic)` after a row was written (topics: `job:<id>`, `restore:<id>`,
 *   `maintenance:<id>`); every *other* feed on the same database calls the `subscribe`rs of that
 *   topic soon after (a feed never hears its own publications: the local runner notifies its
 *   own subscribers directly). A topic carries no data: the subscriber reads the row again.
 * - Delivery is best effort and may coalesce; after a lost connection the adapter calls every
 *   subscriber once when it is back (it may have missed something). `publish` never throws.
 * - `close()` ends it; the unsubscribe that `subscribe` returns is idempotent.
 *
 * MemoryChangeHub: the in-process adapter — feeds from one hub reach each other (several
 * instances in one test process, or one instance alone: `new MemoryChangeHub().feed()`, which
 * reaches nobody, the SQLite default). PostgreSQL: LISTEN/NOTIFY (db/pg/changes.ts).
 */

export interface ChangeFeed {
  publish(topic: string): Promise<void>;
  subscribe(topic: string, fn: () => void): () => void;
  close(): Promise<void>;
}

/** Subscribers by topic, for adapters. */
export class TopicListeners {
  private readonly byTopic = new Map<string, Set<() => void>>();

  add(topic: string, fn: () => void): () => void {
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    const mine = () => fn();
    set.add(mine);
    return () => {
      set!.delete(mine);
      if (set!.size === 0 && this.byTopic.get(topic) === set) this.byTopic.delete(topic);
    };
  }

  fire(topic: string): void {
    for (const fn of [...(this.byTopic.get(topic) ?? [])]) {
      try { fn(); } catch { /* a subscriber's own error is its own */ }
    }
  }

  fireAll(): void {
    for (const topic of [...this.byTopic.keys()]) this.fire(topic);
  }

  get topics(): number { return this.byTopic.size; }
}

export class MemoryChangeHub {
  private readonly feeds = new Set<TopicListeners>();

  feed(): ChangeFeed {
    const mine = new TopicListeners();
    this.feeds.add(mine);
    let closed = false;
    return {
      publish: async (topic) => {
        if (closed) return;
        for (const f of this.feeds) if (f !== mine) queueMicrotask(() => f.fire(topic));
      },
      subscribe: (topic, fn) => mine.add(topic, fn),
      close: async () => { closed = true; this.feeds.delete(mine); },
    };
  }
}
