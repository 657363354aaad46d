import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ByteQueue } from './byte-queue.ts';

function split(b: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < b.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('ByteQueue', () => {
  it('takes, peeks, copies and skips across chunk boundaries in order', () => {
    const data = randomFillSync(Buffer.alloc(10_000));
    for (const sizes of [[1], [3, 7], [20, 1, 1, 999], [10_000]]) {
      const q = new ByteQueue();
      for (const c of split(data, sizes)) q.push(c);
      expect(q.length).toBe(10_000);
      expect(q.peekUInt32BE(1)).toBe(data.readUInt32BE(1));
      expect(q.take(5).equals(data.subarray(0, 5))).toBe(true);
      const dest = Buffer.alloc(3000);
      expect(q.copyTo(dest, 1000, 2000)).toBe(2000);
      expect(dest.subarray(1000).equals(data.subarray(5, 2005))).toBe(true);
      expect(q.skip(1)).toBe(1);
      q.detach();
      expect(q.take(20).equals(data.subarray(2006, 2026))).toBe(true);
      expect(q.copyTo(dest, 0, 1e9)).toBe(10_000 - 2026);
      expect(q.length).toBe(0);
      expect(() => q.take(1)).toThrow(/take 1 of 0/);
    }
  });

  it('hands out a view, not a copy, when the bytes lie in one chunk', () => {
    const q = new ByteQueue();
    const c = Buffer.from('abcdefgh');
    q.push(c);
    const v = q.take(4);
    c[0] = 0x7a;
    expect(v.toString()).toBe('zbcd');
  });

  it('keeps its bytes after detach even when the source buffer is reused', () => {
    const q = new ByteQueue();
    const reused = Buffer.from('12345678');
    q.push(reused.subarray(0, 6));
    q.take(2);
    q.detach();
    reused.fill(0);
    expect(q.take(4).toString()).toBe('3456');
  });
});
