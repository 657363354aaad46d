/**
 * @layer entry
 * The daemon's retention work wired to the real adapters (libvirt-engine.ts calls these): a prune
 * job (progress = bytes of the chains the merges read) and the synchronous repository scan. Each
 * opens its own repository connection and closes it at the end.
 */
import { withRepoTarget } from '../cli/deps.ts';
import type { EngineRun } from '../daemon/engine.ts';
import type { PruneBody, PruneOutcome, ScanBody, ScanOutcome } from '../daemon/schemas.ts';
import type { BackupTarget } from '../target/port.ts';
import { prunePoints } from './prune.ts';
import { scanRepository } from './scan.ts';

export function pruneJob(req: PruneBody, run: EngineRun): Promise<PruneOutcome> {
  return withRepoTarget(req, run.signal, async (target) => {
    const r = await prunePoints(target, req.vmId, req.remove, {
      signal: run.signal, log: run.log,
      onProgress: (p) => run.onProgress({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, disk: p.disk }),
    });
    return { vmId: r.vmId, removed: r.removed, merged: r.merged, bytesFreed: r.bytesFreed, durationMs: r.durationMs };
  });
}

export function scanJob(req: ScanBody, signal: AbortSignal): Promise<ScanOutcome> {
  return withRepoTarget(req, signal, (target) => scanRepository(target, req.vmId, signal));
}
