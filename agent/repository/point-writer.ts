/**
 * @layer usecase
 * PointWriter: the one way a restore point gets into a repository, in the write order of
 * docs/FORMAT.md ("Write order"): every image and its sums under a partial name
 * (`.partial-<job>-<final name>`), then renamed to their final names, then the manifest (the
 * commit), then metadata.json. The writer owns every name and path below the VM's folder: its
 * caller says which disk (index) and which kind of image (full or incremental) and gets stream
 * files to write and, at the end, the names the manifest records. Until commit() succeeds
 * nothing is a restore point; rollback() removes what this writer made.
 *
 *   const w = new PointWriter(new Repository(target), { vmId, pointId, job });
 *   await w.prepare([0, 1], signal);                    // the disk-<n> folders
 *   const f = await w.createDisk(0, 'full', signal);    // { image, sums }: StreamFiles, partial names
 *   … write the qcow2 image to f.image (e.g. through a Qcow2Writer) …
 *   const names = await w.finishDisk(0, sumsBytes, signal); // image committed, sums written:
 *                                                       // { image: 'disk-0/full-<id>.qcow2', sums: 'disk-0/full-<id>.sums' }
 *   await w.publish(signal);                            // every partial renamed to its final name
 *   await w.commit(manifest, metadata, signal);         // the manifest, then metadata.json
 *   finally: await w.rollback();                        // a no-op after commit; never throws
 *
 * Rules: `job` is unique per run (a concurrent run's partials are never touched: cleanupLeftovers
 * keeps `.partial-<job>-` files of running jobs when told to); `pointId` is not taken (a point's
 * final names are new, so rollback may remove them after publish); createDisk once per disk;
 * finishDisk before publish; commit after publish. `backingName(parent)` is the name an
 * incremental image records for its parent (the file beside it in the same disk folder).
 */
import type { BackupTarget, StreamFile } from '../target/port.ts';
import { baseName, diskDir, diskFile, imageName, imagePath, partialName, sumsName, sumsPath, type ImageType } from './layout.ts';
import type { PointDisk, PointManifest, VmMetadata } from './manifest.ts';
import type { Repository } from './repository.ts';

export interface PointWriterOptions {
  vmId: string;
  pointId: string;
  /** this run's id: part of every partial name */
  job: string;
}

/** What the manifest records for one disk's files: paths relative to the VM's folder. */
export interface DiskFileNames {
  image: string;
  sums: string;
}

interface DiskFiles {
  type: ImageType;
  partialImage: string;
  partialSums: string;
  finalImage: string;
  finalSums: string;
  image?: StreamFile;
  sums?: StreamFile;
  finished: boolean;
}

const C = '[repository] [point-writer]';

export class PointWriter {
  private readonly disks = new Map<number, DiskFiles>();
  private readonly target: BackupTarget;
  private published = false;
  private committed = false;

  constructor(private readonly repo: Repository, readonly o: PointWriterOptions) {
    this.target = repo.target;
  }

  /** The backing file an incremental overlay names for its parent's image. */
  static backingName(parent: Pick<PointDisk, 'image'>): string {
    return baseName(parent.image);
  }

  /** Makes the disk folders (may run while other work goes on; await it before createDisk). */
  async prepare(indexes: readonly number[], signal?: AbortSignal): Promise<void> {
    await Promise.all(indexes.map((i) => this.target.mkdirp(diskDir(this.o.vmId, i), signal)));
  }

  /** Creates the disk's image and sums files under their partial names. */
  async createDisk(index: number, type: 'full' | 'incremental', signal?: AbortSignal): Promise<{ image: StreamFile; sums: StreamFile }> {
    if (this.disks.has(index)) throw new Error(`${C} disk ${index} of point ${this.o.pointId} was created already`);
    if (this.published) throw new Error(`${C} point ${this.o.pointId} is published: no disk can be added`);
    const t: ImageType = type === 'full' ? 'full' : 'incr';
    const { vmId, pointId, job } = this.o;
    const d: DiskFiles = {
      type: t, finished: false,
      partialImage: `${diskDir(vmId, index)}/${partialName(job, imageName(t, pointId))}`,
      partialSums: `${diskDir(vmId, index)}/${partialName(job, sumsName(t, pointId))}`,
      finalImage: imagePath(vmId, index, t, pointId),
      finalSums: sumsPath(vmId, index, t, pointId),
    };
    this.disks.set(index, d);
    const made = await Promise.allSettled([
      this.target.create(d.partialImage, signal).then((f) => { d.image = f; }),
      this.target.create(d.partialSums, signal).then((f) => { d.sums = f; }),
    ]);
    for (const m of made) if (m.status === 'rejected') throw m.reason;
    return { image: d.image!, sums: d.sums! };
  }

  /** Commits the disk's image and writes its sums; resolves with the names the manifest records. */
  async finishDisk(index: number, sums: Buffer, signal?: AbortSignal): Promise<DiskFileNames> {
    const d = this.disks.get(index);
    if (!d?.image || !d.sums) throw new Error(`${C} disk ${index} of point ${this.o.pointId} has no files (createDisk first)`);
    const [image, sumsFile] = [d.image, d.sums];
    await Promise.all([image.commit(signal), sumsFile.append(sums, signal).then(() => sumsFile.commit(signal))]);
    d.image = undefined;
    d.sums = undefined;
    d.finished = true;
    return this.names(index, d);
  }

  /** Renames every finished disk's files to their final names (all renames run; the first failure is thrown). */
  async publish(signal?: AbortSignal): Promise<void> {
    const open = [...this.disks].filter(([, d]) => !d.finished).map(([i]) => i);
    if (open.length) throw new Error(`${C} disk(s) ${open.join(', ')} of point ${this.o.pointId} are not finished`);
    this.published = true;
    const renamed = await Promise.allSettled([...this.disks.values()].flatMap((d) => [
      this.target.rename(d.partialImage, d.finalImage, signal),
      this.target.rename(d.partialSums, d.finalSums, signal),
    ]));
    for (const r of renamed) if (r.status === 'rejected') throw r.reason;
  }

  /** The commit: the manifest, then the VM's metadata (Repository.commitPoint). */
  async commit(manifest: PointManifest, metadata: VmMetadata, signal?: AbortSignal): Promise<void> {
    if (!this.published) throw new Error(`${C} point ${this.o.pointId} must be published before its commit`);
    if (manifest.id !== this.o.pointId || manifest.vm_uuid !== this.o.vmId) {
      throw new Error(`${C} manifest ${manifest.vm_uuid}/${manifest.id} is not point ${this.o.vmId}/${this.o.pointId}`);
    }
    await this.repo.commitPoint(manifest, metadata, signal);
    this.committed = true;
  }

  get isCommitted(): boolean {
    return this.committed;
  }

  /** Before the commit: aborts open files and removes this point's partial and final files. Never throws. */
  async rollback(): Promise<void> {
    if (this.committed) return;
    for (const d of this.disks.values()) {
      for (const f of [d.image, d.sums]) if (f) await f.abort().catch(() => {});
      d.image = undefined;
      d.sums = undefined;
      // after publish (or a rename that went through before another failed) the files carry
      // their final names: this point's id is new, so they are this run's
      const paths = [d.partialImage, d.partialSums, ...(d.finished ? [d.finalImage, d.finalSums] : [])];
      for (const p of paths) await this.target.remove(p).catch(() => {});
    }
  }

  private names(index: number, d: DiskFiles): DiskFileNames {
    return { image: diskFile(index, imageName(d.type, this.o.pointId)), sums: diskFile(index, sumsName(d.type, this.o.pointId)) };
  }
}
