/**
 * @layer logic
 * checkQcow2: a strict structural check of one qcow2 image, for verification where qemu-img is
 * not installed (a repository host reached over SSH). It counts every reference to every
 * cluster (header, refcount table and blocks, L1, L2 tables, data) and compares the counts
 * with the stored refcounts; it checks alignment, ranges, COPIED flags, reserved bits and
 * mappings past the virtual size. The invariants are docs/FORMAT-qcow2.md's; an image Qcow2Writer
 * wrote has no problem, and neither has a plain image qemu-img made. Internal snapshots and
 * bitmaps are reported as unsupported rather than followed.
 */
import type { RandomAccess } from './port.ts';
import { Qcow2Error } from './errors.ts';
import { openQcow2, type Qcow2Image } from './reader.ts';
import {
  AUTOCLEAR_BITMAPS,
  ENTRY_COPIED_HI,
  entriesPerCluster,
  entryOffset,
  EXT_BITMAPS,
  INCOMPAT_CORRUPT,
  INCOMPAT_DIRTY,
  L1_RESERVED_HI,
  L2_COMPRESSED_HI,
  L2_RESERVED_HI,
  l2Span,
  REFTABLE_RESERVED_LO,
  reftableOffset,
  TABLE_RESERVED_LO,
  type Qcow2Header,
} from './format.ts';

export type Qcow2ProblemCode =
  /** the header cannot be read */
  | 'header'
  /** a feature the check does not follow (snapshots, bitmaps, compressed clusters, …) */
  | 'unsupported'
  /** the dirty or corrupt bit is set */
  | 'feature'
  /** a stored refcount differs from the number of references (qemu-img: corruption) */
  | 'refcount'
  /** a cluster has a refcount but nothing uses it (qemu-img: leak) */
  | 'leak'
  /** a cluster inside the file that nothing uses and nothing counts */
  | 'unused'
  /** two references to one cluster */
  | 'overlap'
  /** an offset or a refcount past the end of the file */
  | 'range'
  | 'alignment'
  /** a COPIED flag that disagrees with the refcount */
  | 'copied'
  | 'reserved'
  /** an L1/L2 entry for guest space past the virtual size */
  | 'mapping';

export interface Qcow2Problem {
  code: Qcow2ProblemCode;
  message: string;
}

export interface CheckOptions {
  signal?: AbortSignal;
  /** problems listed before the rest are summarised in one last entry; default 100 */
  maxProblems?: number;
  /**
   * Accept clusters inside the file that nothing uses and nothing counts. qemu leaves such free
   * clusters behind (freed after a zero write, a discard, a snapshot deletion); Sendense's
   * writer never does, so by default they are reported ('unused').
   */
  allowFreeClusters?: boolean;
}

/** what uses a cluster, for messages */
const USES = ['nothing', 'the header', 'the refcount table', 'a refcount block', 'the L1 table', 'an L2 table', 'guest data'] as const;
const HEADER = 1;
const REFTABLE = 2;
const REFBLOCK = 3;
const L1 = 4;
const L2 = 5;
const DATA = 6;
/** tables contiguous in the file are fetched together, up to this many bytes per request */
const GROUP_READ_BYTES = 8 << 20;

/** Checks an image; resolves with its problems, [] for a sound image. Rejects only on I/O errors. */
export async function checkQcow2(ra: RandomAccess, opts: CheckOptions = {}): Promise<Qcow2Problem[]> {
  const { signal } = opts;
  let image: Qcow2Image;
  try {
    image = await openQcow2(ra, signal);
  } catch (e) {
    if (e instanceof Qcow2Error && ['not-qcow2', 'format', 'unsupported'].includes(e.code)) {
      return [{ code: e.code === 'unsupported' ? 'unsupported' : 'header', message: e.message }];
    }
    throw e;
  }
  const c = new Checker(image, ra.size, opts.maxProblems ?? 100, opts.allowFreeClusters ?? false);
  await c.run(signal);
  return c.result();
}

class Checker {
  private readonly h: Qcow2Header;
  private readonly cs: number;
  private readonly fileClusters: number;
  private readonly used: Uint8Array;
  private readonly owner: Uint8Array;
  private readonly stored: Uint16Array;
  private readonly problems: Qcow2Problem[] = [];
  private dropped = 0;

  constructor(
    private readonly img: Qcow2Image,
    fileSize: number,
    private readonly max: number,
    private readonly allowFree: boolean,
  ) {
    this.h = img.header;
    this.cs = img.clusterSize;
    this.fileClusters = Math.ceil(fileSize / this.cs);
    this.used = new Uint8Array(this.fileClusters);
    this.owner = new Uint8Array(this.fileClusters);
    this.stored = new Uint16Array(this.fileClusters);
  }

  result(): Qcow2Problem[] {
    if (this.dropped > 0) return [...this.problems, { code: this.problems.at(-1)!.code, message: `[qcow2] … and ${this.dropped} more problems` }];
    return this.problems;
  }

  async run(signal?: AbortSignal): Promise<void> {
    const h = this.h;
    if (h.incompatibleFeatures & INCOMPAT_DIRTY) this.report('feature', 'the dirty bit is set: refcounts may be stale');
    if (h.incompatibleFeatures & INCOMPAT_CORRUPT) this.report('feature', 'the corrupt bit is set');
    if (h.nbSnapshots > 0) this.report('unsupported', `${h.nbSnapshots} internal snapshots: their tables are not checked`);
    if (h.autoclearFeatures & AUTOCLEAR_BITMAPS || h.extensions.some((x) => x.type === EXT_BITMAPS)) {
      this.report('unsupported', 'persistent bitmaps: their clusters are not checked');
    }
    this.ref(0, this.cs, HEADER, 'the header');
    await this.readRefcounts(signal);
    await this.walkTables(signal);
    this.compare();
  }

  private report(code: Qcow2ProblemCode, message: string): void {
    if (this.problems.length < this.max) this.problems.push({ code, message: `[qcow2] ${message}` });
    else this.dropped += 1;
  }

  /** counts one reference to the clusters of [offset, offset+bytes); false when past the file */
  private ref(offset: number, bytes: number, use: number, what: string): boolean {
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + Math.max(bytes, 1) - 1) / this.cs);
    if (last >= this.fileClusters) {
      this.report('range', `${what} at ${offset} (+${bytes}) lies past the end of the file (${this.fileClusters} clusters)`);
      return false;
    }
    for (let c = first; c <= last; c++) {
      if (this.used[c] > 0) this.report('overlap', `cluster ${c} (offset ${c * this.cs}) is used by ${USES[this.owner[c]]} and again by ${what}`);
      else this.owner[c] = use;
      if (this.used[c] < 255) this.used[c] += 1;
    }
    return true;
  }

  private aligned(offset: number, what: string): boolean {
    if (offset % this.cs === 0) return true;
    this.report('alignment', `${what} at ${offset} is not cluster-aligned`);
    return false;
  }

  private async readRefcounts(signal?: AbortSignal): Promise<void> {
    const h = this.h;
    const tableBytes = h.refcountTableClusters * this.cs;
    if (tableBytes === 0) {
      this.report('refcount', 'the refcount table is empty');
      return;
    }
    if (!this.ref(h.refcountTableOffset, tableBytes, REFTABLE, 'the refcount table')) return;
    const table = await this.img.readHost(h.refcountTableOffset, tableBytes, signal);
    const perBlock = (this.cs * 8) >> h.refcountOrder;
    const blocks: Array<{ key: number; offset: number }> = [];
    for (let k = 0; k < tableBytes / 8; k++) {
      const hi = table.readUInt32BE(k * 8);
      const lo = table.readUInt32BE(k * 8 + 4);
      if (lo & REFTABLE_RESERVED_LO) this.report('reserved', `refcount table entry ${k} has reserved bits set`);
      const offset = reftableOffset(hi, lo);
      if (offset === 0) continue;
      if (!this.aligned(offset, `refcount block ${k}`)) continue;
      if (this.ref(offset, this.cs, REFBLOCK, `refcount block ${k}`)) blocks.push({ key: k, offset });
    }
    let beyond = 0;
    await readGrouped(this.img, blocks, this.cs, signal, (k, block) => {
      const base = k * perBlock;
      for (let j = 0; j < perBlock; j++) {
        const rc = refcountAt(block, j, h.refcountOrder);
        if (rc === 0) continue;
        if (base + j >= this.fileClusters) beyond += 1;
        else this.stored[base + j] = Math.min(rc, 0xffff);
      }
    });
    if (beyond > 0) this.report('range', `${beyond} clusters past the end of the file have a refcount`);
  }

  private storedOf(offset: number): number {
    return this.stored[Math.floor(offset / this.cs)] ?? 0;
  }

  private copiedMatches(hi: number, offset: number, what: string): void {
    const copied = (hi & ENTRY_COPIED_HI) !== 0;
    const rc = this.storedOf(offset);
    if (copied !== (rc === 1)) this.report('copied', `${what}: COPIED flag ${copied ? 'set' : 'clear'} but refcount ${rc}`);
  }

  private async walkTables(signal?: AbortSignal): Promise<void> {
    const h = this.h;
    const cs = this.cs;
    const perL2 = entriesPerCluster(cs);
    const neededL1 = Math.ceil(h.size / l2Span(cs));
    const guestClusters = Math.ceil(h.size / cs);
    if (h.l1Size > 0 && !this.ref(h.l1TableOffset, h.l1Size * 8, L1, 'the L1 table')) return;
    const l1 = await this.img.readHost(h.l1TableOffset, h.l1Size * 8, signal);
    const tables: Array<{ key: number; offset: number }> = [];
    for (let i = 0; i < h.l1Size; i++) {
      const hi = l1.readUInt32BE(i * 8);
      const lo = l1.readUInt32BE(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      if (hi & L1_RESERVED_HI || lo & REFTABLE_RESERVED_LO) this.report('reserved', `L1 entry ${i} has reserved bits set`);
      const offset = entryOffset(hi, lo);
      if (offset === 0) {
        if (hi & ENTRY_COPIED_HI) this.report('copied', `L1 entry ${i} is unallocated but has the COPIED flag`);
        continue;
      }
      if (i >= neededL1) this.report('mapping', `L1 entry ${i} maps guest space past the virtual size`);
      if (!this.aligned(offset, `the L2 table of L1 entry ${i}`)) continue;
      if (!this.ref(offset, cs, L2, `the L2 table of L1 entry ${i}`)) continue;
      this.copiedMatches(hi, offset, `L1 entry ${i}`);
      tables.push({ key: i, offset });
    }
    let compressed = 0;
    const reservedLo = h.version === 3 ? TABLE_RESERVED_LO : REFTABLE_RESERVED_LO;
    await readGrouped(this.img, tables, cs, signal, (i, table) => {
      for (let e = 0; e < perL2; e++) {
        const hi = table.readUInt32BE(e * 8);
        const lo = table.readUInt32BE(e * 8 + 4);
        if (hi === 0 && lo === 0) continue;
        const guest = (i * perL2 + e) * cs;
        const what = `the L2 entry of guest offset ${guest}`;
        if (i * perL2 + e >= guestClusters) this.report('mapping', `${what} lies past the virtual size ${h.size}`);
        if (hi & L2_COMPRESSED_HI) {
          compressed += 1;
          continue;
        }
        if (hi & L2_RESERVED_HI || lo & reservedLo) this.report('reserved', `${what} has reserved bits set`);
        const offset = entryOffset(hi, lo);
        if (offset === 0) {
          if (hi & ENTRY_COPIED_HI) this.report('copied', `${what} is unallocated or zero but has the COPIED flag`);
          continue;
        }
        if (!this.aligned(offset, `the data cluster of guest offset ${guest}`)) continue;
        if (!this.ref(offset, cs, DATA, `the data cluster of guest offset ${guest}`)) continue;
        this.copiedMatches(hi, offset, what);
      }
    });
    if (compressed > 0) this.report('unsupported', `${compressed} compressed clusters: not checked`);
  }

  private compare(): void {
    for (let c = 0; c < this.fileClusters; c++) {
      const s = this.stored[c];
      const u = this.used[c];
      if (s === u) {
        if (u === 0 && !this.allowFree) this.report('unused', `cluster ${c} (offset ${c * this.cs}) is neither used nor counted`);
        continue;
      }
      if (u === 0) this.report('leak', `cluster ${c} (offset ${c * this.cs}) has refcount ${s} but nothing uses it`);
      else this.report('refcount', `cluster ${c} (offset ${c * this.cs}, ${USES[this.owner[c]]}) has refcount ${s} but ${u} references`);
    }
  }
}

/** reads one-cluster tables, fetching runs of contiguous ones with one request */
async function readGrouped(
  img: Qcow2Image,
  tables: Array<{ key: number; offset: number }>,
  cs: number,
  signal: AbortSignal | undefined,
  each: (key: number, table: Buffer) => void,
): Promise<void> {
  const sorted = [...tables].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j].offset === sorted[j - 1].offset + cs && (j - i + 1) * cs <= GROUP_READ_BYTES) j++;
    const buf = await img.readHost(sorted[i].offset, (j - i) * cs, signal);
    for (let k = i; k < j; k++) each(sorted[k].key, buf.subarray((k - i) * cs, (k - i + 1) * cs));
    i = j;
  }
}

/** refcount j of a refcount block, for refcount_order 0..6 (entries narrower than a byte: LSB first) */
function refcountAt(block: Buffer, j: number, order: number): number {
  switch (order) {
    case 0:
      return (block[j >> 3] >> (j & 7)) & 1;
    case 1:
      return (block[j >> 2] >> (2 * (j & 3))) & 3;
    case 2:
      return (block[j >> 1] >> (4 * (j & 1))) & 15;
    case 3:
      return block[j];
    case 4:
      return block.readUInt16BE(j * 2);
    case 5:
      return block.readUInt32BE(j * 4);
    default: {
      const hi = block.readUInt32BE(j * 8);
      return hi > 0 ? 0xffffffff : block.readUInt32BE(j * 8 + 4);
    }
  }
}
