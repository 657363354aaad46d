/**
 * @layer usecase
 * The per-VM lease in a repository (docs/FORMAT.md "Lease"): `<vm>/vm.lock`, a
 * small JSON record naming who works on the VM's points — job id, agent host, pid, what work —
 * and until when. Backup, prune, merge, verify-with-restore-test and recovery take it first;
 * any other holder makes them fail 'busy' naming it. It works across agent hosts that share the
 * repository, because it lives in the repository:
 * - acquire: exclusive create (the target's `create` is O_EXCL locally and `set -C` over SSH);
 * - a record still being written (empty or cut short, and younger than the ttl) counts as held;
 * - an expired lease (its holder died or lost the repository) is taken over by renaming it to a
 *   unique name first — rename is atomic, so of two agents taking it over only one succeeds —
 *   and the renamed record is checked to be the expired one that was read;
 * - renew: rewritten (atomically) with a later expiry while the work runs, every ttl/3; a renewal
 *   that finds another holder marks the lease lost (`lost` fires), and the work must stop;
 * - release: removed if it is still ours.
 * Times are the holders' clocks: hosts sharing a repository must keep their clocks within a
 * fraction of the ttl (NTP).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { TargetError, type BackupTarget } from '../target/port.ts';
import { vmDir } from './layout.ts';

export const LEASE_NAME = 'vm.lock';
export const DEFAULT_LEASE_TTL_MS = 90_000;

export const LeaseRecord = z.object({
  format: z.literal('sendense-lease'),
  version: z.literal(1),
  owner: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
  work: z.string(),
  acquired_at: z.string(),
  expires_at: z.string(),
}).loose();
export type LeaseRecord = z.infer<typeof LeaseRecord>;

export class LeaseError extends Error {
  override name = 'LeaseError';
  constructor(readonly code: 'busy' | 'lost', message: string, readonly holder?: LeaseRecord, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface LeaseRequest {
  /** unique per job: the job id */
  owner: string;
  host: string;
  pid?: number;
  /** what the holder does, for the busy message: 'backup', 'prune', 'verify', 'recovery' */
  work: string;
  ttlMs?: number;
  now?: () => number;
  signal?: AbortSignal;
  /**
   * True when the holder is known to be gone before its lease runs out: a process of this very
   * host (same host name) that no longer lives. Its lease is then taken over at once instead of
   * after the time-to-live. Without it, only expiry frees a lease.
   */
  holderGone?: (holder: LeaseRecord) => boolean;
}

export const leasePath = (vm: string) => `${vmDir(vm)}/${LEASE_NAME}`;

function describe(r: LeaseRecord): string {
  return `${r.work} (job ${r.owner}) on ${r.host} pid ${r.pid}, held until ${r.expires_at}`;
}

async function readLease(target: BackupTarget, path: string, signal?: AbortSignal): Promise<{ record: LeaseRecord | undefined; text: string } | undefined> {
  let text: string;
  try {
    text = (await target.readFile(path, signal)).toString('utf8');
  } catch (e) {
    if (e instanceof TargetError && e.code === 'not-found') return undefined;
    throw e;
  }
  try {
    const r = LeaseRecord.safeParse(JSON.parse(text));
    return { record: r.success ? r.data : undefined, text };
  } catch {
    // a cut-short record (its writer died mid-create): it holds nothing
    return { record: undefined, text };
  }
}

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private readonly ac = new AbortController();
  private released = false;

  /**
   * `replaced`: the expired (or dead holder's) lease this one took over, if it did: that holder
   * may still be running without knowing (clean-up leaves its files to it, Repository.cleanupLeftovers)
   */
  constructor(private readonly target: BackupTarget, readonly vm: string, private record: LeaseRecord, private readonly ttlMs: number, private readonly now: () => number, readonly replaced?: LeaseRecord) {}

  get holder(): LeaseRecord { return this.record; }
  /** fires when a renewal found the lease taken or gone: stop the work */
  get lost(): AbortSignal { return this.ac.signal; }

  async renew(signal?: AbortSignal): Promise<void> {
    if (this.released) return;
    const cur = await readLease(this.target, leasePath(this.vm), signal);
    if (cur?.record?.owner !== this.record.owner) {
      const e = new LeaseError('lost', `[repository] the lease on VM ${this.vm} was lost: ${cur?.record ? `now held by ${describe(cur.record)}` : 'it is gone'} (this job's renewals came too late)`, cur?.record);
      this.ac.abort(e);
      throw e;
    }
    const next = { ...this.record, expires_at: new Date(this.now() + this.ttlMs).toISOString() };
    await this.target.writeFileAtomic(leasePath(this.vm), `${JSON.stringify(next)}\n`, signal);
    this.record = next;
  }

  /** Renews every ttl/3 until release; a failed renewal fires `lost`. */
  keepRenewing(): this {
    const tick = () => {
      this.renew().catch((e: unknown) => { if (!this.ac.signal.aborted) this.ac.abort(e); }).finally(() => {
        if (!this.released && !this.ac.signal.aborted) this.timer = setTimeout(tick, this.ttlMs / 3).unref();
      });
    };
    this.timer = setTimeout(tick, this.ttlMs / 3).unref();
    return this;
  }

  async release(signal?: AbortSignal): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    const cur = await readLease(this.target, leasePath(this.vm), signal);
    if (cur?.record?.owner === this.record.owner) await this.target.remove(leasePath(this.vm), signal);
  }
}

/** Takes the VM's lease or rejects with LeaseError 'busy' naming its holder. */
export async function acquireLease(target: BackupTarget, vm: string, req: LeaseRequest): Promise<Lease> {
  const now = req.now ?? Date.now;
  const ttl = req.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const path = leasePath(vm);
  await target.mkdirp(vmDir(vm), req.signal);
  let replaced: LeaseRecord | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const record: LeaseRecord = {
      format: 'sendense-lease', version: 1, owner: req.owner, host: req.host, pid: req.pid ?? process.pid, work: req.work,
      acquired_at: new Date(now()).toISOString(), expires_at: new Date(now() + ttl).toISOString(),
    };
    try {
      const f = await target.create(path, req.signal);
      try {
        await f.append(Buffer.from(`${JSON.stringify(record)}\n`), req.signal);
        await f.commit(req.signal);
      } finally {
        await f.abort();
      }
      return new Lease(target, vm, record, ttl, now, replaced);
    } catch (e) {
      if (!(e instanceof TargetError && e.code === 'exists')) throw e;
    }
    let cur: Awaited<ReturnType<typeof readLease>>;
    try {
      cur = await readLease(target, path, req.signal);
    } catch (e) {
      // still being written by its creator (a target that says so)
      if (e instanceof TargetError && e.code === 'io') throw new LeaseError('busy', `[repository] VM ${vm} is busy: another job is taking its lease right now; try again`, undefined, { cause: e });
      throw e;
    }
    if (!cur) continue; // released meanwhile: try again
    if (!cur.record) {
      // empty or cut short: being written right now, or its writer died mid-create (then it is old)
      const st = await target.stat(path, req.signal);
      if (st && now() - st.mtimeMs < ttl) throw new LeaseError('busy', `[repository] VM ${vm} is busy: another job is taking its lease right now; try again`);
    } else if (Date.parse(cur.record.expires_at) >= now() && !req.holderGone?.(cur.record)) {
      throw new LeaseError('busy', `[repository] VM ${vm} is busy: ${describe(cur.record)}; try again when it has finished`, cur.record);
    }
    // take it over: move the expired record aside (atomic: one taker wins), check it is the one we judged
    const aside = `${vmDir(vm)}/.${LEASE_NAME}.expired-${randomBytes(4).toString('hex')}`;
    try {
      await target.rename(path, aside, req.signal);
    } catch (e) {
      if (e instanceof TargetError && e.code === 'not-found') continue;
      throw e;
    }
    const moved = await readLease(target, aside, req.signal);
    if (moved && moved.text !== cur.text) {
      // another agent renewed or replaced it between our read and the rename: give it back
      await target.rename(aside, path, req.signal);
      if (moved.record) throw new LeaseError('busy', `[repository] VM ${vm} is busy: ${describe(moved.record)}; try again when it has finished`, moved.record);
    }
    await target.remove(aside, req.signal);
    replaced = cur.record;
  }
  throw new LeaseError('busy', `[repository] VM ${vm}: could not take its lease (other agents kept changing it); try again`);
}
