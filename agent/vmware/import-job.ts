/**
 * @layer entry
 * The agent's VMware import job (the daemon's `POST /v1/imports`): reads and checks the export at
 * `path` on this host (read-export.ts: .mf digests, VMDK structure), then imports it into the
 * repository (import.ts) with qemu-nbd in the job's scratch folder. Progress is bytes of the
 * disks read (an incremental reads each disk twice: digests first, then the changed blocks).
 *
 * The daemon reads only exports below its import root (`SENDENSE_AGENT_IMPORT_ROOT`, default
 * /var/lib/sendense-agent/import), symbolic links resolved: whoever may ask the daemon for work
 * must not make it read any file of the host.
 */
import { mkdirSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { HostContext } from '../engine/context.ts';
import type { EngineRun } from '../engine/port.ts';
import { Repository } from '../repository/repository.ts';
import { importVmware } from './import.ts';
import { qemuVmdkOpener } from './qemu-disk.ts';
import { readVmwareExport } from './read-export.ts';
import type { VmwareImportBody, VmwareImportOutcome } from './requests.ts';

export const DEFAULT_IMPORT_ROOT = '/var/lib/sendense-agent/import';

export class ImportRootError extends Error {
  override name = 'ImportRootError';
}

/** The export's real path, refused unless it lies below the import root. */
export async function exportBelowRoot(p: string, root: string): Promise<string> {
  const realRoot = await realpath(root).catch((e: NodeJS.ErrnoException) => {
    throw new ImportRootError(`[vmware-import] the agent's import root ${root} cannot be read (${e.code ?? e.message}): create it and copy the VMware export below it`, { cause: e });
  });
  const real = await realpath(p).catch((e: NodeJS.ErrnoException) => {
    throw new ImportRootError(`[vmware-import] ${p} does not exist on this agent host (${e.code ?? e.message}): copy the export below ${realRoot} first`, { cause: e });
  });
  if (!real.startsWith(`${realRoot}/`)) {
    throw new ImportRootError(`[vmware-import] ${p}${real === p ? '' : ` (${real})`} is not below the agent's import root ${realRoot}: copy the export there (or set SENDENSE_AGENT_IMPORT_ROOT on the agent)`);
  }
  return real;
}

export async function vmwareImportJob(ctx: HostContext, req: VmwareImportBody, run: EngineRun, importRoot: string): Promise<VmwareImportOutcome> {
  const source = await exportBelowRoot(req.path, importRoot);
  const exp = await readVmwareExport(source, run.signal);
  const scratch = path.join(ctx.workDir(), 'vmware');
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  const total = exp.disks.reduce((n, d) => n + d.meta.capacity, 0);
  return ctx.withRepo(req, run.signal, async (target) => {
    // bytes of the disks before the one being read, per phase (an incremental digests, then copies)
    const done = new Map<string, number>();
    let base = 0;
    let phases = 1;
    const r = await importVmware({ target, openDisk: qemuVmdkOpener(scratch), host: ctx.host, version: ctx.version, log: run.log }, {
      export: exp, vmId: req.vmId, mode: req.mode, signal: run.signal,
      onProgress: (p) => {
        const key = `${p.disk}:${p.phase}`;
        if (p.phase === 'digest') phases = 2;
        if (!done.has(key)) { done.set(key, base); base += p.bytesToRead; }
        run.onProgress({ bytesDone: done.get(key)! + p.bytesRead, bytesTotal: total * phases, disk: p.disk });
      },
    });
    const manifest = await new Repository(target).readPoint(r.vmId, r.pointId, run.signal).catch(() => undefined);
    return {
      pointId: r.pointId, vmId: r.vmId, vmName: exp.vm.name, type: r.type, parent: r.parent, reason: r.reason, checks: r.checks,
      bytesStored: r.bytesStored, durationMs: r.durationMs,
      disks: r.disks.map((d) => ({ target: d.target, type: d.type, fileSize: d.file_size, virtualSize: d.virtual_size, changedBlocks: d.changed_blocks, blocks: d.blocks })),
      ...(manifest ? { manifest } : {}),
    };
  });
}
