/**
 * @layer usecase
 * Work on one VM's points under its repository lease (lease.ts): every kind of work that
 * changes or depends on a VM's folder — backup, prune and its merges, a verification with a
 * restore test, an in-place restore, the recovery of an interrupted prune — runs through
 * `underLease`, so at most one of them works on a VM at a time across processes and agent hosts.
 * The body gets a signal that also fires when the lease is lost (its renewals failed), and the
 * lease itself (to re-check it right before a commit). A holder that is a dead process of this
 * very host is taken over at once; any other holder makes the call fail LeaseError 'busy'.
 */
import { setMaxListeners } from 'node:events';
import type { BackupTarget } from '../target/port.ts';
import { acquireLease, type Lease, type LeaseRecord } from './lease.ts';

export interface LeaseHolder {
  /** this agent host's name (the lease's `host`) */
  host?: string;
  /** whether a process of this host lives: a lease held by a dead one is taken over at once */
  processAlive?: (pid: number) => boolean;
  log?: (msg: string) => void;
}

export interface VmWork extends LeaseHolder {
  /** unique per job: the lease's owner */
  owner: string;
  /** what the holder does, for the busy message: 'backup', 'prune', 'verify', 'restore-in-place' */
  work: string;
  signal?: AbortSignal;
  ttlMs?: number;
}

/** Is `r` held by a process of this host that is gone (its lease may be taken over at once)? */
export function holderGoneOn(host: string | undefined, processAlive: ((pid: number) => boolean) | undefined): ((r: Pick<LeaseRecord, 'host' | 'pid'>) => boolean) | undefined {
  return host && processAlive ? (r) => r.host === host && !processAlive(r.pid) : undefined;
}

export async function underLease<T>(target: BackupTarget, vm: string, w: VmWork, body: (signal: AbortSignal, lease: Lease) => Promise<T>): Promise<T> {
  const lease = await acquireLease(target, vm, {
    owner: w.owner, host: w.host ?? 'unknown', work: w.work, signal: w.signal, ttlMs: w.ttlMs, holderGone: holderGoneOn(w.host, w.processAlive),
  });
  lease.keepRenewing();
  try {
    const signal = w.signal ? AbortSignal.any([w.signal, lease.lost]) : lease.lost;
    // a backup's disks all listen on it at once, as they did on the caller's
    setMaxListeners(0, signal);
    return await body(signal, lease);
  } finally {
    await lease.release().catch((e: unknown) => w.log?.(`releasing the lease of VM ${vm}: ${(e as Error).message}`));
  }
}
