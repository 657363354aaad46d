/**
 * @layer logic
 * What to read and write for one disk, block by block (1 MiB digest blocks, 64 KiB clusters):
 * - full: every block that is not all zero per base:allocation is read and hashed; its clusters are
 *   written as data (all-zero clusters are left out by the writer).
 * - incremental: blocks without a dirty cluster keep the parent's digest and are not read; a block
 *   with dirty clusters is read whole to hash it (unless it is all zero), its dirty clusters are written — as zero
 *   clusters where base:allocation says they read as zero (masking the backing), else as data.
 * Skipping holes is what intersecting with base:allocation buys: zero ranges are never read.
 */
import { DIRTY, STATE_ZERO, type Extent } from '../blocksource/port.ts';

export interface Range { start: number; end: number }

export interface BlockStep {
  index: number;
  offset: number;
  length: number;
  /** read the block from the source and hash it */
  read: boolean;
  /** cluster-aligned ranges (absolute) to write as data */
  data: Range[];
  /** cluster-aligned ranges (absolute) to write as zero clusters */
  zero: Range[];
}

export interface CopyPlanInput {
  virtualSize: number;
  blockSize: number;
  clusterSize: number;
  /** base:allocation extents (flags bit 1 = reads as zero); empty means "assume data everywhere" */
  allocation: readonly Extent[];
  /** dirty-bitmap extents (flags bit 0 = dirty); undefined for a full backup */
  dirty?: readonly Extent[];
  /**
   * Leave out the blocks with nothing to do — all-zero blocks of a full, clean blocks of an
   * incremental — and jump over runs of them: the plan then costs what changed, not the disk's
   * size (a 1 TiB disk has 1,048,576 blocks).
   */
  skipIdle?: boolean;
}

/** Merged sorted intervals of the extents whose flags satisfy pred. */
export function intervals(extents: readonly Extent[], pred: (flags: number) => boolean): Range[] {
  const out: Range[] = [];
  for (const e of [...extents].sort((a, b) => a.offset - b.offset)) {
    if (!pred(e.flags) || e.length <= 0) continue;
    const last = out[out.length - 1];
    if (last && last.end >= e.offset) last.end = Math.max(last.end, e.offset + e.length);
    else out.push({ start: e.offset, end: e.offset + e.length });
  }
  return out;
}

class Cursor {
  private i = 0;
  constructor(private readonly r: Range[]) {}
  /** the start of the first interval ending after s (Infinity when none) */
  nextAfter(s: number): number {
    while (this.i < this.r.length && this.r[this.i].end <= s) this.i++;
    return this.i < this.r.length ? Math.max(s, this.r[this.i].start) : Infinity;
  }
  /** where the interval covering s ends (s when none covers it) */
  coverEnd(s: number): number {
    while (this.i < this.r.length && this.r[this.i].end <= s) this.i++;
    const r = this.r[this.i];
    return r && r.start <= s ? r.end : s;
  }
  /** parts of [s,e) covered by the intervals (s only grows between calls) */
  overlap(s: number, e: number): Range[] {
    while (this.i < this.r.length && this.r[this.i].end <= s) this.i++;
    const out: Range[] = [];
    for (let j = this.i; j < this.r.length && this.r[j].start < e; j++) {
      out.push({ start: Math.max(s, this.r[j].start), end: Math.min(e, this.r[j].end) });
    }
    return out;
  }
}

function covered(parts: Range[], s: number, e: number): boolean {
  let at = s;
  for (const p of parts) {
    if (p.start > at) return false;
    at = Math.max(at, p.end);
  }
  return at >= e;
}

function pushRange(list: Range[], start: number, end: number): void {
  const last = list[list.length - 1];
  if (last && last.end === start) last.end = end;
  else list.push({ start, end });
}

export function* copyPlan(input: CopyPlanInput): Generator<BlockStep> {
  const { virtualSize, blockSize, clusterSize } = input;
  if (blockSize % clusterSize !== 0) throw new Error('[plan] block size must be a multiple of the cluster size');
  const zero = new Cursor(intervals(input.allocation, (f) => (f & STATE_ZERO) !== 0));
  const dirty = input.dirty ? new Cursor(intervals(input.dirty, (f) => (f & DIRTY) !== 0)) : undefined;
  const blocks = Math.ceil(virtualSize / blockSize);
  for (let b = 0; b < blocks; b++) {
    let bs = b * blockSize;
    if (input.skipIdle) {
      // the first block at or after b with work: not all zero (full), or with a dirty byte (incremental)
      const from = dirty ? dirty.nextAfter(bs) : Math.floor(zero.coverEnd(bs) / blockSize) * blockSize;
      if (from >= virtualSize) return;
      b = Math.max(b, Math.floor(from / blockSize));
      bs = b * blockSize;
    }
    const be = Math.min(virtualSize, bs + blockSize);
    const zparts = zero.overlap(bs, be);
    const blockZero = covered(zparts, bs, be);
    const step: BlockStep = { index: b, offset: bs, length: be - bs, read: false, data: [], zero: [] };
    if (!dirty) {
      if (!blockZero) {
        step.read = true;
        pushRange(step.data, bs, be);
      } else if (input.skipIdle) continue;
      yield step;
      continue;
    }
    const dparts = dirty.overlap(bs, be);
    if (dparts.length === 0) { yield step; continue; }
    // dirty clusters of this block
    const zc = new Cursor(zparts);
    for (let c = bs; c < be; c += clusterSize) {
      const ce = Math.min(be, c + clusterSize);
      if (!dparts.some((p) => p.start < ce && p.end > c)) continue;
      if (covered(zc.overlap(c, ce), c, ce)) pushRange(step.zero, c, ce);
      else pushRange(step.data, c, ce);
    }
    // the block's digest needs its content unless it is all zero (a zero write next to data included)
    step.read = !blockZero;
    yield step;
  }
}
