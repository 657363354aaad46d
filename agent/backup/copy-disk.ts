/**
 * @layer usecase
 * Copies one disk from a point-in-time BlockSource into a qcow2 image on a sink, following the
 * copy plan: many reads in flight, block digests computed as blocks arrive, data and zero
 * clusters handed to the qcow2 writer, progress reported, AbortSignal honoured. Each lane reads
 * into its own block buffer, reused from block to block (readInto when the source has it). The disk's
 * allocation and dirty extents come from blocksource/extents.ts collectExtents, which checks every
 * blockStatus answer against the BlockSource contract.
 */
import { collectExtents } from '../blocksource/extents.ts';
import { BASE_ALLOCATION, type BlockSource, type Extent } from '../blocksource/port.ts';
import type { ImageSink } from '../qcow2/port.ts';
import { Qcow2Writer } from '../qcow2/writer.ts';
import { copyPlan, type BlockStep } from './copy-plan.ts';
import { SUMS_BLOCK_SIZE, SumsTable, sha256, zeroDigest } from './sums.ts';

export interface CopyProgress {
  bytesRead: number;
  bytesToRead: number;
  bytesWritten: number;
}

export interface CopyDiskOptions {
  source: BlockSource;
  sink: ImageSink;
  virtualSize: number;
  /** the backing image's name (an incremental overlay) */
  backingFile?: string;
  /** meta context of the dirty bitmap (incremental); undefined for a full copy */
  dirtyContext?: string;
  /** the parent point's sums (incremental) */
  parentSums?: SumsTable;
  /** reads in flight (1 MiB each) */
  inFlight?: number;
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
}

export interface CopyDiskResult {
  sums: SumsTable;
  bytesRead: number;
  fileSize: number;
  dataClusters: number;
  zeroClusters: number;
  dirtyBytes: number;
}

const EMPTY = Buffer.alloc(0);

/** All extents of a context over the whole disk (collectExtents from offset 0). */
export function extentsOf(source: BlockSource, context: string, size: number, signal?: AbortSignal): Promise<Extent[]> {
  return collectExtents(source, context, 0, size, { signal });
}

export async function copyDisk(o: CopyDiskOptions): Promise<CopyDiskResult> {
  const { source, virtualSize, signal } = o;
  if (source.size !== virtualSize) throw new Error(`[backup] ${source.name} exports ${source.size} bytes, the disk has ${virtualSize}`);
  // the whole disk's extents, each blockStatus answer checked against the port's contract
  const allocation = source.contexts.includes(BASE_ALLOCATION) ? await extentsOf(source, BASE_ALLOCATION, virtualSize, signal) : [];
  const dirty = o.dirtyContext ? await extentsOf(source, o.dirtyContext, virtualSize, signal) : undefined;
  const dirtyBytes = dirty ? dirty.filter((e) => e.flags & 1).reduce((n, e) => n + e.length, 0) : virtualSize;
  const writer = new Qcow2Writer(o.sink, { virtualSize, backingFile: o.backingFile, backingFormat: o.backingFile ? 'qcow2' : undefined, detectZeroes: true });
  const sums = o.parentSums ? SumsTable.resized(o.parentSums, virtualSize) : new SumsTable(virtualSize, SUMS_BLOCK_SIZE);
  // blocks with nothing to do are left out of the plan: a fresh table already holds the digest of
  // zeros, an incremental's the parent's for clean blocks (a full from a parent's table needs them all)
  const skipIdle = !(o.parentSums && !o.dirtyContext);
  const steps = [...copyPlan({ virtualSize, blockSize: SUMS_BLOCK_SIZE, clusterSize: writer.clusterSize, allocation, dirty, skipIdle })];
  const bytesToRead = steps.reduce((n, s) => n + (s.read ? s.length : 0), 0);
  const progress: CopyProgress = { bytesRead: 0, bytesToRead, bytesWritten: 0 };
  const inFlight = Math.max(1, o.inFlight ?? 16);

  // one block buffer per lane, reused: it is the lane's again once writeData resolved (the writer
  // and every sink keep no reference then: qcow2/port.ts); fresh memory per block costs page faults
  const handle = async (s: BlockStep, own: Buffer): Promise<void> => {
    let buf: Buffer | undefined;
    if (s.read) {
      buf = source.readInto ? await source.readInto(s.offset, own.subarray(0, s.length), signal) : await source.read(s.offset, s.length, signal);
      progress.bytesRead += s.length;
      sums.set(s.index, sha256(buf));
    } else if (s.data.length === 0 && (s.zero.length > 0 || !o.dirtyContext)) {
      // all zero per base:allocation (a hole, or zero writes): its content is zeros
      sums.set(s.index, zeroDigest(s.length));
    }
    for (const z of s.zero) writer.writeZero(z.start, z.end - z.start);
    for (const d of s.data) {
      await writer.writeData(d.start, buf!.subarray(d.start - s.offset, d.end - s.offset), signal);
      progress.bytesWritten += d.end - d.start;
    }
    o.onProgress?.(progress);
  };

  // a window of reads in flight; completions handled in any order
  let next = 0;
  let failed: unknown;
  const work = steps.filter((s) => s.read || s.zero.length || s.data.length || !o.dirtyContext);
  const lane = async () => {
    let own: Buffer | undefined;
    while (next < work.length && failed === undefined) {
      const s = work[next++];
      signal?.throwIfAborted();
      own ??= s.read && source.readInto ? Buffer.allocUnsafe(SUMS_BLOCK_SIZE) : undefined;
      try { await handle(s, own ?? EMPTY); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  if (failed !== undefined) throw failed;
  const r = await writer.finish(signal);
  return { sums, bytesRead: progress.bytesRead, fileSize: r.fileSize, dataClusters: r.dataClusters, zeroClusters: r.zeroClusters, dirtyBytes };
}
