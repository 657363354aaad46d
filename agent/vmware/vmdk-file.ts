/**
 * @layer adapter
 * Checks one VMDK on disk before anything is read from it (vmdk.ts has the rules): a sparse
 * extent's header, its grain tables (monolithicSparse) or its footer (streamOptimized), a text
 * descriptor's extents (`-flat.vmdk` there and long enough), and a snapshot delta's parent
 * (`parentFileNameHint` in the same folder, its CID the delta's parentCID), recursively. A disk
 * may also be a byte range inside a file (a VMDK inside an OVA). Returns what qemu needs to open
 * it and what the descriptor says.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { VmwareError } from './errors.ts';
import {
  GD_AT_END, SECTOR, VmdkFormatError, gdEntries, isStreamOptimized, parseDescriptor, parseSparseHeader,
  sparseHeaderProblems, sparseTableProblems, streamTailProblems, type VmdkDescriptor,
} from './vmdk.ts';

export interface FileRange {
  /** the name to show in messages (a file name, or 'vm.ova:disk1.vmdk') */
  name: string;
  path: string;
  offset: number;
  size: number;
}

export interface CheckedVmdk {
  descriptor: VmdkDescriptor;
  /** the qemu block spec: a file name, or a json: spec for a range inside a file */
  qemuImage: string;
  /** the files of the chain, the disk itself first (delta disks: then their parents) */
  files: string[];
}

async function readAt(r: FileRange, at: number, len: number): Promise<Buffer> {
  const fh = await open(r.path, 'r');
  try {
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, r.offset + at);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function wholeFile(p: string, name = path.basename(p)): Promise<FileRange> {
  let st;
  try { st = await stat(p); } catch (e) { throw new VmwareError('missing', name, `not found (${(e as Error).message}): the export is incomplete`, { cause: e }); }
  return { name, path: p, offset: 0, size: st.size };
}

export function qemuSpecOf(r: FileRange): string {
  if (r.offset === 0) return r.path;
  return `json:${JSON.stringify({ driver: 'vmdk', file: { driver: 'raw', offset: r.offset, size: r.size, file: { driver: 'file', filename: r.path } } })}`;
}

const fail = (r: FileRange, code: 'invalid' | 'truncated', why: string): never => {
  throw new VmwareError(code, r.name, `${why}; the VMDK is damaged or was not copied whole: copy or export it again`);
};

async function checkSparse(r: FileRange, first: Buffer): Promise<VmdkDescriptor> {
  const h = parseSparseHeader(first)!;
  const hp = sparseHeaderProblems(h, r.size);
  if (hp.length) fail(r, hp.some((x) => x.includes('cut short')) ? 'truncated' : 'invalid', hp.join('; '));
  let gdOffset = h.gdOffset;
  if (h.gdOffset === GD_AT_END) {
    if (!isStreamOptimized(h)) fail(r, 'invalid', 'a sparse extent without markers says its grain directory is at the end');
    const tail = await readAt(r, Math.max(0, r.size - 3 * SECTOR), 3 * SECTOR);
    const tp = streamTailProblems(tail);
    if (tp.length) fail(r, 'truncated', tp.join('; '));
    const footer = parseSparseHeader(tail.subarray(SECTOR, 2 * SECTOR))!;
    gdOffset = footer.gdOffset;
    if (gdOffset === GD_AT_END) fail(r, 'invalid', 'the footer does not say where the grain directory is');
  }
  {
    const n = gdEntries(h);
    const gd = await readAt(r, Number(gdOffset) * SECTOR, n * 4);
    if (gd.length < n * 4) fail(r, 'truncated', `the grain directory (${n} entries at sector ${gdOffset}) lies past the end of the file: cut short`);
    const gts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const s = gd.readUInt32LE(i * 4);
      gts.push(s ? await readAt(r, s * SECTOR, h.numGTEsPerGT * 4) : Buffer.alloc(h.numGTEsPerGT * 4));
      if (gts[i].length < h.numGTEsPerGT * 4) fail(r, 'truncated', `grain table ${i} lies past the end of the file: cut short`);
    }
    const tp = sparseTableProblems(h, r.size, gd, gts);
    if (tp.length) fail(r, 'truncated', tp.join('; '));
  }
  if (!h.descriptorOffset) {
    // a sparse extent of a multi-extent disk: the caller has the descriptor
    return { createType: 'sparseExtent', cid: null, parentCid: null, parentFileNameHint: null, extents: [], ddb: {}, capacity: h.capacity * SECTOR };
  }
  const text = (await readAt(r, h.descriptorOffset * SECTOR, h.descriptorSize * SECTOR)).toString('latin1');
  try {
    return parseDescriptor(text);
  } catch (e) {
    return fail(r, 'invalid', `its embedded descriptor: ${(e as VmdkFormatError).message}`);
  }
}

/** Checks a VMDK (and the files it needs) and returns its descriptor. `dir` is where its extents and parent live. */
export async function checkVmdk(r: FileRange, dir: string, seen: string[] = []): Promise<CheckedVmdk> {
  if (r.size < SECTOR) fail(r, 'truncated', `${r.size} bytes: too short to be a VMDK`);
  const first = await readAt(r, 0, SECTOR);
  let descriptor: VmdkDescriptor;
  const files = [r.name];
  if (parseSparseHeader(first)) {
    descriptor = await checkSparse(r, first);
  } else {
    if (r.size > 1 << 20) fail(r, 'invalid', 'neither a sparse extent (no KDMV magic) nor a text descriptor (over 1 MiB)');
    const text = (await readAt(r, 0, r.size)).toString('latin1');
    if (!/^#\s*Disk DescriptorFile/m.test(text) && !/createType\s*=/.test(text)) fail(r, 'invalid', 'neither a sparse extent (no KDMV magic) nor a VMDK descriptor (no "# Disk DescriptorFile", no createType)');
    try { descriptor = parseDescriptor(text); } catch (e) { return fail(r, 'invalid', (e as VmdkFormatError).message); }
    for (const x of descriptor.extents) {
      if (x.type === 'ZERO') continue;
      if (!x.file || x.file.includes('/')) fail(r, 'invalid', `extent '${x.file}' is not a file next to the descriptor`);
      const ext = await wholeFile(path.join(dir, x.file), x.file);
      files.push(x.file);
      if (x.type === 'FLAT' || x.type === 'VMFS') {
        const need = (x.offset + x.sectors) * SECTOR;
        if (ext.size < need) throw new VmwareError('truncated', x.file, `${ext.size} bytes, the descriptor ${r.name} says ${need}: the flat extent is cut short; copy it again`);
      } else if (x.type === 'SPARSE') {
        const sub = await readAt(ext, 0, SECTOR);
        if (!parseSparseHeader(sub)) throw new VmwareError('invalid', x.file, `the descriptor ${r.name} calls it a SPARSE extent, but it has no KDMV header`);
        await checkSparse(ext, sub);
      } else {
        throw new VmwareError('unsupported', r.name, `extent type ${x.type} (${x.file}) is not read by Sendense: copy the disk out of VMFS with vmkfstools -i -d thin first`);
      }
    }
  }
  if (descriptor.parentFileNameHint) {
    const hint = descriptor.parentFileNameHint;
    if (hint.includes('/')) throw new VmwareError('unsupported', r.name, `its parent '${hint}' is outside the VM's folder: copy the parent next to it and set parentFileNameHint to its bare name`);
    if (seen.includes(hint)) fail(r, 'invalid', `the snapshot chain loops through ${hint}`);
    const parent = await checkVmdk(await wholeFile(path.join(dir, hint), hint), dir, [...seen, r.name]);
    if (descriptor.parentCid && parent.descriptor.cid && descriptor.parentCid.toLowerCase() !== parent.descriptor.cid.toLowerCase()) {
      throw new VmwareError('invalid', r.name, `its parentCID ${descriptor.parentCid} is not the CID of its parent ${hint} (${parent.descriptor.cid}): the parent was changed after the snapshot was taken, so the delta no longer fits it`);
    }
    if (parent.descriptor.capacity !== descriptor.capacity) fail(r, 'invalid', `its capacity ${descriptor.capacity} differs from its parent ${hint} (${parent.descriptor.capacity})`);
    files.push(...parent.files);
  }
  return { descriptor, qemuImage: qemuSpecOf(r), files };
}
