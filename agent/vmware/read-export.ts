/**
 * @layer adapter
 * Reads what VMware wrote, from the local file system: an OVA (read once, as a stream: every tar
 * entry is digested as it passes, the descriptor and manifest kept), an OVF folder (`.ovf`,
 * `.mf`, `.vmdk`), or a datastore VM folder (`.vmx` with its VMDKs). The `.mf` digests are
 * checked, and every disk's VMDK structure (vmdk-file.ts), before the caller reads or records
 * anything; what goes wrong names the file. Disks are handed on as qemu block specs (a VMDK in
 * an OVA is read in place, as a byte range of the archive: nothing is extracted).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { VmwareError } from './errors.ts';
import { VmwareVm } from './metadata.ts';
import { checkMf, parseMf, type MfAlgorithm, type MfEntry } from './mf.ts';
import { parseOvf, type OvfDescriptor } from './ovf.ts';
import { TAR_BLOCK, paddedSize, parseTarHeader } from './tar.ts';
import type { VmwareExport, VmwareExportDisk } from './port.ts';
import { parseVmx } from './vmx.ts';
import { checkVmdk, wholeFile, type FileRange } from './vmdk-file.ts';

const ALGOS: MfAlgorithm[] = ['sha1', 'sha256', 'sha512'];
const SMALL = 16 << 20;

async function digestFile(p: string, algos: readonly MfAlgorithm[], signal?: AbortSignal): Promise<Map<MfAlgorithm, string>> {
  const hs = algos.map((a) => [a, createHash(a)] as const);
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20, signal })) for (const [, h] of hs) h.update(chunk as Buffer);
  return new Map(hs.map(([a, h]) => [a, h.digest('hex')]));
}

interface OvaEntry { name: string; offset: number; size: number; digests: Map<MfAlgorithm, string>; data?: Buffer }

/** One pass over the archive: headers parsed, entries digested as they stream, small text entries kept. */
async function scanOva(file: string, signal?: AbortSignal): Promise<OvaEntry[]> {
  const name = path.basename(file);
  const total = (await stat(file)).size;
  const entries: OvaEntry[] = [];
  let pos = 0; // bytes of the archive consumed
  let header = Buffer.alloc(0);
  let cur: { e: OvaEntry; left: number; pad: number; hashes: [MfAlgorithm, Hash][]; keep: Buffer[] | undefined } | undefined;
  let ended = false;
  let mfAlgos: MfAlgorithm[] | undefined;
  for await (const chunkIn of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    let chunk = chunkIn as Buffer;
    while (chunk.length && !ended) {
      if (cur) {
        if (cur.left > 0) {
          const n = Math.min(cur.left, chunk.length);
          const part = chunk.subarray(0, n);
          for (const [, h] of cur.hashes) h.update(part);
          cur.keep?.push(Buffer.from(part));
          cur.left -= n;
          chunk = chunk.subarray(n);
          pos += n;
          continue;
        }
        if (cur.pad > 0) {
          const n = Math.min(cur.pad, chunk.length);
          cur.pad -= n;
          chunk = chunk.subarray(n);
          pos += n;
          if (cur.pad > 0) continue;
        }
        cur.e.digests = new Map(cur.hashes.map(([a, h]) => [a, h.digest('hex')]));
        if (cur.keep) cur.e.data = Buffer.concat(cur.keep);
        if (cur.e.name.toLowerCase().endsWith('.mf') && cur.e.data) {
          try { mfAlgos = [...new Set(parseMf(cur.e.data.toString('utf8'), cur.e.name).map((x) => x.algorithm))]; } catch { /* reported below */ }
        }
        entries.push(cur.e);
        cur = undefined;
        continue;
      }
      const need = TAR_BLOCK - header.length;
      header = Buffer.concat([header, chunk.subarray(0, need)]);
      chunk = chunk.subarray(Math.min(need, chunk.length));
      pos += Math.min(need, TAR_BLOCK);
      if (header.length < TAR_BLOCK) continue;
      const h = parseTarHeader(header);
      header = Buffer.alloc(0);
      if (h.kind === 'end') { ended = true; break; }
      if (h.kind === 'bad') throw new VmwareError('invalid', name, `${h.why} at byte ${pos - TAR_BLOCK}; an OVA is a tar archive: export it again`);
      if (h.type !== '0' && h.type !== '\0' && h.type !== '7') throw new VmwareError('unsupported', name, `entry '${h.name}' is a tar entry of type '${h.type}', not a plain file (an OVA holds plain files only)`);
      if (h.name.includes('/')) throw new VmwareError('invalid', name, `entry '${h.name}' is in a folder; an OVA holds its files at the top`);
      if (pos + h.size > total) throw new VmwareError('truncated', name, `entry '${h.name}' needs ${h.size} bytes at byte ${pos}, the file ends at ${total}: the OVA is cut short; download or export it again`);
      const small = h.size <= SMALL && /\.(ovf|mf|cert)$/i.test(h.name);
      cur = {
        e: { name: h.name, offset: pos, size: h.size, digests: new Map() },
        left: h.size, pad: paddedSize(h.size) - h.size,
        hashes: (mfAlgos ?? ALGOS).map((a) => [a, createHash(a)]), keep: small ? [] : undefined,
      };
    }
    if (ended) break;
  }
  if (cur) {
    if (cur.left > 0) throw new VmwareError('truncated', name, `entry '${cur.e.name}' is cut short (${cur.left} bytes missing): the OVA is cut short; download or export it again`);
    cur.e.digests = new Map(cur.hashes.map(([a, h]) => [a, h.digest('hex')]));
    if (cur.keep) cur.e.data = Buffer.concat(cur.keep);
    entries.push(cur.e);
  }
  if (!ended && header.length) throw new VmwareError('truncated', name, 'the archive ends inside a tar header: cut short');
  return entries;
}

function ovfDisks(d: OvfDescriptor, where: string): void {
  for (const f of d.files) if (!d.vm.disks.some((x) => x.file === f.href) && /\.vmdk$/i.test(f.href)) throw new VmwareError('invalid', where, `References lists ${f.href}, which no disk uses`);
}

async function readOva(file: string, signal?: AbortSignal): Promise<VmwareExport> {
  const name = path.basename(file);
  const entries = await scanOva(file, signal);
  const ovfs = entries.filter((e) => e.name.toLowerCase().endsWith('.ovf'));
  if (ovfs.length !== 1) throw new VmwareError('invalid', name, `holds ${ovfs.length} .ovf descriptors (an OVA holds exactly one)`);
  if (entries[0] !== ovfs[0]) throw new VmwareError('invalid', name, `its first entry is ${entries[0].name}; the OVF standard puts the descriptor first`);
  const ovf = ovfs[0];
  const checks: string[] = [];
  const mfEntry = entries.find((e) => e.name.toLowerCase().endsWith('.mf'));
  if (mfEntry) {
    const mf = parseMf(mfEntry.data!.toString('utf8'), `${name}:${mfEntry.name}`);
    checkMf(mf, `${name}:${mfEntry.name}`, (f, a) => entries.find((e) => e.name === f)?.digests.get(a));
    checks.push(`${mfEntry.name}: ${mf.length} digests (${[...new Set(mf.map((x) => x.algorithm.toUpperCase()))].join(', ')}) match`);
  } else checks.push('no .mf in the OVA: no digests to check');
  const d = parseOvf(ovf.data!.toString('utf8'), `${name}:${ovf.name}`);
  ovfDisks(d, `${name}:${ovf.name}`);
  const disks: VmwareExportDisk[] = [];
  for (const disk of d.vm.disks) {
    const e = entries.find((x) => x.name === disk.file);
    if (!e) throw new VmwareError('missing', `${name}:${disk.file}`, 'the descriptor names this disk, the OVA has no such entry: the export is incomplete');
    const ref = d.files.find((f) => f.href === disk.file);
    if (ref?.size != null && ref.size !== e.size) throw new VmwareError('truncated', `${name}:${disk.file}`, `${e.size} bytes, the descriptor says ${ref.size}: cut short or replaced`);
    const range: FileRange = { name: `${name}:${disk.file}`, path: path.resolve(file), offset: e.offset, size: e.size };
    const c = await checkVmdk(range, path.dirname(file));
    if (c.descriptor.capacity !== disk.capacity) throw new VmwareError('invalid', range.name, `holds ${c.descriptor.capacity} bytes, the descriptor's disk ${disk.key} says ${disk.capacity}`);
    disks.push({ meta: { ...disk, vmdk_format: c.descriptor.createType }, qemuImage: c.qemuImage });
    checks.push(`${disk.file}: ${c.descriptor.createType}, ${disk.capacity} bytes, structure whole`);
  }
  return { vm: VmwareVm.parse({ ...d.vm, source: { kind: 'ova', file: name } }), disks, checks };
}

async function readOvf(file: string, signal?: AbortSignal): Promise<VmwareExport> {
  const dir = path.dirname(file);
  const name = path.basename(file);
  const d = parseOvf(await readFile(file, 'utf8'), name);
  ovfDisks(d, name);
  const checks: string[] = [];
  const mfPath = path.join(dir, `${name.replace(/\.ovf$/i, '')}.mf`);
  const mfText = await readFile(mfPath, 'utf8').catch(() => undefined);
  if (mfText !== undefined) {
    const mf: MfEntry[] = parseMf(mfText, path.basename(mfPath));
    const got = new Map<string, Map<MfAlgorithm, string>>();
    for (const e of mf) {
      const p = path.join(dir, e.file);
      if (e.file.includes('/') || !(await stat(p).catch(() => undefined))) continue;
      got.set(e.file, await digestFile(p, [e.algorithm], signal));
    }
    checkMf(mf, path.basename(mfPath), (f, a) => got.get(f)?.get(a));
    checks.push(`${path.basename(mfPath)}: ${mf.length} digests match`);
  } else checks.push(`no ${path.basename(mfPath)}: no digests to check`);
  const disks: VmwareExportDisk[] = [];
  for (const disk of d.vm.disks) {
    const r = await wholeFile(path.join(dir, disk.file), disk.file);
    const ref = d.files.find((f) => f.href === disk.file);
    if (ref?.size != null && ref.size !== r.size) throw new VmwareError('truncated', disk.file, `${r.size} bytes, the descriptor ${name} says ${ref.size}: cut short or replaced`);
    const c = await checkVmdk(r, dir);
    if (c.descriptor.capacity !== disk.capacity) throw new VmwareError('invalid', disk.file, `holds ${c.descriptor.capacity} bytes, the descriptor's disk ${disk.key} says ${disk.capacity}`);
    disks.push({ meta: { ...disk, vmdk_format: c.descriptor.createType }, qemuImage: c.qemuImage });
    checks.push(`${disk.file}: ${c.descriptor.createType}, ${disk.capacity} bytes, structure whole`);
  }
  return { vm: VmwareVm.parse({ ...d.vm, source: { kind: 'ovf', file: name } }), disks, checks };
}

async function readVmx(file: string): Promise<VmwareExport> {
  const dir = path.dirname(file);
  const name = path.basename(file);
  const v = parseVmx(await readFile(file, 'utf8'), name);
  const checks: string[] = [];
  const disks: VmwareExportDisk[] = [];
  for (const disk of v.disks) {
    const c = await checkVmdk(await wholeFile(path.join(dir, disk.file), disk.file), dir);
    const fmt = c.files.length > 1 && c.descriptor.parentFileNameHint ? `${c.descriptor.createType} delta on ${c.files.slice(1).join(' ← ')}` : c.descriptor.createType;
    disks.push({ meta: { ...disk, capacity: c.descriptor.capacity, vmdk_format: c.descriptor.createType }, qemuImage: c.qemuImage });
    checks.push(`${disk.key} ${disk.file}: ${fmt}, ${c.descriptor.capacity} bytes, structure whole`);
  }
  checks.push('a datastore folder has no .mf: no digests to check');
  return { vm: VmwareVm.parse({ ...v, disks: disks.map((d) => d.meta), source: { kind: 'vmx', file: name } }), disks, checks };
}

/** Reads an OVA, an .ovf, a .vmx, or a folder holding exactly one .ovf or .vmx. */
export async function readVmwareExport(p: string, signal?: AbortSignal): Promise<VmwareExport> {
  const st = await stat(p).catch((e: Error) => { throw new VmwareError('missing', p, `not found (${e.message})`, { cause: e }); });
  let file = p;
  if (st.isDirectory()) {
    const names = await readdir(p);
    const ovf = names.filter((n) => /\.ovf$/i.test(n));
    const vmx = names.filter((n) => /\.vmx$/i.test(n));
    if (ovf.length + vmx.length !== 1) throw new VmwareError('invalid', p, `holds ${ovf.length} .ovf and ${vmx.length} .vmx files; give the one to import (PATH/NAME.ovf or PATH/NAME.vmx)`);
    file = path.join(p, ovf[0] ?? vmx[0]);
  }
  const lower = file.toLowerCase();
  if (lower.endsWith('.ova')) return readOva(file, signal);
  if (lower.endsWith('.ovf')) return readOvf(file, signal);
  if (lower.endsWith('.vmx')) return readVmx(file);
  throw new VmwareError('unsupported', path.basename(file), 'is neither an .ova, an .ovf nor a .vmx (nor a folder holding one)');
}
