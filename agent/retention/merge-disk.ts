/**
 * @layer usecase
 * One disk of a merge forward (docs/FORMAT.md, "Retention", step 2): the disk's content at a point
 * — its chain read through the manifests, every 1 MiB block checked against the point's digests —
 * streamed as a full qcow2 image (no backing file, exactly as a full backup writes it) to a partial
 * name, fsync'd, then re-read as a standalone image and hashed: its digests must equal the point's.
 */
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { vmDir } from '../repository/layout.ts';
import { targetAccess } from '../repository/target-access.ts';
import { RetentionError } from '../repository/retention-recover.ts';
import { openPointChain, readVerified } from '../restore/chain-read.ts';
import { Qcow2Writer } from '../qcow2/writer.ts';
import { openChain } from '../qcow2/reader.ts';
import { HashingSink } from '../backup/hashing-sink.ts';
import { SumsTable, sha256 } from '../backup/sums.ts';

export interface MergedDisk {
  file_size: number;
  file_sha256: { header: string; body: string };
  data_clusters: number;
  zero_clusters: number;
  /** bytes of the chain read (and checked) */
  bytesRead: number;
}

export interface MergeDiskOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  inFlight?: number;
}

export async function mergeDisk(target: BackupTarget, vm: string, pointId: string, disk: string, partial: string, o: MergeDiskOptions = {}): Promise<MergedDisk> {
  const { signal } = o;
  const c = await openPointChain(new Repository(target), vm, pointId, disk, signal);
  const path = `${vmDir(vm)}/${partial}`;
  const file = await target.create(path, signal);
  try {
    const sink = new HashingSink(file);
    const w = new Qcow2Writer(sink, { virtualSize: c.disk.virtual_size, detectZeroes: true });
    const bytesRead = await readVerified(c, (off, data) => w.writeData(off, data, signal), { signal, onProgress: o.onProgress, inFlight: o.inFlight });
    const r = await w.finish(signal);
    await file.commit(signal);
    await checkImage(target, path, c.sums, `${pointId} disk ${disk}`, signal);
    return { file_size: r.fileSize, file_sha256: sink.digests(), data_clusters: r.dataClusters, zero_clusters: r.zeroClusters, bytesRead };
  } catch (e) {
    await file.abort().catch(() => {});
    await target.remove(path).catch(() => {});
    if (e instanceof RetentionError) throw e;
    throw new RetentionError('verify', `[retention] cannot merge point ${pointId} disk ${disk} into a full: ${(e as Error).message}`, { cause: e });
  }
}

/** Hashes the written image's guest view block by block: the table must be the point's. */
async function checkImage(target: BackupTarget, path: string, want: SumsTable, what: string, signal?: AbortSignal): Promise<void> {
  const img = await openChain([await targetAccess(target, path, signal)], { signal });
  if (img.size !== want.virtualSize) throw new RetentionError('verify', `[retention] the new full of ${what} is ${img.size} bytes, the point's disk ${want.virtualSize}`);
  const got = new SumsTable(want.virtualSize, want.blockSize);
  for (let b = 0; b < want.blocks; b++) got.set(b, sha256(await img.read(b * want.blockSize, want.blockLength(b), signal)));
  const bad = got.diff(want);
  if (bad.length) throw new RetentionError('verify', `[retention] the new full of ${what} differs from the point's digests in ${bad.length} block(s), first ${bad[0]}: nothing was changed`);
}
