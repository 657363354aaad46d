/**
 * @layer usecase
 * Writes one disk of a new VMware point through the repository's PointWriter (which owns every
 * name, path and the write order of docs/FORMAT.md): the image is streamed into the writer's
 * partial file by the backup's copy (copy-disk.ts: qcow2 writer, block digests, zero detection),
 * its `.sums` handed to finishDisk. The caller publishes and commits the point.
 */
import type { BlockSource } from '../blocksource/port.ts';
import { copyDisk, type CopyProgress } from '../backup/copy-disk.ts';
import { HashingSink } from '../backup/hashing-sink.ts';
import { SUMS_BLOCK_SIZE, type SumsTable } from '../backup/sums.ts';
import type { PointDisk } from '../repository/manifest.ts';
import { PointWriter } from '../repository/point-writer.ts';

export interface DiskWrite {
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

export async function writePointDisk(writer: PointWriter, w: DiskWrite): Promise<PointDisk> {
  const files = await writer.createDisk(w.index, w.type, w.signal);
  const sink = new HashingSink(files.image);
  const r = await copyDisk({
    source: w.source, sink, virtualSize: w.source.size, dirtyContext: w.dirtyContext, parentSums: w.parent?.sums,
    backingFile: w.parent ? PointWriter.backingName(w.parent.disk) : undefined,
    signal: w.signal, onProgress: w.onProgress,
  });
  const sumsBuf = r.sums.toBuffer();
  const names = await writer.finishDisk(w.index, sumsBuf, w.signal);
  return {
    index: w.index, target: w.target, type: w.type, reason: w.reason,
    image: names.image, backing: w.parent ? w.parent.disk.image : null, checkpoint: null,
    virtual_size: w.source.size, file_size: r.fileSize, bytes_read: r.bytesRead, bytes_written: r.fileSize,
    bytes_sent: sink.bytes + sumsBuf.length, data_clusters: r.dataClusters, zero_clusters: r.zeroClusters,
    sums: names.sums, block_size: SUMS_BLOCK_SIZE, content_sha256: r.sums.contentSha256(), file_sha256: sink.digests(),
  };
}
