/**
 * @layer entry
 * The real AgentEngine: the same use cases and adapters as the CLI (agent/cli/deps.ts) — runBackup
 * on libvirt + our NBD client into a local or SSH repository, restoreDisk into a local file,
 * verifyPoints with the qcow2 checker. Each job opens its own repository connection and closes
 * it at the end, so concurrent jobs never share state.
 */
import { runBackup } from '../backup/backup.ts';
import { agentDeps, checkImage, openRepoTarget } from '../cli/deps.ts';
import { Repository } from '../repository/repository.ts';
import { LocalRestoreFile } from '../restore/local-file.ts';
import { restoreDisk } from '../restore/restore.ts';
import { verifyPoints } from '../restore/verify.ts';
import type { AgentEngine } from './engine.ts';

/** Per-job sockets and scratch files go where the CLI's go: SENDENSE_AGENT_WORKDIR (deps.ts). */
export function libvirtEngine(): AgentEngine {
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

    async restore(req, run) {
      const target = await openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal: run.signal });
      try {
        if (!req.to) throw new Error('[agent] restore in place and upload are not implemented yet: give `to`');
        const to = req.to;
        const out = await LocalRestoreFile.create(to, { overwrite: req.overwrite });
        const r = await restoreDisk(target, out, {
          vm: req.vmId, disk: req.disk, point: req.point, format: req.format, signal: run.signal,
          onProgress: (done, total) => run.onProgress({ bytesDone: done, bytesTotal: total, disk: req.disk }),
        });
        return {
          pointId: r.pointId, disk: r.disk, destination: 'file', to, format: req.format, virtualSize: r.virtualSize,
          bytesRead: r.bytesRead, chain: r.chain, contentSha256: r.contentSha256, durationMs: r.durationMs,
        };
      } finally {
        await target.close().catch(() => {});
      }
    },

    async verify(req, run) {
      const target = await openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal: run.signal });
      try {
        const r = await verifyPoints({ target, checkImage }, req.vmId, { point: req.point, signal: run.signal });
        return { vmId: r.vm, ok: r.ok, points: r.points, durationMs: r.durationMs };
      } finally {
        await target.close().catch(() => {});
      }
    },
  };
}
