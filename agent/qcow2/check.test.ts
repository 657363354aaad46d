import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { appendFile, copyFile, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { qemuImgCheck } from '../../test/lab/qemu-img.ts';
import { FileRandomAccess } from './file-access.ts';
import { MemoryImageSink, MemoryRandomAccess } from './port.ts';
import { openQcow2 } from './reader.ts';
import { checkQcow2, type Qcow2ProblemCode } from './check.ts';
import { Qcow2Writer } from './writer.ts';

const CS = 65536;
const MiB = 1 << 20;
const dir = labDir('runs', runId(), labName('qcow2-check'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** where things are in the sound image */
interface Layout {
  file: string;
  l2: number;
  refblock: number;
  /** host offsets of the data clusters of guest clusters 0, 1, 2 */
  data: number[];
  fileSize: number;
}
let sound: Layout;

beforeAll(async () => {
  // the backing file qemu-img opens with the overlays below
  const base = new MemoryImageSink();
  await new Qcow2Writer(base, { virtualSize: 16 * MiB }).finish();
  await writeFile(path.join(dir, 'full.qcow2'), base.toBuffer());
  const sink = new MemoryImageSink();
  const w = new Qcow2Writer(sink, { virtualSize: 16 * MiB, backingFile: 'full.qcow2' });
  await w.writeData(2 * CS, randomBytes(CS));
  await w.writeData(0, randomBytes(2 * CS));
  w.writeZero(4 * CS, 2 * CS);
  const r = await w.finish();
  const file = path.join(dir, 'sound.qcow2');
  await writeFile(file, sink.toBuffer());
  const ra = new MemoryRandomAccess(sink.toBuffer());
  const img = await openQcow2(ra);
  const l1 = await img.readHost(img.header.l1TableOffset, 8);
  const rt = await img.readHost(img.header.refcountTableOffset, 8);
  const runs = await img.map(0, 3 * CS);
  const data = [0, 1, 2].map((c) => {
    const run = runs.find((x) => x.offset <= c * CS && c * CS < x.offset + x.length);
    if (run?.kind !== 'data') throw new Error('test image layout');
    return run.hostOffset + (c * CS - run.offset);
  });
  sound = { file, l2: Number(l1.readBigUInt64BE(0) & 0x00fffffffffffe00n), refblock: Number(rt.readBigUInt64BE(0)), data, fileSize: r.fileSize };
});

/** a copy of the sound image with `patch` applied; its problems and qemu-img's verdict */
async function corrupt(patch: (f: { write(at: number, b: Buffer): Promise<void>; path: string }) => Promise<void>) {
  const file = path.join(dir, `${labName('bad')}.qcow2`);
  await copyFile(sound.file, file);
  const fh = await open(file, 'r+');
  await patch({ write: async (at, b) => void (await fh.write(b, 0, b.length, at)), path: file });
  await fh.close();
  const ra = await FileRandomAccess.open(file);
  const problems = await checkQcow2(ra);
  await ra.close();
  return { problems, codes: [...new Set(problems.map((p) => p.code))].sort(), qemu: await qemuImgCheck(file) };
}

const u16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const COPIED = 1n << 63n;

describe('checkQcow2', () => {
  it('finds nothing wrong with an image the writer made, nor does qemu-img', async () => {
    const ra = await FileRandomAccess.open(sound.file);
    expect(await checkQcow2(ra)).toEqual([]);
    await ra.close();
    expect((await qemuImgCheck(sound.file)).code).toBe(0);
  });

  it.each<[string, (f: { write(at: number, b: Buffer): Promise<void> }) => Promise<void>, Qcow2ProblemCode[], 'corrupt' | 'leak' | 'clean']>([
    ['a data cluster whose refcount is 0', (f) => f.write(sound.refblock + (sound.data[1] / CS) * 2, u16(0)), ['copied', 'refcount'], 'corrupt'],
    ['a data cluster whose refcount is 2', (f) => f.write(sound.refblock + (sound.data[1] / CS) * 2, u16(2)), ['copied', 'refcount'], 'corrupt'],
    ['an L2 entry pointing at another data cluster', (f) => f.write(sound.l2 + 8, u64(COPIED | BigInt(sound.data[0]))), ['leak', 'overlap', 'refcount'], 'corrupt'],
    ['an L2 entry without the COPIED flag', (f) => f.write(sound.l2 + 16, u64(BigInt(sound.data[2]))), ['copied'], 'corrupt'],
    ['an L2 entry past the end of the file', (f) => f.write(sound.l2 + 8, u64(COPIED | BigInt(sound.fileSize + 10 * CS))), ['leak', 'range'], 'corrupt'],
    ['an L2 entry with a reserved bit', (f) => f.write(sound.l2 + 16, u64(COPIED | BigInt(sound.data[2]) | 2n)), ['reserved'], 'corrupt'],
    ['an L2 entry past the virtual size', (f) => f.write(sound.l2 + 8 * 300, u64(COPIED | BigInt(sound.data[2]))), ['mapping', 'overlap', 'refcount'], 'corrupt'],
    ['a cluster appended that nothing uses', (f) => f.write(sound.fileSize, Buffer.alloc(CS, 1)), ['unused'], 'clean'],
    ['a cluster that is counted but unused', (f) => f.write(sound.refblock + (sound.fileSize / CS) * 2, u16(1)).then(() => f.write(sound.fileSize, Buffer.alloc(CS))), ['leak'], 'leak'],
  ])('catches %s', async (_what, patch, codes, qemu) => {
    const r = await corrupt(patch);
    expect(r.codes).toEqual(codes);
    // qemu-img agrees that the image is broken (or, for our stricter rules, that it is not)
    if (qemu === 'corrupt') expect(r.qemu.code === 2 || r.qemu.corruptions > 0, r.qemu.raw).toBe(true);
    if (qemu === 'leak') expect({ code: r.qemu.code, leaks: r.qemu.leaks }).toEqual({ code: 3, leaks: 1 });
    if (qemu === 'clean') expect(r.qemu.code, r.qemu.raw).toBe(0);
  });

  it('reports a header that was never written', async () => {
    const r = await corrupt((f) => f.write(0, Buffer.alloc(CS)));
    expect(r.problems).toEqual([{ code: 'header', message: expect.stringMatching(/never finished/) }]);
    expect(r.qemu.code).toBe(1);
  });

  it('summarises a flood of problems', async () => {
    const r = await corrupt((f) => f.write(sound.refblock, Buffer.alloc(CS)));
    expect(r.problems.filter((p) => p.code === 'refcount')).toHaveLength(sound.fileSize / CS); // every cluster is used, none counted
    const file = path.join(dir, 'flood.qcow2');
    await copyFile(sound.file, file);
    await appendFile(file, Buffer.alloc(20 * CS, 1));
    const ra = await FileRandomAccess.open(file);
    const few = await checkQcow2(ra, { maxProblems: 5 });
    await ra.close();
    expect(few).toHaveLength(6);
    expect(few[5].message).toMatch(/and 15 more problems/);
  });
});
