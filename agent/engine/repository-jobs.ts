/**
 * @layer entry
 * The repository's own jobs on this host: a prune (progress = bytes of the chains the merges
 * read), the repository scan, and the listing `sendense-agent list` prints. Each opens its own
 * repository connection and closes it at the end.
 */
import { Repository } from '../repository/repository.ts';
import type { PointManifest, VmMetadata } from '../repository/manifest.ts';
import { prunePoints } from '../retention/prune.ts';
import { scanRepository } from '../retention/scan.ts';
import { isAlive } from '../system/proc.ts';
import type { HostContext } from './context.ts';
import { withVmLock } from './vm-lock.ts';
import type { EngineRun } from './port.ts';
import type { PruneBody, PruneOutcome, ScanBody, ScanOutcome } from './requests.ts';

/** What `list` reads: a repository and one VM or all of them. */
export type ListRequest = ScanBody;

/** The VMs of a repository with their metadata and point manifests, oldest point first. */
export interface ListOutcome {
  vms: { vmId: string; metadata: VmMetadata | undefined; points: PointManifest[] }[];
}

/** A prune's outcome and the bytes of chains its merges read and checked (the CLI prints them). */
export type PruneReport = PruneOutcome & { bytesRead: number };

export function pruneJob(ctx: HostContext, req: PruneBody, run: EngineRun): Promise<PruneReport> {
  return withVmLock(ctx, req.vmId, 'prune', () => ctx.withRepo(req, run.signal, async (target) => {
    const r = await prunePoints(target, req.vmId, req.remove, {
      signal: run.signal, log: run.log, host: ctx.host, processAlive: isAlive,
      onProgress: (p) => run.onProgress({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, disk: p.disk }),
    });
    return { vmId: r.vmId, removed: r.removed, merged: r.merged, bytesFreed: r.bytesFreed, bytesRead: r.bytesRead, durationMs: r.durationMs };
  }));
}

export function scanJob(ctx: HostContext, req: ScanBody, signal: AbortSignal): Promise<ScanOutcome> {
  return ctx.withRepo(req, signal, (target) => scanRepository(target, req.vmId, signal));
}

/** Unlike a scan, a listing fails on the first unreadable manifest (and reads no file sizes). */
export function listJob(ctx: HostContext, req: ListRequest, signal: AbortSignal): Promise<ListOutcome> {
  return ctx.withRepo(req, signal, async (target) => {
    const repo = new Repository(target);
    const ids = req.vmId ? [req.vmId] : await repo.listVms(signal);
    const vms: ListOutcome['vms'] = [];
    for (const vmId of ids) {
      const metadata = await repo.readMetadata(vmId, signal);
      vms.push({ vmId, metadata, points: await repo.points(vmId, signal) });
    }
    return { vms };
  });
}
