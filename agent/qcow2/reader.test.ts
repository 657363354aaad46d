import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { qemuImgCheck, qemuImgConvertRaw, qemuImgCreate, qemuImgMap, qemuIo, type QemuMapEntry } from '../../test/lab/qemu-img.ts';
import { run } from '../system/run.ts';
import { FileRandomAccess } from './file-access.ts';
import { MemoryImageSink, MemoryRandomAccess } from './port.ts';
import { openChain, openQcow2, type Qcow2Run } from './reader.ts';
import { checkQcow2 } from './check.ts';
import { Qcow2Writer } from './writer.ts';

const MiB = 1 << 20;
const dir = labDir('runs', runId(), labName('qcow2-reader'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const file = (name: string) => path.join(dir, name);

async function withFile<T>(p: string, f: (ra: FileRandomAccess) => Promise<T>): Promise<T> {
  const ra = await FileRandomAccess.open(p);
  try {
    return await f(ra);
  } finally {
    await ra.close();
  }
}

/** what qemu-img map says about a guest byte: data, zero, or a hole (no layer allocates it) */
function qemuKindAt(map: QemuMapEntry[], at: number): string {
  const e = map.find((m) => m.start <= at && at < m.start + m.length);
  if (!e) throw new Error(`qemu-img map does not cover ${at}`);
  return !e.present ? 'hole' : e.data ? 'data' : 'zero';
}

/** our run kinds must agree with qemu-img map at both ends of every run */
function expectSameMap(runs: Qcow2Run[], map: QemuMapEntry[]): void {
  for (const r of runs) {
    for (const at of [r.offset, r.offset + r.length - 1]) {
      const ours = r.kind === 'unallocated' ? 'hole' : r.kind;
      expect(`${at}: ${ours}`).toBe(`${at}: ${qemuKindAt(map, at)}`);
    }
  }
}

const WRITES = [
  'write -P 0xaa 0 1M',
  'write -P 0x55 3M 64k',
  'write -z 512k 128k', // zero over allocated data
  'write -z 20M 256k', // zero over nothing
  'write -P 0x77 10M 4k', // part of a cluster
  'write -P 0x31 63M 1M', // up to the end
];

describe('the reader on images qemu made', () => {
  it.each([
    ['v3, 64 KiB clusters', 64 * MiB, []],
    ['v2 (compat 0.10), 4 KiB clusters', 64 * MiB, ['compat=0.10', 'cluster_size=4096']],
    ['v3, 2 MiB clusters, 1-bit refcounts', 64 * MiB, ['cluster_size=2M', 'refcount_bits=1']],
    ['v3, 512 B clusters, 64-bit refcounts', 64 * MiB, ['cluster_size=512', 'refcount_bits=64']],
    ['v3, 8-bit refcounts', 64 * MiB, ['refcount_bits=8']],
  ] as const)('%s: the same bytes as qemu-img convert, the same map as qemu-img map, no problems', async (label, size, options) => {
    const img = file(`${labName('qemu')}.qcow2`);
    const raw = `${img}.raw`;
    await qemuImgCreate(img, size, { options: [...options] });
    await qemuIo(img, WRITES);
    await qemuImgConvertRaw(img, raw);
    const expected = await readFile(raw);
    await withFile(img, async (ra) => {
      const q = await openQcow2(ra);
      expect(q.header.version, label).toBe((options as readonly string[]).includes('compat=0.10') ? 2 : 3);
      expect(q.size).toBe(size);
      expect((await q.read(0, size)).equals(expected)).toBe(true);
      const runs = await q.map(0, size);
      expect(runs.reduce((n, r) => n + r.length, 0)).toBe(size);
      expectSameMap(runs, await qemuImgMap(img));
      if (q.header.version === 3) expect(runs.some((r) => r.kind === 'zero')).toBe(true);
      // odd ranges read the same as whole ones
      expect((await q.read(10 * MiB - 100, 5000)).equals(expected.subarray(10 * MiB - 100, 10 * MiB + 4900))).toBe(true);
      // qemu leaves freed clusters inside its files; apart from those, no problem
      expect(await checkQcow2(ra, { allowFreeClusters: true })).toEqual([]);
      expect((await checkQcow2(ra)).filter((p) => p.code !== 'unused')).toEqual([]);
    });
    expect((await qemuImgCheck(img)).code).toBe(0);
  });

  it('an overlay qemu made: the chain reads as qemu-img convert, zero writes mask the base', async () => {
    const base = file('q-base.qcow2');
    const top = file('q-top.qcow2');
    await qemuImgCreate(base, 32 * MiB);
    await qemuIo(base, ['write -P 0x11 0 8M', 'write -P 0x22 16M 2M']);
    await qemuImgCreate(top, 40 * MiB, { backing: 'q-base.qcow2' });
    await qemuIo(top, ['write -P 0x33 1M 64k', 'write -z 2M 1M', 'write -P 0x44 36M 1M', 'write -z 16M 64k']);
    await qemuImgConvertRaw(top, `${top}.raw`);
    const expected = await readFile(`${top}.raw`);
    const ras = await Promise.all([top, base].map((f) => FileRandomAccess.open(f)));
    const chain = await openChain(ras, { names: ['q-top.qcow2', 'q-base.qcow2'] });
    expect(chain.layers[0].backingFile).toBe('q-base.qcow2');
    expect(chain.layers[0].backingFormat).toBe('qcow2');
    expect((await chain.read(0, 40 * MiB)).equals(expected)).toBe(true);
    expect(expected.subarray(2 * MiB, 3 * MiB).every((b) => b === 0)).toBe(true);
    const ext = await chain.extents();
    const kindAt = (at: number) => ext.find((e) => e.offset <= at && at < e.offset + e.length)?.kind ?? 'hole';
    expect([0, 1 * MiB, 2 * MiB, 16 * MiB, 17 * MiB, 20 * MiB, 36 * MiB].map(kindAt)).toEqual(['data', 'data', 'zero', 'zero', 'data', 'hole', 'data']);
    // the top alone: unallocated reads as zeros
    expect((await chain.layers[0].read(0, MiB)).every((b) => b === 0)).toBe(true);
    for (const ra of ras) await ra.close();
  });
});

describe('the reader refuses what it cannot read, saying why', () => {
  it('compressed clusters', async () => {
    const raw = file('c.raw');
    const img = file('c.qcow2');
    await writeFile(raw, Buffer.concat([randomBytes(MiB), Buffer.alloc(MiB, 0x61)]));
    await run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, img]);
    await withFile(img, async (ra) => {
      const q = await openQcow2(ra);
      await expect(q.read(0, 2 * MiB)).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(/compressed cluster/) });
      expect(await checkQcow2(ra)).toContainEqual(expect.objectContaining({ code: 'unsupported', message: expect.stringMatching(/compressed/) }));
    });
  });

  it.each([
    ['encryption', ['--object', 'secret,id=sec0,data=123456'], ['encrypt.format=luks', 'encrypt.key-secret=sec0', 'encrypt.iter-time=10'], /encrypted/],
    ['extended L2 entries', [], ['extended_l2=on'], /extended L2/],
    ['an external data file', [], ['data_file=__DATA__'], /external data file/],
  ] as const)('%s', async (label, extra, options, why) => {
    const img = file(`${labName('refuse')}.qcow2`);
    await qemuImgCreate(img, 4 * MiB, { extra: [...extra], options: options.map((o) => o.replace('__DATA__', `${img}.data`)) });
    await withFile(img, async (ra) => {
      await expect(openQcow2(ra), label).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(why) });
      expect(await checkQcow2(ra)).toEqual([expect.objectContaining({ code: 'unsupported' })]);
    });
  });

  it('a file that is not qcow2', async () => {
    await expect(openQcow2(new MemoryRandomAccess(randomBytes(100_000)))).rejects.toMatchObject({ code: 'not-qcow2', message: expect.stringMatching(/not a qcow2 image/) });
    await expect(openQcow2(new MemoryRandomAccess(Buffer.alloc(0)))).rejects.toMatchObject({ code: 'not-qcow2' });
  });

  it('reads outside the virtual size', async () => {
    const sink = new MemoryImageSink();
    const w = new Qcow2Writer(sink, { virtualSize: MiB });
    await w.finish();
    const q = await openQcow2(new MemoryRandomAccess(sink.toBuffer()));
    await expect(q.read(MiB - 10, 11)).rejects.toMatchObject({ code: 'range' });
    await expect(q.map(-1, 1)).rejects.toMatchObject({ code: 'range' });
  });
});

describe('the reader is frugal with requests', () => {
  it('reads a run that is contiguous in the file with one request, and caches L2 tables', async () => {
    const sink = new MemoryImageSink();
    const w = new Qcow2Writer(sink, { virtualSize: 64 * MiB });
    const data = randomBytes(16 * MiB);
    await w.writeData(8 * MiB, data);
    await w.finish();
    const ra = new MemoryRandomAccess(sink.toBuffer());
    const q = await openQcow2(ra);
    expect(ra.reads).toBe(2); // header, L1
    expect((await q.read(8 * MiB, 16 * MiB)).equals(data)).toBe(true);
    expect(ra.reads).toBe(4); // + the L2 table, + the data in one request
    expect((await q.read(0, 32 * MiB)).subarray(8 * MiB, 24 * MiB).equals(data)).toBe(true);
    expect(ra.reads).toBe(5); // the L2 table came from the cache
  });
});
