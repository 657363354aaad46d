/**
 * @layer usecase
 * Writes one disk of a new point into the repository the way a backup does (docs/FORMAT.md,
 * "Write order" steps 2–3): the image streamed to `disk-<n>/.partial-<job>-<name>.qcow2` by the
 * backup's copy (copy-disk.ts: qcow2 writer, block digests, zero detection), its `.sums` beside
 * it, both committed, then renamed to their final names. The caller commits the manifest.
 * (Until the repository offers a point writer of its own, this is the VMware importer's copy of
 * that sequence; it is the one place to switch.)
 */
import type { BlockSource } from '../blocksource/port.ts';
import type { BackupTarget, StreamFile } from '../target/port.ts';
import { copyDisk, type CopyProgress } from '../backup/copy-disk.ts';
import { HashingSink } from '../backup/hashing-sink.ts';
import { SUMS_BLOCK_SIZE, type SumsTable } from '../backup/sums.ts';
import { diskDir, imageName, partialName, sumsName } from '../repository/layout.ts';
import type { PointDisk } from '../repository/manifest.ts';

export interface DiskWrite {
  vmId: string;
  job: string;
  pointId: string;
  index: number;
  target: string;
  type: 'full' | 'incremental';
  reason: string;
  source: BlockSource;
  /** incremental: the dirty meta context of `source` and the parent point's disk and sums */
  dirtyContext?: string;
  parent?: { disk: PointDisk; sums: SumsTable };
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
}

export interface WrittenDisk {
  disk: PointDisk;
  /** final paths, for removal when the point is not committed */
  files: string[];
}

export async function writePointDisk(target: BackupTarget, w: DiskWrite): Promise<WrittenDisk> {
  const kind = w.type === 'full' ? 'full' : 'incr';
  const dir = diskDir(w.vmId, w.index);
  const img = imageName(kind, w.pointId);
  const sumsFile = sumsName(kind, w.pointId);
  await target.mkdirp(dir, w.signal);
  const partials = [`${dir}/${partialName(w.job, img)}`, `${dir}/${partialName(w.job, sumsFile)}`];
  let file: StreamFile | undefined;
  let sums: StreamFile | undefined;
  try {
    file = await target.create(partials[0], w.signal);
    sums = await target.create(partials[1], w.signal);
    const sink = new HashingSink(file);
    const r = await copyDisk({
      source: w.source, sink, virtualSize: w.source.size, dirtyContext: w.dirtyContext, parentSums: w.parent?.sums,
      backingFile: w.parent ? w.parent.disk.image.slice(w.parent.disk.image.lastIndexOf('/') + 1) : undefined,
      signal: w.signal, onProgress: w.onProgress,
    });
    const sumsBuf = r.sums.toBuffer();
    await file.commit(w.signal);
    await sums.append(sumsBuf, w.signal);
    await sums.commit(w.signal);
    file = sums = undefined;
    const finals = [`${dir}/${img}`, `${dir}/${sumsFile}`];
    await target.rename(partials[0], finals[0], w.signal);
    await target.rename(partials[1], finals[1], w.signal);
    const rel = `disk-${w.index}`;
    return {
      files: finals,
      disk: {
        index: w.index, target: w.target, type: w.type, reason: w.reason,
        image: `${rel}/${img}`, backing: w.parent ? w.parent.disk.image : null, checkpoint: null,
        virtual_size: w.source.size, file_size: r.fileSize, bytes_read: r.bytesRead, bytes_written: r.fileSize,
        bytes_sent: sink.bytes + sumsBuf.length, data_clusters: r.dataClusters, zero_clusters: r.zeroClusters,
        sums: `${rel}/${sumsFile}`, block_size: SUMS_BLOCK_SIZE, content_sha256: r.sums.contentSha256(), file_sha256: sink.digests(),
      },
    };
  } catch (e) {
    for (const f of [file, sums]) if (f) await f.abort().catch(() => {});
    for (const p of partials) await target.remove(p).catch(() => {});
    throw e;
  }
}

/** Removes the final files of disks written for a point that was not committed. */
export async function removeWritten(target: BackupTarget, written: readonly WrittenDisk[]): Promise<void> {
  for (const w of written) for (const f of w.files) await target.remove(f).catch(() => {});
}

