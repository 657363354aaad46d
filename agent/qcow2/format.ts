/**
 * @layer logic
 * qcow2 wire format: constants, the header codec and table-entry bit fields, shared by the
 * writer, the reader and the checker. The full story is docs/FORMAT-qcow2.md; the reference is
 * QEMU's docs/interop/qcow2.txt. All integers are big-endian.
 *
 * Header (v2 fields end at 72, v3 at 104; we write header_length 112 like qemu 7.2):
 *    0 u32 magic 'QFI\xfb'        4 u32 version (2|3)        8 u64 backing_file_offset
 *   16 u32 backing_file_size     20 u32 cluster_bits        24 u64 size (virtual, bytes)
 *   32 u32 crypt_method          36 u32 l1_size (entries)   40 u64 l1_table_offset
 *   48 u64 refcount_table_offset 56 u32 refcount_table_clusters
 *   60 u32 nb_snapshots          64 u64 snapshots_offset
 *   72 u64 incompatible_features 80 u64 compatible_features 88 u64 autoclear_features
 *   96 u32 refcount_order       100 u32 header_length      104 u8 compression_type (+7 pad)
 * Then header extensions {u32 type, u32 length, data padded to 8}, ending with type 0; the
 * backing file name (not NUL-terminated) anywhere in cluster 0, usually after them.
 *
 * L1 entry:  bits 9-55 L2 table offset, bit 63 COPIED (refcount 1), others reserved (0).
 * L2 entry (standard cluster): bit 0 reads-as-zero (v3), bits 9-55 host cluster offset,
 *   bit 62 compressed, bit 63 COPIED, bits 1-8 and 56-61 reserved (0).
 * Refcount table entry: bits 9-63 refcount block offset, bits 0-8 reserved.
 * Refcount block: one cluster of 2^refcount_order-bit refcounts, one per host cluster.
 * In code a 64-bit entry is handled as two u32 words: `hi` (bits 32-63) and `lo` (bits 0-31).
 */
import { Qcow2Error } from './errors.ts';

export const QCOW2_MAGIC = 0x514649fb;
export const HEADER_V2_LENGTH = 72;
export const HEADER_V3_MIN_LENGTH = 104;
/** what we write: the v3 fields plus compression_type and its padding */
export const HEADER_V3_WRITE_LENGTH = 112;
export const MAX_BACKING_FILE_NAME = 1023;
/** qemu's limits (QCOW_MAX_L1_SIZE, QCOW_MAX_REFTABLE_SIZE): bigger tables are corrupt */
export const MAX_L1_BYTES = 32 << 20;
export const MAX_REFTABLE_BYTES = 8 << 20;
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;

/** what the writer produces */
export const WRITE_CLUSTER_BITS = 16;
export const WRITE_CLUSTER_SIZE = 1 << WRITE_CLUSTER_BITS;
export const WRITE_REFCOUNT_ORDER = 4;

export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_FULL_DISK_ENCRYPTION = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION_TYPE = 1n << 3n;
export const INCOMPAT_EXTENDED_L2 = 1n << 4n;
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;
export const AUTOCLEAR_BITMAPS = 1n << 0n;

/** the feature name table qemu 7.2 writes: [type (0 incompatible, 1 compatible, 2 autoclear), bit, name] */
const FEATURE_NAMES: ReadonlyArray<readonly [number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];
const FEATURE_ENTRY_SIZE = 48;

const TWO32 = 2 ** 32;
export const ENTRY_COPIED_HI = 0x80000000;
export const L2_COMPRESSED_HI = 0x40000000;
export const L2_ZERO_LO = 0x1;
export const OFFSET_HI_MASK = 0x00ffffff;
export const OFFSET_LO_MASK = 0xfffffe00;
export const L1_RESERVED_HI = 0x7f000000;
export const L2_RESERVED_HI = 0x3f000000;
export const TABLE_RESERVED_LO = 0x000001fe;
export const REFTABLE_RESERVED_LO = 0x000001ff;

/** bits 9-55 of an L1/L2 entry as a byte offset */
export function entryOffset(hi: number, lo: number): number {
  return (hi & OFFSET_HI_MASK) * TWO32 + ((lo & OFFSET_LO_MASK) >>> 0);
}

/** a refcount table entry (bits 9-63) as a byte offset */
export function reftableOffset(hi: number, lo: number): number {
  return hi * TWO32 + ((lo & OFFSET_LO_MASK) >>> 0);
}

export function readU64(b: Buffer, at: number, what: string): number {
  const hi = b.readUInt32BE(at);
  if (hi >= 0x200000) throw new Qcow2Error('format', `${what} is 2^53 or larger`);
  return hi * TWO32 + b.readUInt32BE(at + 4);
}

export function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / TWO32), at);
  b.writeUInt32BE(v % TWO32, at + 4);
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

export interface HeaderExtension {
  type: number;
  /** byte offset of the extension's data in cluster 0 */
  offset: number;
  length: number;
}

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /** virtual size in bytes */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  backingFileOffset: number;
  backingFileSize: number;
  backingFile?: string;
  backingFormat?: string;
  extensions: HeaderExtension[];
}

/** entries of one L2 table (or refcount table cluster) for a cluster size */
export function entriesPerCluster(clusterSize: number): number {
  return clusterSize / 8;
}

/** guest bytes one L2 table maps */
export function l2Span(clusterSize: number): number {
  return clusterSize * entriesPerCluster(clusterSize);
}

/** the number of L1 entries a virtual size needs */
export function l1EntriesFor(size: number, clusterSize: number): number {
  return Math.ceil(size / l2Span(clusterSize));
}

const KNOWN_INCOMPAT = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2;

function bitList(v: bigint): string {
  const bits: number[] = [];
  for (let i = 0; i < 64; i++) if (v & (1n << BigInt(i))) bits.push(i);
  return bits.join(', ');
}

/**
 * Decodes the header from the start of cluster 0 (`buf` may be shorter than a cluster when the
 * file is). Refuses what the reader cannot read (see docs/FORMAT-qcow2.md, "What the reader
 * accepts"). A reader that fetched less than cluster 0 of a file with bigger clusters decodes
 * again once it has the whole cluster (the extensions and the backing file name live there).
 */
export function decodeHeader(buf: Buffer): Qcow2Header {
  if (buf.length < 4 || buf.readUInt32BE(0) !== QCOW2_MAGIC) {
    const blank = buf.subarray(0, Math.min(buf.length, 512)).every((x) => x === 0);
    throw new Qcow2Error(
      'not-qcow2',
      blank && buf.length > 0
        ? 'no qcow2 magic: the header is all zeros (an image whose writing never finished?)'
        : 'no qcow2 magic: not a qcow2 image',
    );
  }
  if (buf.length < HEADER_V2_LENGTH) throw new Qcow2Error('format', `the file is too short for a qcow2 header (${buf.length} bytes)`);
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new Qcow2Error('unsupported', `qcow2 version ${version} (only 2 and 3 are read)`);
  const clusterBits = buf.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new Qcow2Error('format', `cluster_bits ${clusterBits} outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  const clusterSize = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    clusterBits,
    clusterSize,
    backingFileOffset: readU64(buf, 8, 'backing_file_offset'),
    backingFileSize: buf.readUInt32BE(16),
    size: readU64(buf, 24, 'size'),
    cryptMethod: buf.readUInt32BE(32),
    l1Size: buf.readUInt32BE(36),
    l1TableOffset: readU64(buf, 40, 'l1_table_offset'),
    refcountTableOffset: readU64(buf, 48, 'refcount_table_offset'),
    refcountTableClusters: buf.readUInt32BE(56),
    nbSnapshots: buf.readUInt32BE(60),
    snapshotsOffset: readU64(buf, 64, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: HEADER_V2_LENGTH,
    compressionType: 0,
    extensions: [],
  };
  if (version === 3) {
    if (buf.length < HEADER_V3_MIN_LENGTH) throw new Qcow2Error('format', 'the file is too short for a qcow2 v3 header');
    h.incompatibleFeatures = buf.readBigUInt64BE(72);
    h.compatibleFeatures = buf.readBigUInt64BE(80);
    h.autoclearFeatures = buf.readBigUInt64BE(88);
    h.refcountOrder = buf.readUInt32BE(96);
    h.headerLength = buf.readUInt32BE(100);
    if (h.headerLength < HEADER_V3_MIN_LENGTH || h.headerLength % 8 !== 0 || h.headerLength > clusterSize) {
      throw new Qcow2Error('format', `header_length ${h.headerLength} is invalid`);
    }
    if (h.headerLength > HEADER_V3_MIN_LENGTH) {
      if (buf.length < h.headerLength) throw new Qcow2Error('format', 'the file ends inside the qcow2 header');
      h.compressionType = buf[104];
    }
    if (h.refcountOrder > 6) throw new Qcow2Error('format', `refcount_order ${h.refcountOrder} is larger than 6`);
  }
  if (h.cryptMethod !== 0) throw new Qcow2Error('unsupported', `the image is encrypted (crypt_method ${h.cryptMethod})`);
  const unknown = h.incompatibleFeatures & ~KNOWN_INCOMPAT;
  if (unknown) throw new Qcow2Error('unsupported', `unknown incompatible feature bits: ${bitList(unknown)}`);
  if (h.incompatibleFeatures & INCOMPAT_DATA_FILE) throw new Qcow2Error('unsupported', 'the image keeps its data in an external data file');
  if (h.incompatibleFeatures & INCOMPAT_EXTENDED_L2) throw new Qcow2Error('unsupported', 'the image uses extended L2 entries (subclusters)');
  if (h.l1Size * 8 > MAX_L1_BYTES) throw new Qcow2Error('format', `the L1 table of ${h.l1Size} entries is larger than ${MAX_L1_BYTES} bytes`);
  if (h.refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) {
    throw new Qcow2Error('format', `the refcount table of ${h.refcountTableClusters} clusters is larger than ${MAX_REFTABLE_BYTES} bytes`);
  }
  const needL1 = l1EntriesFor(h.size, clusterSize);
  if (h.l1Size < needL1) throw new Qcow2Error('format', `the L1 table has ${h.l1Size} entries, the virtual size needs ${needL1}`);
  if (h.l1TableOffset % clusterSize !== 0) throw new Qcow2Error('format', `the L1 table offset ${h.l1TableOffset} is not cluster-aligned`);
  if (h.refcountTableOffset % clusterSize !== 0) {
    throw new Qcow2Error('format', `the refcount table offset ${h.refcountTableOffset} is not cluster-aligned`);
  }

  // header extensions: from the end of the header to the backing file name (or the cluster's end)
  const limit = Math.min(buf.length, clusterSize);
  const extEnd = h.backingFileOffset > 0 && h.backingFileOffset < limit ? h.backingFileOffset : limit;
  let at = h.headerLength;
  while (at + 8 <= extEnd) {
    const type = buf.readUInt32BE(at);
    const length = buf.readUInt32BE(at + 4);
    if (type === EXT_END) break;
    if (at + 8 + length > extEnd) throw new Qcow2Error('format', `header extension 0x${type.toString(16)} runs past the end of cluster 0`);
    h.extensions.push({ type, offset: at + 8, length });
    if (type === EXT_BACKING_FORMAT) h.backingFormat = buf.toString('utf8', at + 8, at + 8 + length);
    if (type === EXT_FULL_DISK_ENCRYPTION) throw new Qcow2Error('unsupported', 'the image has a full disk encryption header');
    at += 8 + align8(length);
  }

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize > MAX_BACKING_FILE_NAME) throw new Qcow2Error('format', `backing file name of ${h.backingFileSize} bytes`);
    if (h.backingFileOffset + h.backingFileSize > limit) throw new Qcow2Error('format', 'the backing file name lies outside cluster 0');
    h.backingFile = buf.toString('utf8', h.backingFileOffset, h.backingFileOffset + h.backingFileSize);
  }
  return h;
}

export interface HeaderFields {
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  backingFile?: string;
  backingFormat?: string;
}

/** Encodes the header of the subset we write (docs/FORMAT-qcow2.md): v3, 64 KiB clusters. */
export function encodeHeader(f: HeaderFields): Buffer {
  const exts: Array<[number, Buffer]> = [];
  if (f.backingFormat !== undefined) exts.push([EXT_BACKING_FORMAT, Buffer.from(f.backingFormat, 'utf8')]);
  const table = Buffer.alloc(FEATURE_NAMES.length * FEATURE_ENTRY_SIZE);
  FEATURE_NAMES.forEach(([type, bit, name], i) => {
    table[i * FEATURE_ENTRY_SIZE] = type;
    table[i * FEATURE_ENTRY_SIZE + 1] = bit;
    table.write(name, i * FEATURE_ENTRY_SIZE + 2, 46, 'utf8');
  });
  exts.push([EXT_FEATURE_TABLE, table]);
  const name = f.backingFile === undefined ? undefined : Buffer.from(f.backingFile, 'utf8');
  const extBytes = exts.reduce((n, [, d]) => n + 8 + align8(d.length), 0) + 8;
  const nameAt = HEADER_V3_WRITE_LENGTH + extBytes;
  const total = nameAt + (name?.length ?? 0);
  if (total > WRITE_CLUSTER_SIZE) throw new Qcow2Error('argument', 'the header does not fit in cluster 0');
  const b = Buffer.alloc(align8(total));
  b.writeUInt32BE(QCOW2_MAGIC, 0);
  b.writeUInt32BE(3, 4);
  if (name) {
    writeU64(b, 8, nameAt);
    b.writeUInt32BE(name.length, 16);
  }
  b.writeUInt32BE(WRITE_CLUSTER_BITS, 20);
  writeU64(b, 24, f.size);
  b.writeUInt32BE(f.l1Size, 36);
  writeU64(b, 40, f.l1TableOffset);
  writeU64(b, 48, f.refcountTableOffset);
  b.writeUInt32BE(f.refcountTableClusters, 56);
  b.writeUInt32BE(WRITE_REFCOUNT_ORDER, 96);
  b.writeUInt32BE(HEADER_V3_WRITE_LENGTH, 100);
  let at = HEADER_V3_WRITE_LENGTH;
  for (const [type, data] of exts) {
    b.writeUInt32BE(type, at);
    b.writeUInt32BE(data.length, at + 4);
    data.copy(b, at + 8);
    at += 8 + align8(data.length);
  }
  at += 8; // end of extensions: type 0, length 0 (already zeros)
  name?.copy(b, at);
  return b;
}
