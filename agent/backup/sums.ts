/**
 * @layer logic
 * Block digests (docs/FORMAT.md, "Digests"): SHA-256 of every 1 MiB block of a disk's content at a
 * point, 32 bytes per block. An incremental starts from its parent's table and replaces the blocks
 * it re-read; a restore is checked against the table with nothing else.
 */
import { createHash } from 'node:crypto';

export const SUMS_BLOCK_SIZE = 1 << 20;
export const DIGEST_BYTES = 32;

export function blockCount(virtualSize: number, blockSize = SUMS_BLOCK_SIZE): number {
  return Math.ceil(virtualSize / blockSize);
}

export function sha256(data: Buffer | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Buffer | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const zeroDigests = new Map<number, Buffer>();
/** The digest of `length` zero bytes (memoized: holes are common). */
export function zeroDigest(length: number): Buffer {
  let d = zeroDigests.get(length);
  if (!d) {
    d = sha256(Buffer.alloc(length));
    zeroDigests.set(length, d);
  }
  return d;
}

export class SumsTable {
  readonly blocks: number;
  private readonly table: Buffer;

  constructor(readonly virtualSize: number, readonly blockSize = SUMS_BLOCK_SIZE, from?: Buffer) {
    this.blocks = blockCount(virtualSize, blockSize);
    if (from && from.length !== this.blocks * DIGEST_BYTES) {
      throw new Error(`[sums] table of ${from.length} bytes does not fit ${this.blocks} blocks of ${blockSize} (disk ${virtualSize} bytes)`);
    }
    this.table = from ? Buffer.from(from) : Buffer.alloc(this.blocks * DIGEST_BYTES);
    if (!from && this.blocks > 0) {
      // the digest of a zero block in every slot (one fill, not a million sets), the last block's own
      this.table.fill(zeroDigest(blockSize));
      this.set(this.blocks - 1, zeroDigest(this.blockLength(this.blocks - 1)));
    }
  }

  /** The table of a disk whose size changed: blocks past the old end read as zeros. */
  static resized(old: SumsTable, virtualSize: number): SumsTable {
    const t = new SumsTable(virtualSize, old.blockSize);
    for (let i = 0; i < Math.min(old.blocks, t.blocks); i++) {
      if (old.blockLength(i) === t.blockLength(i)) t.set(i, old.get(i));
    }
    return t;
  }

  blockLength(i: number): number {
    return Math.min(this.blockSize, this.virtualSize - i * this.blockSize);
  }

  get(i: number): Buffer {
    return this.table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
  }

  set(i: number, digest: Buffer): void {
    if (i < 0 || i >= this.blocks) throw new RangeError(`[sums] block ${i} outside 0..${this.blocks - 1}`);
    digest.copy(this.table, i * DIGEST_BYTES);
  }

  toBuffer(): Buffer {
    return this.table;
  }

  /** content_sha256 in the manifest */
  contentSha256(): string {
    return sha256Hex(this.table);
  }

  /** Indices of the blocks whose digests differ. */
  diff(other: SumsTable): number[] {
    const out: number[] = [];
    const n = Math.max(this.blocks, other.blocks);
    for (let i = 0; i < n; i++) {
      if (i >= this.blocks || i >= other.blocks || !this.get(i).equals(other.get(i))) out.push(i);
    }
    return out;
  }
}
