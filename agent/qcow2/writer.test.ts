import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { qemuImgCheck, qemuImgCompare, qemuImgInfo, qemuImgMap, qemuIo } from '../../test/lab/qemu-img.ts';
import { prng, shuffle } from '../../test/lab/random.ts';
import { run } from '../system/run.ts';
import { Qcow2Writer, refcountFixedPoint, COALESCE_BYTES, type Qcow2WriterOptions } from './writer.ts';
import { MemoryImageSink, MemoryRandomAccess, type ImageSink } from './port.ts';
import { FileImageSink } from './file-sink.ts';
import { FileRandomAccess } from './file-access.ts';
import { openChain, openQcow2 } from './reader.ts';
import { checkQcow2 } from './check.ts';
import { QCOW2_MAGIC } from './format.ts';

const CS = 65536;
const MiB = 1 << 20;
const GiB = 1024 * MiB;
const dir = labDir('runs', runId(), labName('qcow2-writer'));
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Piece {
  offset: number;
  data: Buffer;
}

/** random runs of 1-4 clusters over the guest, about `fraction` of it; the last may end at the virtual size */
function randomPieces(size: number, fraction: number, rand: () => number): Piece[] {
  const clusters = Math.ceil(size / CS);
  const pieces: Piece[] = [];
  for (let c = 0; c < clusters; ) {
    if (rand() < fraction / 2.5) {
      const n = Math.min(1 + Math.floor(rand() * 4), clusters - c);
      const offset = c * CS;
      pieces.push({ offset, data: randomBytes(Math.min(n * CS, size - offset)) });
      c += n;
    } else c += 1 + Math.floor(rand() * 3);
  }
  return pieces;
}

/** writes pieces in the given order, `parallel` calls in flight at a time, as parallel reads would */
async function writeAll(w: Qcow2Writer, pieces: Piece[], parallel = 4): Promise<void> {
  const queue = [...pieces];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let p = queue.shift(); p; p = queue.shift()) await w.writeData(p.offset, p.data);
    }),
  );
}

/** a sparse raw file of `size` bytes with the pieces (and zero ranges) applied in order */
async function writeRaw(file: string, size: number, pieces: Array<Piece | { offset: number; zero: number }>): Promise<void> {
  const fh = await open(file, 'w');
  await fh.truncate(size);
  for (const p of pieces) {
    if ('data' in p) await fh.write(p.data, 0, p.data.length, p.offset);
    else await fh.write(Buffer.alloc(p.zero), 0, p.zero, p.offset);
  }
  await fh.close();
}

async function writeImage(file: string, opts: Qcow2WriterOptions, body: (w: Qcow2Writer) => Promise<void>) {
  const sink = await FileImageSink.create(file);
  const w = new Qcow2Writer(sink, opts);
  await body(w);
  const result = await w.finish();
  await sink.close();
  return result;
}

async function expectClean(file: string): Promise<void> {
  const q = await qemuImgCheck(file);
  expect(q.raw).not.toMatch(/ERROR|Leaked/);
  expect({ code: q.code, corruptions: q.corruptions, leaks: q.leaks }).toEqual({ code: 0, corruptions: 0, leaks: 0 });
  const ra = await FileRandomAccess.open(file);
  expect(await checkQcow2(ra)).toEqual([]);
  await ra.close();
}

/** a sink that keeps references to what it gets and logs every call */
class RecordingSink implements ImageSink {
  chunks: Buffer[] = [];
  log: string[] = [];
  length = 0;
  failAppend?: number;
  async append(chunk: Buffer): Promise<void> {
    if (this.failAppend !== undefined && this.log.length === this.failAppend) throw new Error('disk on fire');
    this.log.push(`append ${chunk.length}`);
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
  async writeAt(offset: number, chunk: Buffer): Promise<void> {
    this.log.push(`writeAt ${offset} ${chunk.readUInt32BE(0).toString(16)}`);
  }
}

describe('Qcow2Writer: rules (memory sink)', () => {
  it('rejects bad options and bad ranges with clear errors', async () => {
    const sink = new MemoryImageSink();
    expect(() => new Qcow2Writer(sink, { virtualSize: 1000 })).toThrow(/multiple of 512/);
    expect(() => new Qcow2Writer(sink, { virtualSize: MiB, backingFile: '/srv/full.qcow2' })).toThrow(/relative/);
    expect(() => new Qcow2Writer(sink, { virtualSize: MiB, clusterSize: 4096 as 65536 })).toThrow(/cluster size/);
    await sink.append(Buffer.alloc(1));
    expect(() => new Qcow2Writer(sink, { virtualSize: MiB })).toThrow(/already holds/);

    const w = new Qcow2Writer(new MemoryImageSink(), { virtualSize: MiB + 1024 });
    await expect(w.writeData(512, Buffer.alloc(CS))).rejects.toMatchObject({ code: 'argument' });
    await expect(w.writeData(0, Buffer.alloc(1000))).rejects.toThrow(/not a multiple of the cluster size/);
    await expect(w.writeData(MiB, Buffer.alloc(CS))).rejects.toThrow(/passes the virtual size/);
    await w.writeData(MiB, Buffer.alloc(1024, 1)); // the partial last cluster ends at the virtual size
    expect(() => w.writeZero(CS, 100)).toThrow(/cluster size/);
  });

  it('refuses overlapping writes, whatever their order, and stays usable', async () => {
    const w = new Qcow2Writer(new MemoryImageSink(), { virtualSize: 4 * MiB, backingFile: 'full.qcow2' });
    const a = w.writeData(2 * CS, Buffer.alloc(2 * CS, 1));
    await expect(w.writeData(3 * CS, Buffer.alloc(CS, 2))).rejects.toMatchObject({ code: 'overlap' });
    expect(() => w.writeZero(0, 3 * CS)).toThrow(/already written/);
    w.writeZero(0, 2 * CS);
    await expect(w.writeData(CS, Buffer.alloc(CS))).rejects.toMatchObject({ code: 'overlap' });
    await a;
    const r = await w.finish();
    expect(r).toMatchObject({ dataClusters: 2, zeroClusters: 2 });
    await expect(w.writeData(10 * CS, Buffer.alloc(CS))).rejects.toMatchObject({ code: 'state' });
  });

  it('appends everything first and writes the header last, once, at offset 0', async () => {
    const sink = new RecordingSink();
    const w = new Qcow2Writer(sink, { virtualSize: 8 * MiB });
    await w.writeData(5 * CS, Buffer.alloc(CS, 5));
    await w.writeData(4 * MiB, randomBytes(2 * MiB));
    const pending = Buffer.concat(sink.chunks);
    expect(pending.readUInt32BE(0)).not.toBe(QCOW2_MAGIC);
    const r = await w.finish();
    const writes = sink.log.filter((l) => l.startsWith('writeAt'));
    expect(writes).toEqual([`writeAt 0 ${QCOW2_MAGIC.toString(16)}`]);
    expect(sink.log.at(-1)).toBe(writes[0]);
    expect(sink.length).toBe(r.fileSize);
    // cluster 0 went out as zeros
    expect(Buffer.concat(sink.chunks).subarray(0, CS).every((b) => b === 0)).toBe(true);
  });

  it('appends big buffers as they are and coalesces small ones', async () => {
    const sink = new RecordingSink();
    const w = new Qcow2Writer(sink, { virtualSize: 64 * MiB });
    const big = randomBytes(2 * MiB);
    await w.writeData(32 * MiB, big);
    expect(sink.chunks.some((c) => c.buffer === big.buffer && c.byteOffset === big.byteOffset && c.length === big.length)).toBe(true);
    const before = sink.chunks.length;
    for (let i = 0; i < 200; i++) await w.writeData(i * CS, Buffer.alloc(CS, i & 0xff));
    const dataAppends = sink.chunks.length - before;
    expect(dataAppends).toBeLessThanOrEqual(Math.ceil((200 * CS) / COALESCE_BYTES));
    await w.finish();
  });

  it('a failed append breaks the writer: later calls and finish() reject', async () => {
    const sink = new RecordingSink();
    sink.failAppend = 1;
    const w = new Qcow2Writer(sink, { virtualSize: 64 * MiB });
    // flushes the header cluster, then appends the big buffer directly: that append fails
    await expect(w.writeData(0, Buffer.alloc(2 * MiB, 1))).rejects.toThrow('disk on fire');
    await expect(w.writeData(4 * MiB, Buffer.alloc(CS))).rejects.toMatchObject({ code: 'state' });
    await expect(w.finish()).rejects.toMatchObject({ code: 'state' });
    expect(sink.log.some((l) => l.startsWith('writeAt'))).toBe(false);
  });

  it('an aborted signal rejects with its reason and leaves no header', async () => {
    const sink = new MemoryImageSink();
    const w = new Qcow2Writer(sink, { virtualSize: 64 * MiB });
    const ac = new AbortController();
    ac.abort(new Error('cancelled by user'));
    await expect(w.writeData(0, Buffer.alloc(2 * MiB, 1), ac.signal)).rejects.toThrow('cancelled by user');
    await expect(w.finish()).rejects.toMatchObject({ code: 'state' });
    expect(sink.length === 0 || sink.toBuffer().readUInt32BE(0) !== QCOW2_MAGIC).toBe(true);
  });

  it('writes out of order and in parallel; the reader sees the guest in order', async () => {
    const rand = prng(7);
    const size = 40 * MiB + 512 * 9;
    const pieces = shuffle(randomPieces(size, 0.3, rand), rand);
    const sink = new MemoryImageSink();
    const w = new Qcow2Writer(sink, { virtualSize: size });
    await writeAll(w, pieces, 8);
    const r = await w.finish();
    const expected = Buffer.alloc(size);
    for (const p of pieces) p.data.copy(expected, p.offset);
    const ra = new MemoryRandomAccess(sink.toBuffer());
    expect(r.fileSize).toBe(ra.size);
    expect(r.dataClusters).toBe(pieces.reduce((n, p) => n + Math.ceil(p.data.length / CS), 0));
    const img = await openQcow2(ra);
    expect((await img.read(0, size)).equals(expected)).toBe(true);
    expect(await checkQcow2(ra)).toEqual([]);
  });

  it('detectZeroes: all-zero clusters stay unallocated in a full image and mask the backing in an overlay', async () => {
    for (const backingFile of [undefined, 'full.qcow2']) {
      const sink = new MemoryImageSink();
      const w = new Qcow2Writer(sink, { virtualSize: 4 * MiB, backingFile, detectZeroes: true });
      const data = Buffer.alloc(4 * CS);
      data.fill(9, CS, 2 * CS); // zero, data, zero, zero
      await w.writeData(0, data);
      const r = await w.finish();
      expect(r.dataClusters).toBe(1);
      expect(r.zeroClusters).toBe(backingFile ? 3 : 0);
      const img = await openQcow2(new MemoryRandomAccess(sink.toBuffer()));
      const kinds = (await img.map(0, 4 * CS)).map((x) => `${x.kind}:${x.length / CS}`);
      expect(kinds).toEqual(backingFile ? ['zero:1', 'data:1', 'zero:2'] : ['unallocated:1', 'data:1', 'unallocated:2']);
    }
  });

  it('refcount blocks and table reach the fixed point that covers themselves', () => {
    const perBlock = CS / 2;
    for (const before of [1, 5, perBlock - 2, perBlock - 1, perBlock, perBlock + 1, 8192 * perBlock - 3, 8192 * perBlock + 7]) {
      const { blocks, tableClusters, total } = refcountFixedPoint(before, CS, 4);
      expect(total).toBe(before + blocks + tableClusters);
      expect(blocks * perBlock).toBeGreaterThanOrEqual(total);
      expect((blocks - 1) * perBlock).toBeLessThan(total);
      expect(tableClusters * 8192).toBeGreaterThanOrEqual(blocks);
      expect((tableClusters - 1) * 8192).toBeLessThan(blocks);
    }
    expect(refcountFixedPoint(perBlock - 1, CS, 4)).toEqual({ blocks: 2, tableClusters: 1, total: perBlock + 2 });
    expect(refcountFixedPoint(perBlock - 2, CS, 4)).toEqual({ blocks: 1, tableClusters: 1, total: perBlock });
  });
});

describe('Qcow2Writer: images qemu-img accepts', () => {
  it('a full image of random data written in shuffled order: check clean, identical to the raw reference', async () => {
    const rand = prng(42);
    const size = 300 * MiB + 7 * 512; // not a cluster multiple
    const pieces = randomPieces(size, 0.04, rand);
    const last = Math.floor((size - 1) / CS) * CS;
    if (!pieces.some((p) => p.offset + p.data.length === size)) {
      if (pieces.at(-1)!.offset + pieces.at(-1)!.data.length > last) pieces.pop();
      pieces.push({ offset: last, data: randomBytes(size - last) });
    }
    shuffle(pieces, rand);
    const image = path.join(dir, 'full-20260101-000000.qcow2');
    const raw = path.join(dir, 'full.raw');
    const r = await writeImage(image, { virtualSize: size }, (w) => writeAll(w, pieces));
    await writeRaw(raw, size, pieces);
    await expectClean(image);
    expect(await qemuImgCompare(image, raw)).toMatchObject({ code: 0 });
    expect(((await qemuImgInfo(image)) as { 'virtual-size': number })['virtual-size']).toBe(size);
    const bytes = pieces.reduce((n, p) => n + p.data.length, 0);
    expect(bytes).toBeGreaterThan(4 * MiB);
    expect(r.fileSize).toBeLessThan(bytes + 2 * MiB);
    // and our own reader agrees, window by window
    const ra = await FileRandomAccess.open(image);
    const chain = await openChain([ra]);
    const rawBytes = await readFile(raw);
    for (let at = 0; at < size; at += 32 * MiB) {
      const n = Math.min(32 * MiB, size - at);
      expect((await chain.read(at, n)).equals(rawBytes.subarray(at, at + n))).toBe(true);
    }
    await ra.close();
  });

  it('an incremental chain of three levels with relative backing names, zero clusters masking the backing', async () => {
    const rand = prng(3);
    const baseSize = 48 * MiB;
    const topSize = 56 * MiB; // the disk grew: past the base, the chain reads zeros
    const names = ['full-20260101-000000.qcow2', 'incr-20260102-000000.qcow2', 'incr-20260103-000000.qcow2'];
    const files = names.map((n) => path.join(dir, `chain-${n}`));
    const linked = names.map((n) => `chain-${n}`);
    const expected = Buffer.alloc(topSize);

    // base: the first 4 MiB and random clusters
    const basePieces = [{ offset: 0, data: randomBytes(4 * MiB) }, ...randomPieces(baseSize, 0.2, rand).filter((p) => p.offset >= 4 * MiB)];
    await writeImage(files[0], { virtualSize: baseSize }, (w) => writeAll(w, shuffle([...basePieces], rand)));
    for (const p of basePieces) p.data.copy(expected, p.offset);

    // incr 1: new data over base data, zero clusters over base data and over holes, a zero buffer detected
    const zeroed1 = [{ offset: CS, length: 3 * CS }, { offset: 40 * MiB, length: 2 * CS }];
    const data1 = [{ offset: 8 * CS, data: randomBytes(2 * CS) }, { offset: 20 * MiB, data: randomBytes(5 * CS) }];
    const detected = { offset: 16 * CS, data: Buffer.alloc(CS) };
    const r1 = await writeImage(files[1], { virtualSize: baseSize, backingFile: linked[0], detectZeroes: true }, async (w) => {
      for (const z of zeroed1) w.writeZero(z.offset, z.length);
      await writeAll(w, [...data1, detected]);
    });
    expect(r1).toMatchObject({ dataClusters: 7, zeroClusters: 6 });
    for (const z of zeroed1) expected.fill(0, z.offset, z.offset + z.length);
    for (const p of [...data1, detected]) p.data.copy(expected, p.offset);
    const expected1 = Buffer.from(expected.subarray(0, baseSize));

    // incr 2: bigger disk; data past the base's end, a zero range in the new space, data over incr 1's zeros
    const zeroed2 = [{ offset: 2 * CS, length: CS }, { offset: 50 * MiB, length: 4 * CS }];
    const data2 = [{ offset: CS, data: randomBytes(CS) }, { offset: 52 * MiB, data: randomBytes(3 * CS) }, { offset: topSize - CS, data: randomBytes(CS) }];
    await writeImage(files[2], { virtualSize: topSize, backingFile: linked[1] }, async (w) => {
      for (const z of zeroed2) w.writeZero(z.offset, z.length);
      await writeAll(w, data2);
    });
    for (const z of zeroed2) expected.fill(0, z.offset, z.offset + z.length);
    for (const p of data2) p.data.copy(expected, p.offset);

    for (const f of files) await expectClean(f);
    const raw1 = path.join(dir, 'chain-1.raw');
    const raw2 = path.join(dir, 'chain-2.raw');
    await writeRaw(raw1, baseSize, [{ offset: 0, data: expected1 }]);
    await writeRaw(raw2, topSize, [{ offset: 0, data: expected }]);
    expect(await qemuImgCompare(files[1], raw1)).toMatchObject({ code: 0 });
    expect(await qemuImgCompare(files[2], raw2)).toMatchObject({ code: 0 });
    // the masking is real: without the zero clusters the base's data would show
    expect(expected1.subarray(CS, 4 * CS).every((b) => b === 0)).toBe(true);
    expect(basePieces[0].data.subarray(CS, 4 * CS).some((b) => b !== 0)).toBe(true);

    const info = (await qemuImgInfo(files[2], { chain: true })) as Array<Record<string, unknown>>;
    expect(info.map((i) => i['backing-filename'])).toEqual([linked[1], linked[0], undefined]);
    expect(info.map((i) => i['backing-filename-format'])).toEqual(['qcow2', 'qcow2', undefined]);
    expect(info[0]['full-backing-filename']).toBe(files[1]);

    // our chain reader: the same guest view, and extents that cover every non-zero byte
    const ras = await Promise.all([...files].reverse().map((f) => FileRandomAccess.open(f)));
    const chain = await openChain(ras, { names: [...linked].reverse() });
    expect((await chain.read(0, topSize)).equals(expected)).toBe(true);
    const ext = await chain.extents();
    for (let c = 0; c < topSize / CS; c++) {
      const nonZero = expected.subarray(c * CS, (c + 1) * CS).some((b) => b !== 0);
      const e = ext.find((x) => x.offset <= c * CS && c * CS < x.offset + x.length);
      if (nonZero) expect(e?.kind).toBe('data');
    }
    expect(ext.find((x) => x.offset <= 50 * MiB && 50 * MiB < x.offset + x.length)?.kind).toBe('zero');
    expect(ext.find((x) => x.offset <= CS && CS < x.offset + x.length)?.kind).toBe('data');
    expect(ext.find((x) => x.offset <= 2 * CS && 2 * CS < x.offset + x.length)?.kind).toBe('zero');
    await expect(openChain(ras.slice(0, 2))).rejects.toThrow(/incomplete/);
    await expect(openChain(ras, { names: ['a', 'b', 'c'] })).rejects.toThrow(/not 'b'/);
    for (const ra of ras) await ra.close();
  });

  it.each([
    ['1 MiB', MiB],
    ['8 GiB', 8 * GiB],
    ['2 TiB', 2048 * GiB],
  ])('a %s virtual size with a few clusters: clean, small, the data where it belongs', async (_label, size) => {
    const offsets = [...new Set([0, 512 * MiB, 512 * MiB - CS, Math.floor(size / 3 / CS) * CS, size - CS].filter((o) => o < size))];
    const pieces = offsets.map((offset, i) => ({ offset, data: Buffer.alloc(CS, 0x11 * (i + 1)) }));
    const file = path.join(dir, labName(`big-${size}`) + '.qcow2');
    const r = await writeImage(file, { virtualSize: size }, (w) => writeAll(w, pieces));
    await expectClean(file);
    expect(r.fileSize).toBeLessThan((offsets.length * 2 + 4) * CS);
    const map = await qemuImgMap(file);
    const data = map.filter((m) => m.data).flatMap((m) => Array.from({ length: m.length / CS }, (_, k) => m.start + k * CS));
    expect(data).toEqual([...offsets].sort((a, b) => a - b));
    await qemuIo(file, pieces.map((p) => `read -P 0x${p.data[0].toString(16)} ${p.offset} ${CS}`));
    if (size <= 8 * GiB) {
      const raw = file.replace(/\.qcow2$/, '.raw');
      await writeRaw(raw, size, pieces);
      expect(await qemuImgCompare(file, raw)).toMatchObject({ code: 0 });
      await rm(raw);
    }
    await rm(file);
  });

  it('an empty image (virtual size 0) is valid too', async () => {
    const file = path.join(dir, 'empty.qcow2');
    const r = await writeImage(file, { virtualSize: 0 }, async () => {});
    await expectClean(file);
    expect(r).toMatchObject({ dataClusters: 0, zeroClusters: 0 });
  });

  it('a half-written image (no header yet) is refused by qemu-img and by the reader', async () => {
    const file = path.join(dir, 'half.qcow2');
    const sink = await FileImageSink.create(file);
    const w = new Qcow2Writer(sink, { virtualSize: 16 * MiB });
    await w.writeData(0, randomBytes(4 * MiB));
    await w.writeData(8 * MiB, randomBytes(CS));
    await sink.close(); // the process dies here: finish() never runs
    const info = await run('qemu-img', ['info', '-f', 'qcow2', file], { okCodes: [1] });
    expect(info.code).toBe(1);
    expect(info.stderr).toMatch(/not in qcow2 format/);
    const check = await qemuImgCheck(file);
    expect(check.code).toBe(1);
    const ra = await FileRandomAccess.open(file);
    await expect(openQcow2(ra)).rejects.toMatchObject({ code: 'not-qcow2', message: expect.stringMatching(/never finished/) });
    expect(await checkQcow2(ra)).toEqual([expect.objectContaining({ code: 'header' })]);
    await ra.close();
  });
});
