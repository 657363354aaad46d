/**
 * Test disks for NBD clients: a qcow2 with random data, a persistent dirty bitmap added after
 * it, then known writes (unaligned, large, a zero write, the last bytes). Returns the image,
 * its content as the truth (qemu-img convert to raw), and the writes, so a test can check a
 * dirty bitmap against them. `nbdinfoMap` asks libnbd's nbdinfo for extents: an oracle
 * independent of Sendense's client.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';

export const BITMAP_GRANULARITY = 64 << 10;

export interface TestWrite {
  offset: number;
  length: number;
  /** a byte pattern, or 'zero' for write -z */
  pattern: number | 'zero';
}

export interface NbdTestImage {
  path: string;
  size: number;
  bitmap: string;
  /** what the disk reads as */
  content: Buffer;
  /** the writes made after the bitmap was added */
  writes: TestWrite[];
}

/** Writes rounded out to the bitmap granularity and merged: what a dirty bitmap must report dirty. */
export function dirtyRanges(writes: TestWrite[], size: number, granularity = BITMAP_GRANULARITY): { offset: number; length: number }[] {
  const spans = writes.map((w) => [Math.floor(w.offset / granularity) * granularity, Math.min(size, Math.ceil((w.offset + w.length) / granularity) * granularity)])
    .sort((a, b) => a[0] - b[0]);
  const out: { offset: number; length: number }[] = [];
  for (const [a, b] of spans) {
    const last = out[out.length - 1];
    if (last && a <= last.offset + last.length) last.length = Math.max(last.length, b - last.offset);
    else out.push({ offset: a, length: b - a });
  }
  return out;
}

export async function makeNbdTestImage(dir: string, bitmap = 'b1'): Promise<NbdTestImage> {
  const MiB = 1 << 20;
  const size = 24 * MiB;
  const raw = path.join(dir, 'seed.raw');
  const fd = openSync(raw, 'w');
  ftruncateSync(fd, size);
  for (const [at, len] of [[0, 4 * MiB], [10 * MiB, MiB]]) writeSync(fd, randomFillSync(Buffer.alloc(len)), 0, len, at);
  closeSync(fd);
  const img = path.join(dir, 'disk.qcow2');
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, img]);
  rmSync(raw);
  await run('qemu-img', ['bitmap', '--add', '-g', String(BITMAP_GRANULARITY), img, bitmap]);
  const writes: TestWrite[] = [
    { offset: 100_000, length: 5000, pattern: 0x5a },
    { offset: 8 * MiB, length: MiB + 4096, pattern: 0xc3 },
    { offset: 16 * MiB, length: 512 << 10, pattern: 'zero' },
    { offset: 2 * MiB + 1, length: 3, pattern: 0x77 },
    { offset: size - 700, length: 700, pattern: 0x11 },
  ];
  const cmds = writes.flatMap((w) => ['-c', w.pattern === 'zero' ? `write -z ${w.offset} ${w.length}` : `write -P 0x${w.pattern.toString(16)} ${w.offset} ${w.length}`]);
  await run('qemu-io', ['-f', 'qcow2', ...cmds, img]);
  const truth = path.join(dir, 'truth.raw');
  await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', img, truth]);
  const content = readFileSync(truth);
  rmSync(truth);
  return { path: img, size, bitmap, content, writes };
}

/** Extents as libnbd's nbdinfo sees them: [{offset, length, flags}]. */
export async function nbdinfoMap(uri: string, context: string): Promise<{ offset: number; length: number; flags: number }[]> {
  const r = await run('nbdinfo', [`--map=${context}`, '--json', uri], { timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as { offset: number; length: number; type: number }[]).map((e) => ({ offset: e.offset, length: e.length, flags: e.type }));
}
