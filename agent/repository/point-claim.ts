/**
 * @layer usecase
 * Point id claims (docs/FORMAT.md "Point ids"): before a run writes any file of a new point it
 * claims the point's id by creating `points/.claim-<id>` exclusively (O_EXCL locally, `set -C`
 * over SSH). Of two runs that pick the same id — in the same second, on two hosts, or one whose
 * lease was taken over while it still ran — only one creation succeeds; the other moves on to the
 * next second. So no two runs ever write files under the same final names, by construction, not
 * by timing. The claim names its job, host and pid: clean-up (Repository.cleanupLeftovers) keeps
 * the files of a claim whose owner lives, and removes only a dead owner's. A claim is removed
 * after the point's commit, or by the run's rollback.
 */
import { z } from 'zod';
import { TargetError, type BackupTarget } from '../target/port.ts';
import { claimPath, pointIdAfter, pointsDir } from './layout.ts';

export const ClaimRecord = z.object({
  format: z.literal('sendense-claim'),
  version: z.literal(1),
  point: z.string(),
  /** the run's job id: its partial files are `.partial-<job>-…` */
  job: z.string().min(1),
  /** the owner of the lease the run holds (lease.ts) */
  lease: z.string(),
  host: z.string(),
  pid: z.number().int(),
  at: z.string(),
}).loose();
export type ClaimRecord = z.infer<typeof ClaimRecord>;

export interface ClaimOwner {
  job: string;
  lease: string;
  host: string;
  pid?: number;
}

/** How many seconds a run moves on before it gives up (other runs claimed every one of them). */
const MAX_TRIES = 600;

/** Claims `first` or the first later id no other run has claimed; resolves with the id claimed. */
export async function claimPointId(target: BackupTarget, vm: string, first: string, who: ClaimOwner, o: { now?: () => Date; signal?: AbortSignal } = {}): Promise<string> {
  await target.mkdirp(pointsDir(vm), o.signal);
  let id = first;
  for (let i = 0; i < MAX_TRIES; i++, id = pointIdAfter(id)) {
    let f;
    try {
      f = await target.create(claimPath(vm, id), o.signal);
    } catch (e) {
      if (e instanceof TargetError && e.code === 'exists') continue;
      throw e;
    }
    try {
      const rec: ClaimRecord = { format: 'sendense-claim', version: 1, point: id, job: who.job, lease: who.lease, host: who.host, pid: who.pid ?? process.pid, at: (o.now?.() ?? new Date()).toISOString() };
      await f.append(Buffer.from(`${JSON.stringify(rec)}\n`), o.signal);
      await f.commit(o.signal);
      // a point committed under this id (its claim removed after the commit): checked after our
      // claim exists, so a commit that races with us is seen either way
      if (await target.stat(`${pointsDir(vm)}/${id}.json`, o.signal)) {
        await target.remove(claimPath(vm, id), o.signal);
        continue;
      }
    } catch (e) {
      await f.abort();
      await target.remove(claimPath(vm, id)).catch(() => {});
      throw e;
    }
    return id;
  }
  throw new TargetError('exists', `[repository] VM ${vm}: ${MAX_TRIES} point ids from ${first} on are all claimed by other runs; remove stale points/.claim-* files of runs that are gone`);
}

/** The claim's record; undefined when it is gone, 'garbled' when it cannot be read as one (cut short). */
export async function readClaim(target: BackupTarget, vm: string, id: string, signal?: AbortSignal): Promise<ClaimRecord | undefined | 'garbled'> {
  let text: string;
  try {
    text = (await target.readFile(claimPath(vm, id), signal)).toString('utf8');
  } catch (e) {
    if (e instanceof TargetError && e.code === 'not-found') return undefined;
    throw e;
  }
  try {
    const r = ClaimRecord.safeParse(JSON.parse(text));
    return r.success && r.data.point === id ? r.data : 'garbled';
  } catch {
    return 'garbled';
  }
}

export async function releaseClaim(target: BackupTarget, vm: string, id: string, signal?: AbortSignal): Promise<void> {
  await target.remove(claimPath(vm, id), signal);
}
