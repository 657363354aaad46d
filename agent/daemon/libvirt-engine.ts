/**
 * @layer entry
 * The real AgentEngine: the same use cases and adapters as the CLI (agent/cli/deps.ts) — runBackup
 * on libvirt + our NBD client into a local or SSH repository; restores (file, volume in place,
 * upload), downloads and verification with restore tests through agent/restore/engine-restore.ts,
 * with the qcow2 checker. Each job opens its own repository connection and closes
 * it at the end, so concurrent jobs never share state.
 */
import { runBackup } from '../backup/backup.ts';
import { agentDeps, checkImage, openRepoTarget } from '../cli/deps.ts';
import { Repository } from '../repository/repository.ts';
import { exportJob, restoreJob, verifyJob } from '../restore/engine-restore.ts';
import { pruneJob, scanJob } from '../retention/engine-retention.ts';
import type { AgentEngine } from './engine.ts';
import type { DiskExporter } from './service.ts';

/** Per-job sockets and scratch files go where the CLI's go: SENDENSE_AGENT_WORKDIR (deps.ts). */
export function libvirtEngine(): AgentEngine & DiskExporter {
  return {
    async backup(req, run) {
      const deps = await agentDeps({ repo: req.repo, identity: req.identity, knownHosts: req.knownHosts, signal: run.signal, log: run.log });
      try {
        const r = await runBackup(deps, {
          domain: req.domain, vmId: req.vmId, mode: req.mode, disks: req.disks, quiesce: req.quiesce,
          sourcePlatform: req.sourcePlatform, platformMetadata: req.platformMetadata, signal: run.signal,
          onProgress: (p) => run.onProgress({ bytesDone: p.bytesRead, bytesTotal: p.bytesToRead, disk: p.disk, diskIndex: p.diskIndex, disks: p.disks, bytesWritten: p.bytesWritten }),
        });
        // the manifest as committed: what the control plane records (read back, so it is what a restore will see)
        // (the point is committed: a failed read must not fail the job, which would say "no point")
        const manifest = await new Repository(deps.target).readPoint(r.vmId, r.pointId).catch((e) => {
          run.log(`point ${r.pointId} committed, but reading its manifest back failed: ${(e as Error).message}`);
          return undefined;
        });
        return {
          pointId: r.pointId, vmId: r.vmId, type: r.type, reason: r.reason, consistency: r.consistency,
          bytesRead: r.bytesRead, bytesSent: r.bytesSent, durationMs: r.durationMs, manifest,
        };
      } finally {
        await deps.close().catch(() => {});
      }
    },

    // restore (file, volume in place, upload), verify (+ restore test), download: agent/restore/engine-restore.ts
    restore: (req, run) => restoreJob(req, run),

    verify: (req, run) => verifyJob(req, run),

    exportDisk: (req, signal) => exportJob(req, signal),

    // prune (merge forward) and the repository scan: agent/retention/engine-retention.ts
    prune: (req, run) => pruneJob(req, run),

    scan: (req, signal) => scanJob(req, signal),
  };
}
