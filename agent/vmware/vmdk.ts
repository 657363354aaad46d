/**
 * @layer logic
 * VMDK structures (VMware "Virtual Disk Format 5.0"), pure over bytes and text:
 * - the text descriptor (a separate `.vmdk` file, or embedded in a sparse extent): createType,
 *   CID/parentCID, parentFileNameHint, extents `RW <sectors> FLAT|SPARSE|VMFS… "<file>" [offset]`,
 *   ddb.* entries;
 * - the sparse extent header (`KDMV`, little-endian SparseExtentHeader) of monolithicSparse and
 *   streamOptimized disks, and the checks that tell a whole sparse file from a cut-short or
 *   damaged one (grain tables and grains inside the file; streamOptimized's footer and
 *   end-of-stream marker at the end).
 */
export const SECTOR = 512;
export const SPARSE_MAGIC = 0x564d444b; // 'KDMV'
export const GD_AT_END = 0xffffffffffffffffn;
export const FLAG_COMPRESSED = 1 << 16;
export const FLAG_MARKERS = 1 << 17;

export interface VmdkExtent {
  access: string;
  sectors: number;
  type: string;
  file: string;
  offset: number;
}

export interface VmdkDescriptor {
  createType: string;
  cid: string | null;
  parentCid: string | null;
  parentFileNameHint: string | null;
  extents: VmdkExtent[];
  ddb: Record<string, string>;
  /** bytes: the sum of the extents */
  capacity: number;
}

export class VmdkFormatError extends Error {
  override name = 'VmdkFormatError';
}

const EXTENT = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(FLAT|SPARSE|ZERO|VMFS|VMFSSPARSE|VMFSRDM|VMFSRAW|SESPARSE)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/i;

export function parseDescriptor(textIn: string): VmdkDescriptor {
  const kv: Record<string, string> = {};
  const ddb: Record<string, string> = {};
  const extents: VmdkExtent[] = [];
  for (const raw of textIn.split(/\r?\n/)) {
    const line = raw.replace(/\0+$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    const e = EXTENT.exec(line);
    if (e) {
      extents.push({ access: e[1].toUpperCase(), sectors: Number(e[2]), type: e[3].toUpperCase(), file: e[4] ?? '', offset: Number(e[5] ?? 0) });
      continue;
    }
    const m = /^([\w.:-]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (!m) throw new VmdkFormatError(`descriptor line ${JSON.stringify(line.slice(0, 80))} is neither 'key = value' nor an extent`);
    if (m[1].startsWith('ddb.')) ddb[m[1]] = m[2];
    else kv[m[1]] = m[2];
  }
  if (!kv.createType) throw new VmdkFormatError("the descriptor has no createType (not a VMDK descriptor)");
  if (!extents.length) throw new VmdkFormatError('the descriptor lists no extent');
  const parentCid = kv.parentCID && kv.parentCID.toLowerCase() !== 'ffffffff' ? kv.parentCID : null;
  return {
    createType: kv.createType, cid: kv.CID ?? null, parentCid, parentFileNameHint: kv.parentFileNameHint || null,
    extents, ddb, capacity: extents.reduce((n, x) => n + x.sectors * SECTOR, 0),
  };
}

export interface SparseHeader {
  version: number;
  flags: number;
  /** sectors */
  capacity: number;
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  gdOffset: bigint;
  overHead: number;
  compressAlgorithm: number;
}

/** Parses the first 512 bytes of a sparse extent; undefined when the magic is not 'KDMV'. */
export function parseSparseHeader(b: Buffer): SparseHeader | undefined {
  if (b.length < SECTOR) throw new VmdkFormatError(`a sparse header needs ${SECTOR} bytes, the file has ${b.length}`);
  if (b.readUInt32LE(0) !== SPARSE_MAGIC) return undefined;
  const num = (off: number) => Number(b.readBigUInt64LE(off));
  return {
    version: b.readUInt32LE(4), flags: b.readUInt32LE(8), capacity: num(12), grainSize: num(20),
    descriptorOffset: num(28), descriptorSize: num(36), numGTEsPerGT: b.readUInt32LE(44),
    gdOffset: b.readBigUInt64LE(56), overHead: num(64), compressAlgorithm: b.readUInt16LE(77),
  };
}

/** Problems of a header read from a file of `fileSize` bytes (empty: fine). */
export function sparseHeaderProblems(h: SparseHeader, fileSize: number): string[] {
  const p: string[] = [];
  if (h.version < 1 || h.version > 3) p.push(`sparse header version ${h.version} (1–3 are defined)`);
  if (h.capacity <= 0) p.push('capacity 0');
  if (h.grainSize < 8 || (h.grainSize & (h.grainSize - 1)) !== 0) p.push(`grain size ${h.grainSize} sectors is not a power of two ≥ 8`);
  if (h.numGTEsPerGT !== 512 && h.version !== 3) p.push(`numGTEsPerGT ${h.numGTEsPerGT} (VMware writes 512)`);
  if (h.descriptorOffset && (h.descriptorOffset + h.descriptorSize) * SECTOR > fileSize) p.push('the embedded descriptor lies past the end of the file (cut short)');
  if (h.overHead * SECTOR > fileSize) p.push(`the metadata area ends at ${h.overHead * SECTOR} bytes, past the end of the file (${fileSize} bytes): cut short`);
  return p;
}

export const isStreamOptimized = (h: SparseHeader) => (h.flags & FLAG_COMPRESSED) !== 0 && (h.flags & FLAG_MARKERS) !== 0;

/** Number of grain directory entries. */
export function gdEntries(h: SparseHeader): number {
  return Math.ceil(h.capacity / (h.grainSize * h.numGTEsPerGT));
}

/**
 * A sparse file (monolithicSparse, or a streamOptimized one with its grain directory offset in
 * the header, as qemu-img writes it) is whole when every grain table and every grain it points at lies
 * inside the file. `gd` is the grain directory, `gt(i)` grain table i (both little-endian uint32
 * sector numbers).
 */
export function sparseTableProblems(h: SparseHeader, fileSize: number, gd: Buffer, gts: Buffer[]): string[] {
  const sectors = Math.floor(fileSize / SECTOR);
  const compressed = (h.flags & FLAG_COMPRESSED) !== 0;
  const p: string[] = [];
  for (let i = 0; i < gts.length; i++) {
    const gtSector = gd.readUInt32LE(i * 4);
    if (gtSector === 0) continue;
    if (gtSector + Math.ceil((h.numGTEsPerGT * 4) / SECTOR) > sectors) { p.push(`grain table ${i} at sector ${gtSector} lies past the end of the file (${sectors} sectors): cut short`); continue; }
    const gt = gts[i];
    for (let j = 0; j < h.numGTEsPerGT; j++) {
      const g = gt.readUInt32LE(j * 4);
      // a compressed grain (streamOptimized) starts with its marker and takes at least one sector
      if (g > 1 && g + (compressed ? 1 : h.grainSize) > sectors) {
        p.push(`grain ${i * h.numGTEsPerGT + j} at sector ${g} lies past the end of the file (${sectors} sectors): cut short`);
        return p;
      }
    }
  }
  return p;
}

/**
 * A streamOptimized file whose header says its grain directory is at the end (GD_AT_END, as
 * VMware writes a stream) ends with a footer marker, the footer (a copy of the header with the
 * grain directory's offset) and an end-of-stream marker: the last 1536 bytes.
 */
export function streamTailProblems(tail: Buffer): string[] {
  if (tail.length < 3 * SECTOR) return ['the file is shorter than a streamOptimized footer: cut short'];
  const eos = tail.subarray(tail.length - SECTOR);
  const footer = tail.subarray(tail.length - 2 * SECTOR, tail.length - SECTOR);
  const marker = tail.subarray(tail.length - 3 * SECTOR, tail.length - 2 * SECTOR);
  if (!eos.every((x) => x === 0)) return ['no end-of-stream marker at the end: the file is cut short or damaged'];
  if (footer.readUInt32LE(0) !== SPARSE_MAGIC) return ['no footer before the end-of-stream marker: the file is cut short or damaged'];
  if (marker.readUInt32LE(12) !== 3) return ['no footer marker (type 3) before the footer: the file is damaged'];
  return [];
}
