/**
 * @layer usecase
 * In-place restore: one disk of one point onto a stopped VM's volume file, with rollback.
 *
 *   1. leftovers of an interrupted restore of this volume are settled first (see recoverVolume);
 *   2. refused: a volume that a running or paused domain uses or whose image lock a process holds,
 *      a block device, a missing file;
 *   3. the image is restored beside the volume as `.<name>.sendense-restore-<job>` (same
 *      directory, owner and mode), every block checked against the point's digests as it is read,
 *      and the written file is then read back (its guest view) and checked end to end;
 *   4. right before the swap the volume is checked free once more: no running domain of this host
 *      has it, and no process holds its image lock (in-place-probe.ts: a VM started meanwhile, here
 *      or on another host over NFS) — else the restore stops and the volume stays as it is;
 *   5. the volume is renamed aside to `.<name>.sendense-rollback-<job>`, the new image renamed in,
 *      the directory fsync'd; only then is the rollback deleted.
 * The whole restore holds the VM's repository lease (repository/vm-work.ts, work
 * 'restore-in-place'): a backup, prune or second in-place restore of the VM fails 'busy' meanwhile.
 * Any failure or abort before the new image is in place puts the original back (same file, same
 * inode, same bytes). The format defaults to the volume's current one; a qcow2 volume becomes a
 * standalone qcow2 (no backing file: a template-backed CloudStack volume becomes flat).
 */
import path from 'node:path';
import type { BackupTarget } from '../target/port.ts';
import type { Hypervisor } from '../hypervisor/port.ts';
import type { LocalFileInfo, LocalFiles } from './port.ts';
import { restoreDisk, DiskRestoreError, type DiskRestoreResult } from './restore.ts';
import { checkAgainstSums } from './sums-check.ts';
import { underLease, type LeaseHolder } from '../repository/vm-work.ts';
import type { VolumeProbe } from './in-place-probe.ts';

export interface InPlaceDeps extends LeaseHolder {
  target: BackupTarget;
  hypervisor: Pick<Hypervisor, 'listDomains' | 'disks'>;
  files: LocalFiles;
  /** who holds the volume's image lock (default: nobody is asked) */
  probe?: VolumeProbe;
  log?: (msg: string) => void;
}

export type InPlaceStep = 'written' | 'checked' | 'aside' | 'swapped';

export interface InPlaceRequest {
  vm: string;
  disk: string;
  point?: string;
  /** the volume file (absolute) */
  path: string;
  /** default: the volume's current format */
  format?: 'qcow2' | 'raw';
  /** names the temporary and rollback files; unique per restore */
  job: string;
  inFlight?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** called after each step (tests interrupt here) */
  onStep?: (step: InPlaceStep) => void | Promise<void>;
}

export interface InPlaceResult extends DiskRestoreResult {
  path: string;
  format: 'qcow2' | 'raw';
  /** the new volume file's size */
  bytesWritten: number;
  /** what settling an earlier interrupted restore of this volume did (empty: nothing to do) */
  recovered: string[];
}

const ROLLBACK = '.sendense-rollback-';
const TEMP = '.sendense-restore-';

/** The temporary and rollback names of a volume's restore `job`. */
export function inPlaceNames(volume: string, job: string): { temp: string; rollback: string } {
  const dir = path.dirname(volume);
  const name = path.basename(volume);
  return { temp: path.join(dir, `.${name}${TEMP}${job}`), rollback: path.join(dir, `.${name}${ROLLBACK}${job}`) };
}

/**
 * Settles what an interrupted in-place restore of `volume` left: a rollback file with the volume
 * missing is put back (the restore died after moving the volume aside); a rollback file beside a
 * volume is deleted (the restored, verified image was already in place); temporary files are
 * deleted. Returns one sentence per action.
 */
export async function recoverVolume(files: LocalFiles, volume: string): Promise<string[]> {
  const dir = path.dirname(volume);
  const name = path.basename(volume);
  const done: string[] = [];
  const entries = await files.list(dir);
  for (const e of entries.filter((x) => x.startsWith(`.${name}${ROLLBACK}`))) {
    const rb = path.join(dir, e);
    if (await files.stat(volume)) {
      await files.remove(rb);
      done.push(`[restore] an earlier restore of ${volume} had put its verified image in place but not removed the previous content: removed ${rb}`);
    } else {
      await files.rename(rb, volume);
      done.push(`[restore] an earlier restore of ${volume} was interrupted after moving the volume aside: put the previous content back from ${rb}`);
    }
  }
  for (const e of entries.filter((x) => x.startsWith(`.${name}${TEMP}`))) {
    await files.remove(path.join(dir, e));
    done.push(`[restore] removed ${path.join(dir, e)}, the unfinished image of an interrupted restore`);
  }
  if (done.length) await files.syncDir(dir);
  return done;
}

/** Throws unless no running or paused domain has `volume` (the same file) as a disk. */
export async function assertVolumeFree(deps: Pick<InPlaceDeps, 'hypervisor' | 'files'>, volume: string, info: LocalFileInfo, signal?: AbortSignal): Promise<void> {
  for (const d of await deps.hypervisor.listDomains(signal)) {
    if (d.state !== 'running' && d.state !== 'paused') continue;
    for (const disk of await deps.hypervisor.disks(d.uuid, signal)) {
      if (disk.kind !== 'file' && disk.kind !== 'block') continue;
      const same = disk.source === volume || (await deps.files.stat(disk.source).then((s) => s && s.dev === info.dev && s.ino === info.ino, () => false));
      if (same) {
        throw new DiskRestoreError(`[restore] ${volume} is disk ${disk.target} of domain ${d.name}, which is ${d.state}: stop the VM before restoring in place`);
      }
    }
  }
}

export async function restoreInPlace(deps: InPlaceDeps, req: InPlaceRequest): Promise<InPlaceResult> {
  return underLease(deps.target, req.vm, { owner: `restore-${req.job}`, work: 'restore-in-place', host: deps.host, processAlive: deps.processAlive, log: deps.log, signal: req.signal },
    (signal) => restoreUnderLease(deps, { ...req, signal }));
}

/** Throws unless the volume is free right now: no running domain here, no image lock anywhere. */
async function assertVolumeUnused(deps: InPlaceDeps, volume: string, info: LocalFileInfo, signal?: AbortSignal): Promise<void> {
  await assertVolumeFree(deps, volume, info, signal);
  const holder = await deps.probe?.holder(volume, signal);
  if (holder) throw new DiskRestoreError(`[restore] ${volume} is in use: ${holder} — was the VM started during the restore (here or on another host)? Stop it; the restore was not applied`);
}

async function restoreUnderLease(deps: InPlaceDeps, req: InPlaceRequest): Promise<InPlaceResult> {
  const volume = path.resolve(req.path);
  const dir = path.dirname(volume);
  const { files } = deps;
  const recovered = await recoverVolume(files, volume);
  for (const r of recovered) deps.log?.(r);
  const info = await files.stat(volume);
  if (!info) throw new DiskRestoreError(`[restore] no volume at ${volume}: an in-place restore writes over an existing volume file (use 'to' for a new file)`);
  if (info.kind === 'block') throw new DiskRestoreError(`[restore] ${volume} is a block device: in-place restore supports volume files only for now (restore to a file, then copy it with qemu-img convert -n)`);
  if (info.kind !== 'file') throw new DiskRestoreError(`[restore] ${volume} is a ${info.kind}, not a volume file`);
  await assertVolumeUnused(deps, volume, info, req.signal);
  const current = await files.format(volume, req.signal);
  const format = req.format ?? current;
  if (format !== 'qcow2' && format !== 'raw') throw new DiskRestoreError(`[restore] ${volume} is a ${current} image: in-place restore writes qcow2 or raw (give format)`);

  const { temp, rollback } = inPlaceNames(volume, req.job);
  let aside = false;
  let swapped = false;
  try {
    const out = await files.create(temp, { uid: info.uid, gid: info.gid, mode: info.mode });
    const r = await restoreDisk(deps.target, out, { vm: req.vm, disk: req.disk, point: req.point, format, inFlight: req.inFlight, signal: req.signal, onProgress: req.onProgress });
    await req.onStep?.('written');
    const check = await checkAgainstSums(files.content(temp, format, req.signal), r.sums, `the restored image ${temp}`, req.signal);
    if (!check.ok) throw new DiskRestoreError(`[restore] the image written for ${volume} does not read back as point ${r.pointId}: ${check.problems.join('; ')}`);
    const bytesWritten = (await files.stat(temp))?.size ?? 0;
    await req.onStep?.('checked');
    req.signal?.throwIfAborted();
    await assertVolumeUnused(deps, volume, info, req.signal);
    await files.rename(volume, rollback);
    aside = true;
    await req.onStep?.('aside');
    req.signal?.throwIfAborted();
    await files.rename(temp, volume);
    swapped = true;
    await files.syncDir(dir);
    await req.onStep?.('swapped');
    // the restore is done: the previous content goes only now
    await files.remove(rollback).then(() => files.syncDir(dir)).catch((e) => {
      deps.log?.(`[restore] ${volume} is restored, but removing the previous content at ${rollback} failed (the next restore of this volume removes it): ${(e as Error).message}`);
    });
    return { ...r, path: volume, format, bytesWritten, recovered };
  } catch (e) {
    if (swapped) throw e; // a failure after the swap was only in the steps that follow it (see above)
    const problems: string[] = [];
    if (aside) await files.rename(rollback, volume).catch((x) => problems.push(`putting ${rollback} back as ${volume} failed (the next restore of this volume does it): ${(x as Error).message}`));
    await files.remove(temp).catch(() => {});
    await files.syncDir(dir).catch(() => {});
    const why = e instanceof Error ? e.message : String(e);
    const kept = problems.length ? problems.join('; ') : `${volume} is as it was`;
    throw new DiskRestoreError(`[restore] in-place restore of ${req.vm} disk ${req.disk} onto ${volume} failed, ${kept}: ${why}`, { cause: e });
  }
}
