/**
 * @layer usecase
 * JobLeases: which control-plane instance watches a job, when several share one database — the
 * one mechanism of the backup, restore and maintenance runners.
 *
 * Each job being watched has a lease `<kind>:<id>` (db LeaseStore) held by this instance and
 * renewed every `ttlMs / 3`. A lease that could not be renewed (another instance holds it now:
 * this one was thought dead) aborts the local watch with `lost`. After every renewal `scan`
 * runs: the runner's `recover`, which takes over the unfinished jobs whose lease is free or
 * expired (an instance that died) and re-attaches to their agent jobs. So a dead instance's jobs
 * are picked up within `ttlMs` plus one renewal interval.
 */
import type { LeaseStore } from '../../db/store.ts';

export interface JobLeasesOptions {
  leases: LeaseStore;
  /** `job`, `restore`, `maintenance` */
  kind: string;
  holder: string;
  ttlMs: number;
  clock: () => Date;
  log?: (msg: string) => void;
}

export class JobLeases {
  private readonly held = new Map<string, AbortController>();
  private timer?: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(private readonly o: JobLeasesOptions) {}

  get holder(): string { return this.o.holder; }

  /** takes (or renews) the job's lease; true when this instance holds it now */
  claim(id: string): Promise<boolean> {
    return this.o.leases.acquire(`${this.o.kind}:${id}`, this.o.holder, this.o.ttlMs, this.o.clock());
  }

  /** the job is watched here under its lease: the controller aborts when the lease is lost */
  hold(id: string, ac: AbortController): void {
    this.held.set(id, ac);
  }

  /** the job is no longer watched here (by `ac`, when given); `give` releases the lease too (the job ended) */
  async drop(id: string, give = true, ac?: AbortController): Promise<void> {
    if (ac && this.held.get(id) !== ac) return;
    this.held.delete(id);
    if (give) await this.o.leases.release(`${this.o.kind}:${id}`, this.o.holder).catch(() => undefined);
  }

  isHeld(id: string): boolean {
    return this.held.has(id);
  }

  /** starts the renewals (idempotent); `scan` runs after each */
  start(scan: () => Promise<unknown>): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      void this.renew(scan).catch((e: unknown) => this.o.log?.(`lease renewal: ${(e as Error).message}`));
    }, Math.max(50, Math.floor(this.o.ttlMs / 3)));
    this.timer.unref?.();
  }

  /** stops renewing and releases every lease held (another instance may take the jobs at once) */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const ids = [...this.held.keys()];
    this.held.clear();
    await Promise.allSettled(ids.map((id) => this.o.leases.release(`${this.o.kind}:${id}`, this.o.holder)));
  }

  private async renew(scan: () => Promise<unknown>): Promise<void> {
    if (this.stopped) return;
    for (const [id, ac] of [...this.held]) {
      if (await this.claim(id)) continue;
      this.o.log?.(`${this.o.kind} ${id}: another instance holds it now: no longer watched here`);
      this.held.delete(id);
      ac.abort(new Error(`[${this.o.kind}] lease lost`));
    }
    if (!this.stopped) await scan();
  }
}
