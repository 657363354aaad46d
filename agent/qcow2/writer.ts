/**
 * @layer logic
 * Qcow2Writer: streams a qcow2 v3 image into an ImageSink as one append-only stream — cluster 0
 * reserved as zeros, data clusters in arrival order, then L2 tables, L1 table, refcount blocks
 * and refcount table, and LAST the header with one writeAt(0). The layout, the write order and
 * the invariants are docs/FORMAT-qcow2.md.
 *
 * Memory: one Uint32Array of 8192 entries (32 KiB) per L2 table touched (512 MiB of guest
 * space), plus one coalescing buffer of COALESCE_BYTES. Host offsets are kept as host cluster
 * numbers, so one image file can reach 256 TiB.
 */
import type { ImageSink } from './port.ts';
import { Qcow2Error } from './errors.ts';
import {
  encodeHeader,
  ENTRY_COPIED_HI,
  entriesPerCluster,
  l1EntriesFor,
  L2_ZERO_LO,
  MAX_BACKING_FILE_NAME,
  MAX_L1_BYTES,
  WRITE_CLUSTER_SIZE,
  WRITE_REFCOUNT_ORDER,
  writeU64,
} from './format.ts';

export interface Qcow2WriterOptions {
  /** guest size in bytes: a multiple of 512, not necessarily of the cluster size */
  virtualSize: number;
  /** only 64 KiB is written */
  clusterSize?: 65536;
  /** the backing image's name, relative to this image's directory (an incremental) */
  backingFile?: string;
  backingFormat?: 'qcow2';
  /**
   * Turn all-zero clusters of writeData buffers into zero clusters: left unallocated in an
   * image without backing file, written as zero clusters (L2 bit 0) in an overlay.
   */
  detectZeroes?: boolean;
}

export interface Qcow2WriteResult {
  /** bytes in the finished file */
  fileSize: number;
  /** guest clusters stored as data */
  dataClusters: number;
  /** guest clusters written as zero clusters (only in an image with a backing file) */
  zeroClusters: number;
}

/** Appends of buffers at least this big go straight to the sink, without a copy. */
export const DIRECT_APPEND_BYTES = 1 << 20;
/** Smaller ones are copied into a buffer of this size, appended when full. */
export const COALESCE_BYTES = 4 << 20;

/** a virtual size is a whole number of these */
export const SECTOR = 512;
/** L2 slot values: 0 unallocated; ZERO_SLOT a zero cluster; anything else a host cluster number. */
const ZERO_SLOT = 0xffffffff;
const MAX_HOST_CLUSTER = 0xfffffffe;
/** metadata buffers are appended in pieces of at most this many clusters */
const METADATA_BATCH_CLUSTERS = 64;

export class Qcow2Writer {
  readonly virtualSize: number;
  readonly clusterSize = WRITE_CLUSTER_SIZE;
  readonly backingFile?: string;
  readonly backingFormat?: 'qcow2';
  private readonly detectZeroes: boolean;
  private readonly entriesPerL2 = entriesPerCluster(WRITE_CLUSTER_SIZE);
  private readonly guestClusters: number;
  private readonly l1Size: number;
  private readonly l2 = new Map<number, Uint32Array>();
  private readonly zeroCluster = Buffer.alloc(WRITE_CLUSTER_SIZE);
  /** the next host cluster to hand out; cluster 0 is the header */
  private nextHost = 1;
  private dataClusters = 0;
  private zeroClusters = 0;
  private pending: Buffer;
  private pendingLength: number;
  private tail: Promise<void> = Promise.resolve();
  private failure?: unknown;
  private closed = false;

  constructor(private readonly sink: ImageSink, opts: Qcow2WriterOptions) {
    const { virtualSize } = opts;
    if (!Number.isSafeInteger(virtualSize) || virtualSize < 0 || virtualSize % SECTOR !== 0) {
      // qemu truncates a size to whole sectors: the tail of any other size would be lost
      throw new Qcow2Error('argument', `virtual size ${virtualSize} is not a multiple of ${SECTOR} bytes`);
    }
    if (l1EntriesFor(virtualSize, WRITE_CLUSTER_SIZE) * 8 > MAX_L1_BYTES) throw new Qcow2Error('argument', `virtual size ${virtualSize} is too big for qcow2`);
    if (opts.clusterSize !== undefined && opts.clusterSize !== WRITE_CLUSTER_SIZE) {
      throw new Qcow2Error('argument', `cluster size ${String(opts.clusterSize)}: only ${WRITE_CLUSTER_SIZE} is written`);
    }
    if (sink.length !== 0) throw new Qcow2Error('argument', `the sink already holds ${sink.length} bytes; a qcow2 image starts at 0`);
    if (opts.backingFile !== undefined) {
      const name = opts.backingFile;
      if (name === '' || name.startsWith('/') || name.includes('\0') || Buffer.byteLength(name) > MAX_BACKING_FILE_NAME) {
        throw new Qcow2Error('argument', `backing file '${name}' must be a relative path of 1-${MAX_BACKING_FILE_NAME} bytes without NUL`);
      }
      if ((opts.backingFormat ?? 'qcow2') !== 'qcow2') throw new Qcow2Error('argument', `backing format '${String(opts.backingFormat)}' is not qcow2`);
      this.backingFile = name;
      this.backingFormat = 'qcow2';
    } else if (opts.backingFormat !== undefined) {
      throw new Qcow2Error('argument', 'a backing format without a backing file');
    }
    this.virtualSize = virtualSize;
    this.detectZeroes = opts.detectZeroes ?? false;
    this.guestClusters = Math.ceil(virtualSize / WRITE_CLUSTER_SIZE);
    this.l1Size = l1EntriesFor(virtualSize, WRITE_CLUSTER_SIZE);
    // cluster 0 is reserved as zeros: it is the start of the first append
    this.pending = Buffer.alloc(COALESCE_BYTES);
    this.pendingLength = WRITE_CLUSTER_SIZE;
  }

  /** bytes handed to the image so far (data clusters only) and the counts, for progress */
  get stats(): { dataClusters: number; zeroClusters: number; hostBytes: number } {
    return { dataClusters: this.dataClusters, zeroClusters: this.zeroClusters, hostBytes: this.nextHost * WRITE_CLUSTER_SIZE };
  }

  /**
   * Stores `data` at `guestOffset` (cluster-aligned). Its length is a multiple of the cluster
   * size unless it ends exactly at the virtual size. Calls may arrive in any guest order and
   * need not wait for each other, but must not overlap. Resolves when the data is in the sink
   * or copied into the coalescing buffer; `data` may then be reused.
   */
  writeData(guestOffset: number, data: Buffer, signal?: AbortSignal): Promise<void> {
    try {
      this.assertOpen();
      const count = this.checkRange('writeData', guestOffset, data.length);
      const first = guestOffset / WRITE_CLUSTER_SIZE;
      const zero = this.detectZeroes ? this.zeroMask(data, count) : undefined;
      for (let i = 0; i < count; i++) this.assertFree(first + i, 'writeData');
      if (count > 0 && this.nextHost + count > MAX_HOST_CLUSTER) throw new Qcow2Error('argument', 'the image file would pass 256 TiB');
      // mark the clusters and collect the runs of data to append, in host order
      const pieces: Buffer[] = [];
      let runStart = -1;
      for (let i = 0; i <= count; i++) {
        const isData = i < count && !zero?.[i];
        if (isData) {
          if (runStart < 0) runStart = i;
          this.slots(first + i)[(first + i) % this.entriesPerL2] = this.nextHost++;
          this.dataClusters += 1;
        } else {
          if (runStart >= 0) pieces.push(data.subarray(runStart * WRITE_CLUSTER_SIZE, i * WRITE_CLUSTER_SIZE));
          runStart = -1;
          if (i < count && this.backingFile !== undefined) this.markZero(first + i);
        }
      }
      const last = pieces.at(-1);
      if (last && last.length % WRITE_CLUSTER_SIZE !== 0) {
        // the partial last cluster of the guest: pad it with zeros (a copy of that cluster only)
        const whole = last.length - (last.length % WRITE_CLUSTER_SIZE);
        const padded = Buffer.alloc(WRITE_CLUSTER_SIZE);
        last.copy(padded, 0, whole);
        pieces.splice(pieces.length - 1, 1, ...(whole > 0 ? [last.subarray(0, whole)] : []), padded);
      }
      if (pieces.length === 0) return Promise.resolve();
      return this.enqueue(async () => {
        for (const piece of pieces) await this.append(piece, signal);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Marks guest clusters as reading zeros. In an overlay they become zero clusters that mask
   * the backing file; in an image without backing file the range stays unallocated (it reads
   * as zeros anyway) and is not checked for overlaps.
   */
  writeZero(guestOffset: number, length: number): void {
    this.assertOpen();
    const count = this.checkRange('writeZero', guestOffset, length);
    if (this.backingFile === undefined) return;
    const first = guestOffset / WRITE_CLUSTER_SIZE;
    for (let i = 0; i < count; i++) this.assertFree(first + i, 'writeZero');
    for (let i = 0; i < count; i++) this.markZero(first + i);
  }

  /**
   * Waits for the data writes, appends the metadata, then writes the header: the image is valid
   * from the moment this resolves. Afterwards every call rejects.
   */
  async finish(signal?: AbortSignal): Promise<Qcow2WriteResult> {
    this.assertOpen();
    this.closed = true;
    await this.tail;
    if (this.failure !== undefined) throw this.brokenError();
    try {
      return await this.writeMetadata(signal);
    } catch (e) {
      this.failure = e;
      throw e;
    }
  }

  private async writeMetadata(signal?: AbortSignal): Promise<Qcow2WriteResult> {
    const cs = WRITE_CLUSTER_SIZE;
    await this.flush(signal);
    if (this.sink.length !== this.nextHost * cs) {
      throw new Qcow2Error('io', `the sink holds ${this.sink.length} bytes, ${this.nextHost * cs} were appended`);
    }
    // which L2 tables are written: those with at least one non-zero entry, by L1 index
    const tables = [...this.l2.entries()].filter(([, t]) => t.some((v) => v !== 0)).sort((a, b) => a[0] - b[0]);
    const l2Start = this.nextHost;
    const l1Start = l2Start + tables.length;
    const l1Clusters = Math.ceil((this.l1Size * 8) / cs);
    const rcStart = l1Start + l1Clusters;
    const { blocks, tableClusters, total } = refcountFixedPoint(rcStart, cs, WRITE_REFCOUNT_ORDER);
    const rtStart = rcStart + blocks;

    // L2 tables
    await this.appendClusters(tables.length, signal, (buf, i) => {
      const slots = tables[i][1];
      for (let e = 0; e < slots.length; e++) {
        const v = slots[e];
        if (v === 0) continue;
        if (v === ZERO_SLOT) buf.writeUInt32BE(L2_ZERO_LO, e * 8 + 4);
        else putEntry(buf, e * 8, v * cs);
      }
    });
    // L1 table
    const l1 = Buffer.alloc(l1Clusters * cs);
    tables.forEach(([index], i) => putEntry(l1, index * 8, (l2Start + i) * cs));
    await this.appendPiecewise(l1, signal);
    // refcount blocks: every cluster of the file, these blocks and the table included, has refcount 1
    const perBlock = (cs * 8) >> WRITE_REFCOUNT_ORDER;
    const one = Buffer.from([0, 1]);
    await this.appendClusters(blocks, signal, (buf, k) => {
      const used = Math.min(perBlock, total - k * perBlock);
      buf.fill(one, 0, used * 2);
    });
    // refcount table
    const rt = Buffer.alloc(tableClusters * cs);
    for (let k = 0; k < blocks; k++) writeU64(rt, k * 8, (rcStart + k) * cs);
    await this.appendPiecewise(rt, signal);
    if (this.sink.length !== total * cs) throw new Qcow2Error('io', `the sink holds ${this.sink.length} bytes, ${total * cs} expected`);

    // last: the header
    const header = encodeHeader({
      size: this.virtualSize,
      l1Size: this.l1Size,
      l1TableOffset: l1Clusters > 0 ? l1Start * cs : 0,
      refcountTableOffset: rtStart * cs,
      refcountTableClusters: tableClusters,
      backingFile: this.backingFile,
      backingFormat: this.backingFormat,
    });
    signal?.throwIfAborted();
    await this.sink.writeAt(0, header, signal);
    return { fileSize: total * cs, dataClusters: this.dataClusters, zeroClusters: this.zeroClusters };
  }

  /** appends `count` metadata clusters built by `fill`, in batches */
  private async appendClusters(count: number, signal: AbortSignal | undefined, fill: (cluster: Buffer, i: number) => void): Promise<void> {
    const cs = WRITE_CLUSTER_SIZE;
    for (let i = 0; i < count; i += METADATA_BATCH_CLUSTERS) {
      const n = Math.min(METADATA_BATCH_CLUSTERS, count - i);
      const buf = Buffer.alloc(n * cs);
      for (let j = 0; j < n; j++) fill(buf.subarray(j * cs, (j + 1) * cs), i + j);
      await this.appendRaw(buf, signal);
    }
  }

  private async appendPiecewise(buf: Buffer, signal?: AbortSignal): Promise<void> {
    const step = METADATA_BATCH_CLUSTERS * WRITE_CLUSTER_SIZE;
    for (let at = 0; at < buf.length; at += step) await this.appendRaw(buf.subarray(at, at + step), signal);
  }

  private async appendRaw(buf: Buffer, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await this.sink.append(buf, signal);
  }

  /** appends one piece of data: big ones directly, small ones through the coalescing buffer */
  private async append(piece: Buffer, signal?: AbortSignal): Promise<void> {
    if (piece.length >= DIRECT_APPEND_BYTES) {
      await this.flush(signal);
      await this.appendRaw(piece, signal);
      return;
    }
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(piece.length - at, this.pending.length - this.pendingLength);
      piece.copy(this.pending, this.pendingLength, at, at + n);
      this.pendingLength += n;
      at += n;
      if (this.pendingLength === this.pending.length) await this.flush(signal);
    }
  }

  private async flush(signal?: AbortSignal): Promise<void> {
    if (this.pendingLength === 0) return;
    const full = this.pending.subarray(0, this.pendingLength);
    // the same buffer again afterwards: a sink keeps no reference once append resolves (port.ts)
    this.pendingLength = 0;
    await this.appendRaw(full, signal);
  }

  /** runs the I/O of calls in the order they were made; any failure breaks the writer for good */
  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.tail.then(() => {
      if (this.failure !== undefined) throw this.brokenError();
      return op();
    });
    this.tail = run.catch((e: unknown) => {
      this.failure ??= e;
    });
    return run;
  }

  private brokenError(): Qcow2Error {
    return new Qcow2Error('state', 'the image writer failed earlier; this image cannot be finished', { cause: this.failure });
  }

  private assertOpen(): void {
    if (this.failure !== undefined) throw this.brokenError();
    if (this.closed) throw new Qcow2Error('state', 'the image writer is finished');
  }

  /** validates a guest range and returns its number of clusters */
  private checkRange(what: string, offset: number, length: number): number {
    const cs = WRITE_CLUSTER_SIZE;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % cs !== 0) {
      throw new Qcow2Error('argument', `${what}: offset ${offset} is not a multiple of the cluster size ${cs}`);
    }
    const end = offset + length;
    if (end > this.virtualSize) throw new Qcow2Error('argument', `${what}: ${offset}+${length} passes the virtual size ${this.virtualSize}`);
    if (length % cs !== 0 && end !== this.virtualSize) {
      throw new Qcow2Error('argument', `${what}: length ${length} is not a multiple of the cluster size and does not end at the virtual size`);
    }
    return Math.ceil(length / cs);
  }

  private slots(cluster: number): Uint32Array {
    const index = Math.floor(cluster / this.entriesPerL2);
    let t = this.l2.get(index);
    if (!t) {
      t = new Uint32Array(this.entriesPerL2);
      this.l2.set(index, t);
    }
    return t;
  }

  private assertFree(cluster: number, what: string): void {
    const t = this.l2.get(Math.floor(cluster / this.entriesPerL2));
    if (t && t[cluster % this.entriesPerL2] !== 0) {
      throw new Qcow2Error('overlap', `${what}: guest cluster at ${cluster * WRITE_CLUSTER_SIZE} was already written`);
    }
  }

  private markZero(cluster: number): void {
    this.slots(cluster)[cluster % this.entriesPerL2] = ZERO_SLOT;
    this.zeroClusters += 1;
  }

  /** which of `count` clusters of `data` are all zeros */
  private zeroMask(data: Buffer, count: number): boolean[] {
    const cs = WRITE_CLUSTER_SIZE;
    const mask: boolean[] = [];
    for (let i = 0; i < count; i++) {
      const c = data.subarray(i * cs, (i + 1) * cs);
      mask.push(c.equals(c.length === cs ? this.zeroCluster : this.zeroCluster.subarray(0, c.length)));
    }
    return mask;
  }
}

/**
 * The refcount blocks and refcount table clusters for a file whose other clusters number
 * `before`: they count themselves, so iterate to the fixed point (docs/FORMAT-qcow2.md).
 */
export function refcountFixedPoint(before: number, clusterSize: number, refcountOrder: number): { blocks: number; tableClusters: number; total: number } {
  const perBlock = (clusterSize * 8) / 2 ** refcountOrder;
  const perTable = clusterSize / 8;
  let blocks = 0;
  let tableClusters = 0;
  for (;;) {
    const total = before + blocks + tableClusters;
    const b = Math.ceil(total / perBlock);
    const t = Math.ceil(b / perTable);
    if (b === blocks && t === tableClusters) return { blocks, tableClusters, total };
    blocks = b;
    tableClusters = t;
  }
}

/** an L1/L2 entry for a refcount-1 cluster: COPIED | offset */
function putEntry(buf: Buffer, at: number, offset: number): void {
  buf.writeUInt32BE((ENTRY_COPIED_HI | Math.floor(offset / 2 ** 32)) >>> 0, at);
  buf.writeUInt32BE(offset % 2 ** 32, at + 4);
}
