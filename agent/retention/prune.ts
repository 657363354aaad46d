/**
 * @layer usecase
 * Prune: removes restore points of one VM without ever breaking a chain (docs/FORMAT.md,
 * "Retention"). Remaining points whose parent goes are first merged forward into fulls with the
 * same content (merge-disk.ts), verified, switched atomically; only then are the removed points
 * deleted. An intent record written before anything changes lets the next prune or backup finish
 * or undo a prune a crash cut short (repository/retention-recover.ts).
 */
import { randomBytes } from 'node:crypto';
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { baseName, partialName } from '../repository/layout.ts';
import { intentPath, retentionDir, type IntentMerge, type RetentionIntent } from '../repository/retention-intent.ts';
import { RetentionError, readIntents, removePartials, removePoints, switchMerge, writeIntent } from '../repository/retention-recover.ts';
import { underLease, type LeaseHolder } from '../repository/vm-work.ts';
import { prunePlan } from './plan.ts';
import { mergeDisk } from './merge-disk.ts';

export interface PruneProgress {
  /** the point being merged, and its disk */
  point: string;
  disk: string;
  /** bytes of the chain read for this merge, of how many */
  bytesDone: number;
  bytesTotal: number;
}

export interface PruneOptions extends LeaseHolder {
  signal?: AbortSignal;
  onProgress?: (p: PruneProgress) => void;
  log?: (msg: string) => void;
  now?: () => Date;
  /** block reads in flight per merge (default 8) */
  inFlight?: number;
}

export interface PruneResult {
  vmId: string;
  removed: string[];
  merged: { pointId: string; from: string[]; bytesWritten: number }[];
  /** file bytes removed minus file bytes written */
  bytesFreed: number;
  /** bytes of chains read and checked by the merges */
  bytesRead: number;
  durationMs: number;
}

/**
 * Runs under the VM's repository lease (repository/vm-work.ts): a backup, another prune or a
 * restore test of the VM on any host sharing the repository makes it fail 'busy' before it
 * reads anything, and the recovery of an interrupted prune it does first is under it too.
 */
export async function prunePoints(target: BackupTarget, vm: string, remove: readonly string[], o: PruneOptions = {}): Promise<PruneResult> {
  const op = `prune-${randomBytes(4).toString('hex')}`;
  return underLease(target, vm, { owner: op, work: 'prune', host: o.host, processAlive: o.processAlive, log: o.log, signal: o.signal },
    (signal) => pruneUnderLease(target, vm, remove, { ...o, signal }, op));
}

async function pruneUnderLease(target: BackupTarget, vm: string, remove: readonly string[], o: PruneOptions, op: string): Promise<PruneResult> {
  const t0 = Date.now();
  const { signal } = o;
  const log = o.log ?? (() => {});
  const now = o.now ?? (() => new Date());
  const repo = new Repository(target);
  vm = vm.toLowerCase();

  // a prune a crash cut short first, and leftovers of interrupted backups
  const before = new Set(await repo.pointIds(vm, signal));
  // points a prune cut short had set out to remove (it may have removed some before the crash)
  const pending = new Set((await readIntents(target, vm, signal)).flatMap((i) => i.remove));
  const left = await repo.cleanupLeftovers(vm, { signal, pointIds: [...before] });
  if (left.length) log(`cleaned up first: ${left.join('; ')}`);
  const points = await repo.points(vm, signal);
  if (!points.length) throw new RetentionError('invalid', `[retention] VM ${vm} has no restore point in ${target.url}`);
  // the same prune asked again after a crash: what the recovery just removed counts as removed
  const exist = new Set(points.map((p) => p.id));
  const already = remove.filter((id) => !exist.has(id) && (before.has(id) || pending.has(id)));
  const plan = prunePlan(points, remove.filter((id) => !already.includes(id)));
  if (already.length) log(`already removed by the recovered prune: ${already.join(', ')}`);
  if (!plan.remove.length) return { vmId: vm, removed: already.sort(), merged: [], bytesFreed: 0, bytesRead: 0, durationMs: Date.now() - t0 };
  const byId = new Map(points.map((p) => [p.id, p]));
  const intent: RetentionIntent = {
    format: 'sendense-retention-op', version: 1, op, vm_uuid: vm, created_at: now().toISOString(), remove: plan.remove,
    merges: plan.merges.map((m) => ({
      point: m.pointId, from: m.from, state: 'planned',
      disks: byId.get(m.pointId)!.disks.filter((d) => d.type === 'incremental').map((d) => ({
        index: d.index, image: d.image, partial: `${d.image.slice(0, d.image.lastIndexOf('/') + 1)}${partialName(op, baseName(d.image))}`,
      })),
    })),
  };
  log(`${op}: remove ${plan.remove.join(', ')}; merge forward ${plan.merges.map((m) => `${m.pointId} (from ${m.from.join(', ')})`).join(', ') || 'nothing'}`);
  await target.mkdirp(retentionDir(vm), signal);
  await writeIntent(target, intent, signal);

  let written = 0;
  let replaced = 0;
  let bytesRead = 0;
  const merged: PruneResult['merged'] = [];
  let current: IntentMerge | undefined;
  try {
    for (const m of intent.merges) {
      current = m;
      let bytesWritten = 0;
      for (const d of m.disks) {
        const pd = byId.get(m.point)!.disks.find((x) => x.index === d.index)!;
        const r = await mergeDisk(target, vm, m.point, pd.target, d.partial, {
          signal, inFlight: o.inFlight,
          onProgress: (done, total) => o.onProgress?.({ point: m.point, disk: pd.target, bytesDone: done, bytesTotal: total }),
        });
        Object.assign(d, { file_size: r.file_size, file_sha256: r.file_sha256, data_clusters: r.data_clusters, zero_clusters: r.zero_clusters });
        bytesWritten += r.file_size;
        bytesRead += r.bytesRead;
      }
      m.state = 'written';
      await writeIntent(target, intent, signal);
      replaced += await switchMerge(target, intent, m, { signal, log, now });
      written += bytesWritten;
      merged.push({ pointId: m.point, from: m.from, bytesWritten });
    }
    current = undefined;
  } catch (e) {
    // undo what is not switched yet: its partials, and the removal (a switched merge stays: it is a
    // full with the same content). A 'written' merge stays recorded for the next run to finish.
    if (current?.state === 'planned') {
      await removePartials(target, vm, intent.merges.filter((m) => m.state === 'planned'), undefined).catch(() => {});
      await target.remove(intentPath(vm, op)).catch(() => {});
    }
    throw new RetentionError(e instanceof RetentionError ? e.code : 'damaged', `[retention] prune of ${vm} stopped, no point was removed: ${(e as Error).message}`, { cause: e });
  }

  const freed = plan.remove.length ? await removePoints(target, vm, plan.remove, signal) : 0;
  await target.remove(intentPath(vm, op), signal);
  await target.remove(retentionDir(vm), signal);
  log(`${op}: removed ${plan.remove.join(', ')}`);
  return { vmId: vm, removed: [...already, ...plan.remove].sort(), merged, bytesFreed: freed + replaced - written, bytesRead, durationMs: Date.now() - t0 };
}
