/**
 * @layer entry
 * The backup job on this host: runBackup (agent/backup/backup.ts) on the process's
 * LibvirtHypervisor, Sendense's NBD client (four connections per disk) and the request's
 * repository; the outcome carries the manifest runBackup committed.
 */
import { runBackup, type BackupDeps } from '../backup/backup.ts';
import { openNbdPool } from '../nbd/pool.ts';
import { isAlive } from '../system/proc.ts';
import type { HostContext, RepoAccess } from './context.ts';
import type { EngineRun } from './port.ts';
import { withVmLock } from './vm-lock.ts';
import type { BackupBody, BackupOutcome } from './requests.ts';

/** A backup as this host's engine takes it: `vmId` may be left out (the domain's UUID), and the
 * CLI may set the NBD requests in flight per connection. */
export type HostBackup = BackupBody & { inFlight?: number };

/** The backup's dependencies on this host, with the request's repository opened (close() it). */
export async function openBackupDeps(ctx: HostContext, req: RepoAccess, signal?: AbortSignal, log?: (m: string) => void): Promise<BackupDeps & { close(): Promise<void> }> {
  const hypervisor = ctx.hypervisor;
  hypervisor.warmUp(); // libvirt's connection is made while the repository's is
  const target = await ctx.openRepo(req, signal);
  return {
    hypervisor,
    target,
    openSource: (uri, contexts, s) => openNbdPool({ uri, contexts, connections: 4, signal: s }),
    // through the hypervisor's virsh sessions: no process per disk
    diskSize: (domain, disk, s) => hypervisor.diskSize(domain, disk.target, s),
    workDir: ctx.workDir(),
    host: ctx.host,
    processAlive: isAlive,
    version: ctx.version,
    log,
    close: () => ctx.release(target),
  };
}

export async function backupJob(ctx: HostContext, req: HostBackup, run: EngineRun): Promise<BackupOutcome> {
  const vmId = req.vmId ?? (await ctx.hypervisor.getDomain(req.domain, run.signal)).uuid;
  return withVmLock(ctx, vmId, 'backup', () => backupLocked(ctx, { ...req, vmId }, run));
}

async function backupLocked(ctx: HostContext, req: HostBackup, run: EngineRun): Promise<BackupOutcome> {
  const deps = await openBackupDeps(ctx, req, run.signal, run.log);
  try {
    const r = await runBackup(deps, {
      domain: req.domain, vmId: req.vmId, mode: req.mode, disks: req.disks, quiesce: req.quiesce,
      sourcePlatform: req.sourcePlatform, platformMetadata: req.platformMetadata, inFlight: req.inFlight, signal: run.signal,
      onProgress: (p) => run.onProgress({ bytesDone: p.bytesRead, bytesTotal: p.bytesToRead, disk: p.disk, diskIndex: p.diskIndex, disks: p.disks, bytesWritten: p.bytesWritten }),
    });
    return {
      pointId: r.pointId, vmId: r.vmId, type: r.type, reason: r.reason, consistency: r.consistency,
      bytesRead: r.bytesRead, bytesSent: r.bytesSent, durationMs: r.durationMs, manifest: r.manifest,
    };
  } finally {
    await deps.close();
  }
}
