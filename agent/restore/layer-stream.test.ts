/**
 * LayerStream on a memory file: whatever the order of the reads — the planned order, shuffled,
 * reads of bytes the plan does not hold, a held limit far below the data — every read returns
 * the file's bytes; in plan order everything comes from the stream, out of order the ranged
 * reader fills in; a failing stream falls back to ranged reads; an abort rejects the waiting read.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { MemoryRandomAccess } from '../qcow2/port.ts';
import { LayerStream, type HostRange, type OpenStream } from './layer-stream.ts';

const K = 1024;
const file = randomBytes(3 * 1024 * K + 123);

function streamOf(data: Buffer, piece = 40_000, failAt?: number): OpenStream & { opened: number } {
  const f = async function* (offset: number, length: number, signal?: AbortSignal) {
    f.opened++;
    for (let at = 0; at < length; at += piece) {
      signal?.throwIfAborted();
      if (failAt !== undefined && offset + at >= failAt) throw new Error('stream broke');
      await new Promise((r) => setImmediate(r));
      yield data.subarray(offset + at, offset + Math.min(length, at + piece));
    }
  } as unknown as OpenStream & { opened: number };
  f.opened = 0;
  return f;
}

/** 64 KiB reads of every other 64 KiB cluster, and a far one (a gap: a second stream) */
const reads: HostRange[] = [];
for (let at = 0; at + 64 * K <= 2 * 1024 * K; at += 128 * K) reads.push({ start: at, end: at + 64 * K });
reads.push({ start: 3 * 1024 * K, end: 3 * 1024 * K + 123 });

async function readAll(s: LayerStream, order: HostRange[], lanes = 4): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < order.length) {
      const r = order[next++];
      const got = await s.read(r.start, r.end - r.start);
      expect(got.equals(file.subarray(r.start, r.end))).toBe(true);
    }
  }));
}

describe('LayerStream', () => {
  it('in plan order every planned read comes from the stream', async () => {
    const open = streamOf(file);
    const s = new LayerStream(new MemoryRandomAccess(file), open);
    s.start(reads);
    await readAll(s, reads);
    expect(s.counts).toEqual({ streamed: reads.length, ranged: 0 });
    expect(open.opened).toBe(1); // the 1 MiB gap is under GAP_BYTES: one stream
  });

  it('shuffled, with a held limit of 200 KiB: right bytes, the ranged reader fills in', async () => {
    const s = new LayerStream(new MemoryRandomAccess(file), streamOf(file), 200 * K);
    s.start(reads);
    const shuffled = [...reads].sort(() => Math.random() - 0.5);
    await readAll(s, shuffled, 3);
    expect(s.counts.streamed + s.counts.ranged).toBe(reads.length);
  });

  it('before start, unplanned ranges and a second read of the same bytes go to the ranged reader', async () => {
    const ra = new MemoryRandomAccess(file);
    const s = new LayerStream(ra, streamOf(file));
    expect((await s.read(10, 100)).equals(file.subarray(10, 110))).toBe(true);
    s.start(reads);
    expect((await s.read(64 * K, 10)).equals(file.subarray(64 * K, 64 * K + 10))).toBe(true); // not planned
    await readAll(s, reads, 1);
    expect((await s.read(0, 64 * K)).equals(file.subarray(0, 64 * K))).toBe(true); // taken already
    expect(s.counts).toEqual({ streamed: reads.length, ranged: 3 });
  });

  it('a stream that breaks: what it did not deliver is read by range', async () => {
    const s = new LayerStream(new MemoryRandomAccess(file), streamOf(file, 40_000, 1024 * K));
    s.start(reads);
    await readAll(s, reads, 2);
    expect(s.counts.ranged).toBeGreaterThan(0);
    expect(s.counts.streamed).toBeGreaterThan(0);
  });

  it('an aborted read rejects with the reason; stop() ends the stream', async () => {
    const s = new LayerStream(new MemoryRandomAccess(file), streamOf(file, 1000));
    s.start(reads);
    const ac = new AbortController();
    const p = s.read(2 * 1024 * K - 128 * K, 64 * K, ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(p).rejects.toThrow('cancelled');
    s.stop();
    expect((await s.read(0, 64 * K)).equals(file.subarray(0, 64 * K))).toBe(true);
  });
});
