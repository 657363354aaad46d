import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { qemuImgCheck } from '../../test/lab/qemu-img.ts';
import { MemoryImageSink, type ImageSink } from './port.ts';
import { FileImageSink } from './file-sink.ts';
import { FileRandomAccess } from './file-access.ts';
import { openChain } from './reader.ts';
import { Qcow2Writer } from './writer.ts';

const MiB = 1 << 20;
const TOTAL = 128 * MiB;
const dir = labDir('runs', runId(), labName('qcow2-speed'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** the best of two runs: the first one also pays for growing the heap */
async function best(make: () => Promise<[ImageSink, () => Promise<void>]>, chunk: number): Promise<number> {
  let top = 0;
  for (let i = 0; i < 2; i++) {
    const [sink, done] = await make();
    top = Math.max(top, await measure(sink, chunk, done));
  }
  return top;
}

/** writes TOTAL bytes in `chunk`-sized calls, 4 in flight, and returns MiB/s (finish included) */
async function measure(sink: ImageSink, chunk: number, done: () => Promise<void>): Promise<number> {
  const source = randomBytes(chunk);
  const w = new Qcow2Writer(sink, { virtualSize: 2 * TOTAL });
  const t0 = performance.now();
  const offsets = Array.from({ length: TOTAL / chunk }, (_, i) => i * chunk);
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let o = offsets.shift(); o !== undefined; o = offsets.shift()) await w.writeData(o, source);
    }),
  );
  await w.finish();
  await done();
  const mibs = TOTAL / MiB / ((performance.now() - t0) / 1000);
  return Math.round(mibs);
}

describe('writer and reader throughput (figures in the log)', () => {
  it('into memory and into a file, 4 MiB and 64 KiB writes; reading back', async () => {
    const figures: Record<string, number> = {};
    const file = path.join(dir, 'speed.qcow2');
    const memory = async (): Promise<[ImageSink, () => Promise<void>]> => [new MemoryImageSink(), async () => {}];
    const onDisk = async (): Promise<[ImageSink, () => Promise<void>]> => {
      await rm(file, { force: true });
      const sink = await FileImageSink.create(file);
      return [sink, () => sink.close()];
    };
    figures['memory, 4 MiB writes'] = await best(memory, 4 * MiB);
    figures['memory, 64 KiB writes'] = await best(memory, 64 * 1024);
    figures['file + fsync, 64 KiB writes'] = await best(onDisk, 64 * 1024);
    figures['file + fsync, 4 MiB writes'] = await best(onDisk, 4 * MiB);
    expect((await qemuImgCheck(file)).code).toBe(0);

    const ra = await FileRandomAccess.open(file);
    const chain = await openChain([ra]);
    const t0 = performance.now();
    for (let at = 0; at < TOTAL; at += 8 * MiB) await chain.read(at, 8 * MiB);
    figures['reader, file, 8 MiB reads'] = Math.round(TOTAL / MiB / ((performance.now() - t0) / 1000));
    await ra.close();

    console.log(`[qcow2] throughput of ${TOTAL / MiB} MiB (MiB/s): ${JSON.stringify(figures)}`);
    // a floor far below what this shared 2-core machine does, to catch a pathological path
    for (const [what, mibs] of Object.entries(figures)) expect(mibs, what).toBeGreaterThan(20);
  });
});
