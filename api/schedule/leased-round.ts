/**
 * @layer usecase
 * A periodic round (discovery, the scheduler tick, maintenance) that runs on one control-plane
 * instance at a time: the round's lease (db LeaseStore) is taken — or renewed, by the instance
 * that has it — before the round runs, and the round is skipped on every other instance. The
 * lease outlives a few rounds (`ttlMs`), so the holder keeps it while it is alive; when it dies,
 * the next instance whose round comes after the expiry takes over: a dead holder's rounds resume
 * elsewhere within `ttlMs` plus one interval.
 */
import type { LeaseStore } from '../../db/store.ts';

export interface LeasedRoundDeps {
  leases: LeaseStore;
  /** this instance (api/control-plane.ts: host, pid and a random part) */
  holder: string;
  clock?: () => Date;
}

/** runs `fn` when this instance holds (or now takes) the lease `round:<name>`; undefined when another one does */
export async function leasedRound<T>(deps: LeasedRoundDeps, name: string, ttlMs: number, fn: () => Promise<T>): Promise<T | undefined> {
  const now = (deps.clock ?? (() => new Date()))();
  if (!(await deps.leases.acquire(`round:${name}`, deps.holder, ttlMs, now))) return undefined;
  return fn();
}

/** a lease long enough to outlive three rounds of `intervalSeconds`, and at least a minute */
export const roundTtlMs = (intervalSeconds: number) => Math.max(60_000, intervalSeconds * 3000);
