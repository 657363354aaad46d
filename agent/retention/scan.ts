/**
 * @layer usecase
 * A repository scan: every VM (or one) with its metadata, its point manifests and the bytes its
 * folder holds, found by walking the BackupTarget port (one list per folder: no `du` needed on the
 * repository host). Problems are collected, not thrown: an unreadable manifest or metadata, a file
 * a manifest names that is missing, a prune a crash cut short.
 */
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { vmDir } from '../repository/layout.ts';
import type { PointManifest, VmMetadata } from '../repository/manifest.ts';
import { readIntents } from '../repository/retention-recover.ts';

export interface VmScan {
  vmId: string;
  metadata: VmMetadata | null;
  points: PointManifest[];
  bytesUsed: number;
  problems: string[];
}

export interface ScanResult {
  vms: VmScan[];
}

/** Bytes of every file under a folder, and the files (paths relative to the target root) with their sizes. */
export async function folderUsage(target: BackupTarget, dir: string, signal?: AbortSignal): Promise<{ bytes: number; files: Map<string, number> }> {
  const files = new Map<string, number>();
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await target.list(d, signal);
    await Promise.all(entries.map(async (e) => {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) return walk(p);
      files.set(p, e.size);
      bytes += e.size;
    }));
  };
  await walk(dir);
  return { bytes, files };
}

export async function scanVm(target: BackupTarget, vm: string, signal?: AbortSignal): Promise<VmScan> {
  const repo = new Repository(target);
  const problems: string[] = [];
  const vmId = vm.toLowerCase();
  const [usage, metadata, ids] = await Promise.all([
    folderUsage(target, vmDir(vmId), signal),
    repo.readMetadata(vmId, signal).catch((e: Error) => { problems.push(e.message); return undefined; }),
    repo.pointIds(vmId, signal),
  ]);
  const points: PointManifest[] = [];
  for (const id of ids) {
    try {
      const p = await repo.readPoint(vmId, id, signal);
      points.push(p);
      for (const d of p.disks) {
        for (const f of [d.image, d.sums]) if (!usage.files.has(`${vmDir(vmId)}/${f}`)) problems.push(`point ${id} disk ${d.target}: ${f} is missing`);
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  try {
    for (const i of await readIntents(target, vmId, signal)) problems.push(`prune ${i.op} (removing ${i.remove.join(', ')}) was cut short: the next prune or backup of this VM finishes or undoes it`);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (!metadata && !problems.length) problems.push(`VM ${vmId} has no metadata.json in ${target.url}`);
  return { vmId, metadata: metadata ?? null, points, bytesUsed: usage.bytes, problems };
}

export async function scanRepository(target: BackupTarget, vm?: string, signal?: AbortSignal): Promise<ScanResult> {
  const vms = vm ? [vm] : await new Repository(target).listVms(signal);
  const out: VmScan[] = [];
  for (const v of vms) out.push(await scanVm(target, v, signal));
  return { vms: out };
}
