/**
 * @layer logic
 * The qcow2 reader: opens an image over the RandomAccess port (a local file, SFTP, memory),
 * maps guest ranges to data / zero / unallocated runs through the L1 and L2 tables, and reads
 * the guest view of one image or of a whole backing chain — for restore and verify without
 * qemu-img. What it accepts and refuses: docs/FORMAT-qcow2.md, "What the reader accepts".
 *
 * Speed: the L1 table is read at open, L2 tables on first use and kept in an LRU cache
 * (L2_CACHE_BYTES per image); a run of clusters that are contiguous in the file is read with
 * one request, and the requests of one read go out up to READ_CONCURRENCY at a time.
 */
import type { RandomAccess } from './port.ts';
import { Qcow2Error } from './errors.ts';
import {
  decodeHeader,
  entriesPerCluster,
  entryOffset,
  L2_COMPRESSED_HI,
  l2Span,
  L2_ZERO_LO,
  type Qcow2Header,
} from './format.ts';

export const L2_CACHE_BYTES = 32 << 20;
export const READ_CONCURRENCY = 8;
/** what is read first to find the header: enough for cluster 0 of images with 64 KiB clusters */
const HEADER_PROBE_BYTES = 65536;

/** A guest range of one image and what backs it. Runs are contiguous and in guest order. */
export type Qcow2Run =
  | { offset: number; length: number; kind: 'data'; hostOffset: number }
  | { offset: number; length: number; kind: 'zero' }
  | { offset: number; length: number; kind: 'unallocated' };

/** A guest range of a chain that some layer allocates; what no layer allocates is left out. */
export interface ChainExtent {
  offset: number;
  length: number;
  /** 'data': stored bytes (which may happen to be zeros); 'zero': a zero cluster masks what is below */
  kind: 'data' | 'zero';
}

/** Opens a qcow2 image: reads and checks the header and the L1 table. */
export async function openQcow2(ra: RandomAccess, signal?: AbortSignal): Promise<Qcow2Image> {
  let head = await ra.read(0, Math.min(ra.size, HEADER_PROBE_BYTES), signal);
  let header = decodeHeader(head);
  if (header.clusterSize > head.length && head.length < ra.size) {
    head = await ra.read(0, Math.min(ra.size, header.clusterSize), signal);
    header = decodeHeader(head);
  }
  const image = new Qcow2Image(ra, header);
  await image.loadL1(signal);
  return image;
}

export class Qcow2Image {
  readonly size: number;
  readonly clusterSize: number;
  readonly backingFile?: string;
  readonly backingFormat?: string;
  private l1: Buffer = Buffer.alloc(0);
  private readonly span: number;
  private readonly perL2: number;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly cacheEntries: number;

  constructor(private readonly ra: RandomAccess, readonly header: Qcow2Header) {
    this.size = header.size;
    this.clusterSize = header.clusterSize;
    this.backingFile = header.backingFile;
    this.backingFormat = header.backingFormat;
    this.span = l2Span(header.clusterSize);
    this.perL2 = entriesPerCluster(header.clusterSize);
    this.cacheEntries = Math.max(4, Math.floor(L2_CACHE_BYTES / header.clusterSize));
  }

  /** bytes in the image file */
  get fileSize(): number {
    return this.ra.size;
  }

  /** @internal used by openQcow2 */
  async loadL1(signal?: AbortSignal): Promise<void> {
    this.l1 = await this.readHost(this.header.l1TableOffset, this.header.l1Size * 8, signal);
  }

  /** What backs `[offset, offset+length)` of this image alone: data, zero or unallocated runs. */
  async map(offset: number, length: number, signal?: AbortSignal): Promise<Qcow2Run[]> {
    checkRange(offset, length, this.size);
    const cs = this.clusterSize;
    const zeroFlag = this.header.version === 3;
    const runs: Qcow2Run[] = [];
    const add = (at: number, n: number, kind: Qcow2Run['kind'], host: number) => {
      const last = runs.at(-1);
      if (last && last.kind === kind && (kind !== 'data' || (last.kind === 'data' && last.hostOffset + last.length === host))) {
        last.length += n;
      } else {
        runs.push(kind === 'data' ? { offset: at, length: n, kind, hostOffset: host } : { offset: at, length: n, kind });
      }
    };
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const index = Math.floor(pos / this.span);
      const tableEnd = Math.min(end, (index + 1) * this.span);
      const l2 = await this.l2Table(index, signal);
      if (!l2) {
        add(pos, tableEnd - pos, 'unallocated', 0);
        pos = tableEnd;
        continue;
      }
      while (pos < tableEnd) {
        const cluster = Math.floor(pos / cs);
        const e = (cluster % this.perL2) * 8;
        const n = Math.min(tableEnd, (cluster + 1) * cs) - pos;
        const hi = l2.readUInt32BE(e);
        const lo = l2.readUInt32BE(e + 4);
        if (hi & L2_COMPRESSED_HI) throw new Qcow2Error('unsupported', `compressed cluster at guest offset ${cluster * cs}`);
        const host = entryOffset(hi, lo);
        if (zeroFlag && lo & L2_ZERO_LO) add(pos, n, 'zero', 0);
        else if (host === 0) add(pos, n, 'unallocated', 0);
        else {
          if (host % cs !== 0) throw new Qcow2Error('format', `guest cluster at ${cluster * cs} maps to misaligned host offset ${host}`);
          add(pos, n, 'data', host + (pos % cs));
        }
        pos += n;
      }
    }
    return runs;
  }

  /** The guest view of this image alone: unallocated ranges read as zeros. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return readLayers([this], 0, offset, length, new Limiter(READ_CONCURRENCY), signal);
  }

  /** Bytes of the image file; what lies past its end reads as zeros (as in qemu). */
  async readHost(hostOffset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const avail = Math.max(0, Math.min(length, this.ra.size - hostOffset));
    if (avail === length) return this.ra.read(hostOffset, length, signal);
    const out = Buffer.alloc(length);
    if (avail > 0) (await this.ra.read(hostOffset, avail, signal)).copy(out);
    return out;
  }

  /** the L2 table of L1 entry `index`, or undefined when the entry is 0 */
  private l2Table(index: number, signal?: AbortSignal): Promise<Buffer> | undefined {
    const hi = this.l1.readUInt32BE(index * 8);
    const lo = this.l1.readUInt32BE(index * 8 + 4);
    const offset = entryOffset(hi, lo);
    if (offset === 0) return undefined;
    if (offset % this.clusterSize !== 0) throw new Qcow2Error('format', `L1 entry ${index} points to misaligned offset ${offset}`);
    let table = this.cache.get(index);
    if (table) {
      this.cache.delete(index); // LRU: move to the back
    } else {
      table = this.readHost(offset, this.clusterSize, signal);
      table.catch(() => this.cache.delete(index));
      if (this.cache.size >= this.cacheEntries) this.cache.delete(this.cache.keys().next().value as number);
    }
    this.cache.set(index, table);
    return table;
  }
}

/** A backing chain, top (the newest overlay) first, base (a full image) last. */
export class Qcow2Chain {
  readonly size: number;
  constructor(readonly layers: readonly Qcow2Image[]) {
    this.size = layers[0].size;
  }

  /** The guest view: unallocated falls through to the backing image; past the base, zeros. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return readLayers(this.layers, 0, offset, length, new Limiter(READ_CONCURRENCY), signal);
  }

  /** The ranges some layer allocates, merged, in guest order: data, or zero clusters masking below. */
  async extents(offset = 0, length = this.size - offset, signal?: AbortSignal): Promise<ChainExtent[]> {
    checkRange(offset, length, this.size);
    const out: ChainExtent[] = [];
    await extentsOf(this.layers, 0, offset, length, out, signal);
    return out;
  }
}

/** Stored bytes of one layer that the guest view reads: layer index (0 = top), guest and host offsets. */
export interface LayerRun {
  layer: number;
  offset: number;
  hostOffset: number;
  length: number;
}

/**
 * The stored data the guest view of `[offset, offset+length)` reads, in guest order: exactly the
 * host ranges `read` asks each layer for (zero clusters and what no layer allocates read nothing).
 * A restore plans sequential streams of each layer file from it.
 */
export async function chainDataRuns(chain: Qcow2Chain, offset = 0, length = chain.size - offset, signal?: AbortSignal): Promise<LayerRun[]> {
  checkRange(offset, length, chain.size);
  const out: LayerRun[] = [];
  const walk = async (i: number, at: number, n: number): Promise<void> => {
    const img = chain.layers[i];
    const inside = Math.max(0, Math.min(n, img.size - at));
    if (inside === 0) return;
    for (const r of await img.map(at, inside, signal)) {
      if (r.kind === 'data') out.push({ layer: i, offset: r.offset, hostOffset: r.hostOffset, length: r.length });
      else if (r.kind === 'unallocated' && i + 1 < chain.layers.length) await walk(i + 1, r.offset, r.length);
    }
  };
  await walk(0, offset, length);
  return out;
}

/**
 * Opens a chain from its files, top first. Every layer but the last must name a backing file
 * (of format qcow2 when it says), the last must have none. With `names` (each file's name as
 * its overlay refers to it), each layer's backing file name must be the next one's name.
 */
export async function openChain(files: readonly RandomAccess[], opts: { names?: readonly string[]; signal?: AbortSignal } = {}): Promise<Qcow2Chain> {
  if (files.length === 0) throw new Qcow2Error('argument', 'a chain needs at least one image');
  if (opts.names && opts.names.length !== files.length) throw new Qcow2Error('argument', `${files.length} files but ${opts.names.length} names`);
  const layers = await Promise.all(files.map((f) => openQcow2(f, opts.signal)));
  layers.forEach((img, i) => {
    const what = opts.names ? `'${opts.names[i]}'` : `layer ${i}`;
    if (i === layers.length - 1) {
      if (img.backingFile !== undefined) {
        throw new Qcow2Error('format', `the chain's base ${what} has backing file '${img.backingFile}': the chain is incomplete`);
      }
      return;
    }
    if (img.backingFile === undefined) throw new Qcow2Error('format', `${what} has no backing file but is not the chain's base`);
    if (img.backingFormat !== undefined && img.backingFormat !== 'qcow2') {
      throw new Qcow2Error('unsupported', `${what} has backing format '${img.backingFormat}'; only qcow2 chains are read`);
    }
    if (opts.names && img.backingFile !== opts.names[i + 1]) {
      throw new Qcow2Error('format', `${what} has backing file '${img.backingFile}', not '${opts.names[i + 1]}'`);
    }
  });
  return new Qcow2Chain(layers);
}

async function readLayers(
  layers: readonly Qcow2Image[],
  i: number,
  offset: number,
  length: number,
  limit: Limiter,
  signal?: AbortSignal,
): Promise<Buffer> {
  const img = layers[i];
  if (i === 0) checkRange(offset, length, img.size);
  // a backing image may be shorter than its overlay: past its end the guest reads zeros
  const inside = Math.max(0, Math.min(length, img.size - offset));
  const runs = inside > 0 ? await img.map(offset, inside, signal) : [];
  const only = runs.length === 1 && inside === length ? runs[0] : undefined;
  if (only?.kind === 'data') return limit.run(() => img.readHost(only.hostOffset, length, signal));
  if (only?.kind === 'unallocated' && i + 1 < layers.length) return readLayers(layers, i + 1, offset, length, limit, signal);
  const out = Buffer.alloc(length);
  await Promise.all(
    runs.map(async (r) => {
      let part: Buffer | undefined;
      if (r.kind === 'data') part = await limit.run(() => img.readHost(r.hostOffset, r.length, signal));
      else if (r.kind === 'unallocated' && i + 1 < layers.length) part = await readLayers(layers, i + 1, r.offset, r.length, limit, signal);
      part?.copy(out, r.offset - offset);
    }),
  );
  return out;
}

async function extentsOf(
  layers: readonly Qcow2Image[],
  i: number,
  offset: number,
  length: number,
  out: ChainExtent[],
  signal?: AbortSignal,
): Promise<void> {
  const img = layers[i];
  const inside = Math.max(0, Math.min(length, img.size - offset));
  if (inside === 0) return;
  for (const r of await img.map(offset, inside, signal)) {
    if (r.kind === 'unallocated') {
      if (i + 1 < layers.length) await extentsOf(layers, i + 1, r.offset, r.length, out, signal);
      continue;
    }
    const last = out.at(-1);
    if (last && last.kind === r.kind && last.offset + last.length === r.offset) last.length += r.length;
    else out.push({ offset: r.offset, length: r.length, kind: r.kind });
  }
}

function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new Qcow2Error('range', `guest range ${offset}+${length} outside the virtual size ${size}`);
  }
}

/** at most `max` of the wrapped operations at once */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}

  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.active += 1;
    try {
      return await op();
    } finally {
      // hand the slot to the next waiter, or give it back
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
