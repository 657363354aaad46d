/**
 * @layer usecase
 * `import vmware`: one VMware VM export (already read and checked: read-export.ts) becomes a
 * `vmware` restore point of the repository. Each disk is read through an NBD export of the VMDK
 * (qemu reads every VMDK subformat) and written as the repository's qcow2 with block digests by
 * the backup's own copy. When the VM already has a point, the new export is digested block by
 * block first and only the blocks whose digest changed are stored, as an incremental on that
 * point (a VMware VM's history is a chain like any other). Nothing is recorded unless every disk
 * was written: the manifest is the commit (docs/FORMAT.md), metadata.json gets
 * `source_platform: vmware` and `platform_metadata.vmware`.
 */
import { randomBytes } from 'node:crypto';
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { nextFreePointId, pointIdTime } from '../repository/layout.ts';
import type { DiskMeta, PointDisk, PointManifest, VmMetadata } from '../repository/manifest.ts';
import { SumsTable } from '../backup/sums.ts';
import { changedExtents, DIGEST_DIRTY_CONTEXT, withDirtyContext } from './changed-blocks.ts';
import { digestDisk } from './digest-disk.ts';
import { VmwareError } from './errors.ts';
import { vmwareVmId, type VmwareDisk } from './metadata.ts';
import { writePointDisk } from './point-files.ts';
import { PointWriter } from '../repository/point-writer.ts';
import type { OpenVmwareDisk, VmwareExport } from './port.ts';

export interface VmwareImportDeps {
  target: BackupTarget;
  /** opens a VMDK (a qemu block spec, format vmdk) read-only as a BlockSource; close() ends it */
  openDisk: OpenVmwareDisk;
  now?: () => Date;
  host?: string;
  version?: string;
  log?: (m: string) => void;
}

export interface VmwareImportRequest {
  export: VmwareExport;
  /** the repository's VM id; default: the VM's instance UUID, else its BIOS UUID */
  vmId?: string;
  /** 'auto': incremental on the VM's newest point when there is one; 'full': always a full */
  mode?: 'auto' | 'full';
  signal?: AbortSignal;
  onProgress?: (p: { disk: string; phase: 'digest' | 'copy'; bytesRead: number; bytesToRead: number }) => void;
}

export interface VmwareImportResult {
  pointId: string;
  vmId: string;
  type: 'full' | 'incremental';
  parent: string | null;
  reason: string;
  disks: (PointDisk & { changed_blocks: number | null; blocks: number })[];
  checks: string[];
  bytesStored: number;
  durationMs: number;
}

export class VmwareImportError extends Error {
  override name = 'VmwareImportError';
}

/** The KVM device name a VMware disk gets, in controller/bus/unit order: vda, vdb, … */
const kvmTarget = (i: number) => `vd${String.fromCharCode(97 + (i % 26))}${i >= 26 ? Math.floor(i / 26) : ''}`;
const vmwareDevice = (d: VmwareDisk) => `${d.controller}${d.bus}:${d.unit}`;

export async function importVmware(deps: VmwareImportDeps, req: VmwareImportRequest): Promise<VmwareImportResult> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => {});
  const { vm, disks } = req.export;
  const signal = req.signal;
  const started = now();
  const vmId = (req.vmId ?? vmwareVmId(vm))?.toLowerCase();
  if (!vmId) throw new VmwareImportError(`[vmware-import] ${vm.source.file} carries neither an instance UUID nor a BIOS UUID: give the VM's id with --vm-id (the same id every time this VM is imported)`);
  const repo = new Repository(deps.target);
  const [meta, ids] = await Promise.all([repo.readMetadata(vmId, signal), repo.pointIds(vmId, signal)]);
  if (meta && meta.source_platform !== 'vmware') {
    throw new VmwareImportError(`[vmware-import] the repository's VM ${vmId} is a ${meta.source_platform} VM (${meta.vm_name}); a VMware export cannot continue its history: give another --vm-id`);
  }
  const removed = await repo.cleanupLeftovers(vmId, { pointIds: ids, signal });
  if (removed.length) log(`removed leftovers of an interrupted run: ${removed.join(', ')}`);
  const head = ids.length && req.mode !== 'full' ? await repo.readPoint(vmId, ids[ids.length - 1], signal) : undefined;
  const pointId = nextFreePointId(started, new Set(ids));
  const job = randomBytes(4).toString('hex');

  // disk indexes and targets stay with the VMware device (controller, bus, unit) across exports
  const metaDisks: DiskMeta[] = (meta?.disks ?? []).map((d) => ({ ...d }));
  const ordered = [...disks];
  const plan = ordered.map((d) => {
    const dev = vmwareDevice(d.meta);
    let md = metaDisks.find((m) => m.vmware_device === dev);
    if (!md) {
      const index = metaDisks.reduce((n, m) => Math.max(n, m.index + 1), 0);
      md = { index, target: kvmTarget(index), virtual_size: d.meta.capacity, source_format: 'vmdk', vmware_device: dev };
      metaDisks.push(md);
    }
    md.virtual_size = d.meta.capacity;
    md.vmdk_format = d.meta.vmdk_format;
    return { d, md };
  });

  const writer = new PointWriter(repo, { vmId, pointId, job });
  const written: PointDisk[] = [];
  const results: VmwareImportResult['disks'] = [];
  try {
    await writer.prepare(plan.map((p) => p.md.index), signal);
    for (const { d, md } of plan) {
      const parentDisk = head?.disks.find((x) => x.target === md.target);
      const source = await deps.openDisk(d.qemuImage, signal);
      try {
        if (source.size !== d.meta.capacity) throw new VmwareError('invalid', d.meta.file, `qemu reads ${source.size} bytes, the descriptor says ${d.meta.capacity}`);
        let w: PointDisk;
        let changed: number | null = null;
        const blocks = Math.ceil(source.size / (1 << 20));
        if (parentDisk && head) {
          const parentSums = new SumsTable(parentDisk.virtual_size, parentDisk.block_size, await repo.readSums(vmId, parentDisk, signal));
          const { sums } = await digestDisk(source, { signal, onProgress: (r, t) => req.onProgress?.({ disk: md.target, phase: 'digest', bytesRead: r, bytesToRead: t }) });
          const diff = sums.diff(SumsTable.resized(parentSums, source.size));
          changed = diff.length;
          const reason = `digests compared with point ${head.id}: ${diff.length} of ${sums.blocks} blocks of 1 MiB changed`;
          log(`${md.target} (${d.meta.file}): ${reason}`);
          w = await writePointDisk(writer, {
            index: md.index, target: md.target, type: 'incremental', reason,
            source: withDirtyContext(source, changedExtents(diff, sums.blockSize, source.size)), dirtyContext: DIGEST_DIRTY_CONTEXT,
            parent: { disk: parentDisk, sums: parentSums }, signal,
            onProgress: (p) => req.onProgress?.({ disk: md.target, phase: 'copy', bytesRead: p.bytesRead, bytesToRead: p.bytesToRead }),
          });
        } else {
          const reason = head ? `disk ${vmwareDevice(d.meta)} is new in this export: full` : req.mode === 'full' ? 'full requested' : 'no earlier point of this VM: full';
          w = await writePointDisk(writer, {
            index: md.index, target: md.target, type: 'full', reason, source, signal,
            onProgress: (p) => req.onProgress?.({ disk: md.target, phase: 'copy', bytesRead: p.bytesRead, bytesToRead: p.bytesToRead }),
          });
        }
        written.push(w);
        results.push({ ...w, changed_blocks: changed, blocks });
        log(`${md.target}: ${w.type}, image ${w.file_size} bytes`);
      } finally {
        await source.close().catch(() => {});
      }
    }
    const finished = now();
    const type: 'full' | 'incremental' = results.some((r) => r.type === 'incremental') ? 'incremental' : 'full';
    const reason = type === 'incremental'
      ? `VMware export compared with point ${head!.id} by block digests: ${results.reduce((n, r) => n + (r.changed_blocks ?? r.blocks), 0)} of ${results.reduce((n, r) => n + r.blocks, 0)} blocks stored`
      : results[0].reason;
    const manifestDisks = written;
    await writer.publish(signal);
    const manifest: PointManifest = {
      format: 'sendense-point', version: 1, id: pointId, vm_uuid: vmId, type, reason,
      parent: type === 'incremental' ? head!.id : (ids.length ? ids[ids.length - 1] : null),
      created_at: pointIdTime(pointId).toISOString(), started_at: started.toISOString(), finished_at: finished.toISOString(),
      duration_ms: finished.getTime() - started.getTime(),
      consistency: `VMware export (${vm.source.kind} ${vm.source.file}): the disks as exported`,
      vm_state: 'exported', disks: manifestDisks,
      agent: { host: deps.host ?? 'unknown', version: deps.version ?? '0.1.0' },
      source: { platform: 'vmware', kind: vm.source.kind, file: vm.source.file, checks: req.export.checks },
    };
    const newMeta: VmMetadata = {
      format: 'sendense-repository-vm', version: 1, vm_uuid: vmId, vm_name: vm.name, source_platform: 'vmware',
      platform_metadata: { ...(meta?.platform_metadata ?? {}), vmware: vm },
      disks: metaDisks.sort((a, b) => a.index - b.index), updated_at: finished.toISOString(),
    };
    await writer.commit(manifest, newMeta, signal);
    return {
      pointId, vmId, type, parent: manifest.parent, reason, disks: results, checks: req.export.checks,
      bytesStored: manifestDisks.reduce((n, x) => n + x.file_size, 0), durationMs: manifest.duration_ms,
    };
  } catch (e) {
    throw new VmwareImportError(`[vmware-import] import of ${vm.source.file} (${vm.name}) failed, no restore point recorded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    await writer.rollback();
  }
}
