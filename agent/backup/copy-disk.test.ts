/**
 * copyDisk in process: a sparse disk from a memory BlockSource into a qcow2 image in memory —
 * what a guest reads from the image equals the disk, holes are neither read nor stored, the
 * digests cover every block — and a BlockSource whose block status breaks the port's contract is
 * refused (the extents come through blocksource/extents.ts, which checks every answer).
 */
import { describe, expect, it } from 'vitest';
import { BlockSourceError } from '../blocksource/port.ts';
import { memoryBlockSource } from '../blocksource/memory.ts';
import { MemoryImageSink, MemoryRandomAccess } from '../qcow2/port.ts';
import { openChain } from '../qcow2/reader.ts';
import { copyDisk } from './copy-disk.ts';
import { sha256, zeroDigest } from './sums.ts';

const MiB = 1 << 20;

describe('copyDisk', () => {
  it('copies only the data of a sparse disk; the image reads back as the disk; every block has its digest', async () => {
    const size = 16 * MiB;
    const a = Buffer.alloc(MiB + 4096, 0x5a);
    const b = Buffer.alloc(64 * 1024, 0xa5);
    const source = memoryBlockSource({ size, data: [{ offset: 2 * MiB, data: a }, { offset: 9 * MiB + 8192, data: b }] });
    const sink = new MemoryImageSink();
    const progress: number[] = [];
    const r = await copyDisk({ source, sink, virtualSize: size, onProgress: (p) => progress.push(p.bytesRead) });
    // the blocks holding data are read whole (1 MiB each): 2 for `a`, 1 for `b`
    expect(r.bytesRead).toBe(3 * MiB);
    expect(progress.at(-1)).toBe(3 * MiB);
    expect(r.fileSize).toBe(sink.length);
    const chain = await openChain([new MemoryRandomAccess(sink.toBuffer())]);
    const truth = Buffer.alloc(size);
    a.copy(truth, 2 * MiB);
    b.copy(truth, 9 * MiB + 8192);
    const back = await chain.read(0, size);
    expect(back.equals(truth)).toBe(true);
    for (let i = 0; i < size / MiB; i++) {
      const block = truth.subarray(i * MiB, (i + 1) * MiB);
      expect(r.sums.get(i).equals(block.every((x) => x === 0) ? zeroDigest(MiB) : sha256(block)), `block ${i}`).toBe(true);
    }
  });

  it('refuses a block status answer that breaks the BlockSource contract', async () => {
    const size = 4 * MiB;
    const source = memoryBlockSource({ size, data: [{ offset: 0, data: Buffer.alloc(MiB, 1) }] });
    // an answer longer than what was asked for
    source.blockStatus = async (_ctx, offset, length) => [{ offset, length: length + MiB, flags: 0 }];
    await expect(copyDisk({ source, sink: new MemoryImageSink(), virtualSize: size })).rejects.toSatisfy((e) => e instanceof BlockSourceError && e.code === 'protocol');
  });
});
