import { describe, expect, it } from 'vitest';
import { SumsTable, sha256 } from '../backup/sums.ts';
import { SumsChecker } from './sums-check.ts';

const K = 1024;

function table(content: Buffer, bs: number): SumsTable {
  const t = new SumsTable(content.length, bs);
  for (let b = 0; b < t.blocks; b++) t.set(b, sha256(content.subarray(b * bs, b * bs + t.blockLength(b))));
  return t;
}

function feedIn(c: SumsChecker, data: Buffer, sizes: number[]): void {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length];
    c.feed(data.subarray(off, off + n));
    off += n;
  }
}

describe('SumsChecker', () => {
  const content = Buffer.alloc(10 * K + 123);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7919) & 0xff;
  const sums = table(content, 4 * K);

  it('accepts the content in pieces of any size', () => {
    for (const sizes of [[content.length], [1], [4 * K], [3000, 5000, 17], [4 * K + 1]]) {
      const c = new SumsChecker(sums);
      feedIn(c, content, sizes);
      expect(c.finish(), String(sizes)).toMatchObject({ ok: true, bytes: content.length, mismatchCount: 0 });
    }
  });

  it('names the blocks that differ, and a wrong length', () => {
    const bad = Buffer.from(content);
    bad[4 * K + 5] ^= 1;
    bad[content.length - 1] ^= 1;
    const c = new SumsChecker(sums);
    feedIn(c, bad, [1000]);
    const r = c.finish('the file');
    expect(r.ok).toBe(false);
    expect(r.mismatched).toEqual([1, 2]);
    expect(r.problems[0]).toMatch(/2 block\(s\) of the file differ .*offset 4096, 8192/);

    const short = new SumsChecker(sums);
    short.feed(content.subarray(0, 8 * K));
    expect(short.finish().problems).toEqual([`the image holds ${8 * K} bytes, the point's disk ${content.length}`]);
    const long = new SumsChecker(sums);
    long.feed(Buffer.concat([content, Buffer.alloc(1)]));
    expect(long.finish().ok).toBe(false);
  });
});
